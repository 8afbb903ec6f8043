/**
 * Write-behind for the gateway's bookkeeping: hit counters, gateway keys' last use and request-log rows are queued
 * in memory and written together in one transaction every `intervalMs` (100 ms) or as soon as `maxRows` (1,000)
 * are waiting, and on `flush()` (every API read of that data flushes first, and `Backend.close()` flushes).
 *
 * Trade-off: a crash (SIGKILL, power loss) loses what was queued since the last flush, at most one batch: about
 * 100 ms of counters and log rows. Answers and curation are never written behind.
 */
import type { RequestLogRow } from '../../shared/contract'

/** A request-log row; `canonical` is the canonical request's JSON text (`CacheKey.json`), or null. */
export type QueuedLogRow = Omit<RequestLogRow, 'id'> & { canonical: string | null }

let clockMs = 0
let clockIso = ''

/** `new Date().toISOString()`, formatted once per millisecond (the serving path asks several times per request). */
export function isoNow(): string {
  const ms = Date.now()
  if (ms !== clockMs) {
    clockMs = ms
    clockIso = new Date(ms).toISOString()
  }
  return clockIso
}

export interface WriteBatch {
  /** entry id -> hits and the time of the last one. */
  hits: Map<number, { count: number; last: string }>
  /** gateway key id -> time of its last use. */
  keys: Map<number, string>
  logs: QueuedLogRow[]
}

/** Full batches that may wait while writing is impossible, before the oldest rows are dropped. */
const MAX_BATCHES_WAITING = 50

export interface WriteBehindOptions {
  intervalMs?: number
  maxRows?: number
}

export class WriteBehind {
  private batch: WriteBatch = { hits: new Map(), keys: new Map(), logs: [] }
  private timer: NodeJS.Timeout | undefined
  private closed = false
  private failedAt = -Infinity
  private readonly intervalMs: number
  private readonly maxRows: number
  /** Batches written and rows lost to write errors (for tests and the benchmark). */
  readonly stats = { flushes: 0, failedRows: 0 }

  constructor(
    /** Writes one batch; returns false when it must wait (e.g. inside someone's open transaction). */
    private readonly write: (batch: WriteBatch) => boolean,
    options: WriteBehindOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 100
    this.maxRows = options.maxRows ?? 1000
  }

  get pending(): number {
    return this.batch.logs.length + this.batch.hits.size + this.batch.keys.size
  }

  hit(entryId: number, at: string): void {
    const known = this.batch.hits.get(entryId)
    if (known) {
      known.count++
      known.last = at
    } else this.batch.hits.set(entryId, { count: 1, last: at })
    this.queued()
  }

  keyUsed(keyId: number, at: string): void {
    this.batch.keys.set(keyId, at)
    this.queued()
  }

  log(row: QueuedLogRow): void {
    this.batch.logs.push(row)
    this.queued()
  }

  /** Rows waiting for a namespace that is being deleted keep their log rows, detached (as ON DELETE SET NULL). */
  detachNamespace(namespaceId: number): void {
    for (const row of this.batch.logs) if (row.namespaceId === namespaceId) row.namespaceId = null
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (this.pending === 0) return
    const batch = this.batch
    this.batch = { hits: new Map(), keys: new Map(), logs: [] }
    if (!this.write(batch)) {
      // Not now: put it back in front of anything queued meanwhile and try again shortly.
      for (const [id, hit] of this.batch.hits) {
        const known = batch.hits.get(id)
        if (known) {
          known.count += hit.count
          known.last = hit.last
        } else batch.hits.set(id, hit)
      }
      for (const [id, at] of this.batch.keys) batch.keys.set(id, at)
      batch.logs.push(...this.batch.logs)
      // Bounded: when writes keep failing (the database locked for long), the oldest log rows go first.
      const excess = batch.logs.length - this.maxRows * MAX_BATCHES_WAITING
      if (excess > 0) {
        batch.logs.splice(0, excess)
        this.stats.failedRows += excess
        console.error(`cache: the database stayed locked; ${excess} queued request-log rows were dropped`)
      }
      this.batch = batch
      this.failedAt = Date.now()
      this.schedule()
      return
    }
    this.stats.flushes++
  }

  /** Flushes and stops the timer; later writes are flushed at once. */
  close(): void {
    this.flush()
    this.closed = true
  }

  private queued(): void {
    const full = this.batch.logs.length >= this.maxRows || this.batch.hits.size >= this.maxRows
    // After a failed write, wait for the timer instead of trying (and waiting on the lock) on every request.
    if (this.closed || (full && Date.now() - this.failedAt >= this.intervalMs)) this.flush()
    else this.schedule()
  }

  private schedule(): void {
    if (this.timer || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, this.intervalMs)
    this.timer.unref()
  }
}
