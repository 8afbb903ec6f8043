/**
 * Legacy ggml block quantization (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), byte-identical to the reference
 * functions `quantize_row_*_ref` in ggml-quants.c, which is what `ggml_quantize_chunk` (and so
 * llama-quantize) runs for these types when no importance matrix is given.
 *
 * To match C exactly:
 * - every float expression is a float32 operation in C, so each step is wrapped in Math.fround;
 * - `roundf` rounds halves away from zero (not to even, not Math.round's "towards +inf");
 * - C casts from float to int8/uint8 compile (gcc, x86-64) to a truncating float -> int32
 *   conversion whose low byte is kept; NaN and out-of-range values become INT32_MIN, low byte 0.
 *   These only occur when a block's scale underflows (all values below ~1e-37) and the inverse
 *   scale overflows to infinity; ggml-parity.test.ts checks such blocks against the real library.
 * - comparison rules decide ties: Q4_0/Q5_0 keep the *first* value of largest magnitude (strict <),
 *   Q4_1/Q5_1 start from +/-FLT_MAX.
 *
 * Blocks are little-endian: fp16 scale first (and fp16 min for *_1), then for *_5 a 32-bit mask of
 * the fifth bits, then packed nibbles where byte j holds element j (low) and element j+16 (high).
 */
import {
  FLT_MAX,
  floatToInt8,
  floatToUint8,
  readHalf,
  readUint32,
  roundHalfAwayFromZero,
  writeHalf,
  writeUint32,
} from './quant-common.js'
import { GgmlType, type GgmlTypeId } from './types.js'

export const QUANT_BLOCK_SIZE = 32

/** The smallest normal float32: above it, inverse scales are finite and products stay near the level range. */
const MIN_NORMAL = 2 ** -126

export type LegacyQuantTypeName = 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1'

export const legacyQuantBlockBytes: Readonly<Record<LegacyQuantTypeName, number>> = {
  Q8_0: 34,
  Q4_0: 18,
  Q4_1: 20,
  Q5_0: 22,
  Q5_1: 24,
}

function checkLengths(
  type: LegacyQuantTypeName,
  source: Float32Array,
  target: Uint8Array,
  targetOffset: number,
): number {
  if (source.length % QUANT_BLOCK_SIZE !== 0) {
    throw new RangeError(`${type}: ${source.length} values is not a multiple of ${QUANT_BLOCK_SIZE}`)
  }
  const blocks = source.length / QUANT_BLOCK_SIZE
  if (targetOffset + blocks * legacyQuantBlockBytes[type] > target.length) {
    throw new RangeError(`${type}: target buffer too small for ${blocks} blocks`)
  }
  return blocks
}

export function quantizeRowQ8_0(source: Float32Array, target: Uint8Array, targetOffset = 0): void {
  const blocks = checkLengths('Q8_0', source, target, targetOffset)
  for (let block = 0; block < blocks; block++) {
    const first = block * 32
    let amax = 0
    for (let j = 0; j < 32; j++) {
      const magnitude = Math.abs(source[first + j] as number)
      amax = amax > magnitude ? amax : magnitude // MAX(amax, fabsf(v))
    }
    const d = Math.fround(amax / 127)
    const inverse = d !== 0 ? Math.fround(1 / d) : 0
    const at = targetOffset + block * 34
    writeHalf(target, at, d)
    if (d === 0 || (d >= MIN_NORMAL && d <= FLT_MAX)) {
      // |x * inverse| <= 127.0…, so roundf needs no range handling. Branch-free on the sign (random signs
      // would mispredict): u = scaled + 128.5 is exact and positive, floor(u) - 128 is roundf for
      // scaled >= 0 and for scaled < 0 except at exact ties, which round one further from zero.
      for (let j = 0; j < 32; j++) {
        const scaled = Math.fround((source[first + j] as number) * inverse)
        const shifted = scaled + 128.5
        const floor = shifted | 0
        target[at + 2 + j] = shifted === floor && scaled < 0 ? floor - 129 : floor - 128
      }
      continue
    }
    for (let j = 0; j < 32; j++) {
      const scaled = Math.fround((source[first + j] as number) * inverse)
      target[at + 2 + j] = floatToInt8(roundHalfAwayFromZero(scaled)) & 0xff
    }
  }
}

/** Shared by Q4_0 (levels 16) and Q5_0 (levels 32): symmetric, scale from the signed extreme. */
function quantizeSymmetric(
  source: Float32Array,
  target: Uint8Array,
  targetOffset: number,
  blocks: number,
  blockBytes: number,
  halfLevels: 8 | 16,
): void {
  const maxLevel = halfLevels * 2 - 1
  const offset = halfLevels + 0.5
  const withHighBits = halfLevels === 16
  for (let block = 0; block < blocks; block++) {
    const first = block * 32
    let amax = 0
    let max = 0
    for (let j = 0; j < 32; j++) {
      const value = source[first + j] as number
      const magnitude = Math.abs(value)
      if (amax < magnitude) {
        amax = magnitude
        max = value
      }
    }
    const d = Math.fround(max / -halfLevels)
    const inverse = d !== 0 ? Math.fround(1 / d) : 0
    const at = targetOffset + block * blockBytes
    writeHalf(target, at, d)
    const quantsAt = at + (withHighBits ? 6 : 2)
    let highBits = 0
    // With a zero or normal scale, x * inverse + offset lies in [0.5, maxLevel + 1.5]: a plain truncation.
    const inRange = d === 0 || Math.abs(d) >= MIN_NORMAL
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround((source[first + j] as number) * inverse)
      const x1 = Math.fround((source[first + 16 + j] as number) * inverse)
      const t0 = inRange ? Math.fround(x0 + offset) | 0 : floatToInt8(Math.fround(x0 + offset))
      const t1 = inRange ? Math.fround(x1 + offset) | 0 : floatToInt8(Math.fround(x1 + offset))
      const q0 = (t0 > maxLevel ? maxLevel : t0) & 0xff
      const q1 = (t1 > maxLevel ? maxLevel : t1) & 0xff
      if (withHighBits) {
        target[quantsAt + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4)
        highBits |= ((q0 & 0x10) >>> 4) << j
        highBits |= ((q1 & 0x10) >>> 4) << (j + 16)
      } else {
        // Q4_0 packs without masking (`qs = xi0; qs |= xi1 << 4`); identical for levels 0..15.
        target[quantsAt + j] = (q0 | (q1 << 4)) & 0xff
      }
    }
    if (withHighBits) writeUint32(target, at + 2, highBits)
  }
}

/** Shared by Q4_1 (16 levels) and Q5_1 (32 levels): affine with a per-block minimum. */
function quantizeAffine(
  source: Float32Array,
  target: Uint8Array,
  targetOffset: number,
  blocks: number,
  blockBytes: number,
  levels: 16 | 32,
): void {
  const withHighBits = levels === 32
  for (let block = 0; block < blocks; block++) {
    const first = block * 32
    let min = FLT_MAX
    let max = -FLT_MAX
    for (let j = 0; j < 32; j++) {
      const value = source[first + j] as number
      if (value < min) min = value
      if (value > max) max = value
    }
    const d = Math.fround(Math.fround(max - min) / (levels - 1))
    const inverse = d !== 0 ? Math.fround(1 / d) : 0
    const at = targetOffset + block * blockBytes
    writeHalf(target, at, d)
    writeHalf(target, at + 2, min)
    const quantsAt = at + (withHighBits ? 8 : 4)
    let highBits = 0
    // With a zero or normal scale, (x - min) * inverse + 0.5 lies in [0.5, levels + 0.5]: a plain truncation.
    const inRange = d === 0 || (d >= MIN_NORMAL && d <= FLT_MAX)
    for (let j = 0; j < 16; j++) {
      const x0 = Math.fround(Math.fround((source[first + j] as number) - min) * inverse)
      const x1 = Math.fround(Math.fround((source[first + 16 + j] as number) - min) * inverse)
      if (withHighBits) {
        // Q5_1 has no clamp: (uint8_t)(x + 0.5f)
        const q0 = inRange ? (Math.fround(x0 + 0.5) | 0) & 0xff : floatToUint8(Math.fround(x0 + 0.5))
        const q1 = inRange ? (Math.fround(x1 + 0.5) | 0) & 0xff : floatToUint8(Math.fround(x1 + 0.5))
        target[quantsAt + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4)
        highBits |= ((q0 & 0x10) >>> 4) << j
        highBits |= ((q1 & 0x10) >>> 4) << (j + 16)
      } else {
        // Q4_1: MIN(15, (int8_t)(x + 0.5f))
        const t0 = inRange ? Math.fround(x0 + 0.5) | 0 : floatToInt8(Math.fround(x0 + 0.5))
        const t1 = inRange ? Math.fround(x1 + 0.5) | 0 : floatToInt8(Math.fround(x1 + 0.5))
        const q0 = (t0 > 15 ? 15 : t0) & 0xff
        const q1 = (t1 > 15 ? 15 : t1) & 0xff
        target[quantsAt + j] = (q0 | (q1 << 4)) & 0xff
      }
    }
    if (withHighBits) writeUint32(target, at + 4, highBits)
  }
}

export function quantizeRowQ4_0(source: Float32Array, target: Uint8Array, targetOffset = 0): void {
  quantizeSymmetric(source, target, targetOffset, checkLengths('Q4_0', source, target, targetOffset), 18, 8)
}

export function quantizeRowQ5_0(source: Float32Array, target: Uint8Array, targetOffset = 0): void {
  quantizeSymmetric(source, target, targetOffset, checkLengths('Q5_0', source, target, targetOffset), 22, 16)
}

export function quantizeRowQ4_1(source: Float32Array, target: Uint8Array, targetOffset = 0): void {
  quantizeAffine(source, target, targetOffset, checkLengths('Q4_1', source, target, targetOffset), 20, 16)
}

export function quantizeRowQ5_1(source: Float32Array, target: Uint8Array, targetOffset = 0): void {
  quantizeAffine(source, target, targetOffset, checkLengths('Q5_1', source, target, targetOffset), 24, 32)
}

const rowQuantizers: Readonly<
  Record<LegacyQuantTypeName, (source: Float32Array, target: Uint8Array, targetOffset?: number) => void>
> = {
  Q8_0: quantizeRowQ8_0,
  Q4_0: quantizeRowQ4_0,
  Q4_1: quantizeRowQ4_1,
  Q5_0: quantizeRowQ5_0,
  Q5_1: quantizeRowQ5_1,
}

/** Quantizes `source` (length a multiple of 32) into a new or given buffer. */
export function quantizeRow(type: LegacyQuantTypeName, source: Float32Array, target?: Uint8Array): Uint8Array {
  const output = target ?? new Uint8Array((source.length / QUANT_BLOCK_SIZE) * legacyQuantBlockBytes[type])
  rowQuantizers[type](source, output, 0)
  return output
}

export function legacyQuantTypeId(type: LegacyQuantTypeName): GgmlTypeId {
  return GgmlType[type]
}

export function isLegacyQuantTypeName(name: string): name is LegacyQuantTypeName {
  return Object.hasOwn(legacyQuantBlockBytes, name)
}

/** Dequantization (dequantize_row_* in ggml-quants.c), used for checks and error measurements. */
export function dequantizeRow(type: LegacyQuantTypeName, source: Uint8Array, target?: Float32Array): Float32Array {
  const blockBytes = legacyQuantBlockBytes[type]
  if (source.length % blockBytes !== 0) {
    throw new RangeError(`${type}: ${source.length} bytes is not a whole number of ${blockBytes}-byte blocks`)
  }
  const blocks = source.length / blockBytes
  const output = target ?? new Float32Array(blocks * QUANT_BLOCK_SIZE)
  for (let block = 0; block < blocks; block++) {
    const at = block * blockBytes
    const first = block * 32
    const d = readHalf(source, at)
    switch (type) {
      case 'Q8_0':
        for (let j = 0; j < 32; j++) output[first + j] = Math.fround((((source[at + 2 + j] as number) << 24) >> 24) * d)
        break
      case 'Q4_0':
        for (let j = 0; j < 16; j++) {
          const packed = source[at + 2 + j] as number
          output[first + j] = Math.fround(((packed & 0x0f) - 8) * d)
          output[first + j + 16] = Math.fround(((packed >>> 4) - 8) * d)
        }
        break
      case 'Q4_1': {
        const m = readHalf(source, at + 2)
        for (let j = 0; j < 16; j++) {
          const packed = source[at + 4 + j] as number
          output[first + j] = Math.fround(Math.fround((packed & 0x0f) * d) + m)
          output[first + j + 16] = Math.fround(Math.fround((packed >>> 4) * d) + m)
        }
        break
      }
      case 'Q5_0': {
        const highBits = readUint32(source, at + 2)
        for (let j = 0; j < 16; j++) {
          const packed = source[at + 6 + j] as number
          const high0 = ((highBits >>> j) << 4) & 0x10
          const high1 = (highBits >>> (j + 12)) & 0x10
          output[first + j] = Math.fround((((packed & 0x0f) | high0) - 16) * d)
          output[first + j + 16] = Math.fround((((packed >>> 4) | high1) - 16) * d)
        }
        break
      }
      case 'Q5_1': {
        const m = readHalf(source, at + 2)
        const highBits = readUint32(source, at + 4)
        for (let j = 0; j < 16; j++) {
          const packed = source[at + 8 + j] as number
          const high0 = ((highBits >>> j) << 4) & 0x10
          const high1 = (highBits >>> (j + 12)) & 0x10
          output[first + j] = Math.fround(Math.fround(((packed & 0x0f) | high0) * d) + m)
          output[first + j + 16] = Math.fround(Math.fround(((packed >>> 4) | high1) * d) + m)
        }
        break
      }
    }
  }
  return output
}

/**
 * True when every fp16 scale (and min) in the blocks is finite. ggml_validate_row_data rejects
 * blocks with inf/NaN scales, which happen when values exceed the fp16 range times the level count.
 */
export function blockScalesAreFinite(type: LegacyQuantTypeName, blocksBytes: Uint8Array): boolean {
  const blockBytes = legacyQuantBlockBytes[type]
  const hasMin = type === 'Q4_1' || type === 'Q5_1'
  for (let at = 0; at < blocksBytes.length; at += blockBytes) {
    if (((blocksBytes[at + 1] as number) & 0x7c) === 0x7c) return false
    if (hasMin && ((blocksBytes[at + 3] as number) & 0x7c) === 0x7c) return false
  }
  return true
}
