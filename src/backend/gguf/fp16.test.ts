import { describe, expect, it } from 'vitest'

import {
  bf16ArrayToFp32,
  fp16ArrayToFp32,
  fp16BitsToFp32,
  fp16BitsToFp32Bits,
  fp32ArrayToFp16,
  fp32ToFp16Bits,
} from './fp16.js'

const bitsOf = (value: number): number => new Uint32Array(Float32Array.of(value).buffer)[0] as number
const floatOfBits = (bits: number): number => new Float32Array(Uint32Array.of(bits).buffer)[0] as number

describe('fp32 -> fp16 (round to nearest even, like ggml)', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65519.99, 0x7bff], // just below the rounding point to infinity
    [65520, 0x7c00], // the midpoint rounds to even: infinity
    [1e10, 0x7c00],
    [-1e10, 0xfc00],
    [Number.POSITIVE_INFINITY, 0x7c00],
    [Number.NEGATIVE_INFINITY, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal half
    [2 ** -24, 0x0001], // smallest subnormal half
    [2 ** -25, 0x0000], // exactly half of it: ties to even (zero)
    [3 * 2 ** -25, 0x0002], // 1.5 ulp: ties to even (2)
    [-(2 ** -26), 0x8000], // underflows to negative zero
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10: even mantissa wins
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 1+2^-10 and 1+2^-9: even mantissa wins
    [1.0009765625 + 2 ** -20, 0x3c01],
  ])('%d -> 0x%s', (value, expected) => {
    expect(fp32ToFp16Bits(value)).toBe(expected)
  })

  it('maps every NaN to the canonical quiet NaN with its sign, like ggml', () => {
    expect(fp32ToFp16Bits(Number.NaN)).toBe(0x7e00)
    expect(fp32ToFp16Bits(floatOfBits(0x7f800001))).toBe(0x7e00) // signalling NaN
    const negativeNaN = new Float32Array(new Uint32Array([0xffc00000]).buffer)
    expect(fp32ArrayToFp16(negativeNaN)[0]).toBe(0xfe00)
  })

  it('rounds the argument to float32 first, as a C float parameter would', () => {
    // 1 + 2^-30 is not a float32; it becomes 1 before conversion.
    expect(fp32ToFp16Bits(1 + 2 ** -30)).toBe(0x3c00)
  })
})

describe('fp16 -> fp32', () => {
  it('is exact for every finite half and round-trips back to the same bits', () => {
    for (let half = 0; half < 0x10000; half++) {
      const exponent = (half >>> 10) & 0x1f
      if (exponent === 0x1f && (half & 0x3ff) !== 0) continue // NaNs checked separately
      expect(fp32ToFp16Bits(fp16BitsToFp32(half))).toBe(half)
    }
  })

  it('decodes subnormals, zeros, infinities and NaNs', () => {
    expect(fp16BitsToFp32(0x0001)).toBe(2 ** -24)
    expect(fp16BitsToFp32(0x03ff)).toBe(1023 * 2 ** -24)
    expect(Object.is(fp16BitsToFp32(0x8000), -0)).toBe(true)
    expect(fp16BitsToFp32(0x7c00)).toBe(Number.POSITIVE_INFINITY)
    expect(fp16BitsToFp32(0xfc00)).toBe(Number.NEGATIVE_INFINITY)
    expect(Number.isNaN(fp16BitsToFp32(0x7e00))).toBe(true)
    // Signalling NaN payloads come back quieted, as the x86 multiply in ggml does.
    expect(fp16BitsToFp32Bits(0x7c01)).toBe(0x7fc02000)
    expect(fp16BitsToFp32Bits(0xfe01)).toBe(0xffc02000)
  })

  it('row conversion writes bit patterns (NaN payloads preserved)', () => {
    const widened = fp16ArrayToFp32(Uint16Array.of(0x3c00, 0x7d55, 0x0001))
    const bits = new Uint32Array(widened.buffer)
    expect(bits[0]).toBe(bitsOf(1))
    expect(bits[1]).toBe(0x7fc00000 | (0x155 << 13))
    expect(widened[2]).toBe(2 ** -24)
  })

  it('bf16 -> fp32 is a 16-bit shift', () => {
    expect(Array.from(bf16ArrayToFp32(Uint16Array.of(0x3f80, 0xc000, 0x0000)))).toEqual([1, -2, 0])
  })
})
