/**
 * The importance-weighted quantizers ggml uses for the 32-value types when an imatrix is given
 * (quantize_row_q4_0_impl, _q4_1_impl, _q5_0_impl, _q5_1_impl in ggml-quants.c). llama-quantize reaches
 * them for Q4_0 / Q4_1 / Q5_0 / Q5_1 files and for k-quant tensors whose rows fall back to these types.
 * Q8_0 ignores importance weights in ggml. Byte layouts are those of quant-blocks.ts.
 */
import { lastNegatedMin, searchAffineScale, searchSymmetricScale } from './k-quant-search.js'
import { writeHalf, writeUint32 } from './quant-common.js'
import { legacyQuantBlockBytes, type LegacyQuantTypeName } from './quant-blocks.js'

const f = Math.fround

const weights = new Float32Array(32)
const signedLevels = new Int8Array(32)
const levels = new Uint8Array(32)

function packNibbles(source: Int8Array | Uint8Array, target: Uint8Array, at: number): void {
  for (let j = 0; j < 16; j++) target[at + j] = (source[j] as number) | ((source[j + 16] as number) << 4)
}

function packFiveBits(source: Int8Array | Uint8Array, target: Uint8Array, highAt: number, lowAt: number): void {
  let highBits = 0
  for (let j = 0; j < 16; j++) {
    const low = source[j] as number
    const high = source[j + 16] as number
    target[lowAt + j] = (low & 0x0f) | ((high & 0x0f) << 4)
    highBits |= ((low & 0x10) >>> 4) << j
    highBits |= ((high & 0x10) >>> 4) << (j + 16)
  }
  writeUint32(target, highAt, highBits >>> 0)
}

function quantizeRowWeighted(
  type: Exclude<LegacyQuantTypeName, 'Q8_0'>,
  x: Float32Array,
  rowAt: number,
  rowLength: number,
  target: Uint8Array,
  out: number,
  importance: Float32Array,
): void {
  let sumOfSquares = 0
  for (let j = 0; j < rowLength; j++) {
    const value = x[rowAt + j] as number
    sumOfSquares = f(sumOfSquares + f(value * value))
  }
  const sigma2 = f(sumOfSquares / rowLength)
  const blockBytes = legacyQuantBlockBytes[type]
  for (let block = 0; block < rowLength / 32; block++) {
    const at = rowAt + 32 * block
    for (let j = 0; j < 32; j++) {
      const value = x[at + j] as number
      weights[j] = f((importance[32 * block + j] as number) * f(Math.sqrt(f(sigma2 + f(value * value)))))
    }
    const blockAt = out + block * blockBytes
    switch (type) {
      case 'Q4_0':
        writeHalf(target, blockAt, searchSymmetricScale(32, 8, x, at, signedLevels, 0, weights, 0))
        packNibbles(signedLevels, target, blockAt + 2)
        break
      case 'Q5_0':
        writeHalf(target, blockAt, searchSymmetricScale(32, 16, x, at, signedLevels, 0, weights, 0))
        packFiveBits(signedLevels, target, blockAt + 2, blockAt + 6)
        break
      case 'Q4_1':
      case 'Q5_1': {
        const nmax = type === 'Q4_1' ? 15 : 31
        const d = searchAffineScale(32, nmax, x, at, weights, levels, 0, -0.9, 0.05, 36, false)
        writeHalf(target, blockAt, d)
        writeHalf(target, blockAt + 2, -lastNegatedMin)
        if (type === 'Q4_1') packNibbles(levels, target, blockAt + 4)
        else packFiveBits(levels, target, blockAt + 4, blockAt + 8)
        break
      }
    }
  }
}

/**
 * Quantizes rows of `rowLength` values with one importance weight per column (shared by all rows), as
 * ggml_quantize_chunk does for these types when given an imatrix.
 */
export function quantizeLegacyRowsWeighted(
  type: Exclude<LegacyQuantTypeName, 'Q8_0'>,
  values: Float32Array,
  rowLength: number,
  target: Uint8Array,
  targetOffset: number,
  importance: Float32Array,
): void {
  if (rowLength % 32 !== 0 || values.length % rowLength !== 0) {
    throw new RangeError(`${type}: rows of ${rowLength} values do not split into 32-value blocks`)
  }
  if (importance.length !== rowLength) {
    throw new RangeError(`${type}: ${importance.length} importance weights for rows of ${rowLength}`)
  }
  const rowBytes = (rowLength / 32) * legacyQuantBlockBytes[type]
  for (let row = 0; row < values.length / rowLength; row++) {
    quantizeRowWeighted(type, values, row * rowLength, rowLength, target, targetOffset + row * rowBytes, importance)
  }
}
