import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { CacheEntry, CacheNamespace, Job } from '../../shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../backend'

let backend: Backend
let upstream: FakeEndpoint
let ns: CacheNamespace

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  return backend.runner.waitFor(job.id)
}

const request = (content: string, model = 'upstream') => ({
  model,
  messages: [{ role: 'user' as const, content }],
  params: { temperature: 0 },
})

beforeEach(async () => {
  upstream = await startFakeEndpoint({ name: 'upstream' })
  backend = Backend.open({
    home: tempDir(),
    validateOutput: true,
    models: { cpuOnly: true },
    runner: { heartbeatMs: 50 },
  }).start()
  const provider = await call<{ id: number }>('providers.save', {
    name: 'upstream',
    baseUrl: upstream.baseUrl,
    model: 'm',
  })
  ns = (
    await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      name: 'support',
      generationTarget: { provider: provider.id },
      modelLabel: 'upstream',
      promptVersion: 'v1',
    })
  ).namespace
})

afterEach(async () => {
  await backend.close()
  await upstream.close()
})

describe('curation', () => {
  it('edits keep a history that can be diffed and reverted', async () => {
    const entry = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Opening hours?'),
      answer: 'Nine to five.',
    })
    await call('cache.entries.update', { id: entry.id, answer: 'Nine to six, Monday to Friday.', note: 'new hours' })
    await call('cache.entries.update', { id: entry.id, state: 'approved' })
    const { entry: current, versions } = await call<{
      entry: CacheEntry
      versions: { version: number; answer: string; note: string | null }[]
    }>('cache.entries.get', { id: entry.id })
    expect(current).toMatchObject({ answer: 'Nine to six, Monday to Friday.', state: 'approved', createdBy: 'edited' })
    expect(versions.map((v) => v.version)).toEqual([3, 2, 1])
    expect(versions[1]).toMatchObject({ answer: 'Nine to six, Monday to Friday.', note: 'new hours' })
    // Version 1 was never reviewed: reverting an approved entry to it is an edit, back to draft.
    const reverted = await call<CacheEntry>('cache.entries.revert', { id: entry.id, version: 1 })
    expect(reverted).toMatchObject({ answer: 'Nine to five.', state: 'draft' })
    // Version 3 was approved: restoring its text restores the approval.
    const restored = await call<CacheEntry>('cache.entries.revert', { id: entry.id, version: 3 })
    expect(restored).toMatchObject({ answer: 'Nine to six, Monday to Friday.', state: 'approved' })
    const history = await call<{ versions: { state: string; note: string | null }[] }>('cache.entries.get', {
      id: entry.id,
    })
    expect(history.versions.slice(0, 2)).toEqual([
      expect.objectContaining({ state: 'approved', note: 'reverted to version 3' }),
      expect.objectContaining({ state: 'draft', note: 'reverted to version 1' }),
    ])
    await expect(call('cache.entries.revert', { id: entry.id, version: 99 })).rejects.toMatchObject({
      code: 'not_found',
    })
    await expect(
      call('cache.entries.create', { namespaceId: ns.id, request: request('Opening hours?'), answer: 'dup' }),
    ).rejects.toMatchObject({ code: 'conflict' })
  })

  it('does not approve answers with U+FFFD (broken UTF-8) unless told to, alone or in bulk', async () => {
    const broken = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Menu?'),
      answer: 'Caf\uFFFD au lait.',
    })
    const fine = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Hours?'),
      answer: 'Nine to five.',
    })
    await expect(call('cache.entries.update', { id: broken.id, state: 'approved' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/contains U\+FFFD .*edit the answer before approving it/),
    })
    expect(await call('cache.entries.bulk', { filter: { namespaceId: ns.id }, action: 'approve' })).toEqual({
      affected: 1,
      skippedBrokenText: 1,
    })
    expect((await call<{ entry: CacheEntry }>('cache.entries.get', { id: fine.id })).entry.state).toBe('approved')
    expect((await call<{ entry: CacheEntry }>('cache.entries.get', { id: broken.id })).entry.state).toBe('draft')
    // An edit that fixes the text can be approved; so can the broken text when the operator says so.
    expect(
      await call<CacheEntry>('cache.entries.update', { id: broken.id, state: 'approved', acceptBrokenText: true }),
    ).toMatchObject({ state: 'approved' })
    await expect(call('cache.entries.update', { id: fine.id, answer: 'Nine to \uFFFD.' })).rejects.toMatchObject({
      code: 'invalid_input',
    })
    // A namespace that stores generated answers as approved keeps a broken one as a draft.
    const { namespace: auto } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      name: 'auto',
      storeAs: 'approved',
    })
    const lookup = await backend.cache.lookup(auto, {
      model: 'upstream',
      kind: 'chat',
      messages: [{ role: 'user', content: 'x' }],
      params: {},
    })
    const stored = await backend.cache.store(auto, lookup, { answer: 'Bad \uFFFD text', model: 'upstream' })
    expect(stored!.state).toBe('draft')
  })

  it('approves, rejects, pins and deletes in bulk, and searches prompts and answers (FTS5)', async () => {
    for (const [question, answer] of [
      ['How do I reset my password?', 'Use the reset link.'],
      ['Where is my invoice?', 'Invoices are under Billing.'],
      ['How do I change my email?', 'Open Profile.'],
    ]) {
      await call('cache.entries.create', { namespaceId: ns.id, request: request(question!), answer })
    }
    const found = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id, search: 'billing' })
    expect(found.items.map((e) => e.promptText)).toEqual(['Where is my invoice?'])
    const prefix = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id, search: 'passw' })
    expect(prefix.items).toHaveLength(1)
    // Quotes and operators in the search box are text, not FTS syntax errors.
    await call('cache.entries.list', { namespaceId: ns.id, search: '"unbalanced AND (' })
    expect(
      (
        await call<{ affected: number }>('cache.entries.bulk', {
          filter: { namespaceId: ns.id, search: 'how' },
          action: 'approve',
        })
      ).affected,
    ).toBe(2)
    expect(
      (
        await call<{ affected: number }>('cache.entries.bulk', {
          filter: { namespaceId: ns.id, state: ['draft'] },
          action: 'reject',
        })
      ).affected,
    ).toBe(1)
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id, search: 'password' }, action: 'pin' })
    const list = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id })
    expect(list.items[0]!.pinned).toBe(true)
    expect(
      (
        await call<{ affected: number }>('cache.entries.bulk', {
          filter: { namespaceId: ns.id, state: ['rejected'] },
          action: 'delete',
        })
      ).affected,
    ).toBe(1)
    expect((await call<{ total: number }>('cache.entries.list', { namespaceId: ns.id })).total).toBe(2)
  })

  it('invalidates entries automatically when the model or prompt version changes, sparing pinned ones', async () => {
    const a = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('A?'),
      answer: 'a',
      state: 'approved',
    })
    const b = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('B?'),
      answer: 'b',
      state: 'approved',
    })
    // Entries made by hand record the namespace's prompt version; mark them as made by the current model.
    backend.workspace.db.prepare(`UPDATE cache_entries SET model = 'upstream'`).run()
    await call('cache.entries.update', { id: b.id, pinned: true })
    const changed = await call<{ invalidated: number }>('cache.namespaces.save', {
      id: ns.id,
      name: 'support',
      promptVersion: 'v2',
    })
    expect(changed.invalidated).toBe(1)
    expect((await call<{ entry: CacheEntry }>('cache.entries.get', { id: a.id })).entry.state).toBe('draft')
    expect((await call<{ entry: CacheEntry }>('cache.entries.get', { id: b.id })).entry.state).toBe('approved')
    await call('cache.namespaces.save', { id: ns.id, name: 'support', onChange: 'delete', modelLabel: 'bigger-model' })
    expect((await call<{ total: number }>('cache.entries.list', { namespaceId: ns.id })).total).toBe(1)
  })
})

describe('logs, analytics and pre-warm', () => {
  it('imports a JSONL log (reporting bad lines), shows coverage, pre-warms the head, and exports/imports entries', async () => {
    const dir = tempDir()
    const lines: string[] = []
    // A skewed distribution: question i asked 2^(6-i) times.
    for (let i = 0; i < 6; i++) {
      lines.push(
        JSON.stringify({
          model: 'upstream',
          messages: [{ role: 'user', content: `question ${i}` }],
          temperature: 0,
          count: 2 ** (6 - i),
        }),
      )
    }
    lines.push('{"model": "upstream", "messages": [')
    lines.push(JSON.stringify({ model: 'upstream' }))
    writeFileSync(join(dir, 'log.jsonl'), lines.join('\n'))
    const imported = await runJob('cache.log.import', { namespaceId: ns.id, path: join(dir, 'log.jsonl') })
    expect(imported.status).toBe('succeeded')
    expect(imported.result).toMatchObject({
      imported: 126,
      skipped: 2,
      problems: [{ line: 7 }, { line: 8, message: expect.stringMatching(/messages.*prompt/) }],
    })

    const analytics = await call<{
      totalRequests: number
      distinctRequests: number
      coverage: { entries: number; share: number }[]
      entriesFor: Record<string, number | null>
      topUncached: { promptText: string; count: number }[]
    }>('cache.analytics', { namespaceId: ns.id })
    expect(analytics.totalRequests).toBe(126)
    expect(analytics.distinctRequests).toBe(6)
    expect(analytics.coverage[0]).toEqual({ entries: 1, share: 64 / 126 })
    // Cumulative 64, 96, 112, 120 of 126: half the traffic needs 1 entry, 90 % needs 4.
    expect(analytics.entriesFor['50']).toBe(1)
    expect(analytics.entriesFor['90']).toBe(4)
    expect(analytics.topUncached[0]).toMatchObject({ promptText: 'question 0', count: 64 })

    const prewarm = await runJob('cache.prewarm', { namespaceId: ns.id, top: 3 })
    expect(prewarm.status).toBe('succeeded')
    expect(prewarm.result).toMatchObject({ generated: 3, failed: 0 })
    const drafts = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id, state: ['draft'] })
    expect(drafts.items.map((e) => e.answer).sort()).toEqual([
      'upstream says: question 0',
      'upstream says: question 1',
      'upstream says: question 2',
    ])
    expect(drafts.items.every((e) => e.createdBy === 'prewarm')).toBe(true)
    // The pre-warmed entries are keyed exactly as the logged requests: a lookup of a logged request now finds them.
    await call('cache.entries.bulk', { filter: { namespaceId: ns.id }, action: 'approve' })
    const hit = await call<{ hitKind: string }>('cache.lookup', { namespaceId: ns.id, request: request('question 0') })
    expect(hit.hitKind).toBe('hit-exact')
    const after = await call<{ topUncached: { promptText: string }[] }>('cache.analytics', { namespaceId: ns.id })
    expect(after.topUncached[0]!.promptText).toBe('question 3')

    const exported = await runJob('cache.export', { namespaceId: ns.id, path: join(dir, 'entries.jsonl') })
    expect(exported.result).toMatchObject({ entries: 3 })
    const exportedLines = readFileSync(join(dir, 'entries.jsonl'), 'utf8').trim().split('\n')
    expect(JSON.parse(exportedLines[0]!)).toMatchObject({
      state: 'approved',
      provenance: { createdBy: 'prewarm', model: 'upstream' },
    })
    const other = (await call<{ namespace: CacheNamespace }>('cache.namespaces.save', { name: 'copy' })).namespace
    const reimported = await runJob('cache.import', { namespaceId: other.id, path: join(dir, 'entries.jsonl') })
    expect(reimported.result).toMatchObject({ imported: 3, skipped: 0 })
    const copy = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: other.id })
    expect(copy.items.every((e) => e.state === 'approved' && e.createdBy === 'imported')).toBe(true)
  })

  it('imports CSV logs', async () => {
    const dir = tempDir()
    writeFileSync(
      join(dir, 'log.csv'),
      'prompt,model,count\n"Where is, my order?",upstream,3\nRefund please,upstream,1\n',
    )
    const job = await runJob('cache.log.import', { namespaceId: ns.id, path: join(dir, 'log.csv') })
    expect(job.result).toMatchObject({ imported: 4, skipped: 0 })
    const { items } = await call<{ items: { promptText: string }[] }>('cache.log.list', { namespaceId: ns.id })
    expect(items.map((i) => i.promptText)).toContain('Where is, my order?')
  })
})

describe('embedder changes', () => {
  it('says clearly when stored vectors no longer fit the embedder, keeps exact matching, and re-embeds', async () => {
    const small = await startFakeEndpoint({ name: 'small', embeddingDims: 32 })
    try {
      const big = (await call<{ items: { id: number; name: string }[] }>('providers.list')).items.find(
        (p) => p.name === 'upstream',
      )!
      const other = await call<{ id: number }>('providers.save', { name: 'small', baseUrl: small.baseUrl, model: 'e' })
      const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
        name: 'semantic',
        semanticEnabled: true,
        embedder: { provider: big.id },
        similarityThreshold: 0.7,
        storeAs: 'approved',
      })
      await call('cache.entries.create', {
        namespaceId: namespace.id,
        request: request('How do I export my data?'),
        answer: 'Settings, Export.',
        state: 'approved',
      })
      const paraphrase = { namespaceId: namespace.id, request: request('how can I export my data') }
      expect((await call<{ hitKind: string }>('cache.lookup', paraphrase)).hitKind).toBe('hit-semantic')

      await call('cache.namespaces.save', { id: namespace.id, name: 'semantic', embedder: { provider: other.id } })
      await expect(call('cache.lookup', paraphrase)).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(
          /holds 64-dimensional vectors but its embedder now returns 32 dimensions.*Re-embed/,
        ),
      })
      // Exact matches keep working meanwhile.
      expect(
        (
          await call<{ hitKind: string }>('cache.lookup', {
            namespaceId: namespace.id,
            request: request('How do I export my data?'),
          })
        ).hitKind,
      ).toBe('hit-exact')

      const job = await runJob('cache.reembed', { namespaceId: namespace.id })
      expect(job.result).toMatchObject({ entries: 1, dimensions: 32 })
      expect((await call<{ hitKind: string }>('cache.lookup', paraphrase)).hitKind).toBe('hit-semantic')

      await call('providers.remove', { id: other.id })
      await expect(call('cache.lookup', paraphrase)).rejects.toMatchObject({
        message: expect.stringMatching(/embedder of namespace semantic is not available/),
      })
    } finally {
      await small.close()
    }
  })
})

describe('entry filters', () => {
  it('filters entries by the model that made them and by hit count', async () => {
    const a = await call<CacheEntry>('cache.entries.create', {
      namespaceId: ns.id,
      request: request('One?'),
      answer: '1',
      state: 'approved',
    })
    await call('cache.entries.create', {
      namespaceId: ns.id,
      request: request('Two?', 'other-model'),
      answer: '2',
      state: 'approved',
    })
    // As if the gateway had served it three times (hits are counted by the gateway, see gateway.test.ts).
    backend.workspace.db.prepare('UPDATE cache_entries SET model = ?, hit_count = 3 WHERE id = ?').run('tiny', a.id)
    const byModel = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id, model: 'tiny' })
    expect(byModel.items.map((e) => e.id)).toEqual([a.id])
    const popular = await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id, minHits: 1 })
    expect(popular.items.map((e) => e.promptText)).toEqual(['One?'])
  })
})
