/**
 * ggml's k-quants (super-blocks of 256 values): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K, byte-identical
 * to ggml-quants.c. Without importance weights each type runs the reference quantizer
 * (`quantize_row_*_K_ref`, what `ggml_quantize_chunk` runs when no imatrix is given); with weights
 * (one per column, from an importance matrix) it runs the weighted quantizer `quantize_*_K` uses, row
 * by row. C semantics (float32 steps, C float tests, integer stores): see quant-common.ts.
 *
 * Block layouts (little-endian, fp16 "d"/"dmin"):
 *   Q2_K  84 bytes: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin
 *   Q3_K 110 bytes: hmask[32] (high bit), qs[64] (low 2 bits), scales[12] (6-bit, packed), d
 *   Q4_K 144 bytes: d, dmin, scales[12] (6-bit scales and mins, packed), qs[128] (4 bits)
 *   Q5_K 176 bytes: d, dmin, scales[12], qh[32] (fifth bits), qs[128]
 *   Q6_K 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d
 *   Q8_K 292 bytes: d (float32), qs[256] (int8), bsums[16] (int16 sums of 16 quants)
 */
import {
  lastNegatedMin,
  searchAffineScale,
  searchPositiveScale,
  searchQ3Levels,
  searchSymmetricScale,
} from './k-quant-search.js'
import { GROUP_MAX_EPS, nearestInt, readHalf, writeFloat32, writeHalf } from './quant-common.js'

const f = Math.fround

export const QK_K = 256

export type KQuantTypeName = 'Q2_K' | 'Q3_K' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'Q8_K'

export const kQuantBlockBytes: Readonly<Record<KQuantTypeName, number>> = {
  Q2_K: 84,
  Q3_K: 110,
  Q4_K: 144,
  Q5_K: 176,
  Q6_K: 210,
  Q8_K: 292,
}

export function isKQuantTypeName(name: string): name is KQuantTypeName {
  return Object.hasOwn(kQuantBlockBytes, name)
}

// Scratch shared by all quantizers (single-threaded; none of them re-enters another).
const levels = new Uint8Array(QK_K)
const signedLevels = new Int8Array(QK_K)
const scales = new Float32Array(QK_K / 16)
const mins = new Float32Array(QK_K / 16)
const weights = new Float32Array(32)
const sumWeights = new Float32Array(QK_K / 16)
const scaleLevels = new Uint8Array(QK_K / 16)
const minLevels = new Uint8Array(QK_K / 16)
const signedScaleLevels = new Int8Array(QK_K / 16)
const packedScales = new Uint8Array(16)

/** Packs 2-bit levels 128 at a time: byte l of each 32-byte group holds levels l, l+32, l+64, l+96. */
function packTwoBitLevels(source: Uint8Array | Int8Array, target: Uint8Array, at: number): void {
  for (let half = 0; half < QK_K; half += 128) {
    const out = at + half / 4
    for (let l = 0; l < 32; l++) {
      target[out + l] =
        (source[half + l] as number) |
        ((source[half + l + 32] as number) << 2) |
        ((source[half + l + 64] as number) << 4) |
        ((source[half + l + 96] as number) << 6)
    }
  }
}

/** sum of x² over `count` values, in order (float32). */
function sumOfSquares(x: Float32Array, at: number, count: number): number {
  let sum = 0
  for (let i = 0; i < count; i++) {
    const value = x[at + i] as number
    sum = f(sum + f(value * value))
  }
  return sum
}

/** weights[l] = qw[l] * sqrt(sigma2 + x²), the weighting every imatrix quantizer uses. */
function importanceWeights(
  x: Float32Array,
  at: number,
  count: number,
  importance: Float32Array,
  importanceAt: number,
  sigma2: number,
): void {
  for (let l = 0; l < count; l++) {
    const value = x[at + l] as number
    weights[l] = f((importance[importanceAt + l] as number) * f(Math.sqrt(f(sigma2 + f(value * value)))))
  }
}

function sumOf(values: Float32Array, count: number): number {
  let sum = 0
  for (let l = 0; l < count; l++) sum = f(sum + (values[l] as number))
  return sum
}

// ---------------------------------------------------------------- Q2_K

/** Final pass shared by both Q2_K quantizers: levels from the stored (fp16 and 4-bit) scales and mins. */
function requantizeQ2(x: Float32Array, at: number, target: Uint8Array, out: number): void {
  const d = readHalf(target, out + 80)
  const dmin = readHalf(target, out + 82)
  for (let j = 0; j < 16; j++) {
    const packed = target[out + j] as number
    const scale = f(d * (packed & 0xf))
    if (scale === 0) continue
    const min = f(dmin * (packed >> 4))
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f(f((x[at + 16 * j + ii] as number) + min) / scale))
      levels[16 * j + ii] = l < 0 ? 0 : l > 3 ? 3 : l
    }
  }
  packTwoBitLevels(levels, target, out + 16)
}

function quantizeBlockQ2Reference(x: Float32Array, at: number, target: Uint8Array, out: number): void {
  let maxScale = 0
  let maxMin = 0
  for (let j = 0; j < 16; j++) {
    for (let l = 0; l < 16; l++) weights[l] = Math.abs(x[at + 16 * j + l] as number)
    const scale = searchAffineScale(16, 3, x, at + 16 * j, weights, levels, 16 * j, -0.5, 0.1, 15, true)
    scales[j] = scale
    mins[j] = lastNegatedMin
    if ((scales[j] as number) > maxScale) maxScale = scales[j] as number
    if ((mins[j] as number) > maxMin) maxMin = mins[j] as number
  }
  if (maxScale > 0) {
    const iscale = f(15 / maxScale)
    for (let j = 0; j < 16; j++) packedScales[j] = nearestInt(f(iscale * (scales[j] as number)))
    writeHalf(target, out + 80, f(maxScale / 15))
  } else {
    packedScales.fill(0)
    writeHalf(target, out + 80, 0)
  }
  if (maxMin > 0) {
    const iscale = f(15 / maxMin)
    for (let j = 0; j < 16; j++) {
      packedScales[j] = (packedScales[j] as number) | (nearestInt(f(iscale * (mins[j] as number))) << 4)
    }
    writeHalf(target, out + 82, f(maxMin / 15))
  } else {
    writeHalf(target, out + 82, 0)
  }
  target.set(packedScales, out)
  requantizeQ2(x, at, target, out)
}

function quantizeBlockQ2Weighted(
  x: Float32Array,
  at: number,
  target: Uint8Array,
  out: number,
  importance: Float32Array,
  importanceAt: number,
): void {
  const sigma2 = f(sumOfSquares(x, at, QK_K) / QK_K)
  for (let j = 0; j < 16; j++) {
    importanceWeights(x, at + 16 * j, 16, importance, importanceAt + 16 * j, sigma2)
    sumWeights[j] = sumOf(weights, 16)
    scales[j] = searchAffineScale(16, 3, x, at + 16 * j, weights, levels, 16 * j, -0.9, 0.05, 36, false)
    mins[j] = lastNegatedMin
  }
  const dm = searchPositiveScale(16, 15, scales, scaleLevels, sumWeights)
  const mm = searchPositiveScale(16, 15, mins, minLevels, sumWeights)
  writeHalf(target, out + 80, dm)
  writeHalf(target, out + 82, mm)
  for (let j = 0; j < 16; j++) target[out + j] = (scaleLevels[j] as number) | ((minLevels[j] as number) << 4)
  requantizeQ2(x, at, target, out)
}

// ---------------------------------------------------------------- Q3_K

/** Packs sixteen 6-bit signed scales (stored biased by 32) into Q3_K's 12 bytes. */
function packQ3Scales(target: Uint8Array, out: number, biased: Int8Array | Uint8Array): void {
  packedScales.fill(0, 0, 12)
  for (let j = 0; j < 16; j++) {
    let l = biased[j] as number
    if (j < 8) packedScales[j] = l & 0xf
    else packedScales[j - 8] = (packedScales[j - 8] as number) | ((l & 0xf) << 4)
    l >>= 4
    packedScales[(j % 4) + 8] = (packedScales[(j % 4) + 8] as number) | (l << (2 * (j >> 2)))
  }
  target.set(packedScales.subarray(0, 12), out + 96)
}

/** Final pass shared by both Q3_K quantizers: levels from the stored scales, high bits split off. */
function requantizeQ3(x: Float32Array, at: number, target: Uint8Array, out: number): void {
  const d = readHalf(target, out + 108)
  const s = out + 96
  for (let j = 0; j < 16; j++) {
    const low = j < 8 ? (target[s + j] as number) & 0xf : (target[s + j - 8] as number) >> 4
    const high = ((target[s + 8 + (j % 4)] as number) >> (2 * (j >> 2))) & 3
    const scale = f(d * ((low | (high << 4)) - 32))
    if (scale === 0) continue
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f((x[at + 16 * j + ii] as number) / scale))
      signedLevels[16 * j + ii] = (l < -4 ? -4 : l > 3 ? 3 : l) + 4
    }
  }
  target.fill(0, out, out + 32)
  let m = 0
  let hm = 1
  for (let j = 0; j < QK_K; j++) {
    if ((signedLevels[j] as number) > 3) {
      target[out + m] = (target[out + m] as number) | hm
      signedLevels[j] = (signedLevels[j] as number) - 4
    }
    if (++m === 32) {
      m = 0
      hm <<= 1
    }
  }
  packTwoBitLevels(signedLevels, target, out + 32)
}

const biasedScales = new Int8Array(16)

function quantizeBlockQ3Reference(x: Float32Array, at: number, target: Uint8Array, out: number): void {
  let maxScale = 0
  let amax = 0
  for (let j = 0; j < 16; j++) {
    scales[j] = searchQ3Levels(16, 4, x, at + 16 * j, signedLevels, 16 * j)
    const scale = Math.abs(scales[j] as number)
    if (scale > amax) {
      amax = scale
      maxScale = scales[j] as number
    }
  }
  if (maxScale !== 0) {
    const iscale = f(-32 / maxScale)
    for (let j = 0; j < 16; j++) {
      biasedScales[j] = nearestInt(f(iscale * (scales[j] as number))) // int8_t l = nearest_int(...)
      const l = biasedScales[j] as number
      biasedScales[j] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32
    }
    packQ3Scales(target, out, biasedScales)
    writeHalf(target, out + 108, f(1 / iscale))
  } else {
    target.fill(0, out + 96, out + 108)
    writeHalf(target, out + 108, 0)
  }
  requantizeQ3(x, at, target, out)
}

function quantizeBlockQ3Weighted(
  x: Float32Array,
  at: number,
  target: Uint8Array,
  out: number,
  importance: Float32Array,
  importanceAt: number,
): void {
  const sigma2 = f(f(2 * sumOfSquares(x, at, QK_K)) / QK_K)
  for (let j = 0; j < 16; j++) {
    importanceWeights(x, at + 16 * j, 16, importance, importanceAt + 16 * j, sigma2)
    sumWeights[j] = sumOf(weights, 16)
    scales[j] = searchSymmetricScale(16, 4, x, at + 16 * j, signedLevels, 16 * j, weights, 0)
  }
  const dBlock = searchSymmetricScale(16, 32, scales, 0, signedScaleLevels, 0, sumWeights, 0)
  packQ3Scales(target, out, signedScaleLevels)
  writeHalf(target, out + 108, dBlock)
  requantizeQ3(x, at, target, out)
}

// ---------------------------------------------------------------- Q4_K and Q5_K

/** Packs eight 6-bit scales and mins into the 12 scale bytes at `at` (Q4_K/Q5_K layout). */
function packScalesAndMins(target: Uint8Array, at: number, scaleOf: Uint8Array, minOf: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    const ls = scaleOf[j] as number
    const lm = minOf[j] as number
    if (j < 4) {
      target[at + j] = ls
      target[at + j + 4] = lm
    } else {
      target[at + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4)
      target[at + j - 4] = (target[at + j - 4] as number) | ((ls >> 4) << 6)
      target[at + j] = (target[at + j] as number) | ((lm >> 4) << 6)
    }
  }
}

/** get_scale_min_k4: the 6-bit scale (low 8 bits of the result) and min (bits 8..15) of sub-block j. */
function scaleAndMin(source: Uint8Array, at: number, j: number): number {
  if (j < 4) return ((source[at + j] as number) & 63) | (((source[at + j + 4] as number) & 63) << 8)
  const scale = ((source[at + j + 4] as number) & 0xf) | (((source[at + j - 4] as number) >> 6) << 4)
  const min = ((source[at + j + 4] as number) >> 4) | (((source[at + j] as number) >> 6) << 4)
  return scale | (min << 8)
}

/** Final pass shared by Q4_K and Q5_K: levels in [0, nmax] from the stored scales and mins. */
function requantizeAffine(x: Float32Array, at: number, target: Uint8Array, out: number, nmax: number): void {
  const d = readHalf(target, out)
  const dmin = readHalf(target, out + 2)
  for (let j = 0; j < 8; j++) {
    const packed = scaleAndMin(target, out + 4, j)
    const scale = f(d * (packed & 0xff))
    if (scale === 0) continue
    const min = f(dmin * (packed >> 8))
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(f(f((x[at + 32 * j + ii] as number) + min) / scale))
      levels[32 * j + ii] = l < 0 ? 0 : l > nmax ? nmax : l
    }
  }
}

function packNibbles(target: Uint8Array, at: number): void {
  for (let j = 0; j < QK_K; j += 64) {
    const q = at + j / 2
    for (let l = 0; l < 32; l++) target[q + l] = (levels[j + l] as number) | ((levels[j + l + 32] as number) << 4)
  }
}

function packFiveBits(target: Uint8Array, out: number): void {
  const qh = out + 16
  const ql = out + 48
  target.fill(0, qh, qh + 32)
  let m1 = 1
  let m2 = 2
  for (let n = 0; n < QK_K; n += 64) {
    const lowAt = ql + n / 2
    for (let j = 0; j < 32; j++) {
      let l1 = levels[n + j] as number
      if (l1 > 15) {
        l1 -= 16
        target[qh + j] = (target[qh + j] as number) | m1
      }
      let l2 = levels[n + j + 32] as number
      if (l2 > 15) {
        l2 -= 16
        target[qh + j] = (target[qh + j] as number) | m2
      }
      target[lowAt + j] = l1 | (l2 << 4)
    }
    m1 <<= 2
    m2 <<= 2
  }
}

/** quantize_row_q4_K_ref / quantize_row_q5_K_ref for one block. */
function quantizeBlockAffineReference(
  x: Float32Array,
  at: number,
  target: Uint8Array,
  out: number,
  nmax: 15 | 31,
): void {
  let maxScale = 0
  let maxMin = 0
  const rmin = nmax === 15 ? -1 : -0.5
  const nstep = nmax === 15 ? 20 : 15
  for (let j = 0; j < 8; j++) {
    const averageMagnitude = f(Math.sqrt(f(sumOfSquares(x, at + 32 * j, 32) / 32)))
    for (let l = 0; l < 32; l++) weights[l] = f(averageMagnitude + Math.abs(x[at + 32 * j + l] as number))
    scales[j] = searchAffineScale(32, nmax, x, at + 32 * j, weights, levels, 32 * j, rmin, 0.1, nstep, false)
    mins[j] = lastNegatedMin
    if ((scales[j] as number) > maxScale) maxScale = scales[j] as number
    if ((mins[j] as number) > maxMin) maxMin = mins[j] as number
  }
  const inverseScale = maxScale > 0 ? f(63 / maxScale) : 0
  const inverseMin = maxMin > 0 ? f(63 / maxMin) : 0
  for (let j = 0; j < 8; j++) {
    scaleLevels[j] = nearestInt(f(inverseScale * (scales[j] as number)))
    minLevels[j] = nearestInt(f(inverseMin * (mins[j] as number)))
    scaleLevels[j] = Math.min(63, scaleLevels[j] as number)
    minLevels[j] = Math.min(63, minLevels[j] as number)
  }
  packScalesAndMins(target, out + 4, scaleLevels, minLevels)
  writeHalf(target, out, f(maxScale / 63))
  writeHalf(target, out + 2, f(maxMin / 63))
  requantizeAffine(x, at, target, out, nmax)
  if (nmax === 15) packNibbles(target, out + 16)
  else packFiveBits(target, out)
}

/** quantize_row_q4_K_impl / quantize_row_q5_K_impl (with importance weights) for one block. */
function quantizeBlockAffineWeighted(
  x: Float32Array,
  at: number,
  target: Uint8Array,
  out: number,
  nmax: 15 | 31,
  importance: Float32Array,
  importanceAt: number,
): void {
  const sigma2 = f(f(2 * sumOfSquares(x, at, QK_K)) / QK_K)
  for (let j = 0; j < 8; j++) {
    importanceWeights(x, at + 32 * j, 32, importance, importanceAt + 32 * j, sigma2)
    sumWeights[j] = sumOf(weights, 32)
    scales[j] = searchAffineScale(32, nmax, x, at + 32 * j, weights, levels, 32 * j, -0.9, 0.05, 36, false)
    mins[j] = lastNegatedMin
  }
  const dBlock = searchPositiveScale(8, 63, scales, scaleLevels, sumWeights)
  const mBlock = searchPositiveScale(8, 63, mins, minLevels, sumWeights)
  if (nmax === 31) {
    // Only the Q5_K quantizer clamps here (a level can have wrapped below zero in uint8).
    for (let j = 0; j < 8; j++) {
      scaleLevels[j] = Math.min(63, scaleLevels[j] as number)
      minLevels[j] = Math.min(63, minLevels[j] as number)
    }
  }
  packScalesAndMins(target, out + 4, scaleLevels, minLevels)
  writeHalf(target, out, dBlock)
  writeHalf(target, out + 2, mBlock)
  requantizeAffine(x, at, target, out, nmax)
  if (nmax === 15) packNibbles(target, out + 16)
  else packFiveBits(target, out)
}

// ---------------------------------------------------------------- Q6_K

function quantizeBlockQ6(
  x: Float32Array,
  at: number,
  target: Uint8Array,
  out: number,
  importance: Float32Array | null,
  importanceAt: number,
): void {
  let maxScale = 0
  let maxAbsScale = 0
  for (let ib = 0; ib < 16; ib++) {
    const scale = searchSymmetricScale(
      16,
      32,
      x,
      at + 16 * ib,
      signedLevels,
      16 * ib,
      importance,
      importanceAt + 16 * ib,
    )
    scales[ib] = scale
    const absScale = Math.abs(scales[ib] as number)
    if (absScale > maxAbsScale) {
      maxAbsScale = absScale
      maxScale = scales[ib] as number
    }
  }
  if (maxAbsScale < GROUP_MAX_EPS) {
    target.fill(0, out, out + 210)
    return
  }
  const iscale = f(-128 / maxScale)
  writeHalf(target, out + 208, f(1 / iscale))
  for (let ib = 0; ib < 16; ib++) {
    signedScaleLevels[ib] = Math.min(127, nearestInt(f(iscale * (scales[ib] as number))))
  }
  const d = readHalf(target, out + 208)
  for (let j = 0; j < 16; j++) {
    target[out + 192 + j] = signedScaleLevels[j] as number
    const scale = f(d * (signedScaleLevels[j] as number))
    if (scale === 0) continue
    for (let ii = 0; ii < 16; ii++) {
      const l = nearestInt(f((x[at + 16 * j + ii] as number) / scale))
      signedLevels[16 * j + ii] = (l < -32 ? -32 : l > 31 ? 31 : l) + 32
    }
  }
  for (let j = 0; j < QK_K; j += 128) {
    const ql = out + j / 2
    const qh = out + 128 + j / 4
    for (let l = 0; l < 32; l++) {
      const l0 = signedLevels[j + l] as number
      const l1 = signedLevels[j + l + 32] as number
      const l2 = signedLevels[j + l + 64] as number
      const l3 = signedLevels[j + l + 96] as number
      target[ql + l] = (l0 & 0xf) | ((l2 & 0xf) << 4)
      target[ql + l + 32] = (l1 & 0xf) | ((l3 & 0xf) << 4)
      target[qh + l] = (l0 >> 4) | ((l1 >> 4) << 2) | ((l2 >> 4) << 4) | ((l3 >> 4) << 6)
    }
  }
}

// ---------------------------------------------------------------- Q8_K

const q8Levels = new Int8Array(QK_K)

function quantizeBlockQ8K(x: Float32Array, at: number, target: Uint8Array, out: number): void {
  let max = 0
  let amax = 0
  for (let j = 0; j < QK_K; j++) {
    const value = x[at + j] as number
    const magnitude = Math.abs(value)
    if (magnitude > amax) {
      amax = magnitude
      max = value
    }
  }
  if (amax === 0) {
    // d = 0 and zero quants; bsums are left as they were in C (uninitialised): we write zeros.
    target.fill(0, out, out + 260)
    return
  }
  const iscale = f(-127 / max)
  for (let j = 0; j < QK_K; j++) q8Levels[j] = Math.min(127, nearestInt(f(iscale * (x[at + j] as number))))
  target.set(new Uint8Array(q8Levels.buffer), out + 4)
  for (let j = 0; j < 16; j++) {
    let sum = 0
    for (let ii = 0; ii < 16; ii++) sum += q8Levels[j * 16 + ii] as number
    target[out + 260 + 2 * j] = sum & 0xff
    target[out + 261 + 2 * j] = (sum >> 8) & 0xff
  }
  writeFloat32(target, out, f(1 / iscale))
}

// ---------------------------------------------------------------- rows

function checkKRow(type: KQuantTypeName, values: Float32Array, target: Uint8Array, targetOffset: number): number {
  if (values.length % QK_K !== 0) {
    throw new RangeError(`${type}: ${values.length} values is not a multiple of ${QK_K}`)
  }
  const blocks = values.length / QK_K
  if (targetOffset + blocks * kQuantBlockBytes[type] > target.length) {
    throw new RangeError(`${type}: target buffer too small for ${blocks} blocks`)
  }
  return blocks
}

/**
 * Quantizes whole rows of `rowLength` values to a k-quant type, as ggml_quantize_chunk does: the
 * reference quantizer without `importance`, the weighted one with it (`importance` has one weight per
 * column, shared by every row). Q8_K has no weighted variant (ggml never quantizes to it with one).
 */
export function quantizeKRows(
  type: KQuantTypeName,
  values: Float32Array,
  rowLength: number,
  target: Uint8Array,
  targetOffset = 0,
  importance: Float32Array | null = null,
): void {
  const blocks = checkKRow(type, values, target, targetOffset)
  if (importance && importance.length !== rowLength) {
    throw new RangeError(`${type}: ${importance.length} importance weights for rows of ${rowLength}`)
  }
  const blockBytes = kQuantBlockBytes[type]
  const blocksPerRow = rowLength / QK_K
  for (let block = 0; block < blocks; block++) {
    const at = block * QK_K
    const out = targetOffset + block * blockBytes
    const importanceAt = (block % blocksPerRow) * QK_K
    const weighted = importance !== null
    switch (type) {
      case 'Q2_K':
        if (weighted) quantizeBlockQ2Weighted(values, at, target, out, importance, importanceAt)
        else quantizeBlockQ2Reference(values, at, target, out)
        break
      case 'Q3_K':
        if (weighted) quantizeBlockQ3Weighted(values, at, target, out, importance, importanceAt)
        else quantizeBlockQ3Reference(values, at, target, out)
        break
      case 'Q4_K':
      case 'Q5_K': {
        const nmax = type === 'Q4_K' ? 15 : 31
        if (weighted) quantizeBlockAffineWeighted(values, at, target, out, nmax, importance, importanceAt)
        else quantizeBlockAffineReference(values, at, target, out, nmax)
        break
      }
      case 'Q6_K':
        quantizeBlockQ6(values, at, target, out, importance, importanceAt)
        break
      case 'Q8_K':
        quantizeBlockQ8K(values, at, target, out)
        break
    }
  }
}
