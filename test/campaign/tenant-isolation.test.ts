// The tenant-isolation campaign at a small N (npm run campaign -- tenants --n 100 for the large run).
import { describe, expect, it } from 'vitest'
import { tenantIsolationCampaign } from './tenant-isolation'

describe('campaign: tenant isolation', () => {
  it('many tenants, same questions: 0 cross-tenant reads or writes over gateway, pipelines, export and worker', async () => {
    const result = await tenantIsolationCampaign({ tenants: 6, workers: 3 })
    console.log(`[campaign tenants] ${JSON.stringify(result)}`)
    expect(result.failures).toEqual([])
    expect(result).toMatchObject({ crossTenantReads: 0, crossTenantWrites: 0, exactHits: 6, semanticHits: 6 })
    expect(result.ownPipelineRuns).toBe(6)
    expect(result.foreignPipelinesRefused).toBe(6 * 5)
    expect(result.exports).toBe(6)
    expect(result.workerRequests).toBe(3 * 6 * 2)
  }, 240_000)
})
