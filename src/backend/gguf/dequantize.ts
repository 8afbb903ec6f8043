/**
 * Dequantization of every tensor type Larder reads or writes to F32, bit-identical to ggml's
 * `to_float` (dequantize_row_* in ggml-quants.c, ggml_fp16_to_fp32_row, ggml_bf16_to_fp32_row).
 *
 * `dequantizeTensor(type, bytes, count)` is the one entry point: the trainer uses it to read a quantized
 * student or teacher, the quantizer to re-quantize an already-quantized file (when asked to), the quality
 * tools to measure errors. `dequantizers` is the per-type table behind it.
 */
import { bf16ArrayToFp32, fp16ArrayToFp32 } from './fp16.js'
import { readFloat32, readHalf } from './quant-common.js'
import { dequantizeRow, legacyQuantBlockBytes, type LegacyQuantTypeName } from './quant-blocks.js'
import { ggmlTypeName, type GgmlTypeName } from './types.js'
import { GgufError } from './errors.js'

const f = Math.fround

export interface Dequantizer {
  /** Values per block (1 for plain types). */
  readonly blockSize: number
  readonly blockBytes: number
  /** Decodes `blocks` blocks from `source` (at byte 0) into `target` (at value 0). */
  readonly decode: (source: Uint8Array, target: Float32Array, blocks: number) => void
}

function legacy(type: LegacyQuantTypeName): Dequantizer {
  return {
    blockSize: 32,
    blockBytes: legacyQuantBlockBytes[type],
    decode: (source, target, blocks) =>
      void dequantizeRow(type, source.subarray(0, blocks * legacyQuantBlockBytes[type]), target),
  }
}

function decodeQ2K(source: Uint8Array, target: Float32Array, blocks: number): void {
  for (let block = 0; block < blocks; block++) {
    const at = block * 84
    const d = readHalf(source, at + 80)
    const min = readHalf(source, at + 82)
    let y = block * 256
    let is = 0
    for (let n = 0; n < 256; n += 128) {
      const q = at + 16 + n / 4
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const sc = source[at + is++] as number
          const dl = f(d * (sc & 0xf))
          const ml = f(min * (sc >> 4))
          for (let l = 0; l < 16; l++) {
            target[y++] = f(f(dl * (((source[q + 16 * half + l] as number) >> shift) & 3)) - ml)
          }
        }
      }
    }
  }
}

const q3Scales = new Int8Array(16)

function decodeQ3K(source: Uint8Array, target: Float32Array, blocks: number): void {
  for (let block = 0; block < blocks; block++) {
    const at = block * 110
    const dAll = readHalf(source, at + 108)
    const s = at + 96
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? (source[s + j] as number) & 0xf : (source[s + j - 8] as number) >> 4
      const high = ((source[s + 8 + (j % 4)] as number) >> (2 * (j >> 2))) & 3
      q3Scales[j] = low | (high << 4)
    }
    let y = block * 256
    let is = 0
    let m = 1
    for (let n = 0; n < 256; n += 128) {
      const q = at + 32 + n / 4
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 2; half++) {
          const dl = f(dAll * ((q3Scales[is++] as number) - 32))
          for (let l = 0; l < 16; l++) {
            const index = 16 * half + l
            const low2 = ((source[q + index] as number) >> shift) & 3
            const level = low2 - (((source[at + index] as number) & m) !== 0 ? 0 : 4)
            target[y++] = f(dl * level)
          }
        }
        m <<= 1
      }
    }
  }
}

function scaleAndMinK4(source: Uint8Array, at: number, j: number): [number, number] {
  if (j < 4) return [(source[at + j] as number) & 63, (source[at + j + 4] as number) & 63]
  return [
    ((source[at + j + 4] as number) & 0xf) | (((source[at + j - 4] as number) >> 6) << 4),
    ((source[at + j + 4] as number) >> 4) | (((source[at + j] as number) >> 6) << 4),
  ]
}

function decodeQ4KOrQ5K(source: Uint8Array, target: Float32Array, blocks: number, withHighBits: boolean): void {
  const blockBytes = withHighBits ? 176 : 144
  for (let block = 0; block < blocks; block++) {
    const at = block * blockBytes
    const d = readHalf(source, at)
    const min = readHalf(source, at + 2)
    const qh = at + 16
    let ql = at + (withHighBits ? 48 : 16)
    let y = block * 256
    let u1 = 1
    let u2 = 2
    for (let j = 0, is = 0; j < 256; j += 64, is += 2) {
      const [sc1, m1] = scaleAndMinK4(source, at + 4, is)
      const [sc2, m2] = scaleAndMinK4(source, at + 4, is + 1)
      const d1 = f(d * sc1)
      const min1 = f(min * m1)
      const d2 = f(d * sc2)
      const min2 = f(min * m2)
      for (let l = 0; l < 32; l++) {
        const high = withHighBits && ((source[qh + l] as number) & u1) !== 0 ? 16 : 0
        target[y++] = f(f(d1 * (((source[ql + l] as number) & 0xf) + high)) - min1)
      }
      for (let l = 0; l < 32; l++) {
        const high = withHighBits && ((source[qh + l] as number) & u2) !== 0 ? 16 : 0
        target[y++] = f(f(d2 * (((source[ql + l] as number) >> 4) + high)) - min2)
      }
      ql += 32
      u1 <<= 2
      u2 <<= 2
    }
  }
}

function decodeQ6K(source: Uint8Array, target: Float32Array, blocks: number): void {
  for (let block = 0; block < blocks; block++) {
    const at = block * 210
    const d = readHalf(source, at + 208)
    for (let n = 0; n < 2; n++) {
      const ql = at + 64 * n
      const qh = at + 128 + 32 * n
      const sc = at + 192 + 8 * n
      const y = block * 256 + 128 * n
      for (let l = 0; l < 32; l++) {
        const is = l >> 4
        const low0 = source[ql + l] as number
        const low1 = source[ql + l + 32] as number
        const high = source[qh + l] as number
        const q1 = ((low0 & 0xf) | ((high & 3) << 4)) - 32
        const q2 = ((low1 & 0xf) | (((high >> 2) & 3) << 4)) - 32
        const q3 = ((low0 >> 4) | (((high >> 4) & 3) << 4)) - 32
        const q4 = ((low1 >> 4) | (((high >> 6) & 3) << 4)) - 32
        const scale = (index: number): number => ((source[sc + index] as number) << 24) >> 24
        target[y + l] = f(f(d * scale(is)) * q1)
        target[y + l + 32] = f(f(d * scale(is + 2)) * q2)
        target[y + l + 64] = f(f(d * scale(is + 4)) * q3)
        target[y + l + 96] = f(f(d * scale(is + 6)) * q4)
      }
    }
  }
}

function decodeQ8K(source: Uint8Array, target: Float32Array, blocks: number): void {
  for (let block = 0; block < blocks; block++) {
    const at = block * 292
    const d = readFloat32(source, at)
    for (let j = 0; j < 256; j++) target[block * 256 + j] = f(d * (((source[at + 4 + j] as number) << 24) >> 24))
  }
}

function aligned(source: Uint8Array, bytesPerValue: 2 | 4, count: number): Uint8Array {
  // Typed views need aligned offsets; copy the rare unaligned slice.
  return source.byteOffset % bytesPerValue === 0 ? source : source.slice(0, count * bytesPerValue)
}

export const dequantizers: Readonly<Partial<Record<GgmlTypeName, Dequantizer>>> = {
  F32: {
    blockSize: 1,
    blockBytes: 4,
    decode: (source, target, count) => {
      const bytes = aligned(source, 4, count)
      target.set(new Float32Array(bytes.buffer, bytes.byteOffset, count))
    },
  },
  F16: {
    blockSize: 1,
    blockBytes: 2,
    decode: (source, target, count) => {
      const bytes = aligned(source, 2, count)
      fp16ArrayToFp32(new Uint16Array(bytes.buffer, bytes.byteOffset, count), target)
    },
  },
  BF16: {
    blockSize: 1,
    blockBytes: 2,
    decode: (source, target, count) => {
      const bytes = aligned(source, 2, count)
      bf16ArrayToFp32(new Uint16Array(bytes.buffer, bytes.byteOffset, count), target)
    },
  },
  Q8_0: legacy('Q8_0'),
  Q4_0: legacy('Q4_0'),
  Q4_1: legacy('Q4_1'),
  Q5_0: legacy('Q5_0'),
  Q5_1: legacy('Q5_1'),
  Q2_K: { blockSize: 256, blockBytes: 84, decode: decodeQ2K },
  Q3_K: { blockSize: 256, blockBytes: 110, decode: decodeQ3K },
  Q4_K: { blockSize: 256, blockBytes: 144, decode: (s, t, b) => decodeQ4KOrQ5K(s, t, b, false) },
  Q5_K: { blockSize: 256, blockBytes: 176, decode: (s, t, b) => decodeQ4KOrQ5K(s, t, b, true) },
  Q6_K: { blockSize: 256, blockBytes: 210, decode: decodeQ6K },
  Q8_K: { blockSize: 256, blockBytes: 292, decode: decodeQ8K },
}

/** True when dequantizeTensor can decode this type. */
export function canDequantize(type: number | string): boolean {
  const name = typeof type === 'number' ? ggmlTypeName(type) : type
  return Object.hasOwn(dequantizers, name)
}

/**
 * Decodes `count` values of a tensor (or a run of whole rows of one) stored as `type` (a ggml type id or
 * name) into F32. `bytes` must hold exactly the encoded values, starting at a block boundary.
 */
export function dequantizeTensor(
  type: number | GgmlTypeName,
  bytes: Uint8Array,
  count: number,
  target: Float32Array = new Float32Array(count),
): Float32Array {
  const name = typeof type === 'number' ? ggmlTypeName(type) : type
  const dequantizer = dequantizers[name as GgmlTypeName]
  if (!dequantizer) {
    const supported = Object.keys(dequantizers).join(', ')
    throw new GgufError('UNSUPPORTED_CONVERSION', `Cannot dequantize ${name} tensors (supported: ${supported})`)
  }
  if (count % dequantizer.blockSize !== 0) {
    throw new RangeError(`${name}: ${count} values is not a whole number of ${dequantizer.blockSize}-value blocks`)
  }
  const blocks = count / dequantizer.blockSize
  if (bytes.length !== blocks * dequantizer.blockBytes) {
    throw new RangeError(`${name}: ${count} values take ${blocks * dequantizer.blockBytes} bytes, got ${bytes.length}`)
  }
  if (target.length < count) throw new RangeError(`${name}: target holds ${target.length} of ${count} values`)
  dequantizer.decode(bytes, target, blocks)
  return target
}

/** A tensor whose type Larder cannot dequantize (the trainer names it to the operator). */
export class UnsupportedTensorTypeError extends Error {
  constructor(
    readonly tensor: string,
    readonly typeName: string,
  ) {
    super(
      `Tensor "${tensor}" is ${typeName}, which Larder cannot dequantize (supported: ${supportedDequantizationTypes().join(', ')}). ` +
        'Start from an F32, F16 or quantized (Q8_0, Q4_0..Q5_1, Q2_K..Q6_K) file of the model instead.',
    )
    this.name = 'UnsupportedTensorTypeError'
  }
}

export function supportedDequantizationTypes(): GgmlTypeName[] {
  return Object.keys(dequantizers) as GgmlTypeName[]
}

/**
 * A decoder for one tensor's whole data (a whole number of blocks of `type`), or a clear error naming the tensor
 * when the type cannot be dequantized.
 */
export function dequantizerFor(tensor: string, type: number): (bytes: Uint8Array) => Float32Array {
  const name = ggmlTypeName(type)
  const dequantizer = dequantizers[name as GgmlTypeName]
  if (!dequantizer) throw new UnsupportedTensorTypeError(tensor, name)
  return (bytes) => {
    const blocks = Math.floor(bytes.length / dequantizer.blockBytes)
    return dequantizeTensor(name as GgmlTypeName, bytes, blocks * dequantizer.blockSize)
  }
}
