/**
 * What the cache keeps in memory for one database connection, and how it stays true to SQLite.
 *
 * - Kept: prepared statements, verified gateway keys, namespace settings, a bounded LRU front of entries
 *   (`front.ts`) and one semantic index per namespace and dimension (`semantic-index.ts`), built lazily from
 *   `cache_vectors` on the first semantic lookup.
 * - Changes made through this process (`CacheRepository`, `GatewayKeys`) update or drop what they touch at once.
 *   A write inside a transaction that might still roll back only drops (or marks for rebuild), never adds.
 * - Changes committed by another connection (the CLI, the desktop app on the same workspace) are noticed by
 *   `sync()`, which reads `PRAGMA data_version` (it changes only when another connection commits) at the start of
 *   every lookup and gateway request, at most once a millisecond: another process's commit is seen within 1 ms.
 *   Keys, namespaces and the front are then dropped, and each semantic index is checked before its next use. The
 *   check is cheap: a namespace's `updated_at` moves forward (strictly) with every save of the namespace and every
 *   vector replaced, removed, or added below the highest vector id, so an unchanged stamp means the index only
 *   lacks vectors added since (ids above the highest it loaded: loaded now), and a changed stamp rebuilds it. Entries deleted elsewhere are caught
 *   when a candidate is fetched (gone, or its key hash differs because the id was reused): skipped, and that one
 *   vector is read again.
 * - Gateway bookkeeping (hit counters, key last use, request log) is written behind (`write-behind.ts`).
 */
import type { Statement } from 'better-sqlite3'
import type { CacheEntry, CacheNamespace } from '../../shared/contract'
import type { Db } from '../db/database'
import { SettingsRepository, estimateCost } from '../settings/repository'
import { EntryFront } from './front'
import { VectorIndex, type IndexOptions } from './semantic-index'
import { WriteBehind, type QueuedLogRow, type WriteBatch } from './write-behind'

/** A namespace's settings without its entry counts (the serving path does not need them). */
export type NamespaceConfig = Omit<CacheNamespace, 'entryCounts'>

interface NamespaceVectors {
  byDims: Map<number, VectorIndex>
  dimsOf: Map<number, number>
  /** The namespace's `updated_at` the index reflects. */
  stamp: string
  /** Highest `cache_vectors.entry_id` loaded from SQLite (vectors saved here may be higher). */
  maxEntryId: number
  state: 'fresh' | 'check' | 'rebuild'
}

export interface RuntimeOptions {
  /** The serving path reads `PRAGMA data_version` at most this often (default 1 ms). */
  syncIntervalMs?: number
  front?: { maxEntries?: number; maxChars?: number }
  index?: IndexOptions
  writeBehind?: { intervalMs?: number; maxRows?: number }
}

/** SQL that moves a namespace's updated_at forward, strictly (1 ms past the old value when the clock has not). */
export const BUMP_UPDATED_AT = `CASE WHEN @now > updated_at THEN @now
  ELSE strftime('%Y-%m-%dT%H:%M:%fZ', updated_at, '+0.001 seconds') END`

/** A float32 view of a vector blob (copied when the blob is not 4-byte aligned). */
function vectorOf(blob: Buffer, dims: number): Float32Array {
  if (blob.byteOffset % 4 === 0) return new Float32Array(blob.buffer, blob.byteOffset, dims)
  const copy = new Float32Array(dims)
  new Uint8Array(copy.buffer).set(blob.subarray(0, dims * 4))
  return copy
}

/** Request-log rows per INSERT statement when a batch is written. */
const LOG_CHUNK = 32

const runtimes = new WeakMap<Db, CacheRuntime>()
let defaultOptions: RuntimeOptions = {}

export function cacheRuntime(db: Db): CacheRuntime {
  let runtime = runtimes.get(db)
  if (!runtime) {
    runtime = new CacheRuntime(db, defaultOptions)
    runtimes.set(db, runtime)
  }
  return runtime
}

/** Options for runtimes created from now on (tests and benchmarks shrink or grow the bounds). */
export function setCacheRuntimeDefaults(options: RuntimeOptions): void {
  defaultOptions = options
}

/** Writes whatever the gateway queued for this database, so a read sees it. Cheap when nothing waits. */
export function flushCacheWrites(db: Db): void {
  runtimes.get(db)?.writer.flush()
}

export class CacheRuntime {
  readonly front: EntryFront
  readonly writer: WriteBehind
  /** sha256(secret) -> key. */
  readonly keys = new Map<string, { id: number; tenant: string }>()
  /** `${tenant}\0${name}` -> settings. */
  readonly namespaces = new Map<string, NamespaceConfig>()
  private readonly vectors = new Map<number, NamespaceVectors>()
  private readonly statements = new Map<string, Statement>()
  private readonly logInserts: Statement[] = []
  private readonly dataVersion: Statement
  private version: number
  private lastSync = -Infinity
  private readonly syncIntervalMs: number
  private readonly indexOptions: IndexOptions
  /** Times another connection's commit was noticed, and semantic indexes built (for tests and the benchmark). */
  readonly stats = { externalChanges: 0, indexBuilds: 0, indexCatchUps: 0 }

  constructor(
    readonly db: Db,
    options: RuntimeOptions = {},
  ) {
    this.front = new EntryFront(options.front)
    this.indexOptions = options.index ?? {}
    this.syncIntervalMs = options.syncIntervalMs ?? 1
    this.writer = new WriteBehind((batch) => this.writeBatch(batch), options.writeBehind)
    this.dataVersion = db.prepare('PRAGMA data_version').pluck()
    this.version = this.dataVersion.get() as number
  }

  /** A prepared statement, prepared once per connection. */
  prepare(sql: string): Statement {
    let statement = this.statements.get(sql)
    if (!statement) {
      statement = this.db.prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }

  /**
   * Notices commits by other connections and drops or re-checks what they may have changed. Reading
   * `data_version` starts a read transaction (a few microseconds with the WAL's shared-memory locks), so the
   * serving path checks at most once per `syncIntervalMs` (1 ms): another process's commit is seen within 1 ms.
   * `force` (API readers) always checks.
   */
  sync(force = false): void {
    const now = performance.now()
    if (!force && now - this.lastSync < this.syncIntervalMs) return
    this.lastSync = now
    const version = this.dataVersion.get() as number
    if (version === this.version) return
    this.version = version
    this.stats.externalChanges++
    this.keys.clear()
    this.namespaces.clear()
    this.front.clear()
    for (const vectors of this.vectors.values()) if (vectors.state === 'fresh') vectors.state = 'check'
  }

  /** Whether results read now may be remembered (not inside a transaction that could still roll back). */
  get cacheable(): boolean {
    return !this.db.inTransaction
  }

  // Entries

  entryChanged(id: number): void {
    this.front.deleteId(id)
  }

  /** Entries were deleted; inside an outer transaction (which may roll back) the indexes are also rebuilt later. */
  entriesDeleted(ids: number[], inTransaction: boolean): void {
    for (const id of ids) {
      this.front.deleteId(id)
      for (const vectors of this.vectors.values()) {
        const dims = vectors.dimsOf.get(id)
        if (dims === undefined) continue
        vectors.byDims.get(dims)?.remove(id)
        vectors.dimsOf.delete(id)
        if (inTransaction) vectors.state = 'rebuild'
      }
    }
  }

  /** Something changed many entries of a namespace at once (or of every namespace when `undefined`). */
  entriesChangedInBulk(namespaceId?: number): void {
    if (namespaceId === undefined) this.front.clear()
    else this.front.deleteNamespace(namespaceId)
  }

  // Namespaces

  namespaceChanged(): void {
    this.namespaces.clear()
  }

  namespaceRemoved(namespaceId: number): void {
    this.namespaces.clear()
    this.front.deleteNamespace(namespaceId)
    this.vectors.delete(namespaceId)
    this.writer.detachNamespace(namespaceId)
  }

  /**
   * Runs a write that moves the namespace's `updated_at` (the vectors' stamp) and keeps the index's stamp in step
   * when nothing else moved it meanwhile; otherwise the index is rebuilt before its next use.
   */
  stamped<T>(namespaceId: number, write: () => T): T {
    const read = this.prepare('SELECT updated_at FROM cache_namespaces WHERE id = ?').pluck()
    return this.db.transaction(() => {
      const before = read.get(namespaceId) as string | undefined
      const result = write()
      const after = read.get(namespaceId) as string | undefined
      const vectors = this.vectors.get(namespaceId)
      // Inside someone's transaction that later rolls back, the stamps simply disagree: a rebuild, never a miss.
      if (vectors && before !== undefined && after !== undefined) {
        if (vectors.stamp === before) vectors.stamp = after
        else vectors.state = 'rebuild'
      }
      return result
    })()
  }

  // Vectors

  /** A vector was saved outside any transaction (else the index is rebuilt: the transaction may roll back). */
  vectorSaved(
    entryId: number,
    namespaceId: number,
    keyHash: string,
    vector: Float32Array,
    inTransaction: boolean,
  ): void {
    const vectors = this.vectors.get(namespaceId)
    if (!vectors) return
    if (inTransaction) {
      vectors.state = 'rebuild'
      return
    }
    const previous = vectors.dimsOf.get(entryId)
    if (previous !== undefined && previous !== vector.length) vectors.byDims.get(previous)?.remove(entryId)
    this.indexFor(vectors, vector.length).upsert(entryId, keyHash, vector)
    vectors.dimsOf.set(entryId, vector.length)
    // Not `maxEntryId`: another process may have added lower ids not loaded yet; the next catch-up reads them
    // (and this one again, harmlessly).
  }

  vectorsDropped(namespaceId: number): void {
    const vectors = this.vectors.get(namespaceId)
    if (vectors) vectors.state = 'rebuild'
  }

  /** A candidate turned out stale (deleted, or its id reused, by another process): re-read that one vector. */
  refreshVector(namespaceId: number, entryId: number): void {
    const vectors = this.vectors.get(namespaceId)
    if (!vectors) return
    const dims = vectors.dimsOf.get(entryId)
    if (dims !== undefined) vectors.byDims.get(dims)?.remove(entryId)
    vectors.dimsOf.delete(entryId)
    const row = this.prepare(
      `SELECT v.dims, v.vector, e.key_hash FROM cache_vectors v JOIN cache_entries e ON e.id = v.entry_id
       WHERE v.entry_id = ? AND e.namespace_id = ?`,
    )
      .raw()
      .get(entryId, namespaceId) as [number, Buffer, string] | undefined
    if (row && row[1].byteLength === row[0] * 4) {
      this.indexFor(vectors, row[0]).upsert(entryId, row[2], vectorOf(row[1], row[0]))
      vectors.dimsOf.set(entryId, row[0])
    }
  }

  /** The namespace's vectors, brought up to date with SQLite (built on first use). */
  namespaceVectors(namespaceId: number): { dims: number[]; index(dims: number): VectorIndex | undefined } {
    let vectors = this.vectors.get(namespaceId)
    if (vectors?.state === 'check') {
      const stamp = this.prepare('SELECT updated_at FROM cache_namespaces WHERE id = ?').pluck().get(namespaceId) as
        string | undefined
      if (stamp !== vectors.stamp) vectors.state = 'rebuild'
      else {
        this.load(vectors, namespaceId, vectors.maxEntryId)
        this.stats.indexCatchUps++
        vectors.state = 'fresh'
      }
    }
    if (!vectors || vectors.state === 'rebuild' || !this.cacheable) {
      vectors = this.build(namespaceId)
      if (this.cacheable) this.vectors.set(namespaceId, vectors)
    }
    const found = vectors
    return {
      dims: [...found.byDims].filter(([, index]) => index.size > 0).map(([dims]) => dims),
      index: (dims) => found.byDims.get(dims),
    }
  }

  private build(namespaceId: number): NamespaceVectors {
    this.stats.indexBuilds++
    const stamp = this.prepare('SELECT updated_at FROM cache_namespaces WHERE id = ?').pluck().get(namespaceId) as
      string | undefined
    const vectors: NamespaceVectors = {
      byDims: new Map(),
      dimsOf: new Map(),
      stamp: stamp ?? '',
      maxEntryId: 0,
      state: 'fresh',
    }
    // An upper bound of the vectors to come (entries without a vector count too), read from an index: one allocation.
    const expected = this.prepare('SELECT count(*) FROM cache_entries WHERE namespace_id = ?')
      .pluck()
      .get(namespaceId) as number
    this.load(vectors, namespaceId, 0, expected)
    return vectors
  }

  private load(vectors: NamespaceVectors, namespaceId: number, afterId: number, expected = 0): void {
    const rows = this.prepare(
      `SELECT v.entry_id, v.dims, v.vector, e.key_hash FROM cache_vectors v JOIN cache_entries e ON e.id = v.entry_id
       WHERE e.namespace_id = ? AND v.entry_id > ?`,
    )
      .raw()
      .iterate(namespaceId, afterId) as IterableIterator<[number, number, Buffer, string]>
    const add = (entryId: number, dims: number, blob: Buffer, keyHash: string, index: VectorIndex): void => {
      index.upsert(entryId, keyHash, vectorOf(blob, dims))
      vectors.dimsOf.set(entryId, dims)
      vectors.maxEntryId = Math.max(vectors.maxEntryId, entryId)
    }
    let first = rows.next()
    while (!first.done) {
      // Rows of one dimension (the usual case: all of them) are added in bulk, coded once at the end.
      const dims = first.value[1]
      const index = this.indexFor(vectors, dims)
      if (expected > 0) index.reserve(expected)
      let next: IteratorResult<[number, number, Buffer, string]> = first
      index.bulk(() => {
        while (!next.done && next.value[1] === dims) {
          const [entryId, , blob, keyHash] = next.value
          if (blob.byteLength === dims * 4) add(entryId, dims, blob, keyHash, index)
          next = rows.next()
        }
      })
      first = next
    }
  }

  private indexFor(vectors: NamespaceVectors, dims: number): VectorIndex {
    let index = vectors.byDims.get(dims)
    if (!index) {
      index = new VectorIndex(dims, this.indexOptions)
      vectors.byDims.set(dims, index)
    }
    return index
  }

  // Write-behind

  private writeBatch(batch: WriteBatch): boolean {
    if (!this.db.open) return true
    if (this.db.inTransaction) return false
    const updateHits = this.prepare('UPDATE cache_entries SET hit_count = hit_count + ?, last_hit_at = ? WHERE id = ?')
    const updateKey = this.prepare('UPDATE gateway_keys SET last_used_at = ? WHERE id = ?')
    // Prices in force when the batch is written (at most one interval after the request).
    const settings = new SettingsRepository(this.db).get()
    const logs = batch.logs
    const costOf = (row: QueuedLogRow): number | null => estimateCost(settings, row.tokensIn, row.tokensOut)
    const argsOf = (row: QueuedLogRow, into: unknown[]): void => {
      into.push(row.at, row.namespaceId, row.tenant, row.keyHash, row.canonical, row.promptText, row.hitKind)
      into.push(row.reason, row.similarity, row.entryId, row.latencyMs, row.tokensIn, row.tokensOut, costOf(row))
      into.push(row.source)
    }
    const writeOne = (row: unknown[]): void => {
      try {
        this.insertLogs(1).run(row)
      } catch (error) {
        // The namespace was removed meanwhile (by another process): keep the row, detached.
        if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_FOREIGNKEY' || row[1] === null) throw error
        this.insertLogs(1).run([row[0], null, ...row.slice(2)])
      }
    }
    const all = (): void => {
      for (let start = 0; start < logs.length; start += LOG_CHUNK) {
        const end = Math.min(logs.length, start + LOG_CHUNK)
        const args: unknown[] = []
        for (let i = start; i < end; i++) argsOf(logs[i]!, args)
        this.insertLogs(end - start).run(args)
      }
      for (const [id, hit] of batch.hits) updateHits.run(hit.count, hit.last, id)
      for (const [id, at] of batch.keys) updateKey.run(at, id)
    }
    try {
      this.db.transaction(all)()
    } catch (first) {
      // Another process held the write lock past the busy timeout: keep the batch for the next interval.
      const code = (first as { code?: string }).code ?? ''
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return false
      // One bad row must not cost the batch: write them one by one, report what still fails.
      let failed = 0
      const each = (work: () => void): void => {
        try {
          work()
        } catch {
          failed++
        }
      }
      for (const row of logs) {
        const args: unknown[] = []
        argsOf(row, args)
        each(() => writeOne(args))
      }
      for (const [id, hit] of batch.hits) each(() => updateHits.run(hit.count, hit.last, id))
      for (const [id, at] of batch.keys) each(() => updateKey.run(at, id))
      if (failed > 0) {
        this.writer.stats.failedRows += failed
        console.error(`cache: ${failed} queued gateway writes failed:`, (first as Error).message)
      }
    }
    for (const [id, hit] of batch.hits) {
      this.front.patch(id, (entry: CacheEntry) => ({
        ...entry,
        hitCount: entry.hitCount + hit.count,
        lastHitAt: hit.last,
      }))
    }
    return true
  }

  /** INSERT of `count` request-log rows in one statement (positional parameters, 15 per row). */
  private insertLogs(count: number): Statement {
    let statement = this.logInserts[count]
    if (!statement) {
      const values = Array.from({ length: count }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')
      statement = this.db.prepare(
        `INSERT INTO request_log (at, namespace_id, tenant, key_hash, canonical, prompt_text, hit_kind, reason,
           similarity, entry_id, latency_ms, tokens_in, tokens_out, cost_estimate, source) VALUES ${values}`,
      )
      this.logInserts[count] = statement
    }
    return statement
  }
}
