/**
 * Tiny but complete llama-architecture GGUF models with deterministic random weights. No model can
 * be downloaded in tests or CI, so every test that needs "a model" (loading, inference jobs,
 * quantization pipelines, the UI's model list) uses one of these. They load in llama.cpp and
 * generate (meaningless) tokens in milliseconds.
 */
import { fp32ArrayToFp16 } from './fp16.js'
import { GgmlType, gguf, LlamaFileType, type GgufMetadata, type GgufValue } from './types.js'
import { writeGgufFile, type GgufTensorToWrite, type GgufWriteResult } from './writer.js'

export interface TinyLlamaOptions {
  /** Seed for the weights; the same seed always gives the same bytes. */
  seed?: number
  /** Storage type of 2-D weight matrices; norms always stay F32 (as convert_hf_to_gguf does). */
  weightType?: 'F32' | 'F16'
  blockCount?: number
  embeddingLength?: number
  headCount?: number
  /** Fewer KV heads than heads gives grouped-query attention. */
  headCountKv?: number
  feedForwardLength?: number
  contextLength?: number
  /** Omit output.weight so the token embedding doubles as the output projection. */
  tiedEmbeddings?: boolean
  /** Jinja chat template stored in tokenizer.chat_template. */
  chatTemplate?: string
  name?: string
  /**
   * Another model's tokenizer (every `tokenizer.*` key of its header, see `tokenizerMetadataOf`) instead of the
   * byte-level one, so a student can share its teacher's vocabulary.
   */
  tokenizer?: TokenizerMetadata
}

/** The `tokenizer.*` keys of a GGUF header and the vocabulary size they imply. */
export interface TokenizerMetadata {
  readonly entries: ReadonlyArray<readonly [string, GgufValue]>
  readonly vocabularySize: number
}

/** Takes the tokenizer of an existing model's header (for `larder gguf tiny --vocab-from FILE`). */
export function tokenizerMetadataOf(metadata: GgufMetadata): TokenizerMetadata {
  const tokens = metadata.get('tokenizer.ggml.tokens')
  if (tokens?.type !== 'array' || tokens.value.elementType !== 'string' || tokens.value.values.length === 0) {
    throw new RangeError('The file has no tokenizer.ggml.tokens list, so its vocabulary cannot be reused.')
  }
  const entries = [...metadata].filter(([key]) => key.startsWith('tokenizer.'))
  return { entries, vocabularySize: tokens.value.values.length }
}

export interface TinyLlamaInfo extends GgufWriteResult {
  readonly path: string
  readonly parameterCount: number
  readonly tensorCount: number
  readonly vocabularySize: number
}

/** A ChatML template, for tests that want chat formatting. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

/** SentencePiece token types (llama_token_type). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 } as const

export interface TinyVocabulary {
  readonly tokens: string[]
  readonly scores: Float32Array
  readonly tokenTypes: Int32Array
}

/** SentencePiece's visible space; SPM vocabularies encode spaces as this character. */
const SPM_SPACE = '\u2581'

/**
 * Byte-level SentencePiece vocabulary (260 tokens): <unk>, <s>, </s>, the 256 byte tokens
 * <0x00>..<0xFF> (token id = byte + 3) and a normal token for the SentencePiece space "▁".
 * With no merges, llama.cpp's SPM tokenizer falls back to byte tokens for every other character,
 * so any text round-trips. The "▁" token matters: byte tokens detokenize to raw bytes, so without
 * it spaces would come back as the literal "▁" character.
 */
export function tinyByteVocabulary(): TinyVocabulary {
  const tokens = ['<unk>', '<s>', '</s>']
  for (let byte = 0; byte < 256; byte++) tokens.push(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`)
  tokens.push(SPM_SPACE)
  const tokenTypes = new Int32Array(tokens.length).fill(TokenType.BYTE)
  tokenTypes[0] = TokenType.UNKNOWN
  tokenTypes[1] = TokenType.CONTROL
  tokenTypes[2] = TokenType.CONTROL
  tokenTypes[tokens.length - 1] = TokenType.NORMAL
  return { tokens, scores: new Float32Array(tokens.length), tokenTypes }
}

/** mulberry32: tiny, fast, deterministic; quality is ample for test weights. Returns [0, 1). */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = Math.imul(state ^ (state >>> 15), state | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296
  }
}

function hashName(name: string): number {
  let hash = 0x811c9dc5
  for (let index = 0; index < name.length; index++) {
    hash ^= name.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

interface TensorPlan {
  readonly name: string
  readonly dims: readonly number[]
  /** Weights are uniform in [-scale, scale]; norms are 1 + noise * scale. */
  readonly scale: number
  readonly isNorm: boolean
}

export async function writeTinyLlamaGguf(path: string, options: TinyLlamaOptions = {}): Promise<TinyLlamaInfo> {
  const seed = options.seed ?? 42
  const weightType = options.weightType ?? 'F32'
  const blockCount = options.blockCount ?? 2
  const embedding = options.embeddingLength ?? 64
  const headCount = options.headCount ?? 4
  const headCountKv = options.headCountKv ?? headCount
  const feedForward = options.feedForwardLength ?? 128
  const contextLength = options.contextLength ?? 256
  if (embedding % headCount !== 0 || headCount % headCountKv !== 0) {
    throw new RangeError('embeddingLength must divide by headCount, and headCount by headCountKv')
  }
  const headDimension = embedding / headCount
  const kvWidth = headDimension * headCountKv
  const vocabulary = tinyByteVocabulary()
  const vocabularySize = options.tokenizer?.vocabularySize ?? vocabulary.tokens.length

  const plans: TensorPlan[] = []
  const matrix = (name: string, inputs: number, outputs: number): void => {
    plans.push({ name, dims: [inputs, outputs], scale: 1 / Math.sqrt(inputs), isNorm: false })
  }
  const norm = (name: string): void => {
    plans.push({ name, dims: [embedding], scale: 0.05, isNorm: true })
  }
  plans.push({ name: 'token_embd.weight', dims: [embedding, vocabularySize], scale: 0.5, isNorm: false })
  for (let layer = 0; layer < blockCount; layer++) {
    norm(`blk.${layer}.attn_norm.weight`)
    matrix(`blk.${layer}.attn_q.weight`, embedding, embedding)
    matrix(`blk.${layer}.attn_k.weight`, embedding, kvWidth)
    matrix(`blk.${layer}.attn_v.weight`, embedding, kvWidth)
    matrix(`blk.${layer}.attn_output.weight`, embedding, embedding)
    norm(`blk.${layer}.ffn_norm.weight`)
    matrix(`blk.${layer}.ffn_gate.weight`, embedding, feedForward)
    matrix(`blk.${layer}.ffn_up.weight`, embedding, feedForward)
    matrix(`blk.${layer}.ffn_down.weight`, feedForward, embedding)
  }
  norm('output_norm.weight')
  if (!options.tiedEmbeddings) matrix('output.weight', embedding, vocabularySize)

  const tensors: GgufTensorToWrite[] = plans.map((plan) => {
    const storeAsHalf = weightType === 'F16' && !plan.isNorm
    return {
      name: plan.name,
      dims: plan.dims,
      type: storeAsHalf ? GgmlType.F16 : GgmlType.F32,
      // Generated when the writer asks for it, so even a large "tiny" model is never held whole.
      data: function* () {
        const values = generateValues(plan, seed)
        yield storeAsHalf ? new Uint8Array(fp32ArrayToFp16(values).buffer) : new Uint8Array(values.buffer)
      },
    }
  })

  const metadata: Array<[string, GgufValue]> = [
    ['general.architecture', gguf.string('llama')],
    ['general.name', gguf.string(options.name ?? 'Larder tiny llama')],
    ['general.file_type', gguf.uint32(weightType === 'F16' ? LlamaFileType.MOSTLY_F16 : LlamaFileType.ALL_F32)],
    ['llama.vocab_size', gguf.uint32(vocabularySize)],
    ['llama.context_length', gguf.uint32(contextLength)],
    ['llama.embedding_length', gguf.uint32(embedding)],
    ['llama.block_count', gguf.uint32(blockCount)],
    ['llama.feed_forward_length', gguf.uint32(feedForward)],
    ['llama.attention.head_count', gguf.uint32(headCount)],
    ['llama.attention.head_count_kv', gguf.uint32(headCountKv)],
    ['llama.rope.dimension_count', gguf.uint32(headDimension)],
    ['llama.rope.freq_base', gguf.float32(10000)],
    ['llama.attention.layer_norm_rms_epsilon', gguf.float32(1e-5)],
  ]
  if (options.tokenizer) {
    for (const [key, value] of options.tokenizer.entries) {
      if (key !== 'tokenizer.chat_template' || options.chatTemplate === undefined) metadata.push([key, value])
    }
  } else {
    metadata.push(
      ['tokenizer.ggml.model', gguf.string('llama')],
      ['tokenizer.ggml.tokens', gguf.stringArray(vocabulary.tokens)],
      ['tokenizer.ggml.scores', gguf.float32Array(vocabulary.scores)],
      ['tokenizer.ggml.token_type', gguf.int32Array(vocabulary.tokenTypes)],
      ['tokenizer.ggml.unknown_token_id', gguf.uint32(0)],
      ['tokenizer.ggml.bos_token_id', gguf.uint32(1)],
      ['tokenizer.ggml.eos_token_id', gguf.uint32(2)],
      ['tokenizer.ggml.add_bos_token', gguf.bool(true)],
      ['tokenizer.ggml.add_eos_token', gguf.bool(false)],
    )
  }
  if (options.chatTemplate !== undefined) metadata.push(['tokenizer.chat_template', gguf.string(options.chatTemplate)])

  const result = await writeGgufFile(path, { metadata, tensors })
  const parameterCount = plans.reduce((sum, plan) => sum + plan.dims.reduce((product, dim) => product * dim, 1), 0)
  return { ...result, path, parameterCount, tensorCount: plans.length, vocabularySize }
}

function generateValues(plan: TensorPlan, seed: number): Float32Array {
  const random = createSeededRandom(seed ^ hashName(plan.name))
  const count = plan.dims.reduce((product, dim) => product * dim, 1)
  const values = new Float32Array(count)
  for (let index = 0; index < count; index++) {
    const noise = (random() * 2 - 1) * plan.scale
    values[index] = plan.isNorm ? 1 + noise : noise
  }
  return values
}
