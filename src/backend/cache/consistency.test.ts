import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CacheEntry, CacheNamespace } from '../../shared/contract'
import { bagOfWords, startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../backend'
import { Gateway } from '../gateway/gateway'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { CacheRepository } from './repository'
import { setCacheRuntimeDefaults } from './runtime'

// What the cache keeps in memory (keys, namespaces, the entry front, semantic indexes) must always serve what
// SQLite holds: changes through this process at once, changes by another connection (here a second Backend on the
// same workspace, as the CLI or the desktop app would be) within the sync interval (1 ms).
let home: string
let upstream: FakeEndpoint
let backend: Backend
let other: Backend
let server: RunningHttpServer
let key = ''

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10))

async function call<T>(method: string, input: unknown = {}, on: Backend = backend): Promise<T> {
  return (await on.call(method, input)) as T
}

async function chat(
  content: string,
  options: { key?: string; namespace?: string; noStore?: boolean } = {},
): Promise<{ status: number; cache: string | null; answer: string | undefined }> {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.key ?? key}`,
      'content-type': 'application/json',
      ...(options.namespace ? { 'x-larder-namespace': options.namespace } : {}),
      ...(options.noStore ? { 'cache-control': 'no-store' } : {}),
    },
    body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content }], temperature: 0 }),
  })
  const body = (await response.json()) as { choices?: { message: { content: string } }[] }
  return {
    status: response.status,
    cache: response.headers.get('x-larder-cache'),
    answer: body.choices?.[0]?.message.content,
  }
}

const request = (content: string) => ({
  model: 'upstream',
  messages: [{ role: 'user' as const, content }],
  params: { temperature: 0 },
})

/** The tenant's default namespace in approved-only mode (these tests watch drafts become servable). */
async function defaultNamespace(): Promise<CacheNamespace> {
  return (
    await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      tenant: 'acme',
      name: 'default',
      serveDrafts: false,
    })
  ).namespace
}

beforeEach(async () => {
  home = tempDir()
  upstream = await startFakeEndpoint({ name: 'upstream' })
  backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
  other = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } })
  await call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
  key = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })).secret
  server = await startHttpServer({ backend, port: 0, token: 'admin', gateway: new Gateway(backend) })
})

afterEach(async () => {
  await server.close()
  await other.close()
  await backend.close()
  await upstream.close()
})

describe('exact lookups through the in-memory front', () => {
  it('serve approvals, edits, expiry, rejections and deletions made through this process at once', async () => {
    const ns = await defaultNamespace()
    const entry = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
      answer: 'Nine to five.',
      state: 'draft',
    })
    expect((await chat('Opening hours?')).cache).toBe('miss')
    await call('cache.entries.update', { id: entry.id, state: 'approved' })
    expect(await chat('Opening hours?')).toMatchObject({ cache: 'hit-exact', answer: 'Nine to five.' })
    await call('cache.entries.update', { id: entry.id, answer: 'Nine to six.' })
    expect(await chat('Opening hours?')).toMatchObject({ cache: 'hit-exact', answer: 'Nine to six.' })
    await call('cache.entries.update', { id: entry.id, expiresAt: '2000-01-01T00:00:00.000Z' })
    expect((await chat('Opening hours?', { noStore: true })).cache).toBe('miss')
    await call('cache.entries.update', { id: entry.id, expiresAt: null })
    expect((await chat('Opening hours?')).cache).toBe('hit-exact')
    await call('cache.entries.revert', { id: entry.id, version: 1 })
    expect((await chat('Opening hours?')).answer).toBe('Nine to five.')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [entry.id] }, action: 'reject' })
    expect((await chat('Opening hours?', { noStore: true })).cache).toBe('miss')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [entry.id] }, action: 'approve' })
    expect((await chat('Opening hours?')).cache).toBe('hit-exact')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [entry.id] }, action: 'delete' })
    expect((await chat('Opening hours?', { noStore: true })).cache).toBe('miss')

    // Namespace settings too: serving drafts takes effect with the save.
    await call('cache.entries.create', { namespaceId: ns.id, request: request('Refunds?'), answer: 'Within 30 days.' })
    expect((await chat('Refunds?', { noStore: true })).cache).toBe('miss')
    await call('cache.namespaces.save', { id: ns.id, tenant: 'acme', name: 'default', serveDrafts: true })
    expect(await chat('Refunds?')).toMatchObject({ cache: 'hit-exact', answer: 'Within 30 days.' })
  })

  it('see what another connection committed', async () => {
    const ns = await defaultNamespace()
    const entry = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
      answer: 'Nine to five.',
      state: 'approved',
    })
    expect((await chat('Opening hours?')).answer).toBe('Nine to five.')
    await call('cache.entries.update', { id: entry.id, answer: 'Nine to six.' }, other)
    await settle()
    expect((await chat('Opening hours?')).answer).toBe('Nine to six.')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [entry.id] }, action: 'reject' }, other)
    await settle()
    expect((await chat('Opening hours?', { noStore: true })).cache).toBe('miss')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [entry.id] }, action: 'approve' }, other)
    await settle()
    expect((await chat('Opening hours?')).cache).toBe('hit-exact')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [entry.id] }, action: 'delete' }, other)
    await settle()
    expect((await chat('Opening hours?', { noStore: true })).cache).toBe('miss')
    // A namespace the gateway holds in memory, changed elsewhere.
    await call('cache.entries.create', { namespaceId: ns.id, request: request('Refunds?'), answer: 'Within 30 days.' })
    expect((await chat('Refunds?', { noStore: true })).cache).toBe('miss')
    await call('cache.namespaces.save', { id: ns.id, tenant: 'acme', name: 'default', serveDrafts: true }, other)
    await settle()
    expect((await chat('Refunds?')).cache).toBe('hit-exact')
    await call('cache.namespaces.remove', { id: ns.id }, other)
    await settle()
    // The default namespace is created again on first use: an empty one.
    expect((await chat('Refunds?', { noStore: true })).cache).toBe('miss')
  })
})

describe('the hit response', () => {
  it('is the same JSON as before, with its length', async () => {
    const ns = await defaultNamespace()
    await call('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Say "hi"\n'),
      answer: 'Hi "there" \\ é\n',
      state: 'approved',
    })
    await call('cache.entries.create', {
      namespaceId: ns.id,
      request: { model: 'upstream', prompt: 'Say "hi"\n', params: { temperature: 0 } },
      answer: 'Hi "there" \\ é\n',
      state: 'approved',
    })
    for (const [path, body, object] of [
      [
        'chat/completions',
        { model: 'upstream', messages: [{ role: 'user', content: 'Say "hi"\n' }], temperature: 0 },
        'chat.completion',
      ],
      ['completions', { model: 'upstream', prompt: 'Say "hi"\n', temperature: 0 }, 'text_completion'],
    ] as const) {
      const response = await fetch(`${server.url}/v1/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      const text = await response.text()
      expect(response.headers.get('x-larder-cache')).toBe('hit-exact')
      expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(text))
      const parsed = JSON.parse(text) as Record<string, unknown>
      // Written out by hand on the hot path: still exactly what JSON.stringify of the object gives.
      expect(JSON.stringify(parsed)).toBe(text)
      const answer = 'Hi "there" \\ é\n'
      expect(parsed).toEqual({
        id: expect.stringMatching(object === 'chat.completion' ? /^chatcmpl-/ : /^cmpl-/),
        object,
        created: expect.any(Number),
        model: 'upstream',
        choices: [
          object === 'chat.completion'
            ? { index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }
            : { index: 0, text: answer, logprobs: null, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
      })
    }
  })
})

describe('gateway keys', () => {
  it('revoked here stop at once; revoked by another connection stop within the sync interval', async () => {
    expect((await chat('hello', { noStore: true })).status).toBe(200)
    const { items } = await call<{ items: { id: number }[] }>('gateway.keys.list')
    await call('gateway.keys.revoke', { id: items[0]!.id })
    expect((await chat('hello', { noStore: true })).status).toBe(401)

    const second = await call<{ key: { id: number }; secret: string }>('gateway.keys.create', { tenant: 'acme' }, other)
    // Created elsewhere: works at once (unknown keys are never remembered as invalid).
    expect((await chat('hello', { key: second.secret, noStore: true })).status).toBe(200)
    await call('gateway.keys.revoke', { id: second.key.id }, other)
    await settle()
    expect((await chat('hello', { key: second.secret, noStore: true })).status).toBe(401)
  })
})

describe('write-behind bookkeeping', () => {
  it('is visible to every API reader at once', async () => {
    const ns = await defaultNamespace()
    const entry = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
      answer: 'Nine to five.',
      state: 'approved',
    })
    for (let i = 0; i < 7; i++) expect((await chat('Opening hours?')).cache).toBe('hit-exact')
    // Read at once (well inside the 100 ms interval): readers flush first.
    expect((await call<{ total: number }>('cache.log.list', { namespaceId: ns.id })).total).toBe(7)
    expect((await call<{ entry: CacheEntry }>('cache.entries.get', { id: entry.id })).entry.hitCount).toBe(7)
    const listed = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id })
    expect(listed.items[0]).toMatchObject({ hitCount: 7, lastHitAt: expect.any(String) })
    expect((await call<{ items: { lastUsedAt: string | null }[] }>('gateway.keys.list')).items[0]!.lastUsedAt).toEqual(
      expect.any(String),
    )
    expect((await call<{ byKind: Record<string, number> }>('cache.analytics', { namespaceId: ns.id })).byKind).toEqual({
      'hit-exact': 7,
    })
    // The front's copy carries the flushed counters too.
    const lookup = await call<{ entry: CacheEntry }>('cache.lookup', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
    })
    expect(lookup.entry.hitCount).toBe(7)
  })

  it('is written by Backend.close() (nothing waits for the interval)', async () => {
    // A fresh workspace whose queue would wait an hour: only close() can have written the rows.
    setCacheRuntimeDefaults({ writeBehind: { intervalMs: 3_600_000 } })
    const where = tempDir()
    const closing = Backend.open({ home: where, models: { cpuOnly: true } })
    let running: RunningHttpServer | undefined
    try {
      const secret = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' }, closing)).secret
      const { namespace } = await call<{ namespace: CacheNamespace }>(
        'cache.namespaces.save',
        { tenant: 'acme', name: 'default' },
        closing,
      )
      const entry = await call<CacheEntry>(
        'cache.entries.create',
        { namespaceId: namespace.id, request: request('Opening hours?'), answer: 'Nine to five.', state: 'approved' },
        closing,
      )
      running = await startHttpServer({ backend: closing, port: 0, token: 'admin', gateway: new Gateway(closing) })
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${running.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'upstream',
            messages: [{ role: 'user', content: 'Opening hours?' }],
            temperature: 0,
          }),
        })
        expect(response.headers.get('x-larder-cache')).toBe('hit-exact')
      }
      expect(closing.cache.runtime.writer.pending).toBeGreaterThan(0)
      await running.close()
      await closing.close()
      const reopened = Backend.open({ home: where, models: { cpuOnly: true } })
      try {
        const repo = new CacheRepository(reopened.workspace.db)
        expect(repo.entry(entry.id)!.hitCount).toBe(3)
        expect(repo.listLog({ namespaceId: namespace.id }, 100, 0).total).toBe(3)
      } finally {
        await reopened.close()
      }
    } finally {
      setCacheRuntimeDefaults({})
      await running?.close()
      await closing.close()
    }
  })

  it('keeps its queue while another process holds the write lock, and writes it afterwards', async () => {
    const ns = await defaultNamespace()
    await call('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
      answer: 'Nine to five.',
      state: 'approved',
    })
    backend.workspace.db.pragma('busy_timeout = 50')
    other.workspace.db.exec('BEGIN IMMEDIATE')
    try {
      expect((await chat('Opening hours?')).cache).toBe('hit-exact')
      backend.cache.flush()
      expect(backend.cache.runtime.writer.pending).toBeGreaterThan(0)
    } finally {
      other.workspace.db.exec('ROLLBACK')
      backend.workspace.db.pragma('busy_timeout = 5000')
    }
    expect((await call<{ total: number }>('cache.log.list', { namespaceId: ns.id })).total).toBe(1)
  })

  it('keeps log rows whose namespace was removed before they were written', async () => {
    const ns = await defaultNamespace()
    await call('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
      answer: 'Nine to five.',
      state: 'approved',
    })
    await chat('Opening hours?')
    // Removed by another process while the row waits: the row is kept, detached (as ON DELETE SET NULL does).
    await call('cache.namespaces.remove', { id: ns.id }, other)
    backend.cache.flush()
    const rows = backend.workspace.db.prepare('SELECT namespace_id, hit_kind FROM request_log').all()
    expect(rows).toEqual([{ namespace_id: null, hit_kind: 'hit-exact' }])
  })
})

describe('semantic lookups through the in-memory index', () => {
  async function semanticNamespace(on: Backend = backend): Promise<CacheNamespace> {
    const provider = (await call<{ items: { id: number; name: string }[] }>('providers.list', {}, on)).items[0]!
    return (
      await call<{ namespace: CacheNamespace }>(
        'cache.namespaces.save',
        {
          tenant: 'acme',
          name: 'support',
          semanticEnabled: true,
          embedder: { provider: provider.id },
          similarityThreshold: 0.7,
          storeAs: 'approved',
        },
        on,
      )
    ).namespace
  }
  const ask = (content: string) => chat(content, { namespace: 'support', noStore: true })
  const create = (namespaceId: number, content: string, on: Backend = backend) =>
    call<CacheEntry>(
      'cache.entries.create',
      { namespaceId, request: request(content), answer: `A: ${content}`, state: 'approved' },
      on,
    )

  it('follows entries created, deleted and re-embedded here and elsewhere', async () => {
    const ns = await semanticNamespace()
    const runtime = backend.cache.runtime
    const first = await create(ns.id, 'How do I enable 2FA?')
    expect(await ask('how can I enable 2FA')).toMatchObject({ cache: 'hit-semantic', answer: first.answer })
    const builds = runtime.stats.indexBuilds
    // Created here: in the index at once, without a rebuild.
    const second = await create(ns.id, 'Where can I download my invoices?')
    expect(await ask('where do I download my invoices')).toMatchObject({ cache: 'hit-semantic', answer: second.answer })
    // The guard still refuses the opposite meaning.
    expect((await ask('how can I disable 2FA')).cache).toBe('miss')
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [first.id] }, action: 'delete' })
    expect((await ask('how can I enable 2FA')).cache).toBe('miss')
    expect(runtime.stats.indexBuilds).toBe(builds)

    // Created by another connection: caught up (vectors with higher ids), not rebuilt.
    const third = await create(ns.id, 'How do I change my shipping address?', other)
    await settle()
    expect(await ask('how can I change my shipping address')).toMatchObject({
      cache: 'hit-semantic',
      answer: third.answer,
    })
    expect(runtime.stats.indexCatchUps).toBeGreaterThan(0)
    expect(runtime.stats.indexBuilds).toBe(builds)

    // Created elsewhere, then one here before the next lookup: the catch-up still finds the other one.
    const fourth = await create(ns.id, 'Do you have gift cards?', other)
    const fifth = await create(ns.id, 'Can I return a sale item?')
    expect(await ask('do you have any gift cards')).toMatchObject({ cache: 'hit-semantic', answer: fourth.answer })
    expect(await ask('can I return a sale item please')).toMatchObject({ cache: 'hit-semantic', answer: fifth.answer })
    expect(runtime.stats.indexBuilds).toBe(builds)

    // A vector replaced elsewhere moves the namespace's stamp: rebuilt, and the new vector is the one used.
    new CacheRepository(other.workspace.db).saveVector(
      third.id,
      Float32Array.from(bagOfWords('completely unrelated words')),
    )
    await settle()
    expect((await ask('how can I change my shipping address')).cache).toBe('miss')
    expect(runtime.stats.indexBuilds).toBe(builds + 1)
    expect(await ask('completely unrelated words')).toMatchObject({ cache: 'hit-semantic', answer: third.answer })

    // Deleted elsewhere and its id reused by a new entry: the old vector never answers for the new entry.
    const doomed = await create(ns.id, 'Can I pay with PayPal?', other)
    await settle()
    expect((await ask('can I pay with PayPal')).answer).toBe(doomed.answer)
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, ids: [doomed.id] }, action: 'delete' }, other)
    const reused = await create(ns.id, 'Do you ship to Canada?', other)
    expect(reused.id).toBe(doomed.id)
    await settle()
    expect((await ask('can I pay with PayPal')).cache).toBe('miss')
    expect(await ask('do you ship to Canada')).toMatchObject({ cache: 'hit-semantic', answer: reused.answer })

    // The re-embed job swaps every vector in one transaction: the index is rebuilt before its next use.
    const job = (await call<{ job: { id: number } }>('cache.reembed', { namespaceId: ns.id })).job
    await backend.runner.waitFor(job.id)
    expect(await ask('where do I download my invoices')).toMatchObject({ cache: 'hit-semantic', answer: second.answer })
    expect(runtime.stats.indexBuilds).toBe(builds + 2)

    // The namespace removed elsewhere: gone for the gateway too.
    await call('cache.namespaces.remove', { id: ns.id }, other)
    await settle()
    expect((await ask('where do I download my invoices')).status).toBe(404)
  })

  it('catches up with vectors another connection added even after saving a higher id here', async () => {
    const ns = await semanticNamespace()
    const entryIn = (repo: CacheRepository, i: number) =>
      repo.upsertEntry(
        {
          namespaceId: ns.id,
          keyHash: `key-${i}`,
          canonical: {},
          promptText: `p${i}`,
          answer: 'a',
          state: 'approved',
          expiresAt: null,
          model: null,
          modelFileHash: null,
          promptVersion: null,
          embedderVersion: null,
          params: null,
          createdBy: 'imported',
          tokensIn: null,
          tokensOut: null,
        },
        'test',
      )
    const here = new CacheRepository(backend.workspace.db)
    const there = new CacheRepository(other.workspace.db)
    const runtime = backend.cache.runtime
    here.saveVector(entryIn(here, 1).id, Float32Array.from([1, 0, 0]))
    expect(runtime.namespaceVectors(ns.id).index(3)?.size).toBe(1)
    // Another process adds one; this process, not having noticed yet, adds a higher id.
    const theirs = entryIn(there, 2)
    there.saveVector(theirs.id, Float32Array.from([0, 1, 0]))
    const ours = entryIn(here, 3)
    here.saveVector(ours.id, Float32Array.from([0, 0, 1]))
    runtime.sync(true)
    const index = runtime.namespaceVectors(ns.id).index(3)!
    expect(index.has(theirs.id)).toBe(true)
    expect(index.has(ours.id)).toBe(true)
    expect(index.size).toBe(3)

    // An older entry gets its first vector elsewhere, below the highest id this process loaded: rebuilt, found.
    const skipped = entryIn(there, 4)
    const newest = entryIn(there, 5)
    there.saveVector(newest.id, Float32Array.from([1, 0, 1]))
    runtime.sync(true)
    expect(runtime.namespaceVectors(ns.id).index(3)?.has(newest.id)).toBe(true)
    there.saveVector(skipped.id, Float32Array.from([1, 2, 3]))
    runtime.sync(true)
    expect(runtime.namespaceVectors(ns.id).index(3)?.has(skipped.id)).toBe(true)
  })

  it('answers what the sqlite-vec exact scan answers: same namespace, servable states, unexpired, same dimensions', () => {
    const db = backend.workspace.db
    const repo = new CacheRepository(db)
    let seed = 5
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    }
    const vector = (dims: number): Float32Array => Float32Array.from({ length: dims }, () => next() * 2 - 1)
    const namespaces = [0, 1].map(
      (i) =>
        repo.saveNamespace({
          tenant: 'acme',
          name: `vectors-${i}`,
          serveDrafts: false,
          storeAs: 'draft',
          normalization: { whitespace: true, case: false, nfkc: true, punctuation: false },
          semanticEnabled: false,
          embedder: null,
          embedderVersion: null,
          similarityThreshold: 0.5,
          guards: { negation: true, numbers: true },
          generationTarget: null,
          modelLabel: null,
          promptVersion: null,
          onChange: 'none',
          defaultTtlSeconds: null,
        }).id,
    )
    const states = ['approved', 'draft', 'rejected'] as const
    for (let i = 0; i < 600; i++) {
      const entry = repo.upsertEntry(
        {
          namespaceId: namespaces[i % 2]!,
          keyHash: `key-${i}`,
          canonical: {},
          promptText: `entry ${i}`,
          answer: 'a',
          state: states[i % 3]!,
          expiresAt: i % 7 === 0 ? '2000-01-01T00:00:00.000Z' : i % 11 === 0 ? '2999-01-01T00:00:00.000Z' : null,
          model: null,
          modelFileHash: null,
          promptVersion: null,
          embedderVersion: null,
          params: null,
          createdBy: 'imported',
          tokensIn: null,
          tokensOut: null,
        },
        'test',
      )
      repo.saveVector(entry.id, vector(i % 13 === 0 ? 8 : 16))
    }
    for (let q = 0; q < 40; q++) {
      const query = vector(q % 10 === 0 ? 8 : 16)
      const serve: CacheEntry['state'][] = q % 2 === 0 ? ['approved'] : ['approved', 'draft']
      const namespaceId = namespaces[q % 2]!
      const exact = repo.nearestExact(namespaceId, query, serve, 5)
      const indexed = repo.nearest(namespaceId, query, serve, 5)
      expect(indexed.map((n) => n.entry.id)).toEqual(exact.map((n) => n.entry.id))
      indexed.forEach((n, i) => expect(n.similarity).toBeCloseTo(exact[i]!.similarity, 5))
      // sqlite-vec computes in float32, the index in float64: they agree to about 1e-7, so cut a hair below.
      const threshold = (exact[2]?.similarity ?? 0) - 1e-6
      expect(repo.nearest(namespaceId, query, serve, 5, threshold).map((n) => n.entry.id)).toEqual(
        exact.filter((n) => n.similarity >= threshold).map((n) => n.entry.id),
      )
    }
  })
})
