// The malformed GGUF files of issue 14: each passed validation and then failed inside llama.cpp ("Failed to load
// model") or aborted the model worker. Each must now be refused before llama.cpp sees it, with a message that names
// the key and says what is wrong.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readGgufFile } from './reader.js'
import { rewriteGguf, type GgufEdits } from './test-support.js'
import { tinyByteVocabulary, writeTinyLlamaGguf } from './tiny-model.js'
import { gguf } from './types.js'
import { hasErrors, validateGguf } from './validate.js'

let directory = ''
let base = ''

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'larder-gguf-hardening-'))
  base = join(directory, 'base.gguf')
  await writeTinyLlamaGguf(base, { seed: 5 })
})
afterAll(async () => {
  await rm(directory, { recursive: true, force: true })
})

const duplicated = [...tinyByteVocabulary().tokens]
duplicated[10] = duplicated[11]!

/** Case -> edits and what the refusal must say. */
const ISSUE_CASES: Record<string, { edits: GgufEdits; key: string; says: RegExp }> = {
  'wrong architecture for the tensors (qwen2)': {
    edits: { set: [['general.architecture', gguf.string('qwen2')]] },
    key: 'qwen2.context_length',
    says: /describes a llama model, but general.architecture says qwen2/,
  },
  'unknown architecture': {
    edits: { set: [['general.architecture', gguf.string('bogus')]] },
    key: 'bogus.context_length',
    says: /missing/,
  },
  'vocab_size as a string': {
    edits: { set: [['llama.vocab_size', gguf.string('260')]] },
    key: 'llama.vocab_size',
    says: /must be a uint32, found string/,
  },
  'vocab_size as an int32': {
    edits: { set: [['llama.vocab_size', gguf.int32(260)]] },
    key: 'llama.vocab_size',
    says: /must be a uint32, found int32/,
  },
  'file_type as a string': {
    edits: { set: [['general.file_type', gguf.string('F32')]] },
    key: 'general.file_type',
    says: /must be a uint32/,
  },
  'file_type as a float': {
    edits: { set: [['general.file_type', gguf.float32(0)]] },
    key: 'general.file_type',
    says: /must be a uint32/,
  },
  ...Object.fromEntries(
    [0, 1, 3, 7].map((n) => [
      `rope dimension ${n}`,
      {
        edits: { set: [['llama.rope.dimension_count', gguf.uint32(n)]] },
        key: 'llama.rope.dimension_count',
        says: new RegExp(`is ${n}; a llama model rotates the whole head`),
      },
    ]),
  ),
  'empty tokenizer model': {
    edits: { set: [['tokenizer.ggml.model', gguf.string('')]] },
    key: 'tokenizer.ggml.model',
    says: /is empty; llama.cpp knows/,
  },
  'unknown tokenizer model': {
    edits: { set: [['tokenizer.ggml.model', gguf.string('sentencepiece')]] },
    key: 'tokenizer.ggml.model',
    says: /"sentencepiece"; llama.cpp knows/,
  },
  'block_count 1 with two layers of tensors': {
    edits: { set: [['llama.block_count', gguf.uint32(1)]] },
    key: '',
    says: /blk\.1\..* is not part of this llama model \(1 layers/,
  },
  'duplicate tokens': {
    edits: { set: [['tokenizer.ggml.tokens', gguf.stringArray(duplicated)]] },
    key: 'tokenizer.ggml.tokens',
    says: /twice \(ids 10 and 11\)/,
  },
  'tokenizer bert on a llama model': {
    edits: { set: [['tokenizer.ggml.model', gguf.string('bert')]] },
    key: 'tokenizer.ggml.model',
    says: /"bert", which a llama model cannot use/,
  },
  'tokenizer none': {
    edits: { set: [['tokenizer.ggml.model', gguf.string('none')]] },
    key: 'tokenizer.ggml.model',
    says: /has no tokenizer/,
  },
  'general.alignment 1': {
    edits: { set: [['general.alignment', gguf.uint32(1)]] },
    key: 'general.alignment',
    says: /aligned to a multiple of 32 bytes/,
  },
  'rms epsilon -1': {
    edits: { set: [['llama.attention.layer_norm_rms_epsilon', gguf.float32(-1)]] },
    key: 'llama.attention.layer_norm_rms_epsilon',
    says: /is -1; it must be a small positive number/,
  },
  'rms epsilon NaN': {
    edits: { set: [['llama.attention.layer_norm_rms_epsilon', gguf.float32(Number.NaN)]] },
    key: 'llama.attention.layer_norm_rms_epsilon',
    says: /is NaN; it must be a small positive number/,
  },
}

describe('validateGguf refuses the malformed files llama.cpp fails or aborts on', () => {
  it('accepts the unmodified tiny model', async () => {
    expect(hasErrors(validateGguf(await readGgufFile(base)))).toBe(false)
  })

  it.each(Object.entries(ISSUE_CASES))('%s', async (name, { edits, key, says }) => {
    const path = join(directory, `${name.replace(/\W+/g, '-')}.gguf`)
    await rewriteGguf(base, path, edits)
    const errors = validateGguf(await readGgufFile(path)).filter((problem) => problem.severity === 'error')
    expect(errors.length, name).toBeGreaterThan(0)
    const match = errors.find((problem) => says.test(problem.message))
    expect(match, `${name}: ${errors.map((problem) => problem.message).join(' | ')}`).toBeDefined()
    if (key) expect(match!.key).toBe(key)
  })
})
