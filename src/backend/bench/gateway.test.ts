import { describe, expect, it } from 'vitest'
import { benchExact, benchHttp, benchSemantic, percentiles, zipfSampler, rng } from './gateway'

// The benchmark's machinery on small sizes: that it measures what it says (not how fast it is).
describe('gateway benchmark', () => {
  it('draws a Zipf(1) stream and summarises samples', () => {
    const next = zipfSampler(1000, 1, rng(1))
    const counts = new Array<number>(1000).fill(0)
    for (let i = 0; i < 100_000; i++) counts[next()]!++
    // Rank 1 is drawn about twice as often as rank 2 and ten times as often as rank 10.
    expect(counts[0]! / counts[1]!).toBeGreaterThan(1.7)
    expect(counts[0]! / counts[1]!).toBeLessThan(2.3)
    expect(counts[0]! / counts[9]!).toBeGreaterThan(8)
    expect(percentiles([5, 1, 4, 2, 3])).toEqual({ p50: 3, p90: 5, p99: 5, mean: 3 })
  })

  it('measures exact lookups through the service, every one a hit', async () => {
    const result = await benchExact({ entries: 3000, lookups: 4000 })
    expect(result.entries).toBe(3000)
    expect(result.front.hitRate).toBeGreaterThan(0.5)
    for (const p of [result.larderUs, result.mapUs, result.keyAndMapUs, result.sqliteUs, result.beforeUs])
      expect(p.p50).toBeGreaterThan(0)
  })

  it('measures semantic lookups: every near duplicate found, nothing served without one', async () => {
    const result = await benchSemantic({ entries: 4000, queries: 120, slowSample: 2 })
    expect(result.queries.nearDuplicates).toBeGreaterThan(10)
    expect(result.recall).toBe(1)
    expect(result.falseHits).toBe(0)
    expect(result.vec0Ms.p50).toBeGreaterThan(0)
  })

  it('runs the gateway and the raw server in child processes, the gateway logging every answer', async () => {
    // Rate-limited: this checks the machinery without taking the CPU from tests running beside it.
    const result = await benchHttp({ seconds: 1, rounds: 1, warmupSeconds: 1, connections: 2, overallRate: 200 })
    expect(result.raw.reqPerSec).toBeGreaterThan(0)
    expect(result.rawParse.reqPerSec).toBeGreaterThan(0)
    expect(Number.isFinite(result.cpuAddedUsPerHit)).toBe(true)
    expect(result.gateway.reqPerSec).toBeGreaterThan(0)
    expect(result.request.responseHeaders['x-larder-cache']).toBe('hit-exact')
    const logged = result.gatewayLogged
    // Every answer autocannon counted was logged and counted (a few more were in flight when a run stopped).
    expect(logged.requestLogRows).toBeGreaterThanOrEqual(logged.answered)
    expect(logged.entryHitCount).toBe(logged.requestLogRows)
    expect(logged.keyLastUsedAt).not.toBeNull()
  }, 60_000)
})
