/**
 * The budget view of a target hit rate: which of the planned top N are servable already, which are drafts to approve
 * and which must be generated (pre-warmed); what generating them costs in tokens, generation time (at the speed
 * measured on this namespace's live generations) and money (at the operator's prices); and what the planned cache
 * saves per day at the log's volume.
 */
import type { CachePlan, Settings } from '../../../shared/contract'
import type { Db } from '../../db/database'
import { estimateCost } from '../../settings/repository'
import type { NamespaceConfig } from '../runtime'
import { projectKeys, type PlanCore } from './core'

type Budget = CachePlan['budget']

const MAX_LISTED = 10_000
/** Characters per token when no tokenizer count is known (a common rule of thumb for English text). */
const CHARS_PER_TOKEN = 4

interface EntryRow {
  id: number
  keyHash: string
  state: 'draft' | 'approved' | 'rejected'
  expiresAt: string | null
}

export function entryStates(db: Db, namespaceId: number): Map<string, EntryRow> {
  const rows = db
    .prepare('SELECT id, key_hash AS keyHash, state, expires_at AS expiresAt FROM cache_entries WHERE namespace_id = ?')
    .all(namespaceId) as EntryRow[]
  return new Map(rows.map((row) => [row.keyHash, row]))
}

export function isServable(entry: EntryRow | undefined, serveDrafts: boolean, at: string): boolean {
  if (!entry || (entry.expiresAt !== null && entry.expiresAt <= at)) return false
  return entry.state === 'approved' || (serveDrafts && entry.state === 'draft')
}

function meanTokens(db: Db, namespace: NamespaceConfig): { in: number | null; out: number | null } {
  const entries = db
    .prepare(
      `SELECT avg(tokens_in) AS tin, avg(tokens_out) AS tout FROM cache_entries
       WHERE namespace_id = ? AND tokens_out IS NOT NULL AND tokens_out > 0`,
    )
    .get(namespace.id) as { tin: number | null; tout: number | null }
  if (entries.tout !== null) return { in: entries.tin, out: entries.tout }
  const live = db
    .prepare(
      `SELECT avg(tokens_in) AS tin, avg(tokens_out) AS tout FROM request_log
       WHERE namespace_id = ? AND tenant = ? AND source = 'gateway' AND hit_kind = 'miss' AND tokens_out > 0`,
    )
    .get(namespace.id, namespace.tenant) as { tin: number | null; tout: number | null }
  return { in: live.tin, out: live.tout }
}

/** Generated tokens per second, end to end, over this namespace's live generations (gateway misses). */
function measuredSpeed(db: Db, namespace: NamespaceConfig): Budget['speed'] {
  const row = db
    .prepare(
      `SELECT count(*) AS n, sum(tokens_out) AS tokens, sum(latency_ms) AS ms FROM request_log
       WHERE namespace_id = ? AND tenant = ? AND source = 'gateway' AND hit_kind = 'miss'
         AND tokens_out > 0 AND latency_ms > 0`,
    )
    .get(namespace.id, namespace.tenant) as { n: number; tokens: number | null; ms: number | null }
  return {
    tokensPerSecond: row.n > 0 && row.ms ? (row.tokens! * 1000) / row.ms : null,
    generations: row.n,
  }
}

function promptTokens(core: PlanCore, keyId: number): number {
  return Math.ceil((core.log.promptText[keyId] ?? '').length / CHARS_PER_TOKEN)
}

export function planBudget(
  db: Db,
  input: {
    namespace: NamespaceConfig
    core: PlanCore
    target: number
    /** The planned top N (null when the target is out of reach). */
    top: Int32Array | null
    /** The projected hit rate of the planned cache. */
    plannedRate: number
    settings: Settings
  },
): Budget {
  const { namespace, core, top, settings } = input
  const { log } = core
  const now = new Date().toISOString()
  const entries = entryStates(db, namespace.id)
  const servableKeys = new Uint8Array(log.keys.length)
  log.keys.forEach((keyHash, keyId) => {
    if (isServable(entries.get(keyHash), namespace.serveDrafts, now)) servableKeys[keyId] = 1
  })
  const draftIds: number[] = []
  const missingKeys: number[] = []
  const approvable = new Uint8Array(servableKeys)
  let rejected = 0
  let servable = 0
  for (const keyId of top ?? []) {
    const entry = entries.get(log.keys[keyId]!)
    if (servableKeys[keyId]) servable++
    else if (entry?.state === 'draft') {
      draftIds.push(entry.id)
      approvable[keyId] = 1
    } else if (entry?.state === 'rejected') rejected++
    else missingKeys.push(keyId)
  }

  const tokens = meanTokens(db, namespace)
  const speed = measuredSpeed(db, namespace)
  const inSource = tokens.in !== null ? 'measured' : missingKeys.length > 0 ? 'estimated' : null
  const tokensInFor = (keyId: number): number => tokens.in ?? promptTokens(core, keyId)
  const prewarmIn = missingKeys.reduce((sum, keyId) => sum + tokensInFor(keyId), 0)
  const prewarmOut = tokens.out === null ? null : missingKeys.length * tokens.out
  const pricesSet = estimateCost(settings, 0, 0) !== null
  const perRequestIn = tokens.in ?? (missingKeys.length > 0 ? prewarmIn / missingKeys.length : null)

  const spanDays = log.order === 'time' && log.time.length > 1 ? (log.time.at(-1)! - log.time[0]!) / 86_400_000 : 0
  const requestsPerDay = spanDays > 0 ? log.key.length / spanDays : null
  const hitsPerDay = requestsPerDay === null ? null : requestsPerDay * input.plannedRate
  const perHitTokens = tokens.out === null || perRequestIn === null ? null : perRequestIn + tokens.out
  return {
    target: input.target,
    entries: top ? top.length : null,
    servable,
    drafts: draftIds.length,
    rejected,
    missing: missingKeys.length,
    draftIds: draftIds.slice(0, MAX_LISTED),
    missingKeys: missingKeys.slice(0, MAX_LISTED).map((keyId) => log.keys[keyId]!),
    now: projectKeys(core, (keyId) => servableKeys[keyId] === 1),
    afterApproving: projectKeys(core, (keyId) => approvable[keyId] === 1),
    tokensPerEntry: { in: perRequestIn, out: tokens.out, inSource },
    speed,
    prewarm: {
      tokensIn: missingKeys.length > 0 ? prewarmIn : 0,
      tokensOut: prewarmOut,
      seconds: prewarmOut !== null && speed.tokensPerSecond ? prewarmOut / speed.tokensPerSecond : null,
      cost: prewarmOut === null ? null : estimateCost(settings, prewarmIn, prewarmOut),
    },
    perDay: {
      requests: requestsPerDay,
      hits: hitsPerDay,
      tokensSaved: hitsPerDay !== null && perHitTokens !== null ? hitsPerDay * perHitTokens : null,
      secondsSaved:
        hitsPerDay !== null && tokens.out !== null && speed.tokensPerSecond
          ? (hitsPerDay * tokens.out) / speed.tokensPerSecond
          : null,
      costSaved:
        hitsPerDay !== null && tokens.out !== null && perRequestIn !== null && pricesSet
          ? hitsPerDay * estimateCost(settings, perRequestIn, tokens.out)!
          : null,
    },
    currency: settings.pricing.currency,
    pricesSet,
  }
}
