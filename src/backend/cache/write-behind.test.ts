import { afterEach, describe, expect, it, vi } from 'vitest'
import type { CacheEntry } from '../../shared/contract'
import { EntryFront } from './front'
import { WriteBehind, isoNow, type QueuedLogRow, type WriteBatch } from './write-behind'

const row = (keyHash: string, namespaceId: number | null = 1): QueuedLogRow => ({
  at: '2026-01-01T00:00:00.000Z',
  namespaceId,
  tenant: 't',
  keyHash,
  canonical: null,
  promptText: null,
  hitKind: 'hit-exact',
  reason: null,
  similarity: null,
  entryId: 1,
  latencyMs: 0.1,
  tokensIn: null,
  tokensOut: null,
  source: 'gateway',
})

afterEach(() => {
  vi.useRealTimers()
})

describe('WriteBehind', () => {
  it('coalesces hits and key use, keeps every log row, and writes them together after the interval', () => {
    vi.useFakeTimers()
    const batches: WriteBatch[] = []
    const writer = new WriteBehind((batch) => (batches.push(batch), true), { intervalMs: 100, maxRows: 1000 })
    writer.hit(7, 'a')
    writer.hit(7, 'b')
    writer.hit(8, 'c')
    writer.keyUsed(1, 'x')
    writer.keyUsed(1, 'y')
    writer.log(row('k1'))
    writer.log(row('k2'))
    expect(batches).toHaveLength(0)
    expect(writer.pending).toBe(5)
    vi.advanceTimersByTime(99)
    expect(batches).toHaveLength(0)
    vi.advanceTimersByTime(1)
    expect(batches).toHaveLength(1)
    expect([...batches[0]!.hits]).toEqual([
      [7, { count: 2, last: 'b' }],
      [8, { count: 1, last: 'c' }],
    ])
    expect([...batches[0]!.keys]).toEqual([[1, 'y']])
    expect(batches[0]!.logs.map((r) => r.keyHash)).toEqual(['k1', 'k2'])
    expect(writer.pending).toBe(0)
  })

  it('writes at once when a batch is full, on flush, and after close', () => {
    vi.useFakeTimers()
    const batches: WriteBatch[] = []
    const writer = new WriteBehind((batch) => (batches.push(batch), true), { intervalMs: 100, maxRows: 3 })
    writer.log(row('a'))
    writer.log(row('b'))
    expect(batches).toHaveLength(0)
    writer.log(row('c'))
    expect(batches).toHaveLength(1)
    writer.hit(1, 'now')
    writer.flush()
    expect(batches).toHaveLength(2)
    writer.flush()
    expect(batches).toHaveLength(2)
    writer.log(row('d'))
    writer.close()
    expect(batches).toHaveLength(3)
    writer.log(row('e'))
    expect(batches).toHaveLength(4)
  })

  it('keeps a batch that cannot be written now, merged with what arrives meanwhile, and retries', () => {
    vi.useFakeTimers()
    let open = false
    const batches: WriteBatch[] = []
    const writer = new WriteBehind((batch) => (open ? (batches.push(batch), true) : false), { intervalMs: 10 })
    writer.hit(1, 'a')
    writer.log(row('a'))
    writer.flush()
    expect(batches).toHaveLength(0)
    writer.hit(1, 'b')
    writer.log(row('b'))
    open = true
    vi.advanceTimersByTime(10)
    expect(batches).toHaveLength(1)
    expect(batches[0]!.hits.get(1)).toEqual({ count: 2, last: 'b' })
    expect(batches[0]!.logs.map((r) => r.keyHash)).toEqual(['a', 'b'])
  })

  it('drops the oldest log rows when writing stays impossible for long', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    let attempts = 0
    const writer = new WriteBehind(() => (attempts++, false), { maxRows: 2, intervalMs: 60_000 })
    for (let i = 0; i < 150; i++) writer.log(row(`k${i}`))
    // One attempt when the first batch filled; later requests wait for the timer instead of retrying each time.
    expect(attempts).toBe(1)
    writer.flush()
    expect(attempts).toBe(2)
    expect(writer.pending).toBe(100)
    expect(writer.stats.failedRows).toBe(50)
    expect(errors).toHaveBeenCalled()
    errors.mockRestore()
  })

  it('detaches queued rows of a namespace being removed', () => {
    const batches: WriteBatch[] = []
    const writer = new WriteBehind((batch) => (batches.push(batch), true))
    writer.log(row('a', 1))
    writer.log(row('b', 2))
    writer.detachNamespace(1)
    writer.flush()
    expect(batches[0]!.logs.map((r) => r.namespaceId)).toEqual([null, 2])
  })

  it('formats the time once per millisecond', () => {
    vi.useFakeTimers({ now: new Date('2026-03-04T05:06:07.008Z') })
    expect(isoNow()).toBe('2026-03-04T05:06:07.008Z')
    vi.advanceTimersByTime(1)
    expect(isoNow()).toBe('2026-03-04T05:06:07.009Z')
  })
})

const entry = (id: number, namespaceId: number, answer = 'x'): CacheEntry => ({
  id,
  namespaceId,
  keyHash: `h${id}`,
  canonical: {},
  promptText: 'p',
  answer,
  finishReason: 'stop',
  toolCalls: null,
  state: 'approved',
  pinned: false,
  expiresAt: null,
  hitCount: 0,
  lastHitAt: null,
  model: null,
  modelFileHash: null,
  promptVersion: null,
  embedderVersion: null,
  params: null,
  createdBy: 'generated',
  tokensIn: null,
  tokensOut: null,
  createdAt: 'c',
  updatedAt: 'u',
})

describe('EntryFront', () => {
  it('keeps the most recently used entries within its bounds', () => {
    const front = new EntryFront({ maxEntries: 3 })
    for (const id of [1, 2, 3]) front.set(entry(id, 1))
    expect(front.get(1, 'h1')?.id).toBe(1)
    front.set(entry(4, 1))
    expect(front.get(1, 'h2')).toBeUndefined()
    expect([1, 3, 4].map((id) => front.get(1, `h${id}`)?.id)).toEqual([1, 3, 4])
    const small = new EntryFront({ maxChars: 2000 })
    small.set(entry(1, 1, 'a'.repeat(900)))
    small.set(entry(2, 1, 'b'.repeat(900)))
    expect(small.size).toBe(1)
    expect(small.byId(2)?.answer).toHaveLength(900)
  })

  it('forgets by id and by namespace, and patches hit counters in place', () => {
    const front = new EntryFront()
    front.set(entry(1, 1))
    front.set(entry(2, 2))
    front.set(entry(3, 2))
    front.patch(1, (e) => ({ ...e, hitCount: e.hitCount + 5, lastHitAt: 't' }))
    expect(front.get(1, 'h1')).toMatchObject({ hitCount: 5, lastHitAt: 't' })
    front.deleteId(1)
    expect(front.get(1, 'h1')).toBeUndefined()
    front.deleteNamespace(2)
    expect(front.size).toBe(0)
    front.patch(9, () => {
      throw new Error('not held: never called')
    })
  })
})
