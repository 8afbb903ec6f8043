// Fuzzing every contract method at a small N (npm run campaign -- fuzz --n 500 for the large run).
import { describe, expect, it } from 'vitest'
import { fuzzContract } from './contract-fuzz'

describe('campaign: contract fuzzing', () => {
  it('every method answers bad input with a structured 4xx, never a 500', async () => {
    const result = await fuzzContract({ runsPerMethod: 25, seed: 14 })
    console.log(`[campaign fuzz] ${JSON.stringify(result)}`)
    expect(result.failures).toEqual([])
    expect(result.internal).toBe(0)
    expect(result.methods).toBeGreaterThan(80)
  }, 300_000)
})
