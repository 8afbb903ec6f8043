/**
 * A cache plan for one namespace (one tenant + namespace): the held-out projection and its curve, the cache size for
 * each target, the what-ifs, the budget and projected-vs-realised, with a note for every figure that had to be
 * computed another way than asked (in-sample, line order, no embedder, no prices...).
 */
import type { CachePlan, PlanNote, Settings } from '../../../shared/contract'
import type { Db } from '../../db/database'
import type { NamespaceConfig } from '../runtime'
import { planBudget } from './budget'
import { evalTotal, planCore, projectTop, topKeys, type PlanCore } from './core'
import { noEmbedderMessage } from './embed-job'
import { loadPlanLog, resolveSource, type PlanSource } from './log'
import { entriesFor, MIN_SIDE, samplePoints } from './projection'
import { planRealised } from './realised'
import { semanticWhatIf } from './semantic-what-if'
import { normalizationWhatIfs, ttlWhatIfs } from './what-ifs'

export const PLAN_SHARES = [0.5, 0.8, 0.9, 0.95]

export interface PlanInput {
  target: number
  split: number
  semanticThreshold?: number | undefined
  source: PlanSource | 'auto'
}

const percent = (value: number): string => `${(value * 100).toFixed(1)}%`

function note(code: PlanNote['code'], message: string, params: PlanNote['params'] = {}): PlanNote {
  return { code, message, params }
}

function entriesForShare(core: PlanCore, share: number): CachePlan['entriesFor'][number] {
  const entries = entriesFor(core.evalCumulative, evalTotal(core), share)
  return {
    share,
    entries,
    inSampleEntries: entriesFor(core.ranking.trainCumulative, core.trainTo, share),
    projected: entries === null ? null : projectTop(core, entries),
  }
}

function curveOf(core: PlanCore, marks: (number | null)[]): CachePlan['curve'] {
  // In-sample plans have no held-out curve: the in-sample one is the projection, labelled.
  const heldOut = core.split.mode === 'held-out'
  const points = samplePoints(
    core.ranking.ranked.length,
    marks.filter((n): n is number => n !== null),
  )
  return points.map((entries) => {
    const projected = heldOut ? projectTop(core, entries) : null
    return {
      entries,
      inSample: core.trainTo > 0 ? core.ranking.trainCumulative[entries - 1]! / core.trainTo : 0,
      heldOut: projected ? projected.rate : null,
      low: projected?.low ?? null,
      high: projected?.high ?? null,
    }
  })
}

function logNotes(core: PlanCore, input: PlanInput): PlanNote[] {
  const { log, split } = core
  const notes: PlanNote[] = []
  if (log.key.length === 0) {
    notes.push(note('no-log', 'No requests are logged for this namespace yet: import a request log or serve traffic.'))
    return notes
  }
  if (log.withoutTimestamp > 0) {
    notes.push(
      note(
        'no-timestamps',
        `${log.withoutTimestamp} of ${log.key.length} requests have no timestamp of their own: the log is split in line order, and TTL and per-day figures are unavailable.`,
        { count: log.withoutTimestamp, total: log.key.length },
      ),
    )
  }
  if (split.fallback === 'too-small') {
    notes.push(
      note(
        'too-small',
        `The log has ${log.key.length} requests, too few to hold ${MIN_SIDE} or more out on each side of a split: these figures are in-sample (the log measured on itself) and overstate a fresh day.`,
        { count: log.key.length, minimum: 2 * MIN_SIDE },
      ),
    )
  }
  if (split.fallback === 'too-short') {
    notes.push(
      note(
        'too-short',
        `The log's timestamps are too close together to split it by time at ${percent(input.split)} (too many requests share the boundary instant): these figures are in-sample and overstate a fresh day.`,
        { split: input.split },
      ),
    )
  }
  return notes
}

export function makePlan(
  db: Db,
  input: {
    namespace: NamespaceConfig
    plan: PlanInput
    settings: Settings
    /** The plan's vector store contents, or null when the namespace has no embedder. */
    vectors: () => Map<string, Float32Array> | null
  },
): CachePlan {
  const { namespace, plan, settings } = input
  const source = resolveSource(db, namespace.id, plan.source)
  const log = loadPlanLog(db, namespace, source)
  const core = planCore(log, plan.split)
  const notes = logNotes(core, plan)
  const target = entriesForShare(core, plan.target)
  const maxReachable = evalTotal(core) > 0 ? (core.evalCumulative.at(-1) ?? 0) / evalTotal(core) : 0
  if (log.key.length > 0 && target.entries === null) {
    notes.push(
      note(
        'target-unreachable',
        `${percent(plan.target)} is out of reach: even caching every request seen in training answers ${percent(maxReachable)} of the held-out part.`,
        { target: plan.target, reachable: maxReachable },
      ),
    )
  }
  const basisEntries = target.entries ?? core.ranking.ranked.length
  const top = topKeys(core, basisEntries)
  const basisRate = projectTop(core, basisEntries).rate
  const threshold = plan.semanticThreshold ?? namespace.similarityThreshold
  const semantic = semanticWhatIf(
    core,
    top,
    { threshold, guards: namespace.guards, basisRate },
    namespace.embedder ? input.vectors() : null,
  )
  if (semantic.status === 'no-embedder') notes.push(note('no-embedder', noEmbedderMessage(namespace)))
  if (semantic.status === 'needs-embedding') {
    notes.push(
      note(
        'needs-embedding',
        `${semantic.needed - semantic.embedded} of ${semantic.needed} logged prompts are not embedded with the namespace's embedder yet: run the embedding job (cache.plan.embed) for the semantic what-if.`,
        { missing: semantic.needed - semantic.embedded, needed: semantic.needed },
      ),
    )
  }
  const budget = planBudget(db, {
    namespace,
    core,
    target: plan.target,
    top: target.entries === null ? null : top,
    plannedRate: basisRate,
    settings,
  })
  notes.push(...budgetNotes(budget, log.key.length > 0))
  const realised = planRealised(db, namespace, core)
  if (realised.days.length > 0 && source !== 'import') {
    notes.push(
      note(
        'reference-in-sample',
        'The projections are made from served traffic itself (no imported log): projected-vs-realised compares the gateway with its own history.',
      ),
    )
  }
  return {
    namespace: { id: namespace.id, tenant: namespace.tenant, name: namespace.name },
    log: logSummary(core),
    split: splitSummary(core, plan.split),
    curve: curveOf(core, [target.entries]),
    entriesFor: PLAN_SHARES.map((share) => entriesForShare(core, share)),
    target: { ...target, maxReachable },
    whatIfs: {
      basis: { entries: top.length, hitRate: basisRate },
      normalization: normalizationWhatIfs(core, namespace.normalization, basisEntries, basisRate),
      ttl: ttlWhatIfs(core, top, basisRate, namespace.defaultTtlSeconds),
      semantic,
    },
    budget,
    realised,
    notes,
  }
}

function budgetNotes(budget: CachePlan['budget'], hasLog: boolean): PlanNote[] {
  if (!hasLog) return []
  const notes: PlanNote[] = []
  if (!budget.pricesSet) {
    notes.push(
      note(
        'no-prices',
        'No prices are set (Settings, Pricing): costs are not estimated; tokens and generation time only.',
      ),
    )
  }
  if (budget.tokensPerEntry.out === null) {
    notes.push(
      note(
        'no-answer-lengths',
        'No answer lengths are known yet (no entry or live generation recorded its tokens): generated tokens and time are not estimated.',
      ),
    )
  }
  if (budget.speed.tokensPerSecond === null) {
    notes.push(
      note(
        'no-speed',
        'No generation speed is measured yet (no live generation in this namespace): generation time is not estimated.',
      ),
    )
  }
  return notes
}

function logSummary(core: PlanCore): CachePlan['log'] {
  const { log } = core
  const timed = log.order === 'time' && log.time.length > 0
  return {
    source: log.source,
    requests: log.key.length,
    distinct: log.keys.length,
    order: log.order,
    withoutTimestamp: log.withoutTimestamp,
    from: timed ? new Date(log.time[0]!).toISOString() : null,
    to: timed ? new Date(log.time.at(-1)!).toISOString() : null,
    days: timed ? (log.time.at(-1)! - log.time[0]!) / 86_400_000 : null,
  }
}

function splitSummary(core: PlanCore, requested: number): CachePlan['split'] {
  const { log, split } = core
  const n = log.key.length
  const heldOut = split.mode === 'held-out'
  return {
    mode: split.mode,
    requested,
    actual: n > 0 ? core.trainTo / n : 0,
    trainRequests: core.trainTo,
    heldOutRequests: heldOut ? n - core.trainTo : 0,
    at: heldOut && log.order === 'time' ? new Date(log.time[core.trainTo]!).toISOString() : null,
    intervalBy: core.bootstrap?.by ?? null,
    blocks: core.bootstrap?.blocks ?? 0,
  }
}
