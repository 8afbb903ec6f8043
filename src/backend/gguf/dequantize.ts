/**
 * Tensor data of any supported type -> F32, by our own code. The trainer only trains F32 tensors, so a student made
 * from a quantized or half-precision model is dequantized first (src/backend/distill/student.ts).
 *
 * One entry per ggml type in `dequantizers`; a type without an entry is refused with a clear message
 * (`UnsupportedTensorTypeError`). To support another type (the K-quants, say), add its row function here: it takes
 * whole blocks of raw bytes and returns their values.
 */
import { bf16ArrayToFp32, fp16ArrayToFp32 } from './fp16.js'
import { dequantizeRow } from './quant-blocks.js'
import { ggmlTypeName, ggmlTypeTraits, type GgmlTypeName } from './types.js'

/** Decodes `bytes` (a whole number of blocks) into F32 values. */
export type Dequantizer = (bytes: Uint8Array) => Float32Array

function viewAs<T>(
  bytes: Uint8Array,
  width: number,
  make: (buffer: ArrayBuffer, offset: number, length: number) => T,
): T {
  // Typed arrays need aligned offsets; copy when the bytes are not aligned (rare: chunks from our reader are).
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice()
  return make(aligned.buffer as ArrayBuffer, aligned.byteOffset, aligned.byteLength / width)
}

export const dequantizers: Partial<Record<GgmlTypeName, Dequantizer>> = {
  F32: (bytes) => viewAs(bytes, 4, (buffer, offset, length) => new Float32Array(buffer, offset, length)).slice(),
  F16: (bytes) =>
    fp16ArrayToFp32(viewAs(bytes, 2, (buffer, offset, length) => new Uint16Array(buffer, offset, length))),
  BF16: (bytes) =>
    bf16ArrayToFp32(viewAs(bytes, 2, (buffer, offset, length) => new Uint16Array(buffer, offset, length))),
  Q8_0: (bytes) => dequantizeRow('Q8_0', bytes),
  Q4_0: (bytes) => dequantizeRow('Q4_0', bytes),
  Q4_1: (bytes) => dequantizeRow('Q4_1', bytes),
  Q5_0: (bytes) => dequantizeRow('Q5_0', bytes),
  Q5_1: (bytes) => dequantizeRow('Q5_1', bytes),
}

export class UnsupportedTensorTypeError extends Error {
  constructor(
    readonly tensor: string,
    readonly typeName: string,
  ) {
    super(
      `Tensor "${tensor}" is ${typeName}, which Larder cannot dequantize yet (supported: ${supportedDequantizationTypes().join(', ')}). ` +
        'Start from an F32, F16 or legacy-quantized (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) file of the model instead.',
    )
    this.name = 'UnsupportedTensorTypeError'
  }
}

export function supportedDequantizationTypes(): GgmlTypeName[] {
  return Object.keys(dequantizers) as GgmlTypeName[]
}

export function canDequantize(type: number): boolean {
  const traits = ggmlTypeTraits(type)
  return traits !== undefined && dequantizers[traits.name] !== undefined
}

/** The dequantizer for a tensor's type, or a clear error naming the tensor. */
export function dequantizerFor(tensor: string, type: number): Dequantizer {
  const name = ggmlTypeName(type)
  const dequantize = dequantizers[name as GgmlTypeName]
  if (!dequantize) throw new UnsupportedTensorTypeError(tensor, name)
  return dequantize
}
