/**
 * The hardening campaign by hand, at any size (CI runs each at a small N through vitest):
 *
 *   npm run campaign -- tenants [--n 100] [--workers 10]
 *   npm run campaign -- fuzz [--n 500]            (runs per contract method)
 *   npm run campaign -- gguf [--n 400]            (header cuts and bit flips; every key dropped and retyped)
 *   npm run campaign -- slow [--n 200] [--timeout-ms 30000]   (hostile sockets per kind)
 *   npm run campaign -- sigkill [--n 1000] [--scenario import|backup] [--max-delay-ms 3000]
 *
 * Prints one JSON line of figures per campaign and exits non-zero when a campaign found a defect.
 */
import { parseArgs } from 'node:util'
import { fuzzContract } from './contract-fuzz'
import { ggufCorpusCampaign } from './gguf-corpus'
import { backupScenario, importScenario, sigkillLoop } from './sigkill-loop'
import { slowClientCampaign } from './slow-clients'
import { tenantIsolationCampaign } from './tenant-isolation'

type Campaign = (
  n: number,
  values: Record<string, string | boolean | undefined>,
) => Promise<{ ok: boolean; figures: unknown }>

const log = (line: string): void => void process.stderr.write(`  ${line}\n`)

const campaigns: Record<string, Campaign> = {
  slow: async (n, values) => {
    const result = await slowClientCampaign({
      perKind: n,
      requestTimeoutMs: Number(values['timeout-ms'] ?? 30_000),
      log,
    })
    return {
      ok:
        Object.entries(result.kinds).every(
          ([name, kind]) => kind.answered === n && (name.startsWith('oversized') || kind.closed === n),
        ) && result.normalFailures === 0,
      figures: result,
    }
  },
  gguf: async (n) => {
    const result = await ggufCorpusCampaign({ n, log })
    return {
      ok: result.internalErrors === 0 && result.inspectCrashes === 0 && result.backendAlive,
      figures: result,
    }
  },
  fuzz: async (n) => {
    const result = await fuzzContract({ runsPerMethod: n, log })
    return { ok: result.internal === 0, figures: result }
  },
  sigkill: async (n, values) => {
    const scenarios = values.scenario ? [String(values.scenario)] : ['import', 'backup']
    const results = []
    for (const name of scenarios) {
      const scenario = name === 'backup' ? backupScenario(4) : importScenario(30_000)
      results.push(await sigkillLoop({ scenario, kills: n, maxDelayMs: Number(values['max-delay-ms'] ?? 3000), log }))
    }
    return {
      ok: results.every((r) => r.problems.length === 0 && r.integrityFailures === 0 && r.invariantFailures === 0),
      figures: results,
    }
  },
  tenants: async (n, values) => {
    const result = await tenantIsolationCampaign({ tenants: n, workers: Number(values.workers ?? 10), log })
    return {
      ok: result.failures.length === 0 && result.crossTenantReads === 0 && result.crossTenantWrites === 0,
      figures: result,
    }
  },
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string' },
    workers: { type: 'string' },
    scenario: { type: 'string' },
    'max-delay-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
  },
})
const names = positionals.length > 0 ? positionals : Object.keys(campaigns)
let failed = false
for (const name of names) {
  const campaign = campaigns[name]
  if (!campaign) {
    console.error(`Unknown campaign "${name}". Campaigns: ${Object.keys(campaigns).join(', ')}.`)
    process.exit(2)
  }
  const n = Number(values.n ?? 20)
  process.stderr.write(`campaign ${name}, n = ${n}\n`)
  const { ok, figures } = await campaign(n, values)
  console.log(JSON.stringify({ campaign: name, n, ok, figures }))
  if (!ok) failed = true
}
process.exit(failed ? 1 : 0)
