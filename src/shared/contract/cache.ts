/** The Cache area of the contract: namespaces, curated entries, the request log, analytics, gateway keys. */
import { z } from 'zod'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema, messageRefSchema } from './core'
import { chatMessageSchema, generationTargetSchema } from './models'

export const ENTRY_STATES = ['draft', 'approved', 'rejected'] as const
export const entryStateSchema = z.enum(ENTRY_STATES)
export const HIT_KINDS = ['hit-exact', 'hit-semantic', 'miss', 'bypass', 'error'] as const
/**
 * Why a request was not answered from the cache (`x-larder-cache-reason`, the request log): nothing stored for it; a
 * draft the namespace does not serve (approved only); a rejected or expired entry; a semantic match a false-hit guard
 * refused; an entry for the same prompt with other answer-changing parameters (max_tokens, temperature...); the
 * client asked to bypass the cache (Cache-Control: no-cache).
 */
export const MISS_REASONS = [
  'no-entry',
  'draft-not-served',
  'rejected',
  'expired',
  'guard-refused',
  'params-differ',
  'bypass',
] as const
export const missReasonSchema = z.enum(MISS_REASONS)
export type MissReason = z.infer<typeof missReasonSchema>

export const normalizationSchema = z.object({
  whitespace: z.boolean(),
  case: z.boolean(),
  nfkc: z.boolean(),
  punctuation: z.boolean(),
})

export const guardsSchema = z.object({
  /** "enable 2FA" must not match "disable 2FA": refuse matches whose negations or polar verbs differ. */
  negation: z.boolean(),
  /** "refund order 123" must not match "refund order 456": refuse matches whose numbers differ. */
  numbers: z.boolean(),
})

export const namespaceSchema = z.object({
  id,
  tenant: z.string(),
  name: z.string(),
  serveDrafts: z.boolean(),
  storeAs: z.enum(['draft', 'approved', 'none']),
  normalization: normalizationSchema,
  semanticEnabled: z.boolean(),
  embedder: generationTargetSchema.nullable(),
  embedderVersion: z.string().nullable(),
  similarityThreshold: z.number(),
  guards: guardsSchema,
  generationTarget: generationTargetSchema.nullable(),
  modelLabel: z.string().nullable(),
  promptVersion: z.string().nullable(),
  onChange: z.enum(['none', 'draft', 'delete']),
  defaultTtlSeconds: z.int().nullable(),
  entryCounts: z.object({ draft: z.int(), approved: z.int(), rejected: z.int() }),
  createdAt: timestamp,
})
export type CacheNamespace = z.infer<typeof namespaceSchema>

/** A tool call in a cached answer (OpenAI's chat shape; `arguments` is JSON text). */
export const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
})

export const cacheEntrySchema = z.object({
  id,
  namespaceId: id,
  keyHash: z.string(),
  canonical: z.unknown(),
  promptText: z.string(),
  answer: z.string(),
  /** How the answer ended: "length" was cut off at max_tokens; "tool_calls" carries `toolCalls`. */
  finishReason: z.enum(['stop', 'length', 'tool_calls']),
  toolCalls: z.array(toolCallSchema).nullable(),
  state: entryStateSchema,
  pinned: z.boolean(),
  expiresAt: timestamp.nullable(),
  hitCount: z.int().nonnegative(),
  lastHitAt: timestamp.nullable(),
  model: z.string().nullable(),
  modelFileHash: z.string().nullable(),
  promptVersion: z.string().nullable(),
  embedderVersion: z.string().nullable(),
  params: z.unknown(),
  createdBy: z.enum(['generated', 'imported', 'edited', 'prewarm']),
  tokensIn: z.int().nullable(),
  tokensOut: z.int().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
})
export type CacheEntry = z.infer<typeof cacheEntrySchema>

export const entryVersionSchema = z.object({
  version: z.int().positive(),
  answer: z.string(),
  state: z.string(),
  changedBy: z.string(),
  note: z.string().nullable(),
  /** The note as a translatable message (null: free text, or written before messages had keys). */
  noteRef: messageRefSchema.nullable(),
  createdAt: timestamp,
})
export type EntryVersion = z.infer<typeof entryVersionSchema>

export const requestLogSchema = z.object({
  id,
  at: timestamp,
  namespaceId: id.nullable(),
  tenant: z.string(),
  keyHash: z.string(),
  promptText: z.string().nullable(),
  hitKind: z.enum(HIT_KINDS),
  /** Why it missed (null for hits, errors, imported lines and rows logged before reasons were recorded). */
  reason: missReasonSchema.nullable(),
  similarity: z.number().nullable(),
  entryId: z.int().nullable(),
  latencyMs: z.number().nullable(),
  tokensIn: z.int().nullable(),
  tokensOut: z.int().nullable(),
  source: z.enum(['gateway', 'import']),
})
export type RequestLogRow = z.infer<typeof requestLogSchema>

export const gatewayKeySchema = z.object({
  id,
  tenant: z.string(),
  label: z.string().nullable(),
  prefix: z.string(),
  createdAt: timestamp,
  lastUsedAt: timestamp.nullable(),
  revokedAt: timestamp.nullable(),
})

/** What a bulk action or an invalidation applies to. */
export const entryFilterSchema = z
  .object({
    namespaceId: id,
    ids: z.array(id).max(10_000).optional(),
    state: z.array(entryStateSchema).optional(),
    model: z.string().max(200).optional(),
    promptVersion: z.string().max(200).optional(),
    createdBy: z.enum(['generated', 'imported', 'edited', 'prewarm']).optional(),
    search: z.string().max(500).optional(),
    createdBefore: timestamp.optional(),
  })
  .strict()

const requestSchema = z
  .object({
    model: z.string().min(1).max(200),
    messages: z.array(chatMessageSchema).min(1).max(200).optional(),
    prompt: z.string().max(200_000).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()

export const cacheMethods = {
  'cache.namespaces.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(namespaceSchema) }),
  },
  'cache.namespaces.save': {
    input: z
      .object({
        id: id.optional(),
        tenant: resourceName.default('default'),
        name: resourceName,
        serveDrafts: z.boolean().optional(),
        storeAs: z.enum(['draft', 'approved', 'none']).optional(),
        normalization: normalizationSchema.partial().optional(),
        semanticEnabled: z.boolean().optional(),
        embedder: generationTargetSchema.nullable().optional(),
        similarityThreshold: z.number().gt(0).max(1).optional(),
        guards: guardsSchema.partial().optional(),
        generationTarget: generationTargetSchema.nullable().optional(),
        modelLabel: z.string().max(200).nullable().optional(),
        promptVersion: z.string().max(200).nullable().optional(),
        onChange: z.enum(['none', 'draft', 'delete']).optional(),
        defaultTtlSeconds: z.int().positive().nullable().optional(),
      })
      .strict(),
    output: z.object({ namespace: namespaceSchema, invalidated: z.int().nonnegative() }),
  },
  'cache.namespaces.remove': {
    input: z.object({ id }).strict(),
    output: z.object({ removedEntries: z.int().nonnegative() }),
  },
  'cache.entries.list': {
    input: z
      .object({
        namespaceId: id,
        state: z.array(entryStateSchema).optional(),
        search: z.string().max(500).optional(),
        pinned: z.boolean().optional(),
        /** Only entries generated by this model (its name, as recorded in provenance). */
        model: z.string().min(1).max(200).optional(),
        /** Only entries served at least this many times. */
        minHits: z.int().min(0).optional(),
        sort: z.enum(['hits', 'recent', 'created']).default('hits'),
        limit: z.int().min(1).max(500).default(50),
        offset: z.int().min(0).default(0),
      })
      .strict(),
    output: z.object({ items: z.array(cacheEntrySchema), total: z.int().nonnegative() }),
  },
  'cache.entries.get': {
    input: z.object({ id }).strict(),
    output: z.object({
      entry: cacheEntrySchema,
      versions: z.array(entryVersionSchema),
      /**
       * Other entries for the same prompt (model and messages) whose answer-changing parameters differ: each
       * parameter set is its own entry, because it can change the answer.
       */
      siblings: z.array(
        z.object({ id, params: z.unknown(), state: entryStateSchema, hitCount: z.int().nonnegative() }),
      ),
    }),
  },
  'cache.entries.create': {
    input: z
      .object({
        namespaceId: id,
        request: requestSchema,
        answer: z.string().min(1).max(200_000),
        state: entryStateSchema.default('draft'),
      })
      .strict(),
    output: cacheEntrySchema,
  },
  'cache.entries.update': {
    input: z
      .object({
        id,
        answer: z.string().min(1).max(200_000).optional(),
        state: entryStateSchema.optional(),
        pinned: z.boolean().optional(),
        expiresAt: timestamp.nullable().optional(),
        note: z.string().max(1000).optional(),
        /**
         * Approve although the answer contains U+FFFD (broken UTF-8 from a model's byte tokens); without it such an
         * approval is refused with the reason.
         */
        acceptBrokenText: z.boolean().optional(),
      })
      .strict(),
    output: cacheEntrySchema,
  },
  'cache.entries.revert': {
    input: z.object({ id, version: z.int().positive() }).strict(),
    output: cacheEntrySchema,
  },
  'cache.entries.bulk': {
    input: z
      .object({ filter: entryFilterSchema, action: z.enum(['approve', 'reject', 'draft', 'delete', 'pin', 'unpin']) })
      .strict(),
    output: z.object({
      affected: z.int().nonnegative(),
      /** Entries a bulk approval left as they were: their answers contain U+FFFD (broken UTF-8); edit them first. */
      skippedBrokenText: z.int().nonnegative(),
    }),
  },
  'cache.lookup': {
    input: z.object({ namespaceId: id, request: requestSchema }).strict(),
    output: z.object({
      hitKind: z.enum(HIT_KINDS),
      keyHash: z.string(),
      entry: cacheEntrySchema.nullable(),
      similarity: z.number().nullable(),
      refusedBy: z.string().nullable(),
      /** Why it would miss (null for a hit). */
      reason: missReasonSchema.nullable(),
    }),
  },
  'cache.log.list': {
    input: z
      .object({
        namespaceId: id.optional(),
        hitKind: z.array(z.enum(HIT_KINDS)).optional(),
        limit: z.int().min(1).max(500).default(50),
        offset: z.int().min(0).default(0),
      })
      .strict(),
    output: z.object({ items: z.array(requestLogSchema), total: z.int().nonnegative() }),
  },
  /**
   * One request-log row with what the drawer shows: the canonical request as it was keyed (messages and the
   * answer-changing parameters) and the entry that answered it or that its miss stored (only an entry of the
   * row's own namespace, so never another tenant's).
   */
  'cache.log.get': {
    input: z.object({ id }).strict(),
    output: z.object({ row: requestLogSchema, request: z.unknown().nullable(), entry: cacheEntrySchema.nullable() }),
  },
  'cache.log.import': {
    input: z.object({ namespaceId: id, path: absolutePath, format: z.enum(['jsonl', 'csv']).optional() }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'cache.analytics': {
    input: z
      .object({
        namespaceId: id.optional(),
        /** Only requests at or after this time. */
        since: timestamp.optional(),
        bucket: z.enum(['hour', 'day']).default('day'),
      })
      .strict(),
    output: z.object({
      totalRequests: z.int().nonnegative(),
      distinctRequests: z.int().nonnegative(),
      /** Share of the logged traffic answered by the top N distinct requests, in-sample (cache.plan projects it held-out). */
      coverage: z.array(z.object({ entries: z.int().positive(), share: z.number() })),
      /** Smallest cache size that would cover 50 / 80 / 90 / 95 % of traffic. */
      entriesFor: z.record(z.string(), z.int().nullable()),
      hitRate: z.number().nullable(),
      hitRateOverTime: z.array(
        z.object({ bucket: z.string(), requests: z.int(), hits: z.int(), semanticHits: z.int(), rate: z.number() }),
      ),
      byKind: z.record(z.string(), z.int()),
      saved: z.object({
        tokensIn: z.int().nonnegative(),
        tokensOut: z.int().nonnegative(),
        /** Estimated generation time avoided: hits x mean live-generation latency. */
        gpuSeconds: z.number().nonnegative(),
        meanMissLatencyMs: z.number().nullable(),
        meanHitLatencyMs: z.number().nullable(),
        /**
         * What the hits' tokens would have cost to generate, at the prices set in Settings now (null when none are
         * set): recomputed from the stored token counts, so prices set after the traffic was logged apply to it.
         */
        cost: z.number().nullable(),
        /** What the misses' tokens cost, at the same prices. */
        spent: z.number().nullable(),
        /** The prices `cost` and `spent` apply (today's), or null when none are set. */
        prices: z
          .object({
            inputPer1kTokens: z.number().nullable(),
            outputPer1kTokens: z.number().nullable(),
            currency: z.string(),
          })
          .nullable(),
      }),
      topUncached: z.array(z.object({ keyHash: z.string(), promptText: z.string().nullable(), count: z.int() })),
    }),
  },
  'cache.prewarm': {
    input: z
      .object({
        namespaceId: id,
        top: z.int().min(1).max(100_000).default(100),
        target: generationTargetSchema.optional(),
        /** Pre-warm exactly these requests (key hashes from a plan) instead of the most frequent uncached ones. */
        keys: z
          .array(z.string().regex(/^[0-9a-f]{64}$/, 'a request key (64 hex digits)'))
          .min(1)
          .max(10_000)
          .optional(),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'cache.reembed': {
    input: z.object({ namespaceId: id }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'cache.import': {
    input: z.object({ namespaceId: id, path: absolutePath }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'cache.export': {
    input: z.object({ namespaceId: id, path: absolutePath, state: z.array(entryStateSchema).optional() }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'gateway.keys.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(gatewayKeySchema) }),
  },
  'gateway.keys.create': {
    input: z.object({ tenant: resourceName, label: z.string().max(200).optional() }).strict(),
    output: z.object({ key: gatewayKeySchema, secret: z.string() }),
  },
  'gateway.keys.revoke': {
    input: z.object({ id }).strict(),
    output: gatewayKeySchema,
  },
} as const

export const cacheEvents = {
  /** Entries of a namespace changed (curation, a stored miss, an import): lists should refresh. */
  'cache.changed': z.object({ namespaceId: id }),
} as const
