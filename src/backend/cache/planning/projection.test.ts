import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BlockBootstrap, coverageByRank, entriesFor, MIN_SIDE, rankKeys, samplePoints, splitLog } from './projection'

const times = (values: number[]) => Float64Array.from(values)

describe('splitLog', () => {
  it('falls back to in-sample below two sides of MIN_SIDE requests', () => {
    expect(splitLog(new Float64Array(2 * MIN_SIDE - 1), 0.7, 'time')).toEqual({
      mode: 'in-sample',
      cut: 2 * MIN_SIDE - 1,
      fallback: 'too-small',
    })
  })

  it('cuts by line in line order, and keeps requests of one instant on one side in time order', () => {
    expect(splitLog(new Float64Array(1000).fill(Number.NaN), 0.7, 'lines')).toMatchObject({ cut: 700 })
    // 690 requests at t=0, then one per ms: the cut moves to the nearest instant boundary.
    const clustered = times([...Array<number>(690).fill(0), ...Array.from({ length: 310 }, (_, i) => i + 1)])
    expect(splitLog(clustered, 0.68, 'time')).toMatchObject({ mode: 'held-out', cut: 690 })
    expect(splitLog(times(Array<number>(1000).fill(5)), 0.7, 'time')).toMatchObject({ fallback: 'too-short' })
  })
})

describe('ranking and coverage', () => {
  it('ranks by training count, ties by first appearance, and measures the held-out part', () => {
    // Training: b b a a c; held out: a a d b.
    const key = Int32Array.from([1, 1, 0, 0, 2, 0, 0, 3, 1])
    const ranking = rankKeys(key, 0, 5, 4)
    expect([...ranking.ranked]).toEqual([1, 0, 2])
    expect([...ranking.rankOf]).toEqual([1, 0, 2, 3])
    expect([...ranking.trainCumulative]).toEqual([2, 4, 5])
    const heldOut = coverageByRank(key, 5, 9, ranking)
    expect([...heldOut]).toEqual([1, 3, 3])
    expect(entriesFor(heldOut, 4, 0.5)).toBe(2)
    expect(entriesFor(heldOut, 4, 0.8)).toBeNull()
  })

  it('entriesFor is the smallest N reaching the share', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        (steps, share) => {
          const cumulative = new Float64Array(steps.length)
          steps.reduce((sum, step, i) => (cumulative[i] = sum + step), 0)
          const total = cumulative.at(-1)! + 3
          const found = entriesFor(cumulative, total, share)
          const reaches = (n: number) => cumulative[n - 1]! >= share * total - 1e-9
          if (found === null) expect(reaches(steps.length)).toBe(false)
          else {
            expect(reaches(found)).toBe(true)
            if (found > 1) expect(reaches(found - 1)).toBe(false)
          }
        },
      ),
    )
  })

  it('samples at most ~80 log-spaced points, always with the ends and the marks asked for', () => {
    expect(samplePoints(5)).toEqual([1, 2, 3, 4, 5])
    const points = samplePoints(100_000, [523])
    expect(points.length).toBeLessThanOrEqual(82)
    expect(points[0]).toBe(1)
    expect(points.at(-1)).toBe(100_000)
    expect(points).toContain(523)
  })
})

describe('BlockBootstrap', () => {
  it('resamples days when the held-out part spans a week, blocks of requests otherwise, reproducibly', () => {
    const n = 1400
    const key = Int32Array.from({ length: n }, (_, i) => i % 7)
    const daily = times(Array.from({ length: n }, (_, i) => Date.UTC(2025, 0, 1) + Math.floor(i / 100) * 86_400_000))
    const byDay = new BlockBootstrap(key, daily, 0, n)
    expect(byDay.by).toBe('days')
    expect(byDay.blocks).toBe(14)
    const byBlock = new BlockBootstrap(key, new Float64Array(n).fill(Number.NaN), 0, n)
    expect(byBlock.by).toBe('blocks')
    expect(byBlock.blocks).toBe(40)
    const hits = byDay.hitsWhere((keyId) => keyId < 3)
    const interval = byDay.interval(hits)
    expect(interval).toEqual(new BlockBootstrap(key, daily, 0, n).interval(hits))
    // Each day holds the same mix, so every resample gives the same rate: no spread.
    expect(interval.low).toBeCloseTo(3 / 7, 2)
    expect(interval.high).toBeCloseTo(3 / 7, 2)
  })
})
