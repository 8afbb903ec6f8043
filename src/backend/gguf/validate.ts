/**
 * Checks a parsed GGUF file before it is handed to llama.cpp.
 *
 * Some malformed files make llama.cpp abort the whole process (GGML_ABORT / GGML_ASSERT), which
 * kills the backend and cannot be caught from JavaScript: for example a llama model without
 * `feed_forward_length` or `attention.head_count` loads with zero-sized hyperparameters and trips
 * an assertion later. Others are rejected by llama.cpp with a catchable but unhelpful message
 * ("failed to load model"). Both kinds are reported here in plain words.
 */
import { readGgufFile, type GgufReadOptions } from './reader.js'
import { isGgufError } from './errors.js'
import { arrayAsNumbers, metadataArray, metadataString } from './metadata.js'
import { alignUp } from './reader.js'
import { GGML_MAX_NAME, type GgufFile, type GgufArray, type GgufTensorInfo, type GgufValue } from './types.js'

export type GgufProblemSeverity = 'error' | 'warning'

export interface GgufProblem {
  /** `error`: llama.cpp will refuse or crash on the file. `warning`: it will probably load but something is off. */
  readonly severity: GgufProblemSeverity
  readonly code: string
  readonly message: string
  readonly key?: string
  readonly tensor?: string
}

/** llama.cpp sizes per-layer arrays with LLAMA_MAX_LAYERS. */
const LLAMA_MAX_LAYERS = 512

/** The tokenizer models llama.cpp knows (llama-vocab.cpp); anything else makes it refuse the file. */
const knownTokenizerModels = new Set(['none', 'no_vocab', 'llama', 'gpt2', 'bert', 't5', 'rwkv', 'plamo2'])
/** What a llama-architecture model can be tokenized with (SentencePiece or BPE); others abort llama.cpp. */
const llamaTokenizerModels = new Set(['llama', 'gpt2'])
/** ggml-backend asserts that tensor data is aligned to TENSOR_ALIGNMENT (32) bytes; mmap'ed data is where the file puts it. */
const TENSOR_ALIGNMENT = 32
/** Hyperparameter keys every architecture needs (llama.cpp's load_hparams reads them for all). */
const REQUIRED_ARCHITECTURE_KEYS = ['context_length', 'embedding_length', 'block_count']

export function validateGguf(file: GgufFile): GgufProblem[] {
  const problems: GgufProblem[] = []
  checkContainer(file, problems)
  const architecture = file.metadata.get('general.architecture')
  if (architecture === undefined) {
    problems.push(
      error(
        'MISSING_ARCHITECTURE',
        'general.architecture is missing: llama.cpp cannot tell what kind of model this is',
        'general.architecture',
      ),
    )
  } else if (architecture.type !== 'string') {
    problems.push(
      error('WRONG_TYPE', `general.architecture must be a string, found ${architecture.type}`, 'general.architecture'),
    )
  } else if (architecture.value === 'llama') {
    checkLlama(file, problems)
  } else {
    checkGenericDecoder(file, architecture.value, problems)
  }
  checkGeneral(file, problems)
  checkTokenizer(file, problems, architecture?.type === 'string' ? architecture.value : undefined)
  return problems
}

/** Keys of `general.*` llama.cpp reads with a fixed type. */
function checkGeneral(file: GgufFile, problems: GgufProblem[]): void {
  const fileType = file.metadata.get('general.file_type')
  if (fileType !== undefined && fileType.type !== 'uint32') {
    problems.push(
      error('WRONG_TYPE', `general.file_type must be a uint32, found ${describeType(fileType)}`, 'general.file_type'),
    )
  }
  if (file.alignment % TENSOR_ALIGNMENT !== 0) {
    problems.push(
      error(
        'BAD_ALIGNMENT',
        `general.alignment is ${file.alignment}; llama.cpp needs tensor data aligned to a multiple of ${TENSOR_ALIGNMENT} bytes and aborts otherwise`,
        'general.alignment',
      ),
    )
  }
}

export function hasErrors(problems: readonly GgufProblem[]): boolean {
  return problems.some((problem) => problem.severity === 'error')
}

export interface ModelFileCheck {
  /** Undefined when the file could not be parsed at all. */
  readonly file: GgufFile | undefined
  readonly problems: GgufProblem[]
}

/** Parses and validates; parse failures become a single error problem instead of a throw. */
export async function checkModelFile(path: string, options?: GgufReadOptions): Promise<ModelFileCheck> {
  try {
    const file = await readGgufFile(path, options)
    return { file, problems: validateGguf(file) }
  } catch (caught) {
    if (isGgufError(caught)) {
      return { file: undefined, problems: [error(caught.code, caught.message)] }
    }
    throw caught
  }
}

function error(code: string, message: string, key?: string, tensor?: string): GgufProblem {
  return {
    severity: 'error',
    code,
    message,
    ...(key !== undefined && { key }),
    ...(tensor !== undefined && { tensor }),
  }
}

function warning(code: string, message: string, key?: string, tensor?: string): GgufProblem {
  return {
    severity: 'warning',
    code,
    message,
    ...(key !== undefined && { key }),
    ...(tensor !== undefined && { tensor }),
  }
}

// ---------------------------------------------------------------------------------------------
// Container-level rules (what ggml's gguf reader enforces)
// ---------------------------------------------------------------------------------------------

/** Container rules (metadata keys, tensor names, data layout) every GGUF llama.cpp reads must follow, models or adapters. */
export function checkContainer(file: GgufFile, problems: GgufProblem[]): void {
  for (const [key, value] of file.metadata) {
    if (key.length === 0) problems.push(error('EMPTY_KEY', 'A metadata key is empty; llama.cpp rejects the file'))
    if (value.type === 'array' && value.value.elementType === 'array') {
      problems.push(error('NESTED_ARRAY', `Metadata "${key}" is an array of arrays, which llama.cpp cannot read`, key))
    }
  }
  for (const warningText of file.warnings) problems.push(warning('PARSE_WARNING', warningText))

  if (file.tensors.length === 0) {
    problems.push(error('NO_TENSORS', 'The file contains no tensors (a vocabulary-only file cannot run inference)'))
  }
  let expectedOffset = 0
  for (const tensor of file.tensors) {
    if (Buffer.byteLength(tensor.name, 'utf8') >= GGML_MAX_NAME) {
      problems.push(
        error(
          'TENSOR_NAME_TOO_LONG',
          `Tensor name "${tensor.name}" is ${Buffer.byteLength(tensor.name)} bytes; llama.cpp allows at most ${GGML_MAX_NAME - 1}`,
          undefined,
          tensor.name,
        ),
      )
    }
    if (tensor.relativeOffset % file.alignment !== 0) {
      problems.push(
        error(
          'MISALIGNED_TENSOR',
          `Tensor "${tensor.name}" starts at data offset ${tensor.relativeOffset}, which is not a multiple of the alignment ${file.alignment}`,
          undefined,
          tensor.name,
        ),
      )
    } else if (tensor.relativeOffset !== expectedOffset) {
      problems.push(
        error(
          'TENSOR_LAYOUT',
          `Tensor "${tensor.name}" is at data offset ${tensor.relativeOffset} but llama.cpp expects ${expectedOffset} (tensors must be stored in table order, each padded to ${file.alignment} bytes)`,
          undefined,
          tensor.name,
        ),
      )
    }
    if (tensor.offset + tensor.byteSize > file.fileSize) {
      problems.push(
        error(
          'TENSOR_OUT_OF_BOUNDS',
          `Tensor "${tensor.name}" extends past the end of the file`,
          undefined,
          tensor.name,
        ),
      )
    }
    expectedOffset = alignUp(tensor.relativeOffset + tensor.byteSize, file.alignment)
  }
}

// ---------------------------------------------------------------------------------------------
// Hyperparameters
// ---------------------------------------------------------------------------------------------

interface PerLayerValue {
  readonly values: number[]
}

/**
 * Reads a key llama.cpp loads with get_key_or_arr: a uint32 scalar, or an int32/uint32 array with
 * one entry per layer. Returns undefined (after recording a problem) when absent or malformed.
 */
function perLayerKey(
  file: GgufFile,
  key: string,
  layerCount: number,
  problems: GgufProblem[],
  missingMeans: string,
): PerLayerValue | undefined {
  const value = file.metadata.get(key)
  if (value === undefined) {
    problems.push(error('MISSING_KEY', `${key} is missing; ${missingMeans}`, key))
    return undefined
  }
  if (value.type === 'uint32') return { values: new Array<number>(Math.max(layerCount, 1)).fill(value.value) }
  if (value.type === 'array' && (value.value.elementType === 'uint32' || value.value.elementType === 'int32')) {
    const values = arrayAsNumbers(value.value) ?? []
    if (values.length !== layerCount) {
      problems.push(
        error(
          'WRONG_LENGTH',
          `${key} has ${values.length} per-layer entries but the model has ${layerCount} layers`,
          key,
        ),
      )
      return undefined
    }
    return { values }
  }
  problems.push(
    error(
      'WRONG_TYPE',
      `${key} must be a uint32 (or a per-layer int32/uint32 array), found ${describeType(value)}`,
      key,
    ),
  )
  return undefined
}

function requiredUint32(
  file: GgufFile,
  key: string,
  problems: GgufProblem[],
  missingMeans: string,
): number | undefined {
  const value = file.metadata.get(key)
  if (value === undefined) {
    problems.push(error('MISSING_KEY', `${key} is missing; ${missingMeans}`, key))
    return undefined
  }
  if (value.type !== 'uint32') {
    problems.push(
      error(
        'WRONG_TYPE',
        `${key} must be a uint32, found ${describeType(value)} (llama.cpp checks key types strictly)`,
        key,
      ),
    )
    return undefined
  }
  return value.value
}

function optionalUint32(file: GgufFile, key: string, problems: GgufProblem[]): number | undefined {
  const value = file.metadata.get(key)
  if (value === undefined) return undefined
  if (value.type !== 'uint32') {
    problems.push(error('WRONG_TYPE', `${key} must be a uint32, found ${describeType(value)}`, key))
    return undefined
  }
  return value.value
}

function describeType(value: GgufValue): string {
  return value.type === 'array' ? `an array of ${value.value.elementType}` : value.type
}

function checkLlama(file: GgufFile, problems: GgufProblem[]): void {
  const prefix = 'llama'
  const contextLength = requiredUint32(
    file,
    `${prefix}.context_length`,
    problems,
    'llama.cpp refuses to load the model',
  )
  const embedding = requiredUint32(file, `${prefix}.embedding_length`, problems, 'llama.cpp refuses to load the model')
  const blockCount = requiredUint32(file, `${prefix}.block_count`, problems, 'llama.cpp refuses to load the model')
  if (contextLength === 0)
    problems.push(error('ZERO_VALUE', `${prefix}.context_length is 0`, `${prefix}.context_length`))
  if (embedding === 0)
    problems.push(error('ZERO_VALUE', `${prefix}.embedding_length is 0`, `${prefix}.embedding_length`))
  if (blockCount !== undefined && (blockCount === 0 || blockCount > LLAMA_MAX_LAYERS)) {
    problems.push(
      error(
        'BAD_LAYER_COUNT',
        `${prefix}.block_count is ${blockCount}; llama.cpp supports 1 to ${LLAMA_MAX_LAYERS} layers`,
        `${prefix}.block_count`,
      ),
    )
  }
  const layers = blockCount !== undefined && blockCount > 0 && blockCount <= LLAMA_MAX_LAYERS ? blockCount : 0

  const abortWarning = 'llama.cpp would load zero-sized layers and abort the whole process'
  const feedForward = perLayerKey(file, `${prefix}.feed_forward_length`, layers, problems, abortWarning)
  const headCount = perLayerKey(file, `${prefix}.attention.head_count`, layers, problems, abortWarning)
  const headCountKvValue = file.metadata.get(`${prefix}.attention.head_count_kv`)
  const headCountKv =
    headCountKvValue === undefined
      ? headCount
      : perLayerKey(file, `${prefix}.attention.head_count_kv`, layers, problems, '')
  const rmsEpsilon = file.metadata.get(`${prefix}.attention.layer_norm_rms_epsilon`)
  if (rmsEpsilon === undefined) {
    problems.push(
      error(
        'MISSING_KEY',
        `${prefix}.attention.layer_norm_rms_epsilon is missing; llama.cpp refuses to load the model`,
        `${prefix}.attention.layer_norm_rms_epsilon`,
      ),
    )
  } else if (rmsEpsilon.type !== 'float32') {
    problems.push(
      error(
        'WRONG_TYPE',
        `${prefix}.attention.layer_norm_rms_epsilon must be a float32, found ${describeType(rmsEpsilon)}`,
        `${prefix}.attention.layer_norm_rms_epsilon`,
      ),
    )
  } else if (!Number.isFinite(rmsEpsilon.value) || rmsEpsilon.value <= 0) {
    problems.push(
      error(
        'BAD_VALUE',
        `${prefix}.attention.layer_norm_rms_epsilon is ${rmsEpsilon.value}; it must be a small positive number (llama.cpp aborts at the first generation otherwise)`,
        `${prefix}.attention.layer_norm_rms_epsilon`,
      ),
    )
  }
  const vocabSize = file.metadata.get(`${prefix}.vocab_size`)
  const tokenCount = metadataArray(file.metadata, 'tokenizer.ggml.tokens')?.values.length
  if (vocabSize !== undefined && vocabSize.type !== 'uint32') {
    problems.push(
      error(
        'WRONG_TYPE',
        `${prefix}.vocab_size must be a uint32, found ${describeType(vocabSize)}`,
        `${prefix}.vocab_size`,
      ),
    )
  } else if (vocabSize !== undefined && tokenCount !== undefined && vocabSize.value !== tokenCount) {
    problems.push(
      error(
        'WRONG_LENGTH',
        `${prefix}.vocab_size is ${vocabSize.value} but the tokenizer has ${tokenCount} tokens`,
        `${prefix}.vocab_size`,
      ),
    )
  }
  const keyLength = optionalUint32(file, `${prefix}.attention.key_length`, problems)
  const valueLength = optionalUint32(file, `${prefix}.attention.value_length`, problems)
  const expertCount = optionalUint32(file, `${prefix}.expert_count`, problems) ?? 0
  const ropeDimensions = optionalUint32(file, `${prefix}.rope.dimension_count`, problems)

  for (let layer = 0; layer < layers; layer++) {
    const heads = headCount?.values[layer]
    const kvHeads = headCountKv?.values[layer]
    const ff = feedForward?.values[layer]
    if (heads === 0)
      problems.push(
        error(
          'ZERO_VALUE',
          `${prefix}.attention.head_count is 0 for layer ${layer}; ${abortWarning}`,
          `${prefix}.attention.head_count`,
        ),
      )
    if (ff === 0 && expertCount === 0)
      problems.push(
        error(
          'ZERO_VALUE',
          `${prefix}.feed_forward_length is 0 for layer ${layer}; ${abortWarning}`,
          `${prefix}.feed_forward_length`,
        ),
      )
    if (heads !== undefined && kvHeads !== undefined && heads > 0 && (kvHeads === 0 || heads % kvHeads !== 0)) {
      problems.push(
        error(
          'BAD_HEAD_COUNT',
          `Layer ${layer}: head_count ${heads} is not a multiple of head_count_kv ${kvHeads}`,
          `${prefix}.attention.head_count_kv`,
        ),
      )
    }
  }

  if (embedding === undefined || headCount === undefined || layers === 0) return
  const firstHeads = headCount.values[0] ?? 0
  if (firstHeads > 0 && keyLength === undefined && embedding % firstHeads !== 0) {
    problems.push(
      error(
        'BAD_HEAD_COUNT',
        `${prefix}.embedding_length ${embedding} is not divisible by head_count ${firstHeads}`,
        `${prefix}.attention.head_count`,
      ),
    )
    return
  }
  const headDimensionK = keyLength ?? (firstHeads > 0 ? embedding / firstHeads : 0)
  const headDimensionV = valueLength ?? headDimensionK
  // llama.cpp's llama architecture requires n_rot == the head size ("invalid n_rot: 3, expected 16").
  if (ropeDimensions !== undefined && ropeDimensions !== headDimensionK) {
    problems.push(
      error(
        'BAD_ROPE',
        `${prefix}.rope.dimension_count is ${ropeDimensions}; a llama model rotates the whole head, ${headDimensionK} dimensions`,
        `${prefix}.rope.dimension_count`,
      ),
    )
  }

  const tokens = metadataArray(file.metadata, 'tokenizer.ggml.tokens')
  const vocabularySize = tokens?.values.length
  const tensors = new Map(file.tensors.map((tensor) => [tensor.name, tensor]))
  const seen = new Set<string>()
  const expect = (name: string, dims: number[], required: boolean): void => {
    seen.add(name)
    const tensor = tensors.get(name)
    if (!tensor) {
      if (required) problems.push(error('MISSING_TENSOR', `Tensor "${name}" is missing`, undefined, name))
      return
    }
    if (!sameShape(tensor, dims)) {
      problems.push(
        error(
          'TENSOR_SHAPE',
          `Tensor "${name}" has shape [${tensor.dims.join(', ')}] but the metadata implies [${dims.join(', ')}]`,
          undefined,
          name,
        ),
      )
    }
  }

  if (vocabularySize !== undefined) {
    expect('token_embd.weight', [embedding, vocabularySize], true)
    expect('output.weight', [embedding, vocabularySize], false)
  } else {
    seen.add('token_embd.weight').add('output.weight')
  }
  expect('output_norm.weight', [embedding], true)
  expect('rope_freqs.weight', [(ropeDimensions ?? headDimensionK) / 2], false)
  for (let layer = 0; layer < layers; layer++) {
    const heads = headCount.values[layer] ?? 0
    const kvHeads = headCountKv?.values[layer] ?? heads
    const ff = feedForward?.values[layer]
    const blk = `blk.${layer}`
    // Without a usable feed_forward_length (already reported) the FFN shapes cannot be checked.
    const expectFfn = (name: string, dims: (ffLength: number) => number[]): void => {
      if (ff === undefined) seen.add(name)
      else expect(name, dims(ff), true)
    }
    expect(`${blk}.attn_norm.weight`, [embedding], true)
    expect(`${blk}.attn_q.weight`, [embedding, headDimensionK * heads], true)
    expect(`${blk}.attn_k.weight`, [embedding, headDimensionK * kvHeads], true)
    expect(`${blk}.attn_v.weight`, [embedding, headDimensionV * kvHeads], true)
    expect(`${blk}.attn_output.weight`, [headDimensionV * heads, embedding], true)
    for (const [bias, size] of [
      ['attn_q', headDimensionK * heads],
      ['attn_k', headDimensionK * kvHeads],
      ['attn_v', headDimensionV * kvHeads],
      ['attn_output', embedding],
    ] as const) {
      expect(`${blk}.${bias}.bias`, [size], false)
    }
    expect(`${blk}.ffn_norm.weight`, [embedding], true)
    expect(`${blk}.rope_freqs.weight`, [(ropeDimensions ?? headDimensionK) / 2], false)
    if (expertCount === 0) {
      expectFfn(`${blk}.ffn_gate.weight`, (length) => [embedding, length])
      expectFfn(`${blk}.ffn_down.weight`, (length) => [length, embedding])
      expectFfn(`${blk}.ffn_up.weight`, (length) => [embedding, length])
    } else {
      expect(`${blk}.ffn_gate_inp.weight`, [embedding, expertCount], true)
      expectFfn(`${blk}.ffn_gate_exps.weight`, (length) => [embedding, length, expertCount])
      expectFfn(`${blk}.ffn_down_exps.weight`, (length) => [length, embedding, expertCount])
      expectFfn(`${blk}.ffn_up_exps.weight`, (length) => [embedding, length, expertCount])
    }
  }
  for (const tensor of file.tensors) {
    if (!seen.has(tensor.name)) {
      problems.push(
        error(
          'UNEXPECTED_TENSOR',
          `Tensor "${tensor.name}" is not part of this llama model (${layers} layers per ${prefix}.block_count); llama.cpp refuses the file ("wrong number of tensors")`,
          undefined,
          tensor.name,
        ),
      )
    }
  }
}

/** Shapes compare like ggml: missing trailing dimensions count as 1. */
function sameShape(tensor: GgufTensorInfo, expected: readonly number[]): boolean {
  for (let dimension = 0; dimension < 4; dimension++) {
    if ((tensor.dims[dimension] ?? 1) !== (expected[dimension] ?? 1)) return false
  }
  return true
}

/**
 * For architectures without detailed rules: the keys every architecture needs (errors: llama.cpp refuses the file
 * without them), a hint when the metadata belongs to another architecture (a file relabelled by hand), and the keys
 * nearly every decoder needs (warnings).
 */
function checkGenericDecoder(file: GgufFile, architecture: string, problems: GgufProblem[]): void {
  const missing = REQUIRED_ARCHITECTURE_KEYS.filter((suffix) => !file.metadata.has(`${architecture}.${suffix}`))
  const describedAs = [...file.metadata.keys()]
    .filter((key) => key.endsWith('.block_count') && !key.startsWith(`${architecture}.`))
    .map((key) => key.slice(0, -'.block_count'.length))
  for (const suffix of missing) {
    problems.push(
      error(
        'MISSING_KEY',
        `${architecture}.${suffix} is missing; llama.cpp refuses the file${describedAs.length > 0 ? ` (the metadata describes a ${describedAs[0]} model, but general.architecture says ${architecture}: the file does not match its architecture)` : ''}`,
        `${architecture}.${suffix}`,
      ),
    )
  }
  for (const suffix of REQUIRED_ARCHITECTURE_KEYS) {
    const value = file.metadata.get(`${architecture}.${suffix}`)
    if (value !== undefined && value.type !== 'uint32')
      problems.push(
        error(
          'WRONG_TYPE',
          `${architecture}.${suffix} must be a uint32, found ${describeType(value)}`,
          `${architecture}.${suffix}`,
        ),
      )
  }
  for (const suffix of ['attention.head_count']) {
    if (!file.metadata.has(`${architecture}.${suffix}`)) {
      problems.push(
        warning(
          'MISSING_KEY',
          `${architecture}.${suffix} is missing; most architectures need it`,
          `${architecture}.${suffix}`,
        ),
      )
    }
  }
  problems.push(
    warning(
      'UNCHECKED_ARCHITECTURE',
      `Architecture "${architecture}" has no detailed validation rules; only general checks were made`,
      'general.architecture',
    ),
  )
}

// ---------------------------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------------------------

function checkTokenizer(file: GgufFile, problems: GgufProblem[], architecture: string | undefined): void {
  const modelValue = file.metadata.get('tokenizer.ggml.model')
  if (modelValue === undefined) {
    problems.push(
      error(
        'MISSING_KEY',
        'tokenizer.ggml.model is missing; llama.cpp refuses to load the model',
        'tokenizer.ggml.model',
      ),
    )
    return
  }
  if (modelValue.type !== 'string') {
    problems.push(
      error(
        'WRONG_TYPE',
        `tokenizer.ggml.model must be a string, found ${describeType(modelValue)}`,
        'tokenizer.ggml.model',
      ),
    )
    return
  }
  const model = modelValue.value
  if (model === 'none' || model === 'no_vocab') {
    problems.push(
      error(
        'NO_VOCABULARY',
        `tokenizer.ggml.model is "${model}": the file has no tokenizer, and Larder cannot run a model without one (llama.cpp aborts)`,
        'tokenizer.ggml.model',
      ),
    )
    return
  }
  if (!knownTokenizerModels.has(model)) {
    problems.push(
      error(
        'UNKNOWN_TOKENIZER',
        `tokenizer.ggml.model is ${model === '' ? 'empty' : `"${model}"`}; llama.cpp knows ${[...knownTokenizerModels].filter((name) => name !== 'none' && name !== 'no_vocab').join(', ')}`,
        'tokenizer.ggml.model',
      ),
    )
    return
  }
  if (architecture === 'llama' && !llamaTokenizerModels.has(model)) {
    problems.push(
      error(
        'WRONG_TOKENIZER',
        `tokenizer.ggml.model is "${model}", which a llama model cannot use (llama.cpp aborts); it needs "llama" (SentencePiece) or "gpt2" (BPE)`,
        'tokenizer.ggml.model',
      ),
    )
  }
  const tokensValue = file.metadata.get('tokenizer.ggml.tokens')
  if (tokensValue === undefined) {
    problems.push(
      error(
        'MISSING_KEY',
        'tokenizer.ggml.tokens is missing; llama.cpp refuses to load the model',
        'tokenizer.ggml.tokens',
      ),
    )
    return
  }
  if (tokensValue.type !== 'array' || tokensValue.value.elementType !== 'string') {
    problems.push(
      error(
        'WRONG_TYPE',
        `tokenizer.ggml.tokens must be an array of strings, found ${describeType(tokensValue)}`,
        'tokenizer.ggml.tokens',
      ),
    )
    return
  }
  const tokens = tokensValue.value.values
  if (tokens.length === 0) {
    problems.push(error('EMPTY_VOCABULARY', 'tokenizer.ggml.tokens is empty', 'tokenizer.ggml.tokens'))
    return
  }
  const seen = new Map<string, number>()
  for (const [index, token] of tokens.entries()) {
    const first = seen.get(token)
    if (first !== undefined) {
      problems.push(
        error(
          'DUPLICATE_TOKEN',
          `tokenizer.ggml.tokens lists ${JSON.stringify(token)} twice (ids ${first} and ${index}); llama.cpp aborts on duplicate tokens`,
          'tokenizer.ggml.tokens',
        ),
      )
      break
    }
    seen.set(token, index)
  }
  const checkParallelArray = (key: string, elementType: GgufArray['elementType']): void => {
    const value = file.metadata.get(key)
    if (value === undefined) return
    if (value.type !== 'array' || value.value.elementType !== elementType) {
      problems.push(error('WRONG_TYPE', `${key} must be an array of ${elementType}, found ${describeType(value)}`, key))
    } else if (value.value.values.length !== tokens.length) {
      problems.push(
        error(
          'WRONG_LENGTH',
          `${key} has ${value.value.values.length} entries but there are ${tokens.length} tokens`,
          key,
        ),
      )
    }
  }
  checkParallelArray('tokenizer.ggml.scores', 'float32')
  checkParallelArray('tokenizer.ggml.token_type', 'int32')

  for (const [key, value] of file.metadata) {
    if (!key.startsWith('tokenizer.ggml.') || !key.endsWith('_token_id')) continue
    if (value.type !== 'uint32' && value.type !== 'int32') {
      problems.push(error('WRONG_TYPE', `${key} must be a uint32, found ${describeType(value)}`, key))
    } else if (value.value >= tokens.length && value.value !== 0xffffffff && value.value !== -1) {
      problems.push(
        error(
          'TOKEN_ID_OUT_OF_RANGE',
          `${key} is ${value.value} but the vocabulary has only ${tokens.length} tokens`,
          key,
        ),
      )
    }
  }
  if (model === 'gpt2' && !file.metadata.has('tokenizer.ggml.merges')) {
    problems.push(
      error(
        'MISSING_KEY',
        'tokenizer.ggml.merges is missing; llama.cpp needs merges for BPE (gpt2) tokenizers',
        'tokenizer.ggml.merges',
      ),
    )
  }
  if (model === 'llama' && !tokens.includes('<0x0A>') && !tokens.includes('\n')) {
    problems.push(
      warning(
        'NO_NEWLINE_TOKEN',
        'The SentencePiece vocabulary has no byte token <0x0A> for newline',
        'tokenizer.ggml.tokens',
      ),
    )
  }
  if (metadataString(file.metadata, 'tokenizer.chat_template') === '') {
    problems.push(
      warning('EMPTY_CHAT_TEMPLATE', 'tokenizer.chat_template is present but empty', 'tokenizer.chat_template'),
    )
  }
}
