import { describe, expect, it } from 'vitest'
import { formatBytes } from './format'

describe('formatBytes', () => {
  it('writes B for plain bytes in the same layout as kB, never "0 byte"', () => {
    expect(formatBytes(0, 'en')).toBe('0 B')
    expect(formatBytes(1, 'en')).toBe('1 B')
    expect(formatBytes(999, 'en')).toBe('999 B')
    expect(formatBytes(0, 'ko')).toBe('0B')
  })

  it('scales by thousands with one decimal', () => {
    expect(formatBytes(1_536_000, 'en')).toBe('1.5 MB')
    expect(formatBytes(1500, 'en')).toBe('1.5 kB')
    expect(formatBytes(2_000_000_000, 'ko')).toBe('2GB')
  })
})
