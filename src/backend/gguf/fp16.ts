/**
 * IEEE half precision conversions that reproduce ggml bit for bit.
 *
 * fp32 -> fp16 follows ggml's portable `ggml_compute_fp32_to_fp16` (the FP16 library's trick of
 * letting float32 hardware do the rounding: scale to push the value into the fp16 range, add a
 * bias so the float32 adder rounds to nearest-even at the fp16 mantissa width, then read the bits).
 * Every float operation is a float32 operation in C, so each one is wrapped in Math.fround here;
 * a double computation rounded once to float32 gives the same result as the float32 operation for
 * +, -, *, / (53 >= 2*24 + 2 bits, so double rounding cannot differ).
 *
 * fp16 -> fp32 is exact; NaNs come back quiet with their payload, as the multiply in ggml's
 * `ggml_compute_fp16_to_fp32` produces on x86.
 */

const scratchFloat = new Float32Array(1)
const scratchBits = new Uint32Array(scratchFloat.buffer)

function floatFromBits(bits: number): number {
  scratchBits[0] = bits
  return scratchFloat[0] as number
}

function bitsFromFloat(value: number): number {
  scratchFloat[0] = value
  return scratchBits[0] as number
}

const SCALE_TO_INF = 2 ** 112
const SCALE_TO_ZERO = 2 ** -110

/** Converts the float32 bit pattern `w` to fp16 bits. */
export function fp32BitsToFp16Bits(w: number): number {
  const magnitude = Math.abs(floatFromBits(w))
  let base = Math.fround(Math.fround(magnitude * SCALE_TO_INF) * SCALE_TO_ZERO)
  const shl1W = (w * 2) % 0x1_0000_0000 // w + w in uint32 arithmetic
  const sign = (w & 0x80000000) >>> 0
  let bias = (shl1W & 0xff000000) >>> 0
  if (bias < 0x71000000) bias = 0x71000000
  base = Math.fround(floatFromBits((bias >>> 1) + 0x07800000) + base)
  const bits = bitsFromFloat(base)
  const exponentBits = (bits >>> 13) & 0x00007c00
  const mantissaBits = bits & 0x00000fff
  const nonSign = exponentBits + mantissaBits
  return (sign >>> 16) | (shl1W > 0xff000000 ? 0x7e00 : nonSign)
}

/** Converts a number (first rounded to float32, as a C `float` argument would be) to fp16 bits. */
export function fp32ToFp16Bits(value: number): number {
  return fp32BitsToFp16Bits(bitsFromFloat(value))
}

/** Exact fp16 -> float32 bit pattern. */
export function fp16BitsToFp32Bits(half: number): number {
  const sign = (half & 0x8000) << 16
  const exponent = (half >>> 10) & 0x1f
  const mantissa = half & 0x3ff
  if (exponent === 0) {
    if (mantissa === 0) return sign >>> 0
    // Subnormal half: mantissa * 2^-24 is exactly representable as a normal float32.
    return (sign | bitsFromFloat(mantissa * 2 ** -24)) >>> 0
  }
  if (exponent === 0x1f) {
    return mantissa === 0 ? (sign | 0x7f800000) >>> 0 : (sign | 0x7fc00000 | (mantissa << 13)) >>> 0
  }
  return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0
}

export function fp16BitsToFp32(half: number): number {
  return floatFromBits(fp16BitsToFp32Bits(half))
}

/** Row conversion, like ggml_fp32_to_fp16_row. */
export function fp32ArrayToFp16(
  source: Float32Array,
  target: Uint16Array = new Uint16Array(source.length),
): Uint16Array {
  const sourceBits = new Uint32Array(source.buffer, source.byteOffset, source.length)
  for (let index = 0; index < sourceBits.length; index++) {
    target[index] = fp32BitsToFp16Bits(sourceBits[index] as number)
  }
  return target
}

/** Row conversion, like ggml_fp16_to_fp32_row; writes bit patterns so NaN payloads survive. */
export function fp16ArrayToFp32(
  source: Uint16Array,
  target: Float32Array = new Float32Array(source.length),
): Float32Array {
  const targetBits = new Uint32Array(target.buffer, target.byteOffset, target.length)
  for (let index = 0; index < source.length; index++) {
    targetBits[index] = fp16BitsToFp32Bits(source[index] as number)
  }
  return target
}

/** bfloat16 -> float32 is a plain shift (ggml_bf16_to_fp32). */
export function bf16ArrayToFp32(
  source: Uint16Array,
  target: Float32Array = new Float32Array(source.length),
): Float32Array {
  const targetBits = new Uint32Array(target.buffer, target.byteOffset, target.length)
  for (let index = 0; index < source.length; index++) {
    targetBits[index] = ((source[index] as number) << 16) >>> 0
  }
  return target
}
