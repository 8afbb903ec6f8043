/**
 * One entry point over every block encoder, mirroring ggml_quantize_chunk: whole rows of F32 values in,
 * the target type's bytes out, with an optional importance weight per column (from an imatrix).
 */
import { fp32ArrayToFp16 } from './fp16.js'
import { isKQuantTypeName, kQuantBlockBytes, quantizeKRows, QK_K, type KQuantTypeName } from './k-quants.js'
import { quantizeLegacyRowsWeighted } from './legacy-weighted.js'
import { halfIsNonFinite } from './quant-common.js'
import { isLegacyQuantTypeName, legacyQuantBlockBytes, quantizeRow, type LegacyQuantTypeName } from './quant-blocks.js'

/** Tensor types Larder can write. */
export const WRITABLE_TENSOR_TYPES = [
  'F32',
  'F16',
  'Q8_0',
  'Q6_K',
  'Q5_K',
  'Q5_1',
  'Q5_0',
  'Q4_K',
  'Q4_1',
  'Q4_0',
  'Q3_K',
  'Q2_K',
] as const
export type WritableTensorType = (typeof WRITABLE_TENSOR_TYPES)[number]

export function isWritableTensorType(name: string): name is WritableTensorType {
  return (WRITABLE_TENSOR_TYPES as readonly string[]).includes(name)
}

/** Values per block of a writable type. */
export function blockSizeOf(type: WritableTensorType): number {
  if (type === 'F32' || type === 'F16') return 1
  return isKQuantTypeName(type) ? QK_K : 32
}

/** Bytes one row of `rowLength` values takes as `type` (ggml_row_size). */
export function rowBytes(type: WritableTensorType, rowLength: number): number {
  if (type === 'F32') return rowLength * 4
  if (type === 'F16') return rowLength * 2
  if (isKQuantTypeName(type)) return (rowLength / QK_K) * kQuantBlockBytes[type]
  return (rowLength / 32) * legacyQuantBlockBytes[type as LegacyQuantTypeName]
}

/**
 * Encodes `values` (whole rows of `rowLength`) as `type`, as ggml_quantize_chunk does. `importance`, when
 * given, holds one weight per column; types without a weighted encoder (Q8_0, F16, F32) ignore it.
 */
export function quantizeRows(
  type: WritableTensorType,
  values: Float32Array,
  rowLength: number,
  importance: Float32Array | null = null,
): Uint8Array {
  if (values.length % rowLength !== 0)
    throw new RangeError(`${values.length} values are not whole rows of ${rowLength}`)
  if (rowLength % blockSizeOf(type) !== 0) {
    throw new RangeError(`${type} needs rows that are a multiple of ${blockSizeOf(type)} values, not ${rowLength}`)
  }
  if (type === 'F32') return new Uint8Array(values.slice().buffer)
  if (type === 'F16') return new Uint8Array(fp32ArrayToFp16(values).buffer)
  const output = new Uint8Array((values.length / rowLength) * rowBytes(type, rowLength))
  if (isKQuantTypeName(type)) {
    quantizeKRows(type, values, rowLength, output, 0, importance)
  } else if (importance && type !== 'Q8_0') {
    quantizeLegacyRowsWeighted(type as Exclude<LegacyQuantTypeName, 'Q8_0'>, values, rowLength, output, 0, importance)
  } else if (isLegacyQuantTypeName(type)) {
    quantizeRow(type, values, output)
  }
  return output
}

/** Where each block keeps its fp16 scales: offsets of `d` (and `dmin`/`m`) within a block. */
const halfScaleOffsets: Readonly<Record<Exclude<WritableTensorType, 'F32' | 'F16'>, readonly number[]>> = {
  Q8_0: [0],
  Q4_0: [0],
  Q5_0: [0],
  Q4_1: [0, 2],
  Q5_1: [0, 2],
  Q2_K: [80, 82],
  Q3_K: [108],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
}

/**
 * ggml_validate_row_data for the encoded bytes: false when a block scale is inf or NaN (llama-quantize
 * then stops with "quantized data validation failed"), or an F16 value overflowed.
 */
export function encodedScalesAreFinite(type: WritableTensorType, bytes: Uint8Array): boolean {
  if (type === 'F32') return true
  if (type === 'F16') {
    for (let at = 0; at < bytes.length; at += 2) if (halfIsNonFinite(bytes, at)) return false
    return true
  }
  const blockBytes = isKQuantTypeName(type)
    ? kQuantBlockBytes[type as KQuantTypeName]
    : legacyQuantBlockBytes[type as LegacyQuantTypeName]
  const offsets = halfScaleOffsets[type]
  for (let at = 0; at < bytes.length; at += blockBytes) {
    for (const offset of offsets) if (halfIsNonFinite(bytes, at + offset)) return false
  }
  return true
}
