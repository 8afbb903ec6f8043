/**
 * A word-level SentencePiece vocabulary for the demo student, built from the demo corpus: the byte-level base (so
 * any text still round-trips) plus every word of the corpus and its prefixes. llama.cpp's SPM tokenizer merges
 * adjacent pieces whose concatenation is in the vocabulary, so with every prefix of a word present a word grows
 * piece by piece into one token. A small student then predicts words rather than bytes, which is what lets a model
 * trained for a minute write recognisable words.
 */
import { gguf, tinyByteVocabulary, type GgufValue, type TokenizerMetadata } from '../gguf/index'

const SPACE = '\u2581'
const NORMAL = 1
const CONTROL = 3
/** ChatML's markers as single control tokens (the demo student uses ChatML), and the role names as words. */
const CHAT_MARKERS = ['<|im_start|>', '<|im_end|>']
const CHAT_WORDS = ['system', 'user', 'assistant']

/** Words (letters, digits, Hangul and apostrophes) of the texts, most frequent first. */
function words(texts: readonly string[]): string[] {
  const counts = new Map<string, number>()
  for (const text of texts) {
    for (const word of text.match(/[\p{L}\p{N}'’]+/gu) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1)
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([word]) => word)
}

export function wordVocabulary(texts: readonly string[], maxWords = 3000): TokenizerMetadata {
  const base = tinyByteVocabulary()
  const tokens = [...base.tokens]
  const known = new Set(tokens)
  const add = (piece: string): void => {
    if (!known.has(piece)) {
      known.add(piece)
      tokens.push(piece)
    }
  }
  const controls = new Set<string>()
  for (const marker of CHAT_MARKERS) {
    add(marker)
    controls.add(marker)
  }
  for (const word of [...CHAT_WORDS, ...words(texts).slice(0, maxWords)]) {
    const characters = [...word]
    // "▁w", "▁wo", "▁wor", ... and, for words that follow punctuation without a space, "w", "wo", ...
    for (let length = 1; length <= characters.length; length++) {
      const prefix = characters.slice(0, length).join('')
      add(`${SPACE}${prefix}`)
      if (length > 1) add(prefix)
    }
  }
  const scores = new Float32Array(tokens.length)
  const types = new Int32Array(tokens.length)
  types.set(base.tokenTypes)
  for (let index = base.tokens.length; index < tokens.length; index++) {
    types[index] = controls.has(tokens[index]!) ? CONTROL : NORMAL
    // Longer pieces first when several merges compete.
    scores[index] = [...tokens[index]!].length
  }
  const entries: Array<[string, GgufValue]> = [
    ['tokenizer.ggml.model', gguf.string('llama')],
    ['tokenizer.ggml.tokens', gguf.stringArray(tokens)],
    ['tokenizer.ggml.scores', gguf.float32Array(scores)],
    ['tokenizer.ggml.token_type', gguf.int32Array(types)],
    ['tokenizer.ggml.unknown_token_id', gguf.uint32(0)],
    ['tokenizer.ggml.bos_token_id', gguf.uint32(1)],
    ['tokenizer.ggml.eos_token_id', gguf.uint32(2)],
    ['tokenizer.ggml.add_bos_token', gguf.bool(true)],
    ['tokenizer.ggml.add_eos_token', gguf.bool(false)],
  ]
  return { entries, vocabularySize: tokens.length }
}
