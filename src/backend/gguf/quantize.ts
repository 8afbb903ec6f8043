/**
 * Whole-file quantization: source GGUF -> destination GGUF, one tensor and one chunk of rows at a
 * time, so multi-GB models are converted with a few MB of memory.
 *
 * Which tensors get which type follows llama.cpp's llama-quant.cpp (tensor_allows_quantization and
 * llama_tensor_get_type) for the legacy file types, without an importance matrix:
 * - only tensors with two or more (non-trivial) dimensions whose name ends in "weight" are
 *   converted; norms, biases, expert routers, position embeddings and a few other small tensors
 *   keep their source type;
 * - the output projection (output.weight, or token_embd.weight when embeddings are tied) becomes
 *   Q8_0 when its row length is not a multiple of the target block size (or for falcon); otherwise
 *   llama.cpp uses Q6_K, which this module does not implement, so it uses Q8_0 instead (llama.cpp's
 *   own fallback for Q6_K). `pure: true` disables these adjustments, like `llama-quantize --pure`.
 * - a row length that is not a multiple of 32 keeps the source type (llama.cpp refuses such files
 *   for these types; keeping F32 is the lossless choice).
 */
import { open } from 'node:fs/promises'
import { resolve } from 'node:path'

import { GgufError, throwIfAborted } from './errors.js'
import { bf16ArrayToFp32, fp16ArrayToFp32, fp32ArrayToFp16 } from './fp16.js'
import {
  blockScalesAreFinite,
  legacyQuantBlockBytes,
  quantizeRow,
  QUANT_BLOCK_SIZE,
  type LegacyQuantTypeName,
} from './quant-blocks.js'
import { readGguf, readTensorRows } from './reader.js'
import {
  effectiveDimensionCount,
  GgmlType,
  gguf,
  ggmlTypeTraits,
  LlamaFileType,
  llamaFileTypeName,
  tensorByteSize,
  type GgmlTypeName,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
} from './types.js'
import { writeGgufFile, type GgufTensorToWrite } from './writer.js'

export type QuantizationTarget = LegacyQuantTypeName | 'F16'

export const quantizationTargets: readonly QuantizationTarget[] = ['Q8_0', 'Q5_1', 'Q5_0', 'Q4_1', 'Q4_0', 'F16']

/** general.file_type written for each target (llama_ftype). */
export const fileTypeForTarget: Readonly<Record<QuantizationTarget, number>> = {
  Q8_0: LlamaFileType.MOSTLY_Q8_0,
  Q5_1: LlamaFileType.MOSTLY_Q5_1,
  Q5_0: LlamaFileType.MOSTLY_Q5_0,
  Q4_1: LlamaFileType.MOSTLY_Q4_1,
  Q4_0: LlamaFileType.MOSTLY_Q4_0,
  F16: LlamaFileType.MOSTLY_F16,
}

/** GGML_QNT_VERSION, written to general.quantization_version as llama.cpp does. */
export const GGML_QUANTIZATION_VERSION = 2

export interface TensorQuantizationPlan {
  readonly name: string
  readonly dims: readonly number[]
  readonly sourceType: GgmlTypeName
  readonly targetType: GgmlTypeName
  /** Why this target type, in plain words (shown in the UI and logs). */
  readonly reason: string
  readonly sourceBytes: number
  readonly targetBytes: number
}

export interface QuantizationPlanOptions {
  /** Use the target type for every eligible tensor (no output-tensor adjustment), like --pure. */
  pure?: boolean
}

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

/** Returns why a tensor must keep its type, or undefined when it may be converted. */
function reasonToKeep(tensor: GgufTensorInfo): string | undefined {
  if (effectiveDimensionCount(tensor.dims) < 2) return 'one-dimensional tensors (norms, biases) stay unquantized'
  if (!tensor.name.endsWith('weight')) return 'only tensors named *weight are quantized'
  if (exactNamesNeverQuantized.has(tensor.name)) return 'llama.cpp never quantizes this tensor'
  const excluded = namesNeverQuantized.find((part) => tensor.name.includes(part))
  if (excluded) return `llama.cpp never quantizes tensors matching "${excluded}"`
  return undefined
}

const convertibleSourceTypes = new Set<GgmlTypeName>(['F32', 'F16', 'BF16'])

export function planQuantization(
  file: GgufFile,
  target: QuantizationTarget,
  options: QuantizationPlanOptions = {},
): TensorQuantizationPlan[] {
  const architecture = file.metadata.get('general.architecture')
  const isFalcon = architecture?.type === 'string' && architecture.value === 'falcon'
  const hasTiedEmbeddings = !file.tensors.some((tensor) => tensor.name === 'output.weight')

  return file.tensors.map((tensor) => {
    const keep = (reason: string): TensorQuantizationPlan => ({
      name: tensor.name,
      dims: tensor.dims,
      sourceType: tensor.typeName,
      targetType: tensor.typeName,
      reason,
      sourceBytes: tensor.byteSize,
      targetBytes: tensor.byteSize,
    })
    const convert = (targetType: GgmlTypeName, reason: string): TensorQuantizationPlan => {
      if (targetType === tensor.typeName) return keep(`already ${targetType}`)
      if (!convertibleSourceTypes.has(tensor.typeName)) {
        const traits = ggmlTypeTraits(tensor.type)
        if (traits?.isQuantized) {
          throw new GgufError(
            'UNSUPPORTED_CONVERSION',
            `Tensor "${tensor.name}" is already ${tensor.typeName}; re-quantizing quantized weights loses quality and is not supported (start from an F32/F16 model)`,
          )
        }
        return keep(`${tensor.typeName} tensors are copied unchanged`)
      }
      return {
        name: tensor.name,
        dims: tensor.dims,
        sourceType: tensor.typeName,
        targetType,
        reason,
        sourceBytes: tensor.byteSize,
        targetBytes: tensorByteSize(GgmlType[targetType], tensor.dims),
      }
    }

    const keepReason = reasonToKeep(tensor)
    if (keepReason) return keep(keepReason)
    if (target === 'F16') return convert('F16', 'F16 file type')

    const rowLength = tensor.dims[0] ?? 1
    let targetType: GgmlTypeName = target
    let reason = `${target} file type`
    const isOutputProjection =
      tensor.name === 'output.weight' ||
      (hasTiedEmbeddings && (tensor.name === 'token_embd.weight' || tensor.name === 'per_layer_token_embd.weight'))
    if (isOutputProjection && !options.pure) {
      if (isFalcon || rowLength % QUANT_BLOCK_SIZE !== 0) {
        targetType = 'Q8_0'
        reason = 'output projection: llama.cpp uses Q8_0 here'
      } else if (target !== 'Q8_0') {
        targetType = 'Q8_0'
        reason =
          "output projection: llama.cpp would use Q6_K (not implemented here), so Q8_0, which is llama.cpp's own fallback for Q6_K"
      }
    }
    if (rowLength % QUANT_BLOCK_SIZE !== 0) {
      return keep(
        `row length ${rowLength} is not a multiple of ${QUANT_BLOCK_SIZE}, so the tensor stays ${tensor.typeName} (llama.cpp would refuse to quantize this file)`,
      )
    }
    return convert(targetType, reason)
  })
}

export interface QuantizeProgress {
  readonly tensorsDone: number
  readonly tensorCount: number
  /** Source tensor bytes processed so far. */
  readonly bytesDone: number
  readonly bytesTotal: number
  readonly currentTensor: string | undefined
}

export interface QuantizeFileOptions extends QuantizationPlanOptions {
  readonly target: QuantizationTarget
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: QuantizeProgress) => void
  /** Source bytes converted per step; bounds memory use. Default 4 MiB. */
  readonly chunkBytes?: number
}

export interface QuantizeFileResult {
  readonly destinationPath: string
  readonly fileType: number
  readonly fileTypeName: string
  readonly tensors: readonly TensorQuantizationPlan[]
  readonly sourceFileSize: number
  readonly destinationFileSize: number
}

/** Metadata keys llama.cpp drops when writing a single-file quantization. */
const splitKeys = new Set(['split.no', 'split.count', 'split.tensors.count'])

export async function quantizeGgufFile(
  sourcePath: string,
  destinationPath: string,
  options: QuantizeFileOptions,
): Promise<QuantizeFileResult> {
  if (resolve(sourcePath) === resolve(destinationPath)) {
    throw new GgufError('INVALID_ARGUMENT', 'The destination must differ from the source file')
  }
  throwIfAborted(options.signal, 'Quantization')
  const handle = await open(sourcePath, 'r')
  try {
    const file = await readGguf(handle)
    if (file.warnings.length > 0) {
      throw new GgufError('LOSSY_METADATA', `Cannot re-write this file without changing it: ${file.warnings[0]}`)
    }
    const plans = planQuantization(file, options.target, options)
    const fileType = fileTypeForTarget[options.target]

    const metadata: Array<[string, GgufValue]> = []
    for (const [key, value] of file.metadata) {
      if (splitKeys.has(key) || key === 'general.file_type' || key === 'general.quantization_version') continue
      metadata.push([key, value])
    }
    metadata.push(['general.quantization_version', gguf.uint32(GGML_QUANTIZATION_VERSION)])
    metadata.push(['general.file_type', gguf.uint32(fileType)])

    const bytesTotal = file.tensors.reduce((sum, tensor) => sum + tensor.byteSize, 0)
    let bytesDone = 0
    let tensorsDone = 0
    const report = (currentTensor: string | undefined): void => {
      options.onProgress?.({ tensorsDone, tensorCount: file.tensors.length, bytesDone, bytesTotal, currentTensor })
    }

    const tensors: GgufTensorToWrite[] = file.tensors.map((tensor, index) => {
      const plan = plans[index] as TensorQuantizationPlan
      const readOptions = {
        maxChunkBytes: options.chunkBytes ?? 4 * 1024 * 1024,
        ...(options.signal && { signal: options.signal }),
      }
      return {
        name: tensor.name,
        dims: tensor.dims,
        type: GgmlType[plan.targetType],
        data: async function* () {
          // The writer consumes each chunk before asking for the next, so the reader's buffer can be reused.
          for await (const chunk of readTensorRows(handle, tensor, readOptions)) {
            yield plan.targetType === plan.sourceType
              ? chunk.bytes
              : convertRows(tensor, plan, chunk.bytes, chunk.firstRow)
            bytesDone += chunk.bytes.length
            report(tensor.name)
          }
          tensorsDone += 1
          report(tensor.name)
        },
      }
    })

    report(undefined)
    const written = await writeGgufFile(
      destinationPath,
      { metadata, tensors },
      options.signal ? { signal: options.signal } : {},
    )
    return {
      destinationPath,
      fileType,
      fileTypeName: llamaFileTypeName(fileType),
      tensors: plans,
      sourceFileSize: file.fileSize,
      destinationFileSize: written.fileSize,
    }
  } finally {
    await handle.close()
  }
}

function toFloat32(tensor: GgufTensorInfo, bytes: Uint8Array): Float32Array {
  switch (tensor.typeName) {
    case 'F32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
    case 'F16':
      return fp16ArrayToFp32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2))
    case 'BF16':
      return bf16ArrayToFp32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2))
    default:
      throw new GgufError('UNSUPPORTED_CONVERSION', `Cannot convert ${tensor.typeName} tensor "${tensor.name}"`)
  }
}

function convertRows(
  tensor: GgufTensorInfo,
  plan: TensorQuantizationPlan,
  bytes: Uint8Array,
  firstRow: number,
): Uint8Array {
  const values = toFloat32(tensor, bytes)
  const rowLength = tensor.dims[0] ?? 1
  for (let index = 0; index < values.length; index++) {
    const value = values[index] as number
    // NaN and Inf would silently produce a broken block (NaN scales); llama.cpp rejects the result later.
    if (!Number.isFinite(value)) {
      const element = firstRow * rowLength + index
      throw new GgufError(
        'NON_FINITE_VALUE',
        `Tensor "${tensor.name}" contains ${Number.isNaN(value) ? 'NaN' : value > 0 ? '+Infinity' : '-Infinity'} at element ${element} ` +
          `(row ${Math.floor(element / rowLength)}, column ${element % rowLength}); refusing to quantize it`,
      )
    }
  }
  if (plan.targetType === 'F16') {
    const halves = fp32ArrayToFp16(values)
    for (let index = 0; index < halves.length; index++) {
      if (((halves[index] as number) & 0x7c00) === 0x7c00) {
        throw new GgufError(
          'VALUE_OUT_OF_RANGE',
          `Tensor "${tensor.name}" has value ${values[index]} beyond the F16 range (±65504)`,
        )
      }
    }
    return new Uint8Array(halves.buffer)
  }
  const type = plan.targetType as LegacyQuantTypeName
  const output = new Uint8Array((values.length / QUANT_BLOCK_SIZE) * legacyQuantBlockBytes[type])
  quantizeRow(type, values, output)
  if (!blockScalesAreFinite(type, output)) {
    throw new GgufError(
      'SCALE_OVERFLOW',
      `Tensor "${tensor.name}" has values too large for ${type} (a block scale overflows fp16); llama.cpp would reject the result`,
    )
  }
  return output
}
