// The SIGKILL campaign at a small N (npm run campaign -- sigkill --n 1000 for the large run).
import { describe, expect, it } from 'vitest'
import { backupScenario, importScenario, sigkillLoop } from './sigkill-loop'

describe('campaign: SIGKILL loop', () => {
  it('log import: killed mid-import again and again, resumes with no duplicate and no lost row', async () => {
    const result = await sigkillLoop({ scenario: importScenario(30_000), kills: 4, maxDelayMs: 1500 })
    console.log(`[campaign sigkill] ${JSON.stringify(result)}`)
    expect(result.problems).toEqual([])
    expect(result).toMatchObject({ integrityFailures: 0, invariantFailures: 0, kills: 4 })
    expect(result.killsMidJob).toBeGreaterThan(0)
  }, 300_000)

  it('backup job: killed mid-copy, resumes to a sound copy; the workspace stays sound', async () => {
    const result = await sigkillLoop({ scenario: backupScenario(2), kills: 3, maxDelayMs: 400 })
    console.log(`[campaign sigkill] ${JSON.stringify(result)}`)
    expect(result.problems).toEqual([])
    expect(result).toMatchObject({ integrityFailures: 0, invariantFailures: 0, kills: 3 })
  }, 300_000)
})
