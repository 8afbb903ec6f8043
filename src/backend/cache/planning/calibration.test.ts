import { describe, expect, it } from 'vitest'
import { drawTraffic, type LogLine } from '../../../../test/fixtures/traffic'
import { planCore, projectTop } from './core'
import type { PlanLog } from './log'
import { entriesFor, rankKeys } from './projection'

// Is the held-out projection honest? Over many pairs of logs drawn from one distribution (Zipf(1.0) over 1,000
// questions, 10,000 requests each): plan from the first, measure the planned top N on the second. The same engine
// the API uses, on in-memory logs (the gateway replay test checks one pair end to end).
function toLog(lines: LogLine[], ids: Map<string, number>, keys: string[]): PlanLog {
  const key = new Int32Array(lines.length)
  const time = new Float64Array(lines.length)
  lines.forEach((line, i) => {
    const text = line.messages[0]!.content
    let id = ids.get(text)
    if (id === undefined) ids.set(text, (id = keys.push(text) - 1))
    key[i] = id
    time[i] = Date.parse(line.timestamp!)
  })
  return { source: 'import', keys, canonical: [], promptText: [], key, time, order: 'time', withoutTimestamp: 0 }
}

describe('held-out projection, calibrated', () => {
  it('is unbiased and within a point of a fresh log for most draws, where in-sample overstates', () => {
    const seeds = 40
    const gaps: number[] = []
    const inSampleGaps: number[] = []
    let covered = 0
    for (let seed = 1; seed <= seeds; seed++) {
      const ids = new Map<string, number>()
      const keys: string[] = []
      const traffic = { questions: 1000, requests: 10_000 }
      const log = toLog(drawTraffic({ ...traffic, seed }), ids, keys)
      const fresh = toLog(drawTraffic({ ...traffic, seed: seed + 1000 }), ids, keys)
      const core = planCore(log, 0.7)
      const entries = entriesFor(core.evalCumulative, core.evalTo - core.evalFrom, 0.9)!
      const projected = projectTop(core, entries)
      const rateOn = (ranked: Int32Array, n: number) => {
        const cached = new Set(ranked.subarray(0, n))
        return fresh.key.filter((k) => cached.has(k)).length / fresh.key.length
      }
      const realised = rateOn(core.ranking.ranked, entries)
      gaps.push(projected.rate - realised)
      if (realised >= projected.low! && realised <= projected.high!) covered++
      // What the in-sample curve of the whole first log would have promised for its own 90 %.
      const whole = rankKeys(log.key, 0, log.key.length, keys.length)
      const inSampleEntries = entriesFor(whole.trainCumulative, log.key.length, 0.9)!
      inSampleGaps.push(0.9 - rateOn(whole.ranked, inSampleEntries))
    }
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
    const within = gaps.filter((gap) => Math.abs(gap) <= 0.01).length / seeds
    console.info(
      `held-out: mean gap ${(mean(gaps) * 100).toFixed(2)} points, within 1 point ${(within * 100).toFixed(0)}%, ` +
        `interval covers ${((covered / seeds) * 100).toFixed(0)}%; in-sample overstates by ${(mean(inSampleGaps) * 100).toFixed(2)} points`,
    )
    expect(Math.abs(mean(gaps))).toBeLessThan(0.003)
    expect(within).toBeGreaterThanOrEqual(0.8)
    // The interval is for the hit rate; one fresh log adds its own noise, so a little under 95 % is expected.
    expect(covered / seeds).toBeGreaterThanOrEqual(0.75)
    expect(mean(inSampleGaps)).toBeGreaterThan(0.02)
  })
})
