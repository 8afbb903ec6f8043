import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CacheEntry, CacheNamespace, Model } from '../../shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { workBudget } from '../../../test/helpers'
import { Backend } from '../backend'
import { writeTinyLlamaGguf } from '../gguf/index'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { Gateway } from './gateway'

// Real HTTP end to end: the gateway on 127.0.0.1, a real OpenAI-compatible upstream on 127.0.0.1 (deterministic
// answers, bag-of-words embeddings), real SQLite, and real node-llama-cpp for the local-model case.
const root = mkdtempSync(join(tmpdir(), 'larder-gateway-'))
let backend: Backend
let server: RunningHttpServer
let upstream: FakeEndpoint
let slow: FakeEndpoint
let keyA = ''
let keyB = ''
let gateway: Gateway

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function chat(
  content: string,
  options: {
    key?: string
    headers?: Record<string, string>
    model?: string
    stream?: boolean
    signal?: AbortSignal
  } = {},
) {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.key ?? keyA}`, 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({
      model: options.model ?? 'upstream',
      messages: [{ role: 'user', content }],
      temperature: 0,
      stream: options.stream,
    }),
    ...(options.signal ? { signal: options.signal } : {}),
  })
}

async function answerOf(response: Response): Promise<string> {
  const body = (await response.json()) as { choices: { message: { content: string } }[] }
  return body.choices[0]!.message.content
}

async function namespaceNamed(name: string, tenant = 'acme'): Promise<CacheNamespace> {
  const { items } = await call<{ items: CacheNamespace[] }>('cache.namespaces.list')
  return items.find((n) => n.name === name && n.tenant === tenant)!
}

beforeAll(async () => {
  upstream = await startFakeEndpoint({ name: 'upstream' })
  slow = await startFakeEndpoint({ name: 'slow', delayMs: 400 })
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true, models: { cpuOnly: true } }).start()
  await call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm', concurrency: 4 })
  await call('providers.save', { name: 'slow', baseUrl: slow.baseUrl, model: 'm', concurrency: 1 })
  keyA = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme', label: 'tests' })).secret
  keyB = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'globex' })).secret
  server = await startHttpServer({
    backend,
    port: 0,
    token: 'console-token',
    gateway: (gateway = new Gateway(backend, {
      adminToken: 'console-token',
      concurrency: 1,
      maxQueued: 1,
      timeoutMs: 30_000,
    })),
  })
})

afterAll(async () => {
  await server.close()
  await backend.close()
  await upstream.close()
  await slow.close()
  rmSync(root, { recursive: true, force: true })
})

describe('OpenAI-compatible gateway', () => {
  it('requires a gateway key and lists models', async () => {
    const anonymous = await fetch(`${server.url}/v1/models`)
    expect(anonymous.status).toBe(401)
    const revoked = await call<{ key: { id: number }; secret: string }>('gateway.keys.create', { tenant: 'acme' })
    await call('gateway.keys.revoke', { id: revoked.key.id })
    expect(
      (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${revoked.secret}` } })).status,
    ).toBe(401)
    const listed = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${keyA}` } })
    const body = (await listed.json()) as { data: { id: string }[] }
    expect(body.data.map((m) => m.id)).toEqual(expect.arrayContaining(['upstream', 'slow']))
  })

  it('misses, stores a draft and serves it (the default), serves approved only when strict, also streamed', async () => {
    const first = await chat('Where is my parcel?')
    expect(first.headers.get('x-larder-cache')).toBe('miss')
    expect(first.headers.get('x-larder-cache-reason')).toBe('no-entry')
    expect(await answerOf(first)).toBe('upstream says: Where is my parcel?')
    const ns = await namespaceNamed('default')
    expect(ns).toMatchObject({ serveDrafts: true, entryCounts: { draft: 1 } })
    // A new namespace serves what it stored until it is curated: the same request again is a hit.
    const again = await chat('Where is my parcel?')
    expect(again.headers.get('x-larder-cache')).toBe('hit-exact')
    expect(again.headers.get('x-larder-cache-reason')).toBeNull()
    // Approved only (the strict mode): the draft is not served, and says so; regenerating the same answer adds no
    // version to the draft.
    await call('cache.namespaces.save', { id: ns.id, tenant: 'acme', name: 'default', serveDrafts: false })
    const strict = await chat('Where is my parcel?')
    expect(strict.headers.get('x-larder-cache')).toBe('miss')
    expect(strict.headers.get('x-larder-cache-reason')).toBe('draft-not-served')
    const draft = (await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id })).items[0]!
    expect((await call<{ versions: unknown[] }>('cache.entries.get', { id: draft.id })).versions).toHaveLength(1)
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id }, action: 'approve' })
    const before = upstream.handled
    const hit = await chat('  Where is   my parcel?')
    expect(hit.headers.get('x-larder-cache')).toBe('hit-exact')
    expect(await answerOf(hit)).toBe('upstream says: Where is my parcel?')
    expect(upstream.handled).toBe(before)

    const streamed = await chat('Where is my parcel?', { stream: true })
    expect(streamed.headers.get('content-type')).toMatch(/event-stream/)
    const text = await streamed.text()
    const pieces = text
      .split('\n\n')
      .filter((block) => block.startsWith('data: {'))
      .map(
        (block) =>
          (JSON.parse(block.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ??
          '',
      )
    expect(pieces.join('')).toBe('upstream says: Where is my parcel?')
    expect(text.trim().endsWith('data: [DONE]')).toBe(true)
    const { items } = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id })
    expect(items[0]!.hitCount).toBe(3)
    const logged = await call<{ items: { hitKind: string; reason: string | null }[] }>('cache.log.list', {
      namespaceId: ns.id,
    })
    expect(logged.items.map((row) => [row.hitKind, row.reason]).reverse()).toEqual([
      ['miss', 'no-entry'],
      ['hit-exact', null],
      ['miss', 'draft-not-served'],
      ['hit-exact', null],
      ['hit-exact', null],
    ])
  })

  it('parses and keys a repeated body once, re-keys it when the namespace rules change, serves edits at once', async () => {
    await call('cache.namespaces.save', { tenant: 'acme', name: 'prepared' })
    const ns = await namespaceNamed('prepared')
    const headers = { 'x-larder-namespace': 'prepared' }
    expect((await chat('Reset my PASSWORD', { headers })).headers.get('x-larder-cache')).toBe('miss')
    const { parsed, reused } = gateway.prepared.stats
    const hit = await chat('Reset my PASSWORD', { headers })
    expect(hit.headers.get('x-larder-cache')).toBe('hit-exact')
    expect(await answerOf(hit)).toBe('upstream says: Reset my PASSWORD')
    expect(gateway.prepared.stats).toEqual({ parsed, reused: reused + 1 })
    // An edited answer is served by the very next hit (the stored answer's bytes are never kept past an edit).
    const entry = (await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id })).items[0]!
    await call('cache.entries.update', { id: entry.id, answer: 'Open Settings, then Security.' })
    expect(await answerOf(await chat('Reset my PASSWORD', { headers }))).toBe('Open Settings, then Security.')
    // Case-insensitive keys from now on: the same body has another key, so the remembered one must not be used.
    await call('cache.namespaces.save', { id: ns.id, tenant: 'acme', name: 'prepared', normalization: { case: true } })
    const rekeyed = await chat('Reset my PASSWORD', { headers })
    expect(rekeyed.headers.get('x-larder-cache')).toBe('miss')
    expect(await answerOf(rekeyed)).toBe('upstream says: Reset my PASSWORD')
    expect((await chat('reset my password', { headers })).headers.get('x-larder-cache')).toBe('hit-exact')
    // Another tenant sending the same body is answered from its own namespace, never this one's memory.
    expect((await chat('Reset my PASSWORD', { key: keyB, headers })).status).toBe(404)
  })

  it('opens one log row with its request and the entry of its own namespace only (cache.log.get)', async () => {
    const asked = await chat('What is the log drawer for?', { key: keyB })
    expect(asked.status).toBe(200)
    const ns = await namespaceNamed('default', 'globex')
    const { items } = await call<{ items: { id: number }[] }>('cache.log.list', { namespaceId: ns.id })
    const opened = await call<{
      row: { tenant: string; keyHash: string; hitKind: string; reason: string | null }
      request: { messages: { content: string }[] }
      entry: CacheEntry | null
    }>('cache.log.get', { id: items[0]!.id })
    expect(opened.row).toMatchObject({ tenant: 'globex', hitKind: 'miss', reason: 'no-entry' })
    expect(opened.request.messages.at(-1)!.content).toBe('What is the log drawer for?')
    expect(opened.entry).toMatchObject({ namespaceId: ns.id, answer: 'upstream says: What is the log drawer for?' })
    expect(opened.entry!.keyHash).toBe(opened.row.keyHash)
    await expect(call('cache.log.get', { id: 999_999 })).rejects.toThrow(/No request-log row/)
  })

  it('says why each request missed: params differ, expired, rejected, bypass', async () => {
    const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      tenant: 'acme',
      name: 'reasons',
    })
    const headers = { 'x-larder-namespace': 'reasons' }
    const ask = (content: string, extra: Record<string, unknown> = {}, more: Record<string, string> = {}) =>
      fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json', ...headers, ...more },
        body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content }], ...extra }),
      })
    const reasonOf = async (response: Promise<Response>) => {
      const answered = await response
      await answered.text()
      return [answered.headers.get('x-larder-cache'), answered.headers.get('x-larder-cache-reason')]
    }
    expect(await reasonOf(ask('Opening hours?', { max_tokens: 50 }))).toEqual(['miss', 'no-entry'])
    // The same prompt with another max_tokens is another entry: the miss says the parameters differ.
    expect(await reasonOf(ask('Opening hours?', { max_tokens: 80 }))).toEqual(['miss', 'params-differ'])
    expect(await reasonOf(ask('Opening hours?', { max_tokens: 80 }))).toEqual(['hit-exact', null])
    const { items } = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: namespace.id })
    const short = items.find((entry) => (entry.params as { max_tokens?: number }).max_tokens === 50)!
    const long = items.find((entry) => (entry.params as { max_tokens?: number }).max_tokens === 80)!
    // The entry drawer lists the other entry for the same prompt, with its parameters.
    const drawer = await call<{ siblings: { id: number; params: unknown }[] }>('cache.entries.get', { id: short.id })
    expect(drawer.siblings).toEqual([expect.objectContaining({ id: long.id, params: { max_tokens: 80 } })])
    await call('cache.entries.update', { id: short.id, expiresAt: '2000-01-01T00:00:00.000Z' })
    expect(await reasonOf(ask('Opening hours?', { max_tokens: 50 }))).toEqual(['miss', 'expired'])
    // The same answer came back: kept for another TTL (none here), not added as a version.
    const refreshed = await call<{ entry: CacheEntry; versions: unknown[] }>('cache.entries.get', { id: short.id })
    expect(refreshed.entry.expiresAt).toBeNull()
    expect(refreshed.versions).toHaveLength(1)
    await call('cache.entries.update', { id: long.id, state: 'rejected' })
    expect(await reasonOf(ask('Opening hours?', { max_tokens: 80 }))).toEqual(['miss', 'rejected'])
    // Regenerated identically, a rejected answer stays rejected.
    expect((await call<{ entry: CacheEntry }>('cache.entries.get', { id: long.id })).entry.state).toBe('rejected')
    expect(await reasonOf(ask('Opening hours?', { max_tokens: 50 }, { 'cache-control': 'no-cache' }))).toEqual([
      'bypass',
      'bypass',
    ])
    const logged = await call<{ items: { reason: string | null }[] }>('cache.log.list', {
      namespaceId: namespace.id,
      hitKind: ['miss', 'bypass'],
    })
    expect(logged.items.map((row) => row.reason).reverse()).toEqual([
      'no-entry',
      'params-differ',
      'expired',
      'rejected',
      'bypass',
    ])
  })

  it('streams a miss from the upstream and stores it', async () => {
    const response = await chat('Tell me about returns', { stream: true })
    expect(response.headers.get('x-larder-cache')).toBe('miss')
    const text = await response.text()
    expect(text).toMatch(/"content":"upstream /)
    const ns = await namespaceNamed('default')
    const { items } = await call<{ items: CacheEntry[] }>('cache.entries.list', {
      namespaceId: ns.id,
      search: 'returns',
    })
    expect(items[0]!.answer).toBe('upstream says: Tell me about returns')
  })

  it('honours Cache-Control no-store and no-cache', async () => {
    const ns = await namespaceNamed('default')
    const before = ns.entryCounts.draft + ns.entryCounts.approved
    const noStore = await chat('Do not keep this', { headers: { 'cache-control': 'no-store' } })
    expect(noStore.headers.get('x-larder-cache')).toBe('miss')
    const after = await namespaceNamed('default')
    expect(after.entryCounts.draft + after.entryCounts.approved).toBe(before)
    const bypass = await chat('Where is my parcel?', { headers: { 'cache-control': 'no-cache' } })
    expect(bypass.headers.get('x-larder-cache')).toBe('bypass')
    // Regenerating past the cache never overwrites the approved, curated answer.
    expect((await chat('Where is my parcel?')).headers.get('x-larder-cache')).toBe('hit-exact')
  })

  it('never crosses tenants or namespaces', async () => {
    const otherTenant = await chat('Where is my parcel?', { key: keyB })
    expect(otherTenant.headers.get('x-larder-cache')).toBe('miss')
    const unknownNamespace = await chat('Where is my parcel?', { headers: { 'x-larder-namespace': 'nope' } })
    expect(unknownNamespace.status).toBe(404)
  })

  it('serves paraphrases semantically, with guards against opposite meanings', async () => {
    const provider = (await call<{ items: { id: number; name: string }[] }>('providers.list')).items.find(
      (p) => p.name === 'upstream',
    )!
    const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      tenant: 'acme',
      name: 'support',
      semanticEnabled: true,
      embedder: { provider: provider.id },
      similarityThreshold: 0.7,
      storeAs: 'approved',
    })
    const headers = { 'x-larder-namespace': 'support' }
    expect((await chat('How do I enable 2FA?', { headers })).headers.get('x-larder-cache')).toBe('miss')
    const paraphrase = await chat('how can I enable 2FA', { headers })
    expect(paraphrase.headers.get('x-larder-cache')).toBe('hit-semantic')
    expect(Number(paraphrase.headers.get('x-larder-similarity'))).toBeGreaterThanOrEqual(0.7)
    expect(await answerOf(paraphrase)).toBe('upstream says: How do I enable 2FA?')
    const opposite = await chat('How do I disable 2FA?', { headers })
    expect(opposite.headers.get('x-larder-cache')).toBe('miss')
    expect(opposite.headers.get('x-larder-cache-reason')).toBe('guard-refused')
    expect(await answerOf(opposite)).toBe('upstream says: How do I disable 2FA?')
    const lookup = await call<{ hitKind: string; refusedBy: string | null }>('cache.lookup', {
      namespaceId: namespace.id,
      request: {
        model: 'upstream',
        messages: [{ role: 'user', content: 'how can I disable 2FA' }],
        params: { temperature: 0 },
      },
    })
    // Now both answers are cached: the disable paraphrase finds the disable entry, never the enable one.
    expect(lookup.hitKind).toBe('hit-semantic')
    const logged = await call<{ items: { hitKind: string; similarity: number | null }[] }>('cache.log.list', {
      namespaceId: namespace.id,
    })
    expect(logged.items.find((row) => row.hitKind === 'hit-semantic')!.similarity).toBeGreaterThan(0.7)
  })

  it('answers 429 with Retry-After when the live queue is full, and 504 on timeout', async () => {
    const requests = [1, 2, 3, 4].map((i) => chat(`slow question ${i}`, { model: 'slow' }))
    const statuses = await Promise.all(requests.map(async (r) => (await r).status))
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0)
    const limited = await Promise.all(requests)
    expect(limited.find((r) => r.status === 429)!.headers.get('retry-after')).toMatch(/^\d+$/)

    const impatient = new Gateway(backend, { adminToken: 'console-token', timeoutMs: 100 })
    const quick = await startHttpServer({ backend, port: 0, token: 'console-token', gateway: impatient })
    const response = await fetch(`${quick.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'too slow' }] }),
    })
    expect(response.status).toBe(504)
    await quick.close()
  })

  it('estimates what each request cost or saved once prices are set', async () => {
    await call('settings.update', { pricing: { inputPer1kTokens: 1, outputPer1kTokens: 2, currency: 'USD' } })
    const ns = await namespaceNamed('default')
    expect((await chat('Where is my parcel?')).headers.get('x-larder-cache')).toBe('hit-exact')
    const analytics = await call<{ saved: { cost: number | null; prices: unknown } }>('cache.analytics', {
      namespaceId: ns.id,
    })
    // The cached entry recorded its tokens (prompt 19, answer 34 characters from the upstream's usage).
    // Every hit so far is priced at today's prices, also those served before the prices were set.
    const hits = (await call<{ items: { hitKind: string }[] }>('cache.log.list', { namespaceId: ns.id })).items.filter(
      (row) => row.hitKind === 'hit-exact',
    ).length
    expect(hits).toBeGreaterThan(1)
    expect(analytics.saved.cost).toBeCloseTo((hits * (19 * 1 + 34 * 2)) / 1000, 6)
    expect(analytics.saved).toMatchObject({ prices: { inputPer1kTokens: 1, outputPer1kTokens: 2, currency: 'USD' } })
    await call('settings.update', { pricing: { inputPer1kTokens: null, outputPer1kTokens: null, currency: 'USD' } })
  })

  it('rejects malformed requests clearly', async () => {
    const bad = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' },
      body: '{"model": "upstream", "messages": [',
    })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/)
    const noMessages = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'upstream' }),
    })
    expect(noMessages.status).toBe(400)
    expect((await chat('hi', { model: 'no-such-model' })).status).toBe(404)
  })

  it(
    'generates with a local GGUF model (loaded on first use) and caches it',
    async () => {
      const path = join(root, 'tiny.gguf')
      await writeTinyLlamaGguf(path, { seed: 4 })
      const model = await call<Model>('models.register', { path, name: 'tiny' })
      expect(model.loaded).toBeNull()
      const response = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny', prompt: 'Once', max_tokens: 8, temperature: 0 }),
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-larder-cache')).toBe('miss')
      const body = (await response.json()) as { choices: { text: string }[]; usage: { completion_tokens: number } }
      expect(body.usage.completion_tokens).toBeGreaterThan(0)
      const ns = await namespaceNamed('default')
      const { items } = await call<{ items: CacheEntry[] }>('cache.entries.list', {
        namespaceId: ns.id,
        search: 'Once',
      })
      expect(items[0]).toMatchObject({ answer: body.choices[0]!.text, model: 'tiny', state: 'draft' })
      expect((await call<Model>('models.get', { id: model.id })).loaded).not.toBeNull()
    },
    workBudget({ loads: 1, processes: 1, tokens: 8 }),
  )
})
