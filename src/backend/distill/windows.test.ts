import { describe, expect, it } from 'vitest'
import { isTrainable, parseLayerSelection } from './layers'
import { learningRateAt } from './schedule'
import { epochOrder, packWindows, windowAt } from './windows'

describe('token windows', () => {
  it('joins sequences into windows of context + 1, wrapping the last one', () => {
    const windows = packWindows([Int32Array.of(1, 2, 3), Int32Array.of(4, 5)], 2)
    expect(windows.count).toBe(2)
    expect(Array.from(windowAt(windows, 0).inputs)).toEqual([1, 2])
    expect(Array.from(windowAt(windows, 0).labels)).toEqual([2, 3])
    expect(Array.from(windowAt(windows, 1).inputs)).toEqual([3, 4])
    expect(Array.from(windowAt(windows, 1).labels)).toEqual([4, 5])
    const tiny = packWindows([Int32Array.of(7, 8)], 4)
    expect(tiny.count).toBe(1)
    expect(Array.from(windowAt(tiny, 0).inputs)).toEqual([7, 8, 7, 8])
    expect(packWindows([], 4).count).toBe(0)
  })

  it('shuffles windows per epoch, reproducibly', () => {
    const first = epochOrder(50, 3, 0, true)
    expect(first).toEqual(epochOrder(50, 3, 0, true))
    expect(first).not.toEqual(epochOrder(50, 3, 1, true))
    expect([...first].sort((a, b) => a - b)).toEqual([...Array(50).keys()])
    expect(epochOrder(5, 3, 0, false)).toEqual([0, 1, 2, 3, 4])
  })
})

describe('learning-rate schedule', () => {
  const schedule = { lr: 1e-3, warmupSteps: 10, minLrRatio: 0.1 }
  it('warms up linearly, then follows cosine or linear decay to the floor, never reaching zero', () => {
    const cosine = { ...schedule, kind: 'cosine' as const }
    expect(learningRateAt(0, 110, cosine)).toBeCloseTo(1e-3 / 11)
    expect(learningRateAt(9, 110, cosine)).toBeCloseTo((1e-3 * 10) / 11)
    expect(learningRateAt(10, 110, cosine)).toBeCloseTo(1e-3)
    expect(learningRateAt(60, 110, cosine)).toBeCloseTo(1e-4 + 0.9e-3 * 0.5)
    expect(learningRateAt(110, 110, cosine)).toBeCloseTo(1e-4)
    expect(learningRateAt(60, 110, { ...schedule, kind: 'linear' })).toBeCloseTo(1e-4 + 0.9e-3 * 0.5)
    expect(learningRateAt(500, 110, { ...schedule, kind: 'constant' })).toBe(1e-3)
    expect(learningRateAt(110, 110, { ...cosine, minLrRatio: 0 })).toBeGreaterThan(0)
  })
})

describe('layer selection', () => {
  it('trains everything but the token embedding, or the last N blocks and the head', () => {
    expect(isTrainable('token_embd.weight', 'all', 4)).toBe(false)
    expect(isTrainable('blk.0.attn_q.weight', 'all', 4)).toBe(true)
    expect(isTrainable('blk.1.attn_q.weight', { last: 2 }, 4)).toBe(false)
    expect(isTrainable('blk.2.ffn_up.weight', { last: 2 }, 4)).toBe(true)
    expect(isTrainable('output.weight', { last: 1 }, 4)).toBe(true)
    expect(isTrainable('output_norm.weight', { last: 1 }, 4)).toBe(true)
    expect(parseLayerSelection('last:3')).toEqual({ last: 3 })
    expect(parseLayerSelection('all')).toBe('all')
    expect(() => parseLayerSelection('last:0')).toThrowError(/last:N/)
    expect(() => parseLayerSelection('first:2')).toThrowError(/last:N/)
  })
})
