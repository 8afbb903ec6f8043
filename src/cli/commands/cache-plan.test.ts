// `larder cache plan` in process against a real workspace: the same numbers as the API, only JSON on stdout with
// --json, the embedding job run inline for --semantic-threshold (embedder: a real OpenAI-compatible server on
// 127.0.0.1), and clear errors for bad options and namespaces without an embedder.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CacheNamespace, CachePlan, Job } from '../../shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { drawTraffic, writeLog } from '../../../test/fixtures/traffic'
import { Backend } from '../../backend/backend'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

let home = ''
let embedder: FakeEndpoint

beforeAll(async () => {
  embedder = await startFakeEndpoint({ name: 'embedder' })
  const root = suiteTempDir('larder-cli-plan-')
  home = join(root, 'home')
  const backend = Backend.open({ home }).start()
  const call = async <T>(method: string, input: unknown): Promise<T> => (await backend.call(method, input)) as T
  const provider = await call<{ id: number }>('providers.save', {
    name: 'embedder',
    baseUrl: embedder.baseUrl,
    model: 'e',
  })
  const logs = {
    faq: drawTraffic({ requests: 3000, questions: 200, seed: 1, days: 30 }),
    plain: drawTraffic({ requests: 500, questions: 50, seed: 2, timestamps: false }),
  }
  for (const [name, lines] of Object.entries(logs)) {
    const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      tenant: 'acme',
      name,
      ...(name === 'faq' ? { embedder: { provider: provider.id } } : {}),
    })
    const { job } = await call<{ job: Job }>('cache.log.import', {
      namespaceId: namespace.id,
      path: writeLog(join(root, `${name}.jsonl`), lines),
    })
    expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
  }
  await backend.close()
})

afterAll(() => embedder.close())

describe('larder cache plan', () => {
  it("prints the API's plan as JSON, and a readable summary without --json", async () => {
    const json = await larder(['--home', home, 'cache', 'plan', '--namespace', 'acme/faq', '--target', '0.8', '--json'])
    expect(json.code).toBe(EXIT.ok)
    const printed = JSON.parse(json.out) as CachePlan
    const backend = Backend.open({ home })
    const namespaceId = printed.namespace.id
    expect(await backend.call('cache.plan', { namespaceId, target: 0.8 })).toEqual(printed)
    await backend.close()
    expect(printed.split).toMatchObject({ mode: 'held-out', trainRequests: 2100, intervalBy: 'days' })

    const text = await larder(['--home', home, 'cache', 'plan', '--namespace', 'acme/faq', '--target', '0.8'])
    expect(text.code).toBe(EXIT.ok)
    expect(text.out).toContain(
      `target 80.0%: top ${printed.target.entries} -> ${(printed.target.projected!.rate * 100).toFixed(1)}%`,
    )
    expect(text.out).toMatch(/note: No prices are set/)
  })

  it('runs the embedding job for --semantic-threshold, keeping stdout pure JSON', async () => {
    const result = await larder([
      '--home',
      home,
      'cache',
      'plan',
      '--namespace',
      'acme/faq',
      '--semantic-threshold',
      '0.9',
      '--json',
    ])
    expect(result.code).toBe(EXIT.ok)
    const plan = JSON.parse(result.out) as CachePlan
    expect(plan.whatIfs.semantic).toMatchObject({ status: 'ready', threshold: 0.9 })
    expect(plan.whatIfs.semantic.embedded).toBe(plan.whatIfs.semantic.needed)
  })

  it('labels a log without timestamps and a namespace without an embedder', async () => {
    const result = await larder([
      '--home',
      home,
      'cache',
      'plan',
      '--namespace',
      'acme/plain',
      '--semantic-threshold',
      '0.9',
      '--json',
    ])
    expect(result.code).toBe(EXIT.ok)
    const plan = JSON.parse(result.out) as CachePlan
    expect(plan.notes.map((n) => n.code)).toEqual(expect.arrayContaining(['no-timestamps', 'no-embedder']))
    expect(result.err).toMatch(/acme\/plain has no embedder.*"Embedder" in the namespace settings/)
  })

  it('refuses bad options and unknown namespaces', async () => {
    const target = await larder(['--home', home, 'cache', 'plan', '--target', '1.2'])
    expect(target.code).toBe(EXIT.usage)
    expect(target.err).toMatch(/--target.*must be a number from 0.001 to 0.999/)
    expect((await larder(['--home', home, 'cache', 'plan', '--split', '0.3'])).code).toBe(EXIT.usage)
    expect((await larder(['--home', home, 'cache', 'plan', '--source', 'web'])).code).toBe(EXIT.usage)
    expect((await larder(['--home', home, 'cache', 'plan', '--namespace', 'acme/nope'])).code).toBe(EXIT.notFound)
  })
})
