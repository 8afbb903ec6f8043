import { describe, expect, it } from 'vitest'
import { qualityVerdict } from './quality-verdict'

const report = (kl: number, top1: number, before: number, after: number, positions = 512) => ({
  positions,
  meanKlDivergence: kl,
  maxKlDivergence: kl * 10,
  top1Agreement: top1,
  original: { perplexity: before },
  quantized: { perplexity: after },
})

describe('qualityVerdict', () => {
  it('explains a noticeable loss with 84% top-1 agreement although perplexity barely moved', () => {
    const verdict = qualityVerdict(report(0.06, 0.84, 10, 10.01))
    expect(verdict.level).toBe('noticeable')
    expect(verdict.reasons.map((reason) => reason.code)).toEqual([
      'kl',
      'top1',
      'perplexity-flat',
      'top1-vs-perplexity',
    ])
    const top1 = verdict.reasons.find((reason) => reason.code === 'top1')!
    expect(top1.params).toMatchObject({ oneIn: 6 })
    expect(top1.message).toMatch(/differs at 16\.0% of positions \(about 1 in 6\)/)
    expect(verdict.reasons.find((reason) => reason.code === 'perplexity-flat')!.message).toMatch(/\+0\.10%/)
  })

  it('calls a close copy practically lossless, and flags a small sample', () => {
    const verdict = qualityVerdict(report(0.001, 0.99, 10, 10.002, 64))
    expect(verdict.level).toBe('excellent')
    expect(verdict.reasons.map((reason) => reason.code)).toEqual(['kl', 'top1', 'perplexity-flat', 'few-positions'])
    expect(verdict.reasons.at(-1)!.message).toMatch(/Only 64 positions were scored/)
  })

  it('reads a rising perplexity and a large divergence as a large loss', () => {
    const verdict = qualityVerdict(report(0.5, 0.6, 10, 13))
    expect(verdict.level).toBe('large')
    expect(verdict.reasons.find((reason) => reason.code === 'perplexity-up')!.message).toMatch(/\+30\.00%/)
    expect(qualityVerdict(report(0.03, 0.9, 10, 9.5)).reasons.map((reason) => reason.code)).toContain('perplexity-down')
  })
})
