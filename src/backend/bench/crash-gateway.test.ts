import { describe, expect, it } from 'vitest'
import { crashGateway } from './crash-gateway'

// Real child processes killed with SIGKILL, a real upstream on 127.0.0.1, the real workspace database checked after
// every kill. Small N here; `npm run bench -- crash-gateway --kills 1000` runs the large one by hand.
describe('SIGKILL loop over gateway writes', () => {
  it('loses no acknowledged entry when killed the instant an answer was written', async () => {
    const result = await crashGateway({ kills: 3, killAfterAnswer: true })
    console.log('crash-gateway (worst timing)', JSON.stringify(result))
    expect(result.kills).toBe(3)
    expect(result.acknowledged.misses).toBeGreaterThanOrEqual(3)
    expect(result.lostEntries).toBe(0)
    expect(result.integrityFailures).toBe(0)
  }, 120_000)

  it('loses no acknowledged entry and keeps the database sound when killed at random moments', async () => {
    const result = await crashGateway({ kills: 8 })
    console.log('crash-gateway (random timing)', JSON.stringify(result))
    expect(result.acknowledged.misses + result.acknowledged.hits).toBeGreaterThan(0)
    expect(result.lostEntries).toBe(0)
    expect(result.integrityResults).toEqual({ ok: 8 })
  }, 180_000)
})
