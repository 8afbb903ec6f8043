/**
 * The log a plan is made from: one namespace's logged requests (of one tenant), in time order, as compact arrays
 * (a key index per request), with each distinct request's canonical form for the what-ifs.
 *
 * Timestamps: an imported line without one carries its import's `undatedAt` instant (kept in the import job's
 * params, `cache/jobs.ts`). When any request is undated the whole log is ordered by line (the order it was logged
 * in) and every time-based figure is labelled unavailable.
 */
import type { Db } from '../../db/database'
import { IMPORT_LOG_JOB } from '../jobs'
import { flushCacheWrites } from '../runtime'

export type PlanSource = 'import' | 'gateway' | 'all'

export interface PlanLog {
  source: PlanSource
  /** Key hash of each distinct request (index = key id). */
  keys: string[]
  /** The logged canonical JSON of each key (first seen), or null when none was logged. */
  canonical: (string | null)[]
  promptText: (string | null)[]
  /** Per request, in plan order: its key id and time (ms since the epoch; NaN in line order). */
  key: Int32Array
  time: Float64Array
  order: 'time' | 'lines'
  withoutTimestamp: number
}

/** The instants the namespace's log imports gave lines without a timestamp. */
function undatedInstants(db: Db, namespaceId: number): Set<string> {
  const rows = db
    .prepare(
      `SELECT DISTINCT json_extract(params, '$.undatedAt') FROM jobs
       WHERE kind = ? AND json_extract(params, '$.namespaceId') = ? AND json_extract(params, '$.undatedAt') IS NOT NULL`,
    )
    .pluck()
    .all(IMPORT_LOG_JOB, namespaceId) as string[]
  return new Set(rows)
}

/** The source `auto` means: the imported log when the namespace has one, else what the gateway served. */
export function resolveSource(db: Db, namespaceId: number, requested: PlanSource | 'auto'): PlanSource {
  if (requested !== 'auto') return requested
  const imported = db
    .prepare("SELECT 1 FROM request_log WHERE namespace_id = ? AND source = 'import' LIMIT 1")
    .pluck()
    .get(namespaceId)
  return imported ? 'import' : 'gateway'
}

function sourceClause(source: PlanSource): string {
  if (source === 'import') return "AND source = 'import'"
  // Errors never reached the cache (bad requests, failed generations): not traffic the cache could have answered.
  if (source === 'gateway') return "AND source = 'gateway' AND hit_kind != 'error'"
  return "AND hit_kind != 'error'"
}

export function loadPlanLog(db: Db, namespace: { id: number; tenant: string }, source: PlanSource): PlanLog {
  // The gateway writes its log behind (write-behind.ts): include what it served up to now.
  flushCacheWrites(db)
  const rows = db
    .prepare(
      `SELECT key_hash, at, source = 'import' FROM request_log
       WHERE namespace_id = ? AND tenant = ? ${sourceClause(source)} ORDER BY id`,
    )
    .raw()
    .all(namespace.id, namespace.tenant) as [string, string, number][]
  const undated = undatedInstants(db, namespace.id)
  const keyIds = new Map<string, number>()
  const keys: string[] = []
  const lineKey = new Int32Array(rows.length)
  let withoutTimestamp = 0
  rows.forEach(([keyHash, at, isImport], i) => {
    let keyId = keyIds.get(keyHash)
    if (keyId === undefined) {
      keyId = keys.length
      keyIds.set(keyHash, keyId)
      keys.push(keyHash)
    }
    lineKey[i] = keyId
    if (isImport && undated.has(at)) withoutTimestamp++
  })
  const order = withoutTimestamp > 0 ? 'lines' : 'time'

  const key = new Int32Array(rows.length)
  const time = new Float64Array(rows.length)
  if (order === 'lines') {
    key.set(lineKey)
    time.fill(Number.NaN)
  } else {
    // ISO strings from toISOString() sort as times do; ties keep line order (the sort is stable).
    const byTime = Array.from(rows.keys()).sort((a, b) =>
      rows[a]![1] < rows[b]![1] ? -1 : rows[a]![1] > rows[b]![1] ? 1 : 0,
    )
    byTime.forEach((line, i) => {
      key[i] = lineKey[line]!
      time[i] = Date.parse(rows[line]![1])
    })
  }

  const canonical = new Array<string | null>(keys.length).fill(null)
  const promptText = new Array<string | null>(keys.length).fill(null)
  const firstRows = db
    .prepare(
      `SELECT key_hash, canonical, prompt_text FROM request_log WHERE id IN (
         SELECT min(id) FROM request_log WHERE namespace_id = ? AND tenant = ? ${sourceClause(source)} GROUP BY key_hash)`,
    )
    .raw()
    .all(namespace.id, namespace.tenant) as [string, string | null, string | null][]
  for (const [keyHash, json, text] of firstRows) {
    const keyId = keyIds.get(keyHash)
    if (keyId === undefined) continue
    canonical[keyId] = json
    promptText[keyId] = text
  }
  return { source, keys, canonical, promptText, key, time, order, withoutTimestamp }
}
