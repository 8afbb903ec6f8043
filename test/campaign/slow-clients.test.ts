// The slow-client and oversized-body campaign at a small N (npm run campaign -- slow --n 200 by hand).
import { describe, expect, it } from 'vitest'
import { slowClientCampaign } from './slow-clients'

describe('campaign: slow clients and oversized bodies', () => {
  it('answers and closes every hostile socket while a normal client keeps being served', async () => {
    const result = await slowClientCampaign({ perKind: 8, requestTimeoutMs: 1500 })
    console.log(`[campaign slow] ${JSON.stringify(result)}`)
    for (const [kind, outcome] of Object.entries(result.kinds)) {
      expect(outcome.answered, kind).toBe(8)
      if (!kind.startsWith('oversized')) expect(outcome.closed, kind).toBe(8)
    }
    expect(result.kinds['slow body, no token']!.statuses).toEqual({ '401': 8 })
    expect(result.kinds['oversized gateway body']!.statuses).toEqual({ '413': 8 })
    expect(result.kinds['oversized api body']!.statuses).toEqual({ '413': 8 })
    expect(result.kinds['GET with a body']!.statuses).toEqual({ '400': 8 })
    expect(result.normalFailures).toBe(0)
    expect(result.normalCalls).toBeGreaterThan(3)
  }, 120_000)
})
