import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CacheNamespace, CachePlan, Job } from '../../../shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../../../test/fixtures/openai-server'
import { drawTraffic, question, writeLog, type LogLine } from '../../../../test/fixtures/traffic'
import { Backend } from '../../backend'
import { Gateway } from '../../gateway/gateway'
import { startHttpServer, type RunningHttpServer } from '../../server/http-server'

// cache.plan through the backend's API on real SQLite: bad input and its labels, the what-ifs, the budget, and tenant
// boundaries. A real gateway on 127.0.0.1 (misses answered by a real OpenAI-compatible server there) supplies the
// measured generation speed.
let backend: Backend
let upstream: FakeEndpoint
let server: RunningHttpServer
let dir = ''
let providerId = 0
let logs = 0

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  const done = await backend.runner.waitFor(job.id)
  expect(done.status, done.error ?? '').toBe('succeeded')
  return done
}

async function namespaceWith(
  lines: LogLine[],
  settings: { tenant?: string; name?: string; [key: string]: unknown } = {},
): Promise<CacheNamespace> {
  const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
    tenant: 'acme',
    name: `ns${++logs}`,
    generationTarget: { provider: providerId },
    ...settings,
  })
  const path = writeLog(join(dir, `log-${logs}.jsonl`), lines)
  await runJob('cache.log.import', { namespaceId: namespace.id, path })
  return namespace
}

const plan = (namespaceId: number, input: Record<string, unknown> = {}) =>
  call<CachePlan>('cache.plan', { namespaceId, ...input })
const codes = (result: CachePlan) => result.notes.map((n) => n.code)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-planning-'))
  upstream = await startFakeEndpoint({ name: 'upstream' })
  backend = Backend.open({ home: join(dir, 'home'), validateOutput: true, models: { cpuOnly: true } }).start()
  providerId = (
    await call<{ id: number }>('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
  ).id
  server = await startHttpServer({
    backend,
    port: 0,
    token: 'console-token',
    gateway: new Gateway(backend, { adminToken: 'console-token' }),
  })
})

afterAll(async () => {
  await server?.close()
  await backend?.close()
  await upstream?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('bad input, labelled', () => {
  it('an empty namespace plans nothing and says why', async () => {
    const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', { name: 'empty' })
    const result = await plan(namespace.id)
    expect(result.log.requests).toBe(0)
    expect(result.curve).toEqual([])
    expect(result.target.entries).toBeNull()
    expect(codes(result)).toEqual(['no-log', 'no-embedder'])
  })

  it('a log too small to split falls back to in-sample, labelled, with no interval', async () => {
    const namespace = await namespaceWith(drawTraffic({ requests: 150, questions: 30, seed: 1 }))
    const result = await plan(namespace.id)
    expect(result.split).toMatchObject({ mode: 'in-sample', trainRequests: 150, heldOutRequests: 0, intervalBy: null })
    expect(codes(result)).toContain('too-small')
    expect(result.notes.find((n) => n.code === 'too-small')!.message).toMatch(/in-sample/)
    expect(result.curve.every((point) => point.heldOut === null)).toBe(true)
    expect(result.target.entries).toBe(result.target.inSampleEntries)
    expect(result.target.projected).toMatchObject({ low: null, high: null })
  })

  it('a log whose timestamps are too close together to split by time falls back to in-sample', async () => {
    // Day-resolution timestamps: 350 requests on the first day, 50 on the second. A 70 % split falls inside day one.
    const lines = drawTraffic({ requests: 400, questions: 40, seed: 2 }).map((line, i) => ({
      ...line,
      timestamp: i < 350 ? '2025-03-01T00:00:00.000Z' : '2025-03-02T00:00:00.000Z',
    }))
    const namespace = await namespaceWith(lines)
    const result = await plan(namespace.id)
    expect(result.log).toMatchObject({ order: 'time', withoutTimestamp: 0 })
    expect(result.split.mode).toBe('in-sample')
    expect(codes(result)).toContain('too-short')
    // Whatever the fraction: the only boundary between instants leaves 50 requests held out.
    expect((await plan(namespace.id, { split: 0.5 })).split.mode).toBe('in-sample')
  })

  it('a log without timestamps is split in line order, and time-based figures say they need timestamps', async () => {
    const lines = drawTraffic({ requests: 1000, questions: 100, seed: 3, timestamps: false })
    const namespace = await namespaceWith(lines)
    const result = await plan(namespace.id, { split: 0.6 })
    expect(result.log).toMatchObject({ order: 'lines', withoutTimestamp: 1000, from: null, days: null })
    expect(result.split).toMatchObject({ mode: 'held-out', trainRequests: 600, heldOutRequests: 400, at: null })
    expect(result.split.intervalBy).toBe('blocks')
    expect(codes(result)).toContain('no-timestamps')
    expect(result.whatIfs.ttl).toEqual({ available: false, rows: [] })
    expect(result.budget.perDay.requests).toBeNull()
    // Training counts are exactly the first 600 lines'.
    expect(result.curve.at(-1)!.inSample).toBeCloseTo(1, 10)
  })

  it('rejects out-of-range input and unknown namespaces with clear errors', async () => {
    const namespace = await namespaceWith(drawTraffic({ requests: 300, questions: 30, seed: 4 }))
    await expect(plan(namespace.id, { target: 1.5 })).rejects.toMatchObject({ code: 'invalid_input', path: ['target'] })
    await expect(plan(namespace.id, { split: 0.2 })).rejects.toMatchObject({ code: 'invalid_input', path: ['split'] })
    await expect(plan(99_999)).rejects.toMatchObject({ code: 'not_found' })
    await expect(call('cache.prewarm', { namespaceId: namespace.id, keys: ['nope'] })).rejects.toMatchObject({
      code: 'invalid_input',
    })
  })
})

describe('projection', () => {
  it('uses the held-out curve for "entries needed", beside the in-sample one, reproducibly', async () => {
    const namespace = await namespaceWith(drawTraffic({ requests: 5000, questions: 500, seed: 5, days: 30 }))
    const result = await plan(namespace.id, { target: 0.8 })
    expect(result.split).toMatchObject({ mode: 'held-out', trainRequests: 3500, intervalBy: 'days' })
    expect(result.split.at).toBe(new Date(Date.parse('2025-03-01T00:00:00Z') + 0.7 * 30 * 86_400_000).toISOString())
    const target = result.target
    expect(target.entries!).toBeGreaterThan(target.inSampleEntries!)
    expect(target.projected!.rate).toBeGreaterThanOrEqual(0.8)
    expect(target.projected!.low!).toBeLessThan(target.projected!.rate)
    expect(target.projected!.high!).toBeGreaterThan(target.projected!.rate)
    const point = result.curve.find((p) => p.entries === target.entries)!
    expect(point.heldOut).toBe(target.projected!.rate)
    expect(point.inSample).toBeGreaterThan(point.heldOut!)
    expect(result.entriesFor.map((row) => row.share)).toEqual([0.5, 0.8, 0.9, 0.95])
    expect(await plan(namespace.id, { target: 0.8 })).toEqual(result)
  })

  it('plans each tenant + namespace from its own log only', async () => {
    const mine = await namespaceWith(drawTraffic({ requests: 400, questions: 40, seed: 6 }), { name: 'faq' })
    const theirs = await namespaceWith(drawTraffic({ requests: 900, questions: 40, seed: 7 }), {
      tenant: 'globex',
      name: 'faq',
    })
    expect((await plan(mine.id)).log.requests).toBe(400)
    expect((await plan(theirs.id)).log.requests).toBe(900)
    expect((await plan(theirs.id)).namespace).toMatchObject({ tenant: 'globex', name: 'faq' })
  })
})

describe('what-ifs', () => {
  it('normalisation rules and TTLs, each as the hit rate it buys or costs', async () => {
    // Half the requests vary case and punctuation: exact keys split them, the rules would merge them.
    const text = (index: number, draw: () => number) => {
      const base = question(index)
      return draw() < 0.5 ? base : base.toLowerCase().replace('?', '')
    }
    const namespace = await namespaceWith(drawTraffic({ requests: 4000, questions: 200, seed: 8, text, days: 14 }))
    const result = await plan(namespace.id, { target: 0.8 })
    const byRule = Object.fromEntries(result.whatIfs.normalization.map((row) => [row.rule, row]))
    // The namespace already folds whitespace and NFKC: only case and punctuation can be tried, and both together.
    expect(Object.keys(byRule).sort()).toEqual(['all', 'case', 'punctuation'])
    expect(byRule.all!.extra).toBeGreaterThan(0.03)
    expect(byRule.all!.distinct).toBeLessThanOrEqual(200)
    expect(result.log.distinct).toBeGreaterThan(1.5 * byRule.all!.distinct)
    expect(byRule.case!.extra).toBeLessThan(byRule.all!.extra)
    expect(byRule.all!.hitRate).toBeCloseTo(result.whatIfs.basis.hitRate + byRule.all!.extra, 10)

    const ttl = result.whatIfs.ttl
    expect(ttl.available).toBe(true)
    expect(ttl.rows.map((row) => row.seconds)).toEqual([3600, 86_400, 604_800])
    const [hour, day, week] = ttl.rows.map((row) => row.extra)
    expect(hour!).toBeLessThan(day!)
    expect(day!).toBeLessThanOrEqual(week!)
    expect(week!).toBeLessThanOrEqual(0)
  })
})

describe('budget', () => {
  it('counts what to pre-warm and approve, costs it at measured speed, and labels missing prices', async () => {
    const namespace = await namespaceWith(
      drawTraffic({ requests: 2000, questions: 100, seed: 9, days: 10, model: 'upstream' }),
      { name: 'budget', serveDrafts: false },
    )
    const first = await plan(namespace.id, { target: 0.8 })
    const entries = first.target.entries!
    expect(first.budget).toMatchObject({ entries, missing: entries, drafts: 0, servable: 0, pricesSet: false })
    expect(first.budget.now.rate).toBe(0)
    expect(first.budget.tokensPerEntry).toMatchObject({ out: null, inSource: 'estimated' })
    expect(codes(first)).toEqual(expect.arrayContaining(['no-prices', 'no-answer-lengths', 'no-speed']))
    expect(first.budget.prewarm.cost).toBeNull()
    // Per day at the log's volume: 2000 requests over the 10 days the log spans.
    expect(first.budget.perDay.requests!).toBeCloseTo(2000 / ((10 * 1999) / 2000), 6)

    // A few live generations through the gateway measure the speed; pre-warming records answer lengths.
    const { secret } = await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })
    for (const content of ['A question nobody logged', 'Another unlogged one']) {
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${secret}`,
          'content-type': 'application/json',
          'x-larder-namespace': 'budget',
        },
        body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content }] }),
      })
      expect(response.headers.get('x-larder-cache')).toBe('miss')
    }
    await runJob('cache.prewarm', { namespaceId: namespace.id, keys: first.budget.missingKeys.slice(0, 10) })
    await call('settings.update', { pricing: { inputPer1kTokens: 0.5, outputPer1kTokens: 1.5, currency: 'EUR' } })
    const second = await plan(namespace.id, { target: 0.8 })
    const budget = second.budget
    expect(budget).toMatchObject({ missing: entries - 10, drafts: 10, pricesSet: true, currency: 'EUR' })
    expect(budget.draftIds).toHaveLength(10)
    expect(budget.afterApproving.rate).toBeGreaterThan(budget.now.rate)
    expect(budget.speed.generations).toBe(2)
    expect(budget.speed.tokensPerSecond!).toBeGreaterThan(0)
    expect(budget.tokensPerEntry.out!).toBeGreaterThan(0)
    expect(budget.prewarm.tokensOut).toBeCloseTo((entries - 10) * budget.tokensPerEntry.out!, 6)
    expect(budget.prewarm.seconds).toBeCloseTo(budget.prewarm.tokensOut! / budget.speed.tokensPerSecond!, 6)
    expect(budget.prewarm.cost).toBeCloseTo(
      (budget.prewarm.tokensIn! * 0.5 + budget.prewarm.tokensOut! * 1.5) / 1000,
      9,
    )
    expect(budget.perDay.costSaved!).toBeGreaterThan(0)
    expect(codes(second)).not.toContain('no-prices')

    // "Approve these N drafts" is the bulk action on the listed ids.
    await call('cache.entries.bulk', { filter: { namespaceId: namespace.id, ids: budget.draftIds }, action: 'approve' })
    const third = await plan(namespace.id, { target: 0.8 })
    expect(third.budget).toMatchObject({ servable: 10, drafts: 0 })
    expect(third.budget.now.rate).toBeCloseTo(budget.afterApproving.rate, 10)
    await call('settings.update', { pricing: { inputPer1kTokens: null, outputPer1kTokens: null, currency: 'USD' } })
  })
})
