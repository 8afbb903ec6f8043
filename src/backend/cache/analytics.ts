/**
 * Coverage analytics from the request log: how much traffic the top N distinct requests cover (which is also the hit
 * rate a cache of N entries would reach), the hit rate over time, and what the cache saved.
 *
 * Money is priced now: the stored token counts of every served request at the prices set in Settings today, so prices
 * set (or changed) after the traffic was logged apply to all of it, and the page says which prices those are. The
 * per-row `cost_estimate` (the prices when the row was written) stays in the log for exports.
 */
import type { MethodOutput } from '../../shared/contract'
import type { Db } from '../db/database'
import { estimateCost, SettingsRepository } from '../settings/repository'
import { flushCacheWrites } from './runtime'

const THRESHOLDS = [0.5, 0.8, 0.9, 0.95]
const MAX_POINTS = 80

/** Cache sizes at which to sample the curve: every size when few, else roughly log-spaced. */
function samplePoints(distinct: number): number[] {
  if (distinct <= MAX_POINTS) return Array.from({ length: distinct }, (_, i) => i + 1)
  const points = new Set<number>([1, distinct])
  const ratio = Math.pow(distinct, 1 / (MAX_POINTS - 1))
  for (let value = 1; value < distinct; value *= ratio) points.add(Math.round(value))
  return [...points].sort((a, b) => a - b)
}

export function cacheAnalytics(
  db: Db,
  filter: { namespaceId?: number | undefined; since?: string | undefined; bucket: 'hour' | 'day' },
): MethodOutput<'cache.analytics'> {
  // The gateway writes its log behind (write-behind.ts): include what it served up to now.
  flushCacheWrites(db)
  const where: string[] = []
  const args: unknown[] = []
  if (filter.namespaceId !== undefined) {
    where.push('l.namespace_id = ?')
    args.push(filter.namespaceId)
  }
  if (filter.since) {
    where.push('l.at >= ?')
    args.push(filter.since)
  }
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
  // Hit rates and savings describe what the gateway served; imported history only shapes the coverage curve.
  const served = `WHERE ${[...where, "l.source = 'gateway'"].join(' AND ')}`

  const counts = db
    .prepare(`SELECT count(*) AS c FROM request_log l ${clause} GROUP BY l.namespace_id, l.key_hash ORDER BY c DESC`)
    .pluck()
    .all(...args) as number[]
  const totalRequests = counts.reduce((sum, c) => sum + c, 0)
  const cumulative: number[] = []
  counts.reduce((sum, c, i) => (cumulative[i] = sum + c), 0)
  const coverage = samplePoints(counts.length).map((entries) => ({
    entries,
    share: totalRequests > 0 ? cumulative[entries - 1]! / totalRequests : 0,
  }))
  const entriesFor: Record<string, number | null> = {}
  for (const threshold of THRESHOLDS) {
    const index = cumulative.findIndex((value) => value / totalRequests >= threshold - 1e-12)
    entriesFor[String(Math.round(threshold * 100))] = index >= 0 ? index + 1 : null
  }

  const byKindRows = db
    .prepare(`SELECT l.hit_kind AS kind, count(*) AS c FROM request_log l ${served} GROUP BY l.hit_kind`)
    .all(...args) as { kind: string; c: number }[]
  const byKind = Object.fromEntries(byKindRows.map((row) => [row.kind, row.c]))
  const hits = (byKind['hit-exact'] ?? 0) + (byKind['hit-semantic'] ?? 0)
  const servedOrMissed = hits + (byKind.miss ?? 0)

  const width = filter.bucket === 'hour' ? 13 : 10
  const overTime = db
    .prepare(
      `SELECT substr(l.at, 1, ${width}) AS bucket, count(*) AS requests,
         sum(l.hit_kind IN ('hit-exact', 'hit-semantic')) AS hits, sum(l.hit_kind = 'hit-semantic') AS semanticHits,
         sum(l.hit_kind IN ('hit-exact', 'hit-semantic', 'miss')) AS considered
       FROM request_log l ${served} GROUP BY bucket ORDER BY bucket`,
    )
    .all(...args) as { bucket: string; requests: number; hits: number; semanticHits: number; considered: number }[]

  const latency = db
    .prepare(
      `SELECT avg(CASE WHEN l.hit_kind = 'miss' THEN l.latency_ms END) AS miss,
              avg(CASE WHEN l.hit_kind IN ('hit-exact', 'hit-semantic') THEN l.latency_ms END) AS hit,
              coalesce(sum(CASE WHEN l.hit_kind IN ('hit-exact', 'hit-semantic') THEN l.tokens_in END), 0) AS tokensIn,
              coalesce(sum(CASE WHEN l.hit_kind IN ('hit-exact', 'hit-semantic') THEN l.tokens_out END), 0) AS tokensOut,
              coalesce(sum(CASE WHEN l.hit_kind IN ('miss', 'bypass') THEN l.tokens_in END), 0) AS spentIn,
              coalesce(sum(CASE WHEN l.hit_kind IN ('miss', 'bypass') THEN l.tokens_out END), 0) AS spentOut
       FROM request_log l ${served}`,
    )
    .get(...args) as {
    miss: number | null
    hit: number | null
    tokensIn: number
    tokensOut: number
    spentIn: number
    spentOut: number
  }
  const settings = new SettingsRepository(db).get()
  const priced = estimateCost(settings, 0, 0) !== null

  const uncachedWhere = [...where, 'e.id IS NULL']
  const topUncached = db
    .prepare(
      `SELECT l.key_hash AS keyHash, max(l.prompt_text) AS promptText, count(*) AS count
       FROM request_log l LEFT JOIN cache_entries e ON e.namespace_id = l.namespace_id AND e.key_hash = l.key_hash
       WHERE ${uncachedWhere.join(' AND ')}
       GROUP BY l.namespace_id, l.key_hash ORDER BY count DESC LIMIT 10`,
    )
    .all(...args) as { keyHash: string; promptText: string | null; count: number }[]

  return {
    totalRequests,
    distinctRequests: counts.length,
    coverage,
    entriesFor,
    hitRate: servedOrMissed > 0 ? hits / servedOrMissed : null,
    hitRateOverTime: overTime.map((row) => ({
      bucket: row.bucket,
      requests: row.requests,
      hits: row.hits,
      semanticHits: row.semanticHits,
      rate: row.considered > 0 ? row.hits / row.considered : 0,
    })),
    byKind,
    saved: {
      tokensIn: latency.tokensIn,
      tokensOut: latency.tokensOut,
      gpuSeconds: latency.miss !== null ? (hits * latency.miss) / 1000 : 0,
      meanMissLatencyMs: latency.miss,
      meanHitLatencyMs: latency.hit,
      cost: estimateCost(settings, latency.tokensIn, latency.tokensOut),
      spent: estimateCost(settings, latency.spentIn, latency.spentOut),
      prices: priced ? { ...settings.pricing } : null,
    },
    topUncached,
  }
}
