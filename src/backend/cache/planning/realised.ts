/**
 * Projected vs realised, per day, for one namespace: the hit rate the gateway served each day against what the plan
 * projects (on its evaluation part) for the entries that were servable at the end of that day, reconstructed from
 * each entry's version history (every state change is a version). A day drifts when its realised exact hit rate falls
 * below the projection's interval by more than the day's own sampling noise: the tail moved. For drifting days the
 * misses that most exceed what the reference log predicts are listed: the requests that newly dominate the misses.
 */
import type { CachePlan } from '../../../shared/contract'
import type { Db } from '../../db/database'
import type { NamespaceConfig } from '../runtime'
import { evalTotal, projectKeys, type PlanCore } from './core'

type Realised = CachePlan['realised']

const MAX_DAYS = 120
const MIN_DAY_REQUESTS = 30
const NEW_MISSES_PER_DAY = 5

interface DayRow {
  day: string
  requests: number
  exact: number
  semantic: number
}

/** Each key's state changes (time, state) in order, and its current expiry. */
function histories(
  db: Db,
  namespaceId: number,
): Map<string, { changes: [string, string][]; expiresAt: string | null }> {
  const rows = db
    .prepare(
      `SELECT e.key_hash, e.expires_at, v.created_at, v.state FROM cache_entries e
       JOIN cache_entry_versions v ON v.entry_id = e.id WHERE e.namespace_id = ? ORDER BY e.id, v.version`,
    )
    .raw()
    .all(namespaceId) as [string, string | null, string, string][]
  const byKey = new Map<string, { changes: [string, string][]; expiresAt: string | null }>()
  for (const [keyHash, expiresAt, at, state] of rows) {
    let history = byKey.get(keyHash)
    if (!history) byKey.set(keyHash, (history = { changes: [], expiresAt }))
    history.changes.push([at, state])
  }
  return byKey
}

function servableAt(
  history: { changes: [string, string][]; expiresAt: string | null } | undefined,
  at: string,
  serveDrafts: boolean,
): boolean {
  if (!history || (history.expiresAt !== null && history.expiresAt <= at)) return false
  let state: string | null = null
  for (const [changedAt, next] of history.changes) {
    if (changedAt > at) break
    state = next
  }
  return state === 'approved' || (serveDrafts && state === 'draft')
}

function newMisses(
  db: Db,
  namespace: NamespaceConfig,
  core: PlanCore,
  day: DayRow,
  keyIds: Map<string, number>,
): Realised['newMisses'] {
  const counts = new Float64Array(core.log.keys.length)
  for (let i = core.evalFrom; i < core.evalTo; i++) counts[core.log.key[i]!]!++
  const total = evalTotal(core)
  const rows = db
    .prepare(
      `SELECT key_hash, max(prompt_text), count(*) AS n FROM request_log
       WHERE namespace_id = ? AND tenant = ? AND source = 'gateway' AND hit_kind = 'miss' AND substr(at, 1, 10) = ?
       GROUP BY key_hash ORDER BY n DESC LIMIT 500`,
    )
    .raw()
    .all(namespace.id, namespace.tenant, day.day) as [string, string | null, number][]
  return rows
    .map(([keyHash, promptText, misses]) => {
      const keyId = keyIds.get(keyHash)
      const referenceShare = keyId === undefined || total === 0 ? 0 : counts[keyId]! / total
      return { day: day.day, keyHash, promptText, misses, expected: referenceShare * day.requests, referenceShare }
    })
    .filter((row) => row.misses > row.expected)
    .sort((a, b) => b.misses - b.expected - (a.misses - a.expected))
    .slice(0, NEW_MISSES_PER_DAY)
}

export function planRealised(db: Db, namespace: NamespaceConfig, core: PlanCore): Realised {
  const days = (
    db
      .prepare(
        `SELECT substr(at, 1, 10) AS day, count(*) AS requests, sum(hit_kind = 'hit-exact') AS exact,
           sum(hit_kind = 'hit-semantic') AS semantic FROM request_log
         WHERE namespace_id = ? AND tenant = ? AND source = 'gateway' AND hit_kind IN ('hit-exact', 'hit-semantic', 'miss')
         GROUP BY day ORDER BY day DESC LIMIT ${MAX_DAYS}`,
      )
      .all(namespace.id, namespace.tenant) as DayRow[]
  ).reverse()
  if (days.length === 0) return { days: [], newMisses: [] }
  const byKey = histories(db, namespace.id)
  const keyIds = new Map(core.log.keys.map((keyHash, keyId) => [keyHash, keyId]))
  const now = new Date().toISOString()
  const rows: Realised['days'] = []
  const misses: Realised['newMisses'] = []
  for (const day of days) {
    const end = `${day.day}T23:59:59.999Z` < now ? `${day.day}T23:59:59.999Z` : now
    const servable = new Uint8Array(core.log.keys.length)
    let servableEntries = 0
    for (const [keyHash, history] of byKey) {
      if (!servableAt(history, end, namespace.serveDrafts)) continue
      servableEntries++
      const keyId = keyIds.get(keyHash)
      if (keyId !== undefined) servable[keyId] = 1
    }
    const projected = projectKeys(core, (keyId) => servable[keyId] === 1)
    const exactHitRate = day.exact / day.requests
    const p = projected.rate
    const noise = 1.96 * Math.sqrt((p * (1 - p)) / day.requests)
    const drift = day.requests >= MIN_DAY_REQUESTS && exactHitRate < (projected.low ?? p) - noise
    rows.push({
      day: day.day,
      requests: day.requests,
      hitRate: (day.exact + day.semantic) / day.requests,
      exactHitRate,
      semanticHitRate: day.semantic / day.requests,
      projected,
      servableEntries,
      drift,
    })
    if (drift) misses.push(...newMisses(db, namespace, core, day, keyIds))
  }
  return { days: rows, newMisses: misses }
}
