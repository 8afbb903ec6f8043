/**
 * The C semantics every block quantizer here reproduces, in one place.
 *
 * - A float expression in ggml-quants.c is a chain of float32 operations; each step is wrapped in
 *   Math.fround (a double result rounded once to float32 equals the float32 result for + - * / and
 *   sqrt). The shipped libggml-base is built for baseline x86-64 (SSE2, no FMA: the parity test checks
 *   the bytes), so no step is fused.
 * - Float tests follow C: `if (!d)` is true only for ±0 (a NaN is "true" in C), comparisons with
 *   NaN are false. Never use JavaScript truthiness on a float here.
 * - Integer stores follow the C type of the destination: typed arrays (Int8Array, Uint8Array) wrap an
 *   int exactly like an assignment to int8_t / uint8_t does.
 */
import { fp16BitsToFp32, fp32ToFp16Bits } from './fp16.js'

/** GROUP_MAX_EPS in ggml-quants.c (1e-15f): groups whose largest magnitude is below it are all zero. */
export const GROUP_MAX_EPS = Math.fround(1e-15)

export const FLT_MAX = 3.4028234663852886e38
const INT32_MIN = -2147483648

const nearestFloat = new Float32Array(1)
const nearestBits = new Int32Array(nearestFloat.buffer)

/**
 * ggml's nearest_int: adds 1.5 * 2^23 in float32 and reads the low mantissa bits, which rounds halves to
 * even for |x| < 2^22. Outside that range (where ggml's assert is compiled out) the same bit
 * arithmetic gives the same garbage as C: infinities give -4194304, NaN gives 0.
 */
export function nearestInt(value: number): number {
  const shifted = Math.fround(value + 12582912)
  if (shifted >= 8388608 && shifted < 16777216) return shifted - 12582912
  nearestFloat[0] = shifted
  return ((nearestBits[0] as number) & 0x007fffff) - 0x00400000
}

/** nearest_int's result for a value already shifted by 1.5 * 2^23 (`Math.fround(x + 12582912)`). */
export function nearestIntOfShifted(shifted: number): number {
  if (shifted >= 8388608 && shifted < 16777216) return shifted - 12582912
  nearestFloat[0] = shifted
  return ((nearestBits[0] as number) & 0x007fffff) - 0x00400000
}

/** (int8_t)x for a float x as compiled by gcc on x86-64: truncate to int32 (NaN/out of range: INT32_MIN), keep the low byte. */
export function floatToInt8(x: number): number {
  const asInt32 = x >= INT32_MIN && x < 2147483648 ? x | 0 : INT32_MIN
  return (asInt32 << 24) >> 24
}

/** (uint8_t)x for a float x, same conversion rules as floatToInt8. */
export function floatToUint8(x: number): number {
  const asInt32 = x >= INT32_MIN && x < 2147483648 ? x | 0 : INT32_MIN
  return asInt32 & 0xff
}

/** C roundf: halves go away from zero. */
export function roundHalfAwayFromZero(x: number): number {
  // x is a float32 value, so x + 0.5 is exact in double arithmetic and floor gives roundf's result.
  return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(0.5 - x)
}

export function writeHalf(target: Uint8Array, at: number, value: number): void {
  const bits = fp32ToFp16Bits(value)
  target[at] = bits & 0xff
  target[at + 1] = bits >>> 8
}

export function readHalf(source: Uint8Array, at: number): number {
  return fp16BitsToFp32((source[at] as number) | ((source[at + 1] as number) << 8))
}

export function writeUint32(target: Uint8Array, at: number, value: number): void {
  target[at] = value & 0xff
  target[at + 1] = (value >>> 8) & 0xff
  target[at + 2] = (value >>> 16) & 0xff
  target[at + 3] = (value >>> 24) & 0xff
}

export function readUint32(source: Uint8Array, at: number): number {
  return (
    ((source[at] as number) |
      ((source[at + 1] as number) << 8) |
      ((source[at + 2] as number) << 16) |
      ((source[at + 3] as number) << 24)) >>>
    0
  )
}

const float32Scratch = new Float32Array(1)
const float32Bytes = new Uint8Array(float32Scratch.buffer)

export function writeFloat32(target: Uint8Array, at: number, value: number): void {
  float32Scratch[0] = value
  target.set(float32Bytes, at)
}

export function readFloat32(source: Uint8Array, at: number): number {
  float32Bytes.set(source.subarray(at, at + 4))
  return float32Scratch[0] as number
}

/** True when the fp16 value at `at` is an infinity or NaN (ggml_validate_row_data rejects those). */
export function halfIsNonFinite(source: Uint8Array, at: number): boolean {
  return ((source[at + 1] as number) & 0x7c) === 0x7c
}
