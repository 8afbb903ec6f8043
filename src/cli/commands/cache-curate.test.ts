// Curating the cache from a terminal (`larder cache list|show|approve|reject|edit|revert|pin|unpin`, `cache namespaces
// list|set`), in process against a real workspace: the same rules as the console, only JSON on stdout with --json,
// exit codes that say what went wrong.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import type { CacheEntry, CacheNamespace } from '../../shared/contract'
import { tempDir } from '../../../test/helpers'
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
let at: string[] = []
const ids: Record<string, number> = {}

const request = (content: string, params: Record<string, unknown> = {}) => ({
  model: 'm',
  messages: [{ role: 'user' as const, content }],
  params,
})

beforeEach(async () => {
  home = tempDir()
  at = ['--home', home]
  const backend = Backend.open({ home })
  try {
    const call = async <T>(method: string, input: unknown): Promise<T> => (await backend.call(method, input)) as T
    const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
      tenant: 'acme',
      name: 'support',
    })
    const create = async (key: string, content: string, answer: string, params = {}, state = 'draft') =>
      (ids[key] = (
        await call<CacheEntry>('cache.entries.create', {
          namespaceId: namespace.id,
          request: request(content, params),
          answer,
          state,
        })
      ).id)
    await create('hours', 'Opening hours?', 'Nine to five.', { max_tokens: 50 })
    await create('hoursLong', 'Opening hours?', 'Nine to five, Monday to Friday.', { max_tokens: 200 })
    await create('refund', 'Refund policy?', 'Within 30 days.', {}, 'approved')
    await create('broken', 'Menu?', 'Caf\uFFFD au lait.')
    for (let i = 0; i < 3; i++) backend.cache.repo.recordHit(ids.hoursLong!)
  } finally {
    await backend.close()
  }
})

describe('larder cache curation commands', () => {
  it('has --help on every command', async () => {
    for (const command of ['list', 'show', 'approve', 'reject', 'edit', 'revert', 'pin', 'unpin', 'namespaces']) {
      const { code, out } = await larder(['cache', command, '--help'])
      expect(code, command).toBe(EXIT.ok)
      expect(out).toMatch(/Usage: larder cache/)
    }
    for (const command of ['list', 'set'])
      expect((await larder(['cache', 'namespaces', command, '--help'])).out).toMatch(/Usage: larder cache namespaces/)
  })
})

describe('larder cache namespaces', () => {
  it('lists namespaces with their policy, and sets policy and thresholds (creating only when asked)', async () => {
    const listed = await larder([...at, 'cache', 'namespaces', 'list'])
    expect(listed.code).toBe(EXIT.ok)
    expect(listed.out).toMatch(/acme\/support +stored \(drafts served until curated\) +store draft +exact only/)
    const strict = await larder([
      ...at,
      'cache',
      'namespaces',
      'set',
      'acme/support',
      '--policy',
      'approved-only',
      '--threshold',
      '0.9',
      '--ttl',
      '3600',
    ])
    expect(strict.code, strict.err).toBe(EXIT.ok)
    expect(strict.out).toMatch(/Saved acme\/support: policy approved-only/)
    const json = await larder([...at, 'cache', 'namespaces', 'list', '--json'])
    const support = (JSON.parse(json.out) as { items: CacheNamespace[] }).items.find((n) => n.name === 'support')!
    expect(support).toMatchObject({ serveDrafts: false, similarityThreshold: 0.9, defaultTtlSeconds: 3600 })
    expect((await larder([...at, 'cache', 'namespaces', 'set', 'billing', '--tenant', 'acme'])).code).toBe(
      EXIT.notFound,
    )
    const created = await larder([...at, 'cache', 'namespaces', 'set', 'billing', '--tenant', 'acme', '--create'])
    expect(created.out).toMatch(/Created acme\/billing: policy stored/)
    const bad = await larder([...at, 'cache', 'namespaces', 'set', 'acme/billing', '--policy', 'sometimes'])
    expect(bad.code).toBe(EXIT.usage)
    expect(bad.err).toMatch(/--policy must be stored, approved-only/)
  })
})

describe('larder cache list and show', () => {
  it('lists entries with filters and their parameters; --json prints only JSON', async () => {
    const all = await larder([...at, 'cache', 'list', '--namespace', 'support', '--tenant', 'acme'])
    expect(all.code, all.err).toBe(EXIT.ok)
    expect(all.out).toMatch(/acme\/support · policy stored/)
    expect(all.out).toMatch(new RegExp(`${ids.hoursLong} +draft +3 +max_tokens=200 +Opening hours\\?`))
    expect(all.out).toMatch(/\[broken text: U\+FFFD\]/)
    expect(all.out).toMatch(/4 of 4 entries/)
    const drafts = await larder([...at, 'cache', 'list', '--namespace', 'acme/support', '--state', 'draft', '--json'])
    const parsed = JSON.parse(drafts.out) as { items: CacheEntry[]; total: number }
    expect(parsed.total).toBe(3)
    const searched = await larder([
      ...at,
      'cache',
      'list',
      '--namespace',
      'acme/support',
      '--search',
      'refund',
      '--json',
    ])
    expect((JSON.parse(searched.out) as { items: CacheEntry[] }).items.map((e) => e.id)).toEqual([ids.refund])
    const served = await larder([...at, 'cache', 'list', '--namespace', 'acme/support', '--min-hits', '1', '--json'])
    expect((JSON.parse(served.out) as { items: CacheEntry[] }).items.map((e) => e.id)).toEqual([ids.hoursLong])
    expect((await larder([...at, 'cache', 'list', '--namespace', 'acme/nope'])).code).toBe(EXIT.notFound)
    expect((await larder([...at, 'cache', 'list', '--namespace', 'acme/support', '--state', 'maybe'])).code).toBe(
      EXIT.usage,
    )
  })

  it('shows an entry with its history and why the same prompt has other entries', async () => {
    const shown = await larder([...at, 'cache', 'show', String(ids.hours)])
    expect(shown.code).toBe(EXIT.ok)
    expect(shown.out).toMatch(/parameters max_tokens=50/)
    expect(shown.out).toMatch(/The same prompt has 1 other entry: the answer-changing parameters are part of the key/)
    expect(shown.out).toMatch(new RegExp(`${ids.hoursLong} +draft +max_tokens=200`))
    expect(shown.out).toMatch(/History \(newest first\):\n +v1 +draft/)
    const json = JSON.parse((await larder([...at, 'cache', 'show', String(ids.hours), '--json'])).out) as {
      siblings: { id: number }[]
    }
    expect(json.siblings.map((s) => s.id)).toEqual([ids.hoursLong])
    expect((await larder([...at, 'cache', 'show', String(ids.broken)])).out).toMatch(
      /Warning: the answer contains U\+FFFD/,
    )
    expect((await larder([...at, 'cache', 'show', '9999'])).code).toBe(EXIT.notFound)
  })
})

describe('larder cache approve, reject, edit, revert, pin', () => {
  it('approves and rejects by id or in bulk, never broken text unless told', async () => {
    const one = await larder([...at, 'cache', 'approve', String(ids.hours)])
    expect(one.out).toBe('Approved 1.\n')
    const broken = await larder([...at, 'cache', 'approve', String(ids.broken)])
    expect(broken.code).toBe(EXIT.usage)
    expect(broken.err).toMatch(/contains U\+FFFD/)
    expect((await larder([...at, 'cache', 'approve'])).code).toBe(EXIT.usage)
    const bulk = await larder([...at, 'cache', 'approve', '--all', '--namespace', 'acme/support', '--json'])
    expect(JSON.parse(bulk.out)).toEqual({ affected: 1, skippedBrokenText: 1 })
    const forced = await larder([...at, 'cache', 'approve', String(ids.broken), '--accept-broken-text'])
    expect(forced.code).toBe(EXIT.ok)
    const rejected = await larder([...at, 'cache', 'reject', String(ids.refund), '--note', 'outdated'])
    expect(rejected.out).toBe('Rejected 1.\n')
    const states = JSON.parse(
      (await larder([...at, 'cache', 'list', '--namespace', 'acme/support', '--json', '--sort', 'created'])).out,
    ) as { items: CacheEntry[] }
    expect(Object.fromEntries(states.items.map((e) => [e.id, e.state]))).toEqual({
      [ids.hours!]: 'approved',
      [ids.hoursLong!]: 'approved',
      [ids.refund!]: 'rejected',
      [ids.broken!]: 'approved',
    })
  })

  it('edits, reverts to draft, and pins', async () => {
    await larder([...at, 'cache', 'approve', String(ids.refund)])
    const edited = await larder([...at, 'cache', 'edit', String(ids.refund), '--answer', 'Within 60 days.'])
    expect(edited.out).toBe(`Entry ${ids.refund} edited (approved).\n`)
    const file = join(tempDir(), 'answer.txt')
    writeFileSync(file, 'Within 90 days, receipt needed.')
    await larder([...at, 'cache', 'edit', String(ids.refund), '--answer-file', file, '--note', 'new policy'])
    expect((await larder([...at, 'cache', 'edit', String(ids.refund)])).code).toBe(EXIT.usage)
    // Version 1 was approved (created so): restoring it keeps the approval; version 3 was never reviewed.
    const reverted = await larder([...at, 'cache', 'revert', String(ids.refund), '--to', '1'])
    expect(reverted.out).toBe(`Entry ${ids.refund} reverted to version 1; it is now approved.\n`)
    const unreviewed = await larder([...at, 'cache', 'revert', String(ids.hours), '--to', '1', '--json'])
    expect(JSON.parse(unreviewed.out)).toMatchObject({ id: ids.hours, state: 'draft' })
    expect((await larder([...at, 'cache', 'pin', String(ids.hours), String(ids.refund)])).out).toBe('Pinned 2.\n')
    expect((await larder([...at, 'cache', 'unpin', String(ids.hours), '--json'])).out).toMatch(/"affected": 1/)
    const pinned = JSON.parse(
      (await larder([...at, 'cache', 'list', '--namespace', 'acme/support', '--pinned', '--json'])).out,
    ) as { items: CacheEntry[] }
    expect(pinned.items.map((e) => [e.id, e.answer])).toEqual([[ids.refund, 'Within 30 days.']])
    expect((await larder([...at, 'cache', 'pin', 'x1'])).code).toBe(EXIT.usage)
  })
})
