// The malformed-GGUF campaign at a small N (npm run campaign -- gguf --n 400 for the large run).
import { describe, expect, it } from 'vitest'
import { ggufCorpusCampaign } from './gguf-corpus'

describe('campaign: malformed GGUF corpus', () => {
  it('inspect, add and load give only clear errors, and the backend stays up', async () => {
    const result = await ggufCorpusCampaign({ n: 12 })
    console.log(`[campaign gguf] ${JSON.stringify(result)}`)
    expect(result.problems).toEqual([])
    expect(result).toMatchObject({ inspectCrashes: 0, internalErrors: 0, backendAlive: true })
    expect(result.refusedByValidation).toBeGreaterThan(20)
    expect(result.loadAttempts).toBeGreaterThan(0)
  }, 600_000)
})
