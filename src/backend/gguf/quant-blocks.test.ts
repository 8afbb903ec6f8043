/**
 * Edge cases of the block quantizers, stated as expected bytes. (ggml-parity.test.ts proves the
 * same functions byte-identical to libggml; these tests document the rules and run anywhere.)
 */
import { describe, expect, it } from 'vitest'

import { fp16BitsToFp32 } from './fp16.js'
import {
  blockScalesAreFinite,
  dequantizeRow,
  legacyQuantBlockBytes,
  quantizeRow,
  type LegacyQuantTypeName,
} from './quant-blocks.js'
import { createSeededRandom } from './tiny-model.js'

const types: LegacyQuantTypeName[] = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']

const block = (fill: (index: number) => number): Float32Array =>
  Float32Array.from({ length: 32 }, (_, index) => fill(index))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const halfAt = (bytes: Uint8Array, at: number): number => (bytes[at] as number) | ((bytes[at + 1] as number) << 8)

describe('all-zero blocks', () => {
  it('Q4_0 and Q5_0 store a negative-zero scale (0 / -8 is -0 in C too) and the middle level', () => {
    const zeros = block(() => 0)
    expect(hex(quantizeRow('Q4_0', zeros))).toBe(`0080${'88'.repeat(16)}`)
    expect(hex(quantizeRow('Q5_0', zeros))).toBe(`0080ffffffff${'00'.repeat(16)}`)
  })

  it('Q8_0, Q4_1 and Q5_1 store all zeros', () => {
    const zeros = block(() => 0)
    for (const type of ['Q8_0', 'Q4_1', 'Q5_1'] as const) {
      expect(
        quantizeRow(type, zeros).every((byte) => byte === 0),
        type,
      ).toBe(true)
    }
  })

  it('every type dequantizes zeros back to zeros', () => {
    for (const type of types)
      expect(
        dequantizeRow(
          type,
          quantizeRow(
            type,
            block(() => 0),
          ),
        ).every((value) => value === 0),
        type,
      ).toBe(true)
  })
})

describe('ties and rounding', () => {
  it('Q8_0 rounds exact halves away from zero (C roundf), not to even', () => {
    // amax 127 makes the scale exactly 1, so x * id is x itself.
    const values = block((index) => [127, 2.5, -2.5, 0.5, -0.5, 3.5, -3.5, 1.49][index % 8] as number)
    const bytes = quantizeRow('Q8_0', values)
    expect(halfAt(bytes, 0)).toBe(0x3c00) // d = 1.0
    const quants = Array.from(new Int8Array(bytes.buffer, 2, 8))
    expect(quants).toEqual([127, 3, -3, 1, -1, 4, -4, 1])
  })

  it('Q4_0 rounds halves up (x + 8.5 truncated), so -6.5 goes to level 2 and 6.5 to level 15', () => {
    // max -8 gives d = 1: level = trunc(x + 8.5), clamped to 15.
    const values = block((index) => (index === 0 ? -8 : ([-6.5, -0.5, 0.5, 6.5, 7.5][index % 5] as number)))
    const bytes = quantizeRow('Q4_0', values)
    expect(halfAt(bytes, 0)).toBe(0x3c00)
    const level = (index: number): number =>
      index < 16 ? (bytes[2 + index] as number) & 0x0f : (bytes[2 + index - 16] as number) >>> 4
    expect(level(0)).toBe(0)
    // elements 5, 1, 2, 3, 4 hold -6.5, -0.5, 0.5, 6.5, 7.5
    expect([5, 1, 2, 3, 4].map(level)).toEqual([2, 8, 9, 15, 15])
  })

  it('Q4_1 stores d and min, and rounds halves up via trunc((x - min) / d + 0.5)', () => {
    const values = block((index) => (index === 0 ? 0 : index === 1 ? 15 : index % 2 ? 2.5 : 13.5))
    const bytes = quantizeRow('Q4_1', values)
    expect(halfAt(bytes, 0)).toBe(0x3c00) // d = (15 - 0) / 15
    expect(halfAt(bytes, 2)).toBe(0x0000) // min 0
    // Byte j holds element j (low nibble) and element j + 16 (high nibble): 2.5 -> 3, 13.5 -> 14, 15 -> 15.
    expect(hex(bytes.subarray(4, 8))).toBe('e03fee33')
  })
})

describe('+/- extremes', () => {
  it('Q4_0 takes the scale from the first value of largest magnitude, keeping its sign', () => {
    const positiveFirst = quantizeRow(
      'Q4_0',
      block((index) => (index === 3 ? 4 : index === 9 ? -4 : 0)),
    )
    const negativeFirst = quantizeRow(
      'Q4_0',
      block((index) => (index === 3 ? -4 : index === 9 ? 4 : 0)),
    )
    expect(fp16BitsToFp32(halfAt(positiveFirst, 0))).toBe(-0.5) // 4 / -8
    expect(fp16BitsToFp32(halfAt(negativeFirst, 0))).toBe(0.5)
    // The extreme of the scale's sign maps to level 0; the opposite one clamps at 15.
    expect((positiveFirst[2 + 3] as number) & 0x0f).toBe(0)
    expect((positiveFirst[2 + 9] as number) & 0x0f).toBe(15)
  })

  it('Q8_0 maps +max and -max to +127 and -127', () => {
    const bytes = quantizeRow(
      'Q8_0',
      block((index) => (index % 2 ? 3 : -3)),
    )
    expect(Array.from(new Int8Array(bytes.buffer, 2, 4))).toEqual([-127, 127, -127, 127])
  })

  it('Q5_0 stores the fifth bit of each level in the qh mask (element j -> bit j, element j+16 -> bit j+16)', () => {
    const bytes = quantizeRow(
      'Q5_0',
      block((index) => (index === 0 ? -16 : index === 1 ? 15 : index === 17 ? -15 : 0)),
    )
    const qh = new DataView(bytes.buffer).getUint32(2, true)
    // levels: element 0 -> 0, element 1 -> trunc(15 + 16.5) = 31, element 17 -> 1, zeros -> 16
    expect((qh >>> 0) & 1).toBe(0)
    expect((qh >>> 1) & 1).toBe(1)
    expect((qh >>> 17) & 1).toBe(0)
    expect((qh >>> 5) & 1).toBe(1)
    expect((bytes[6 + 1] as number) & 0x0f).toBe(15)
    expect((bytes[6 + 1] as number) >>> 4).toBe(1)
  })

  it('flags blocks whose fp16 scale overflows (values beyond ±65504 * levels)', () => {
    expect(
      blockScalesAreFinite(
        'Q4_0',
        quantizeRow(
          'Q4_0',
          block((index) => index * 100),
        ),
      ),
    ).toBe(true)
    expect(
      blockScalesAreFinite(
        'Q4_0',
        quantizeRow(
          'Q4_0',
          block((index) => (index === 0 ? 1e6 : 0)),
        ),
      ),
    ).toBe(false)
    expect(
      blockScalesAreFinite(
        'Q4_1',
        quantizeRow(
          'Q4_1',
          block((index) => (index === 0 ? -1e6 : 0)),
        ),
      ),
    ).toBe(false)
  })
})

describe('negative halves', () => {
  it('Q8_0 rounds -k.5 to -(k+1)', () => {
    const values = block((index) => (index === 0 ? -127 : -(index % 10) - 0.5))
    const quants = Array.from(new Int8Array(quantizeRow('Q8_0', values).buffer, 2, 32))
    expect(quants.slice(1, 10)).toEqual([-2, -3, -4, -5, -6, -7, -8, -9, -10])
  })
})

describe('accuracy on random data', () => {
  it('dequantized values stay within a quantization step of the input', () => {
    const random = createSeededRandom(5)
    const values = Float32Array.from({ length: 32 * 64 }, () => (random() * 2 - 1) * 0.1)
    for (const type of types) {
      const bytes = quantizeRow(type, values)
      expect(bytes.length).toBe(64 * legacyQuantBlockBytes[type])
      const restored = dequantizeRow(type, bytes)
      const maxLevel = { Q8_0: 127, Q4_0: 8, Q5_0: 16, Q4_1: 15, Q5_1: 31 }[type]
      for (let blockIndex = 0; blockIndex < 64; blockIndex++) {
        const at = blockIndex * legacyQuantBlockBytes[type]
        const scale = Math.abs(fp16BitsToFp32(halfAt(bytes, at)))
        const min = type === 'Q4_1' || type === 'Q5_1' ? Math.abs(fp16BitsToFp32(halfAt(bytes, at + 2))) : 0
        // Half a step, plus the error of storing the scale (and min) as fp16 (relative 2^-11). In
        // Q4_0/Q5_0 the extreme opposite the scale's sign clamps at the top level: up to a whole step off.
        const steps = type === 'Q4_0' || type === 'Q5_0' ? 1 : 0.5
        const bound = scale * steps + (maxLevel * scale + min) * 2 ** -10 + 1e-7
        for (let j = 0; j < 32; j++) {
          const index = blockIndex * 32 + j
          expect(
            Math.abs((restored[index] as number) - (values[index] as number)),
            `${type} element ${index}`,
          ).toBeLessThanOrEqual(bound)
        }
      }
    }
  })

  it('rejects inputs that are not whole blocks', () => {
    expect(() => quantizeRow('Q4_0', new Float32Array(33))).toThrow(RangeError)
    expect(() => dequantizeRow('Q8_0', new Uint8Array(35))).toThrow(RangeError)
  })
})
