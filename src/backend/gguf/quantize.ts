/**
 * Whole-file quantization: source GGUF -> destination GGUF, one tensor and one chunk of rows at a time,
 * so multi-GB models are converted with a few MB of memory. The result is the file llama-quantize writes
 * for the same file type and options: the same tensor types (quant-plan.ts), tensor order, metadata
 * (general.file_type, general.quantization_version, quantize.imatrix.*) and bytes (ggml-quantize-parity.test.ts
 * compares whole files with llama_model_quantize's).
 */
import { open } from 'node:fs/promises'
import { basename, resolve } from 'node:path'

import { dequantizeTensor } from './dequantize.js'
import { GgufError, throwIfAborted } from './errors.js'
import type { ImportanceMatrix } from './imatrix.js'
import {
  fileTypeInfo,
  planQuantization,
  summarizePlan,
  type QuantizationFileType,
  type QuantizationPlanOptions,
  type TensorQuantizationPlan,
} from './quant-plan.js'
import { encodedScalesAreFinite, quantizeRows, type WritableTensorType } from './quantize-rows.js'
import { readGguf, readTensorRows } from './reader.js'
import {
  elementCount,
  GgmlType,
  gguf,
  llamaFileTypeName,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
} from './types.js'
import { writeGgufFile, type GgufTensorToWrite } from './writer.js'

/** GGML_QNT_VERSION, written to general.quantization_version as llama.cpp does. */
export const GGML_QUANTIZATION_VERSION = 2

export interface QuantizeProgress {
  readonly tensorsDone: number
  readonly tensorCount: number
  /** Source tensor bytes processed so far. */
  readonly bytesDone: number
  readonly bytesTotal: number
  readonly currentTensor: string | undefined
}

export interface QuantizeFileOptions extends Omit<QuantizationPlanOptions, 'hasImatrix'> {
  readonly fileType: QuantizationFileType
  /** Importance data (readImportanceMatrix), applied per tensor as llama-quantize applies it. */
  readonly imatrix?: ImportanceMatrix
  /** Written to quantize.imatrix.file (llama-quantize writes the path it was given); default the file name. */
  readonly imatrixLabel?: string
  readonly signal?: AbortSignal
  readonly onProgress?: (progress: QuantizeProgress) => void
  /** Source bytes converted per step; bounds memory use. Default 4 MiB. */
  readonly chunkBytes?: number
}

export interface ImatrixUsage {
  readonly entries: number
  /** Converted tensors that got importance weights. */
  readonly tensorsWithData: readonly string[]
  /** Converted tensors the imatrix has no data for (quantized without weights, as llama.cpp does). */
  readonly tensorsWithoutData: readonly string[]
}

export interface QuantizeFileResult {
  readonly destinationPath: string
  readonly fileType: number
  readonly fileTypeName: string
  readonly tensors: readonly TensorQuantizationPlan[]
  readonly sourceFileSize: number
  readonly destinationFileSize: number
  readonly bitsPerWeight: number
  /** Tensors whose rows no type of the mixture could take, with the type used instead. */
  readonly fallbacks: readonly TensorQuantizationPlan[]
  readonly imatrix: ImatrixUsage | null
  /** Things the operator should know (re-quantization, fallbacks, tensors without importance data). */
  readonly warnings: readonly string[]
}

/** Metadata keys llama.cpp drops when writing a single-file quantization. */
const splitKeys = ['split.no', 'split.count', 'split.tensors.count']

/** The importance weights for each converted tensor, checked against the model. */
export interface ImportancePlan {
  readonly weights: ReadonlyMap<string, Float32Array>
  readonly usage: ImatrixUsage
}

/**
 * Matches an importance matrix to a model's plan: names the first entry the model lacks, and the first
 * converted tensor whose column count differs (token_embd is exempt, as in llama.cpp: its imatrix entry
 * never fits), and refuses when a tensor whose type requires importance data has none.
 */
export function matchImportanceMatrix(
  imatrix: ImportanceMatrix | undefined,
  plans: readonly TensorQuantizationPlan[],
  fileType: QuantizationFileType,
): ImportancePlan | null {
  if (!imatrix) {
    const needy = plans.find((plan) => plan.requiresImatrix)
    if (needy) {
      throw new GgufError(
        'IMATRIX_REQUIRED',
        `${fileType} needs an importance matrix (${needy.name} becomes ${needy.targetType}); ` +
          "give one (--imatrix FILE, made with llama.cpp's llama-imatrix) or pick another type",
      )
    }
    return null
  }
  const byName = new Map(plans.map((plan) => [plan.name, plan]))
  const foreign = [...imatrix.entries.keys()].sort().find((name) => !byName.has(name))
  if (foreign !== undefined) {
    throw new GgufError(
      'IMATRIX_MISMATCH',
      `The importance matrix has data for "${foreign}", which this model does not have: it was made for another model`,
    )
  }
  const weights = new Map<string, Float32Array>()
  const withoutData: string[] = []
  for (const plan of plans) {
    if (!plan.quantized) continue
    const entry = imatrix.entries.get(plan.name)
    const columns = (plan.dims[0] ?? 1) * (plan.dims[2] ?? 1)
    if (entry && entry.length !== columns) {
      if (plan.name === 'token_embd.weight' || plan.name === 'per_layer_token_embd.weight') {
        withoutData.push(plan.name)
        continue
      }
      throw new GgufError(
        'IMATRIX_MISMATCH',
        `The importance matrix has ${entry.length} values for "${plan.name}", which has ${columns} columns: it was made for another model`,
      )
    }
    if (entry) weights.set(plan.name, entry)
    else if (plan.requiresImatrix) {
      throw new GgufError(
        'IMATRIX_REQUIRED',
        `The importance matrix has no data for "${plan.name}", which ${fileType} makes ${plan.targetType}: that type needs it`,
      )
    } else withoutData.push(plan.name)
  }
  return {
    weights,
    usage: { entries: imatrix.entries.size, tensorsWithData: [...weights.keys()], tensorsWithoutData: withoutData },
  }
}

/** gguf_set_val_*: removes the key, then appends it. */
function setValue(metadata: Array<[string, GgufValue]>, key: string, value: GgufValue): void {
  const index = metadata.findIndex(([existing]) => existing === key)
  if (index !== -1) metadata.splice(index, 1)
  metadata.push([key, value])
}

/** strncpy(..., 127) into llama_model_kv_override.val_str, cut at a character boundary. */
function truncateTo127Bytes(text: string): string {
  const encoder = new TextEncoder()
  let result = text
  while (encoder.encode(result).length > 127) result = result.slice(0, -1)
  return result
}

export function quantizedMetadata(
  file: GgufFile,
  fileType: number,
  imatrix: ImportanceMatrix | undefined,
  imatrixLabel: string,
): Array<[string, GgufValue]> {
  const metadata: Array<[string, GgufValue]> = [...file.metadata.entries()]
  setValue(metadata, 'general.quantization_version', gguf.uint32(GGML_QUANTIZATION_VERSION))
  setValue(metadata, 'general.file_type', gguf.uint32(fileType))
  for (const key of splitKeys) {
    const index = metadata.findIndex(([existing]) => existing === key)
    if (index !== -1) metadata.splice(index, 1)
  }
  if (imatrix) {
    setValue(metadata, 'quantize.imatrix.file', gguf.string(truncateTo127Bytes(imatrixLabel)))
    const dataset = imatrix.datasets[0]
    if (dataset !== undefined) setValue(metadata, 'quantize.imatrix.dataset', gguf.string(truncateTo127Bytes(dataset)))
    setValue(metadata, 'quantize.imatrix.entries_count', gguf.uint32(imatrix.entries.size))
    if (imatrix.chunkCount > 0) setValue(metadata, 'quantize.imatrix.chunks_count', gguf.uint32(imatrix.chunkCount))
  }
  return metadata
}

function warningsFor(plans: readonly TensorQuantizationPlan[], usage: ImatrixUsage | null): string[] {
  const warnings: string[] = []
  const requantized = plans.filter((plan) => plan.quantized && !['F32', 'F16', 'BF16'].includes(plan.sourceType))
  if (requantized.length > 0) {
    const types = [...new Set(requantized.map((plan) => plan.sourceType))].join(', ')
    warnings.push(
      `${requantized.length} tensors were already quantized (${types}) and were dequantized and quantized again: ` +
        'errors compound, so quality is worse than quantizing the F32/F16 original would give',
    )
  }
  const fallbacks = plans.filter((plan) => plan.fallback)
  if (fallbacks.length > 0) {
    const examples = fallbacks
      .slice(0, 3)
      .map((plan) => `${plan.name} ${plan.fallback?.from}→${plan.targetType}`)
      .join(', ')
    warnings.push(
      `${fallbacks.length} of ${plans.length} tensors have rows no k-quant block fits (rows must be multiples of 256) ` +
        `and fell back as llama.cpp does: ${examples}${fallbacks.length > 3 ? ', …' : ''}`,
    )
  }
  if (usage && usage.tensorsWithoutData.length > 0) {
    warnings.push(
      `The importance matrix has no data for ${usage.tensorsWithoutData.length} quantized tensors ` +
        `(${usage.tensorsWithoutData.slice(0, 3).join(', ')}${usage.tensorsWithoutData.length > 3 ? ', …' : ''}); they were quantized without it`,
    )
  }
  return warnings
}

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
    const plans = planQuantization(file, options.fileType, { ...options, hasImatrix: options.imatrix !== undefined })
    const importance = matchImportanceMatrix(options.imatrix, plans, options.fileType)
    const fileType = fileTypeInfo[options.fileType].ftype
    const metadata = quantizedMetadata(file, fileType, options.imatrix, options.imatrixLabel ?? 'imatrix')

    const bytesTotal = file.tensors.reduce((sum, tensor) => sum + tensor.byteSize, 0)
    let bytesDone = 0
    let tensorsDone = 0
    const report = (currentTensor: string | undefined): void => {
      options.onProgress?.({ tensorsDone, tensorCount: file.tensors.length, bytesDone, bytesTotal, currentTensor })
    }
    const tensorsByName = new Map(file.tensors.map((tensor) => [tensor.name, tensor]))
    const readOptions = {
      maxChunkBytes: options.chunkBytes ?? 4 * 1024 * 1024,
      ...(options.signal && { signal: options.signal }),
    }
    const tensors: GgufTensorToWrite[] = plans.map((plan) => {
      const tensor = tensorsByName.get(plan.name) as GgufTensorInfo
      const weights = importance?.weights.get(plan.name) ?? null
      return {
        name: tensor.name,
        dims: tensor.dims,
        type: GgmlType[plan.targetType],
        data: async function* () {
          // The writer consumes each chunk before asking for the next, so the reader's buffer can be reused.
          for await (const chunk of readTensorRows(handle, tensor, readOptions)) {
            yield plan.quantized ? convertRows(tensor, plan, chunk.bytes, chunk.firstRow, weights) : chunk.bytes
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
    const summary = summarizePlan(file, options.fileType, plans)
    return {
      destinationPath,
      fileType,
      fileTypeName: llamaFileTypeName(fileType),
      tensors: plans,
      sourceFileSize: file.fileSize,
      destinationFileSize: written.fileSize,
      bitsPerWeight: summary.bitsPerWeight,
      fallbacks: plans.filter((plan) => plan.fallback),
      imatrix: importance?.usage ?? null,
      warnings: warningsFor(plans, importance?.usage ?? null),
    }
  } finally {
    await handle.close()
  }
}

/** The default label written to quantize.imatrix.file for an imatrix at `path`. */
export function imatrixLabelFor(path: string): string {
  return basename(path)
}

/** F32 rows are viewed in place; every other type is decoded (dequantizeTensor). */
function toFloat32(tensor: GgufTensorInfo, bytes: Uint8Array): Float32Array {
  if (tensor.typeName === 'F32') return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
  const rowLength = tensor.dims[0] ?? 1
  const sourceRowBytes = tensor.byteSize / (elementCount(tensor.dims) / rowLength)
  return dequantizeTensor(tensor.type, bytes, (bytes.length / sourceRowBytes) * rowLength)
}

function checkFiniteValues(tensor: GgufTensorInfo, values: Float32Array, firstRow: number): void {
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
}

function convertRows(
  tensor: GgufTensorInfo,
  plan: TensorQuantizationPlan,
  bytes: Uint8Array,
  firstRow: number,
  weights: Float32Array | null,
): Uint8Array {
  const values = toFloat32(tensor, bytes)
  checkFiniteValues(tensor, values, firstRow)
  const target = plan.targetType as WritableTensorType
  const rowLength = tensor.dims[0] ?? 1
  const output = weights
    ? quantizeExpertRows(target, values, rowLength, tensor.dims[1] ?? 1, firstRow, weights)
    : quantizeRows(target, values, rowLength)
  if (!encodedScalesAreFinite(target, output)) {
    throw new GgufError(
      target === 'F16' ? 'VALUE_OUT_OF_RANGE' : 'SCALE_OVERFLOW',
      target === 'F16'
        ? `Tensor "${tensor.name}" has values beyond the F16 range (±65504)`
        : `Tensor "${tensor.name}" has values too large for ${target} (a block scale overflows fp16); llama.cpp would reject the result`,
    )
  }
  return output
}

/** Rows of an expert tensor ([columns, rows, experts]) use their own expert's slice of the importance weights. */
function quantizeExpertRows(
  target: WritableTensorType,
  values: Float32Array,
  rowLength: number,
  rowsPerExpert: number,
  firstRow: number,
  weights: Float32Array,
): Uint8Array {
  const rows = values.length / rowLength
  const parts: Uint8Array[] = []
  for (let row = 0; row < rows;) {
    const expert = Math.floor((firstRow + row) / rowsPerExpert)
    const count = Math.min(rows - row, rowsPerExpert - ((firstRow + row) % rowsPerExpert))
    const slice = values.subarray(row * rowLength, (row + count) * rowLength)
    parts.push(quantizeRows(target, slice, rowLength, weights.subarray(expert * rowLength, (expert + 1) * rowLength)))
    row += count
  }
  if (parts.length === 1) return parts[0] as Uint8Array
  const output = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    output.set(part, at)
    at += part.length
  }
  return output
}
