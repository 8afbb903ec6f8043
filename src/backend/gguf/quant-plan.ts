/**
 * Which type each tensor gets, for each file type, as llama.cpp's llama-quantize decides it
 * (src/llama-quant.cpp of the release node-llama-cpp ships: tensor_allows_quantization,
 * llama_tensor_get_type, llama_tensor_get_type_impl, tensor_type_fallback, tensor_requires_imatrix),
 * rewritten from that logic for the file types Larder writes.
 *
 * llama-quantize visits tensors in its loader's order (tensors outside blocks first, then block 0, 1, …;
 * by name within each group); the per-layer choices (attn_v / ffn_down promotions) count tensors in that
 * order, and the output file lists tensors in it. `llamaTensorOrder` gives that order.
 */
import { GgufError } from './errors.js'
import { arrayAsNumbers, metadataString, valueAsNumber } from './metadata.js'
import { blockSizeOf, rowBytes, type WritableTensorType } from './quantize-rows.js'
import { canDequantize } from './dequantize.js'
import {
  effectiveDimensionCount,
  elementCount,
  ggmlTypeTraits,
  LlamaFileType,
  type GgmlTypeName,
  type GgufFile,
  type GgufTensorInfo,
} from './types.js'

/** File types Larder writes, named as llama-quantize names them, best quality first. */
export const QUANTIZATION_FILE_TYPES = [
  'Q8_0',
  'Q6_K',
  'Q5_K_M',
  'Q5_K_S',
  'Q5_1',
  'Q5_0',
  'Q4_K_M',
  'Q4_K_S',
  'Q4_1',
  'Q4_0',
  'Q3_K_L',
  'Q3_K_M',
  'Q3_K_S',
  'Q2_K',
  'Q2_K_S',
  'F16',
] as const
export type QuantizationFileType = (typeof QUANTIZATION_FILE_TYPES)[number]

export interface FileTypeInfo {
  /** llama_ftype, written to general.file_type. */
  readonly ftype: number
  /** llama_ftype_get_default_type: the type of most tensors. */
  readonly defaultType: WritableTensorType
  /** The whole file cannot be made without an importance matrix (llama-quantize refuses). */
  readonly requiresImatrix: boolean
}

export const fileTypeInfo: Readonly<Record<QuantizationFileType, FileTypeInfo>> = {
  Q8_0: { ftype: LlamaFileType.MOSTLY_Q8_0, defaultType: 'Q8_0', requiresImatrix: false },
  Q6_K: { ftype: LlamaFileType.MOSTLY_Q6_K, defaultType: 'Q6_K', requiresImatrix: false },
  Q5_K_M: { ftype: LlamaFileType.MOSTLY_Q5_K_M, defaultType: 'Q5_K', requiresImatrix: false },
  Q5_K_S: { ftype: LlamaFileType.MOSTLY_Q5_K_S, defaultType: 'Q5_K', requiresImatrix: false },
  Q5_1: { ftype: LlamaFileType.MOSTLY_Q5_1, defaultType: 'Q5_1', requiresImatrix: false },
  Q5_0: { ftype: LlamaFileType.MOSTLY_Q5_0, defaultType: 'Q5_0', requiresImatrix: false },
  Q4_K_M: { ftype: LlamaFileType.MOSTLY_Q4_K_M, defaultType: 'Q4_K', requiresImatrix: false },
  Q4_K_S: { ftype: LlamaFileType.MOSTLY_Q4_K_S, defaultType: 'Q4_K', requiresImatrix: false },
  Q4_1: { ftype: LlamaFileType.MOSTLY_Q4_1, defaultType: 'Q4_1', requiresImatrix: false },
  Q4_0: { ftype: LlamaFileType.MOSTLY_Q4_0, defaultType: 'Q4_0', requiresImatrix: false },
  Q3_K_L: { ftype: LlamaFileType.MOSTLY_Q3_K_L, defaultType: 'Q3_K', requiresImatrix: false },
  Q3_K_M: { ftype: LlamaFileType.MOSTLY_Q3_K_M, defaultType: 'Q3_K', requiresImatrix: false },
  Q3_K_S: { ftype: LlamaFileType.MOSTLY_Q3_K_S, defaultType: 'Q3_K', requiresImatrix: false },
  Q2_K: { ftype: LlamaFileType.MOSTLY_Q2_K, defaultType: 'Q2_K', requiresImatrix: false },
  Q2_K_S: { ftype: LlamaFileType.MOSTLY_Q2_K_S, defaultType: 'Q2_K', requiresImatrix: true },
  F16: { ftype: LlamaFileType.MOSTLY_F16, defaultType: 'F16', requiresImatrix: false },
}

export function isQuantizationFileType(name: string): name is QuantizationFileType {
  return Object.hasOwn(fileTypeInfo, name)
}

export interface QuantizationPlanOptions {
  /** Every eligible tensor gets the file type's default type (no mixture), like --pure. */
  readonly pure?: boolean
  /** Keep output.weight as it is, like --leave-output-tensor. */
  readonly leaveOutputTensor?: boolean
  /** Type for output.weight (and a tied token_embd.weight), like --output-tensor-type. */
  readonly outputTensorType?: WritableTensorType
  /** Type for token_embd.weight, like --token-embedding-type. */
  readonly tokenEmbeddingType?: WritableTensorType
  /** An importance matrix will be used (a few of llama.cpp's choices depend on it). */
  readonly hasImatrix?: boolean
  /** Quantize tensors that are already quantized (dequantized first), like --allow-requantize. */
  readonly allowRequantize?: boolean
}

export interface TensorQuantizationPlan {
  readonly name: string
  readonly dims: readonly number[]
  readonly sourceType: GgmlTypeName
  readonly targetType: GgmlTypeName
  /** Why this target type, in plain words (shown in the UI and logs). */
  readonly reason: string
  readonly sourceBytes: number
  readonly targetBytes: number
  /** The chosen type could not take this row length; `from` is what llama.cpp wanted. */
  readonly fallback?: { readonly from: GgmlTypeName; readonly rowLength: number }
  /** This tensor's type needs importance data (Q2_K in a Q2_K_S file). */
  readonly requiresImatrix: boolean
  /** The tensor is converted (its type changes), so an imatrix entry for it would be used. */
  readonly quantized: boolean
}

type Category =
  | 'token_embd'
  | 'attn_q'
  | 'attn_v'
  | 'attn_k'
  | 'attn_qkv'
  | 'attn_kv_b'
  | 'attn_output'
  | 'ffn_up'
  | 'ffn_gate'
  | 'ffn_down'
  | 'output'
  | 'other'

function categoryOf(name: string): Category {
  if (name === 'output.weight') return 'output'
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd'
  const bySubstring: Array<[string, Category]> = [
    ['attn_qkv.weight', 'attn_qkv'],
    ['attn_kv_b.weight', 'attn_kv_b'],
    ['attn_v.weight', 'attn_v'],
    ['attn_k.weight', 'attn_k'],
    ['attn_q.weight', 'attn_q'],
    ['attn_output.weight', 'attn_output'],
    ['ffn_up', 'ffn_up'],
    ['ffn_gate', 'ffn_gate'],
    ['ffn_down', 'ffn_down'],
  ]
  return bySubstring.find(([part]) => name.includes(part))?.[1] ?? 'other'
}

const isAttentionV = (category: Category): boolean =>
  category === 'attn_v' || category === 'attn_qkv' || category === 'attn_kv_b'

/** Substrings of tensor names llama.cpp never quantizes (tensor_allows_quantization). */
const namesNeverQuantized = [
  '_norm.weight',
  'ffn_gate_inp.weight',
  'ffn_gate_tid2eid.weight',
  'altup',
  'laurel',
  'per_layer_model_proj',
  'ssm_conv1d',
  'shortconv.conv.weight',
  'indexer.k_proj.weight',
  'indexer.q_proj.weight',
  'time_mix_first.weight',
  'time_mix_w0.weight',
  'time_mix_w1.weight',
  'time_mix_w2.weight',
  'time_mix_v0.weight',
  'time_mix_v1.weight',
  'time_mix_v2.weight',
  'time_mix_a0.weight',
  'time_mix_a1.weight',
  'time_mix_a2.weight',
  'time_mix_g1.weight',
  'time_mix_g2.weight',
  'time_mix_decay_w1.weight',
  'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight',
  'attn_rel_b.weight',
  '.position_embd',
  'sam.pos_embd',
  'sam.neck.',
  'sam.net_',
  '.rel_pos',
  '.patch_embd',
  '.patch_merger',
  'a.rvq.codebook',
  'mm.a.code_embd',
]
const exactNamesNeverQuantized = new Set(['position_embd.weight', 'token_types.weight'])

/** Why a tensor keeps its type whatever the file type, or undefined when it may be converted. */
function reasonToKeep(tensor: GgufTensorInfo, options: QuantizationPlanOptions): string | undefined {
  if (effectiveDimensionCount(tensor.dims) < 2) return 'one-dimensional tensors (norms, biases) stay unquantized'
  if (!tensor.name.endsWith('weight')) return 'only tensors named *weight are quantized'
  if (options.leaveOutputTensor && tensor.name === 'output.weight')
    return 'output.weight left as it is (--leave-output-tensor)'
  if (exactNamesNeverQuantized.has(tensor.name)) return 'llama.cpp never quantizes this tensor'
  const excluded = namesNeverQuantized.find((part) => tensor.name.includes(part))
  if (excluded) return `llama.cpp never quantizes tensors matching "${excluded}"`
  return undefined
}

/** The block index in "blk.N." names, or -1 (llama_model_loader's weight_name_comparer). */
function layerOf(name: string): number {
  const match = /^blk\.(-?\d+)\./.exec(name)
  return match ? Number(match[1]) : -1
}

/** llama-quantize's tensor order: tensors outside blocks first, then by block number, then by name (bytewise). */
export function llamaTensorOrder<T extends { name: string }>(tensors: readonly T[]): T[] {
  const byteCompare = (left: string, right: string): number => Buffer.compare(Buffer.from(left), Buffer.from(right))
  return [...tensors].sort(
    (left, right) => layerOf(left.name) - layerOf(right.name) || byteCompare(left.name, right.name),
  )
}

/** The hyperparameters llama-quantize's choices depend on, read from the file's metadata. */
export interface ModelShape {
  readonly architecture: string
  readonly layerCount: number
  readonly headCount: number
  readonly headCountKv: number
  readonly expertCount: number
  /** llama.cpp's LLM_TYPE_70B (its attn_v gets more bits in Q3_K/Q4_K files). */
  readonly is70B: boolean
}

/** A scalar, or the first layer's value of a per-layer array (llama.cpp reads layer 0 for n_gqa()). */
function firstNumber(file: GgufFile, key: string): number | undefined {
  const value = file.metadata.get(key)
  if (value?.type === 'array') return arrayAsNumbers(value.value)?.[0]
  return valueAsNumber(value)
}

export function modelShapeOf(file: GgufFile): ModelShape {
  const architecture = metadataString(file.metadata, 'general.architecture') ?? ''
  const layerCount = firstNumber(file, `${architecture}.block_count`) ?? 0
  const headCount = firstNumber(file, `${architecture}.attention.head_count`) ?? 0
  const headCountKv = firstNumber(file, `${architecture}.attention.head_count_kv`) ?? headCount
  const expertCount = firstNumber(file, `${architecture}.expert_count`) ?? 0
  const is70B =
    (architecture === 'llama' && expertCount !== 8 && layerCount === 80 && headCount !== headCountKv) ||
    (['qwen2', 'deci', 'olmo'].includes(architecture) && layerCount === 80) ||
    (architecture === 'jais2' && layerCount === 68)
  return { architecture, layerCount, headCount, headCountKv, expertCount, is70B }
}

interface PlanState {
  readonly fileType: QuantizationFileType
  readonly shape: ModelShape
  readonly options: QuantizationPlanOptions
  readonly tiedEmbeddings: boolean
  readonly attentionVCount: number
  attentionVIndex: number
  ffnDownIndex: number
}

const useMoreBits = (layer: number, layers: number): boolean =>
  layer < Math.trunc(layers / 8) || layer >= Math.trunc((7 * layers) / 8) || (layer - Math.trunc(layers / 8)) % 3 === 2

/** llama_tensor_get_type_impl for the output projection (output.weight or a tied token_embd.weight). */
function outputType(state: PlanState, tensor: GgufTensorInfo, type: WritableTensorType): WritableTensorType {
  if (state.options.outputTensorType) return state.options.outputTensorType
  const rowLength = tensor.dims[0] ?? 1
  if (state.shape.architecture === 'falcon' || rowLength % blockSizeOf(type) !== 0) return 'Q8_0'
  return type !== 'Q8_0' ? 'Q6_K' : type
}

function attentionVType(state: PlanState, type: WritableTensorType): WritableTensorType {
  const { fileType, shape } = state
  const gqa = shape.headCountKv === 0 ? 0 : Math.trunc(shape.headCount / shape.headCountKv)
  let result = type
  if (fileType === 'Q2_K') result = gqa >= 4 ? 'Q4_K' : 'Q3_K'
  else if (fileType === 'Q2_K_S' && gqa >= 4) result = 'Q4_K'
  else if (fileType === 'Q3_K_M') result = state.attentionVIndex < 2 ? 'Q5_K' : 'Q4_K'
  else if (fileType === 'Q3_K_L') result = 'Q5_K'
  else if (
    (fileType === 'Q4_K_M' || fileType === 'Q5_K_M') &&
    useMoreBits(state.attentionVIndex, state.attentionVCount)
  )
    result = 'Q6_K'
  else if (fileType === 'Q4_K_S' && state.attentionVIndex < 4) result = 'Q5_K'
  if (shape.is70B && (result === 'Q3_K' || result === 'Q4_K')) result = 'Q5_K'
  if (shape.expertCount === 8) result = 'Q8_0'
  state.attentionVIndex++
  return result
}

function ffnDownType(state: PlanState, tensor: GgufTensorInfo, type: WritableTensorType): WritableTensorType {
  const { fileType, shape } = state
  let layer = state.ffnDownIndex
  const layers = shape.layerCount
  if (shape.expertCount > 1) {
    layer = layerOf(tensor.name)
    if (layer < 0 || layer >= layers) {
      throw new GgufError(
        'UNSUPPORTED_CONVERSION',
        `Cannot tell the layer of tensor "${tensor.name}" (0..${layers - 1})`,
      )
    }
  }
  const falcon = shape.architecture === 'falcon'
  const eighth = Math.trunc(layers / 8)
  let result = type
  if (fileType === 'Q2_K') result = 'Q3_K'
  else if (fileType === 'Q2_K_S') {
    if (layer < eighth) result = 'Q4_K'
  } else if (fileType === 'Q3_K_M') {
    result = layer < Math.trunc(layers / 16) ? 'Q5_K' : !falcon || useMoreBits(layer, layers) ? 'Q4_K' : 'Q3_K'
  } else if (fileType === 'Q3_K_L') result = falcon ? 'Q4_K' : 'Q5_K'
  else if (fileType === 'Q4_K_M') {
    if (falcon) result = layer < Math.trunc(layers / 16) ? 'Q6_K' : useMoreBits(layer, layers) ? 'Q5_K' : 'Q4_K'
    else if (useMoreBits(layer, layers)) result = 'Q6_K'
  } else if (fileType === 'Q5_K_M' && useMoreBits(layer, layers)) result = 'Q6_K'
  else if (fileType === 'Q4_K_S' && !falcon && layer < eighth) result = 'Q5_K'
  else if ((fileType === 'Q4_0' || fileType === 'Q5_0') && state.options.hasImatrix && layer < eighth) {
    result = fileType === 'Q4_0' ? 'Q4_1' : 'Q5_1'
  }
  state.ffnDownIndex++
  return result
}

function attentionOutputType(state: PlanState, type: WritableTensorType): WritableTensorType {
  const { fileType, shape } = state
  if (shape.architecture === 'falcon') return fileType === 'Q3_K_L' ? 'Q4_K' : type
  if (shape.expertCount === 8) {
    return ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q4_K_S', 'Q4_K_M'].includes(fileType) ? 'Q5_K' : type
  }
  if (fileType === 'Q2_K') return 'Q3_K'
  if (fileType === 'Q3_K_M') return 'Q4_K'
  if (fileType === 'Q3_K_L') return 'Q5_K'
  return type
}

/** llama_tensor_get_type_impl for the file types Larder writes. */
function mixtureType(state: PlanState, tensor: GgufTensorInfo, category: Category): WritableTensorType {
  const type = fileTypeInfo[state.fileType].defaultType
  if (category === 'output' || (state.tiedEmbeddings && category === 'token_embd'))
    return outputType(state, tensor, type)
  if (category === 'token_embd') return state.options.tokenEmbeddingType ?? type
  if (isAttentionV(category)) return attentionVType(state, type)
  if (category === 'attn_k') return state.shape.expertCount === 8 ? 'Q8_0' : type
  if (category === 'ffn_down') return ffnDownType(state, tensor, type)
  if (category === 'attn_output') return attentionOutputType(state, type)
  if (category === 'attn_qkv') {
    if (state.fileType === 'Q3_K_M' || state.fileType === 'Q3_K_L') return 'Q4_K'
    if (state.fileType === 'Q4_K_M') return 'Q5_K'
    if (state.fileType === 'Q5_K_M') return 'Q6_K'
  }
  return type
}

/** tensor_type_fallback: a type whose block does not divide the row length gives way to a smaller block. */
const fallbacks: Partial<Record<WritableTensorType, WritableTensorType>> = {
  Q2_K: 'Q4_0',
  Q3_K: 'Q4_0',
  Q4_K: 'Q5_0',
  Q5_K: 'Q5_1',
  Q6_K: 'Q8_0',
}

function withFallback(
  type: WritableTensorType,
  rowLength: number,
): { type: WritableTensorType; from?: WritableTensorType } {
  if (rowLength % blockSizeOf(type) === 0) return { type }
  const smaller = fallbacks[type] ?? type
  return { type: rowLength % blockSizeOf(smaller) === 0 ? smaller : 'F16', from: type }
}

function describeChoice(state: PlanState, category: Category, type: WritableTensorType): string {
  if (category === 'output' || (state.tiedEmbeddings && category === 'token_embd')) {
    return state.options.outputTensorType
      ? `output projection: ${type} as asked`
      : `output projection: llama.cpp uses ${type} here`
  }
  if (type === fileTypeInfo[state.fileType].defaultType) return `${state.fileType} file type`
  const what = category === 'other' ? 'this tensor' : category === 'token_embd' ? 'token embeddings' : category
  return `${what}: llama.cpp's ${state.fileType} mixture uses ${type} here`
}

/**
 * The type of every tensor of `file` for `fileType`, in llama-quantize's tensor order. Throws on choices
 * llama-quantize cannot carry out (an already-quantized source without allowRequantize, an explicit
 * output/embedding type whose blocks do not divide the row length).
 */
export function planQuantization(
  file: GgufFile,
  fileType: QuantizationFileType,
  options: QuantizationPlanOptions = {},
): TensorQuantizationPlan[] {
  const info = fileTypeInfo[fileType]
  const tensors = llamaTensorOrder(file.tensors)
  const state: PlanState = {
    fileType,
    shape: modelShapeOf(file),
    options,
    tiedEmbeddings: !tensors.some((tensor) => tensor.name === 'output.weight'),
    attentionVCount: tensors.filter((tensor) => isAttentionV(categoryOf(tensor.name))).length,
    attentionVIndex: 0,
    ffnDownIndex: 0,
  }
  return tensors.map((tensor) => planTensor(state, tensor, info))
}

function planTensor(state: PlanState, tensor: GgufTensorInfo, info: FileTypeInfo): TensorQuantizationPlan {
  const { options } = state
  const keep = (reason: string): TensorQuantizationPlan => ({
    name: tensor.name,
    dims: tensor.dims,
    sourceType: tensor.typeName,
    targetType: tensor.typeName,
    reason,
    sourceBytes: tensor.byteSize,
    targetBytes: tensor.byteSize,
    requiresImatrix: false,
    quantized: false,
  })
  const keepReason = reasonToKeep(tensor, options)
  if (keepReason) return keep(keepReason)

  const category = categoryOf(tensor.name)
  const rowLength = tensor.dims[0] ?? 1
  let target: WritableTensorType
  let reason: string
  let fallback: TensorQuantizationPlan['fallback']
  if (options.tokenEmbeddingType && category === 'token_embd') {
    // llama.cpp returns these two choices as given, without the row-length fallback.
    target = requireFits(options.tokenEmbeddingType, tensor, '--token-embedding-type')
    reason = `token embeddings: ${target} as asked`
  } else if (options.outputTensorType && category === 'output') {
    target = requireFits(options.outputTensorType, tensor, '--output-tensor-type')
    reason = `output projection: ${target} as asked`
  } else if (info.defaultType === 'F16') {
    target = 'F16'
    reason = 'F16 file type'
  } else {
    target = options.pure ? info.defaultType : mixtureType(state, tensor, category)
    reason = options.pure ? `${state.fileType} file type (--pure)` : describeChoice(state, category, target)
    const chosen = withFallback(target, rowLength)
    if (chosen.from) {
      fallback = { from: chosen.from, rowLength }
      reason = `rows of ${rowLength} are not a multiple of ${blockSizeOf(chosen.from)} (needed by ${chosen.from}), so ${chosen.type}, llama.cpp's fallback`
    }
    target = chosen.type
  }

  const requiresImatrix =
    target === 'Q2_K' && state.fileType === 'Q2_K_S' && category !== 'token_embd' && category !== 'output'
  if (target === tensor.typeName) return { ...keep(`already ${target}`), requiresImatrix }
  checkConvertible(tensor, options)
  return {
    name: tensor.name,
    dims: tensor.dims,
    sourceType: tensor.typeName,
    targetType: target,
    reason,
    sourceBytes: tensor.byteSize,
    targetBytes: (elementCount(tensor.dims) / rowLength) * rowBytes(target, rowLength),
    ...(fallback && { fallback }),
    requiresImatrix,
    quantized: true,
  }
}

function requireFits(type: WritableTensorType, tensor: GgufTensorInfo, flag: string): WritableTensorType {
  const rowLength = tensor.dims[0] ?? 1
  if (rowLength % blockSizeOf(type) !== 0) {
    throw new GgufError(
      'INVALID_ARGUMENT',
      `${flag} ${type} needs rows that are a multiple of ${blockSizeOf(type)} values, but "${tensor.name}" has rows of ${rowLength}`,
    )
  }
  return type
}

function checkConvertible(tensor: GgufTensorInfo, options: QuantizationPlanOptions): void {
  const traits = ggmlTypeTraits(tensor.type)
  if (!traits?.isQuantized && tensor.typeName !== 'BF16' && tensor.typeName !== 'F16' && tensor.typeName !== 'F32') {
    throw new GgufError(
      'UNSUPPORTED_CONVERSION',
      `Tensor "${tensor.name}" is ${tensor.typeName}; only float weights can be quantized`,
    )
  }
  if (!traits?.isQuantized) return
  if (!canDequantize(tensor.type)) {
    throw new GgufError(
      'UNSUPPORTED_CONVERSION',
      `Tensor "${tensor.name}" is ${tensor.typeName}, which Larder cannot dequantize; start from an F32/F16 model`,
    )
  }
  if (!options.allowRequantize) {
    throw new GgufError(
      'REQUANTIZE_REFUSED',
      `Tensor "${tensor.name}" is already ${tensor.typeName}. Re-quantizing quantized weights compounds their error; ` +
        'start from the F32/F16 model, or allow it explicitly (--allow-requantize)',
    )
  }
}

export interface PlanSummary {
  readonly fileType: QuantizationFileType
  readonly sourceBytes: number
  readonly targetBytes: number
  /** Bits per weight over all tensors, as llama-quantize reports it. */
  readonly bitsPerWeight: number
  readonly tensorTypeCounts: Readonly<Record<string, number>>
  readonly fallbacks: number
  readonly requiresImatrix: boolean
}

export function summarizePlan(
  file: GgufFile,
  fileType: QuantizationFileType,
  plans: readonly TensorQuantizationPlan[],
): PlanSummary {
  const elements = file.tensors.reduce((sum, tensor) => sum + elementCount(tensor.dims), 0)
  const targetBytes = plans.reduce((sum, plan) => sum + plan.targetBytes, 0)
  const tensorTypeCounts: Record<string, number> = {}
  for (const plan of plans) tensorTypeCounts[plan.targetType] = (tensorTypeCounts[plan.targetType] ?? 0) + 1
  return {
    fileType,
    sourceBytes: plans.reduce((sum, plan) => sum + plan.sourceBytes, 0),
    targetBytes,
    bitsPerWeight: elements > 0 ? (targetBytes * 8) / elements : 0,
    tensorTypeCounts,
    fallbacks: plans.filter((plan) => plan.fallback).length,
    requiresImatrix: plans.some((plan) => plan.requiresImatrix),
  }
}
