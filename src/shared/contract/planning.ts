/**
 * Traffic planning for a cache namespace (one tenant + namespace): a held-out projection of the hit rate a cache of
 * the top N requests would reach on fresh traffic, what-ifs computed from the log without serving anything
 * (semantic matching, TTLs, normalisation rules), the budget for a target hit rate, and the realised hit rate per day
 * against what the plan projected for the entries actually servable.
 */
import { z } from 'zod'
import { id, timestamp } from './common'
import { jobSchema } from './core'

/** Why a figure is missing or was computed another way than asked; the console shows each one. */
export const PLAN_NOTE_CODES = [
  /** No logged requests in the namespace (for the chosen source). */
  'no-log',
  /** Too few requests on one side of the split: fell back to in-sample (labelled). */
  'too-small',
  /** Timestamps too clustered to split by time (one side nearly empty): fell back to in-sample (labelled). */
  'too-short',
  /** Some or all requests carry no timestamp of their own: ordered by line, per-day figures unavailable. */
  'no-timestamps',
  /** The held-out part never reaches the target, whatever the cache size. */
  'target-unreachable',
  /** The namespace has no embedder: the semantic what-if cannot run. */
  'no-embedder',
  /** The log's distinct prompts are not (all) embedded with the namespace's current embedder yet. */
  'needs-embedding',
  /** No prices in Settings: token and time figures only. */
  'no-prices',
  /** No measured generation speed (no live generation logged in this namespace yet). */
  'no-speed',
  /** Answer lengths unknown (no entry or live generation recorded its tokens). */
  'no-answer-lengths',
  /** The reference for projected-vs-realised includes served traffic itself (source is not an imported log). */
  'reference-in-sample',
] as const
export type PlanNoteCode = (typeof PLAN_NOTE_CODES)[number]

export const planNoteSchema = z.object({
  code: z.enum(PLAN_NOTE_CODES),
  /** English text (the CLI prints it; the console translates by code with `params`). */
  message: z.string(),
  params: z.record(z.string(), z.union([z.string(), z.number()])),
})
export type PlanNote = z.infer<typeof planNoteSchema>

/** A projected hit rate with its 95 % bootstrap interval (low/high null in-sample: no honest interval there). */
export const projectionSchema = z.object({
  rate: z.number(),
  low: z.number().nullable(),
  high: z.number().nullable(),
})
export type Projection = z.infer<typeof projectionSchema>

export const PLAN_SOURCES = ['auto', 'import', 'gateway', 'all'] as const
export const NORMALIZATION_RULES = ['whitespace', 'case', 'nfkc', 'punctuation'] as const

const entriesForSchema = z.object({
  share: z.number(),
  /** Smallest top-N reaching `share` on the held-out part (in-sample when the plan fell back); null: never. */
  entries: z.int().positive().nullable(),
  /** Smallest top-N reaching `share` on the training part itself (what an in-sample curve would say). */
  inSampleEntries: z.int().positive().nullable(),
  /** The projected hit rate of that top N (held-out, with its interval). */
  projected: projectionSchema.nullable(),
})

const semanticWhatIfSchema = z.object({
  status: z.enum(['ready', 'no-embedder', 'needs-embedding']),
  threshold: z.number(),
  /** Distinct prompts embedded with the current embedder, of those the what-if needs. */
  embedded: z.int().nonnegative(),
  needed: z.int().nonnegative(),
  /** Held-out requests an approved entry would answer semantically (none of these are exact hits). */
  hits: z.int().nonnegative().nullable(),
  extra: z.number().nullable(),
  hitRate: z.number().nullable(),
  /** Requests whose neighbours passed the threshold but every one was refused by a guard (or a model/parameter mismatch). */
  refused: z.int().nonnegative().nullable(),
  /** Extra hit rate at other thresholds (same cache, same guards). */
  sweep: z.array(z.object({ threshold: z.number(), extra: z.number() })),
  /** The most frequent requests it would answer, and with what: for an operator to judge the matches. */
  examples: z.array(
    z.object({ promptText: z.string(), matchedText: z.string(), similarity: z.number(), requests: z.int() }),
  ),
})

const dayRowSchema = z.object({
  day: z.string(),
  /** Gateway requests that could be served from cache (hits and misses; bypasses and errors excluded). */
  requests: z.int().nonnegative(),
  hitRate: z.number(),
  exactHitRate: z.number(),
  semanticHitRate: z.number(),
  /** The plan's projection (exact matching) for the entries servable at the end of that day. */
  projected: projectionSchema,
  servableEntries: z.int().nonnegative(),
  /** The realised exact hit rate fell below the projection by more than its interval and the day's own noise. */
  drift: z.boolean(),
})

export const planSchema = z.object({
  namespace: z.object({ id, tenant: z.string(), name: z.string() }),
  log: z.object({
    source: z.enum(['import', 'gateway', 'all']),
    requests: z.int().nonnegative(),
    distinct: z.int().nonnegative(),
    order: z.enum(['time', 'lines']),
    withoutTimestamp: z.int().nonnegative(),
    from: timestamp.nullable(),
    to: timestamp.nullable(),
    /** Time the log spans, in days (null in line order). */
    days: z.number().nullable(),
  }),
  split: z.object({
    mode: z.enum(['held-out', 'in-sample']),
    requested: z.number(),
    /** The share of requests actually in the training part. */
    actual: z.number(),
    trainRequests: z.int().nonnegative(),
    heldOutRequests: z.int().nonnegative(),
    /** Time of the first held-out request (null in line order or in-sample). */
    at: timestamp.nullable(),
    /** How the interval was bootstrapped: over days of the held-out part, or blocks of consecutive requests. */
    intervalBy: z.enum(['days', 'blocks']).nullable(),
    blocks: z.int().nonnegative(),
  }),
  /** Hit rate of a cache of the top N (ranked on the training part): in-sample (training part) and held-out. */
  curve: z.array(
    z.object({
      entries: z.int().positive(),
      inSample: z.number(),
      heldOut: z.number().nullable(),
      low: z.number().nullable(),
      high: z.number().nullable(),
    }),
  ),
  entriesFor: z.array(entriesForSchema),
  target: entriesForSchema.extend({
    /** The best the held-out part allows: every request seen in training cached. */
    maxReachable: z.number(),
  }),
  whatIfs: z.object({
    /** The cache every what-if changes: the top N for the target (or every training request when out of reach). */
    basis: z.object({ entries: z.int().nonnegative(), hitRate: z.number() }),
    normalization: z.array(
      z.object({
        rule: z.enum([...NORMALIZATION_RULES, 'all']),
        hitRate: z.number(),
        extra: z.number(),
        distinct: z.int().nonnegative(),
      }),
    ),
    ttl: z.object({
      available: z.boolean(),
      rows: z.array(z.object({ seconds: z.int().positive(), hitRate: z.number(), extra: z.number() })),
    }),
    semantic: semanticWhatIfSchema,
  }),
  budget: z.object({
    target: z.number(),
    entries: z.int().nonnegative().nullable(),
    servable: z.int().nonnegative(),
    drafts: z.int().nonnegative(),
    rejected: z.int().nonnegative(),
    missing: z.int().nonnegative(),
    /** Approve these drafts (the action "approve these N drafts"); at most 10,000. */
    draftIds: z.array(id),
    /** Pre-warm these requests (key hashes, most frequent first); at most 10,000. */
    missingKeys: z.array(z.string()),
    now: projectionSchema,
    afterApproving: projectionSchema,
    tokensPerEntry: z.object({
      in: z.number().nullable(),
      out: z.number().nullable(),
      inSource: z.enum(['measured', 'estimated']).nullable(),
    }),
    speed: z.object({ tokensPerSecond: z.number().nullable(), generations: z.int().nonnegative() }),
    prewarm: z.object({
      tokensIn: z.number().nullable(),
      tokensOut: z.number().nullable(),
      seconds: z.number().nullable(),
      cost: z.number().nullable(),
    }),
    perDay: z.object({
      requests: z.number().nullable(),
      hits: z.number().nullable(),
      tokensSaved: z.number().nullable(),
      secondsSaved: z.number().nullable(),
      costSaved: z.number().nullable(),
    }),
    currency: z.string(),
    pricesSet: z.boolean(),
  }),
  realised: z.object({
    days: z.array(dayRowSchema),
    /** On drifting days: the requests whose misses most exceed what the reference log predicts. */
    newMisses: z.array(
      z.object({
        day: z.string(),
        keyHash: z.string(),
        promptText: z.string().nullable(),
        misses: z.int().nonnegative(),
        expected: z.number(),
        referenceShare: z.number(),
      }),
    ),
  }),
  notes: z.array(planNoteSchema),
})
export type CachePlan = z.infer<typeof planSchema>

export const planningMethods = {
  'cache.plan': {
    input: z
      .object({
        namespaceId: id,
        /** The hit rate to reach (0.9 = 90 %). */
        target: z.number().gt(0).max(0.999).default(0.9),
        /** Share of the log (earliest first) to rank on; the rest is held out to measure. */
        split: z.number().min(0.5).max(0.95).default(0.7),
        /** Threshold of the semantic what-if (default: the namespace's). */
        semanticThreshold: z.number().gt(0).max(1).optional(),
        /** Which logged requests to plan from; auto: the imported log when there is one, else served traffic. */
        source: z.enum(PLAN_SOURCES).default('auto'),
      })
      .strict(),
    output: planSchema,
  },
  'cache.plan.embed': {
    input: z.object({ namespaceId: id }).strict(),
    output: z.object({ job: jobSchema }),
  },
} as const
