/**
 * Distillation datasets: examples gathered from sources (the request log, approved cache entries, template prompts,
 * one pipeline node's runs, imported files), answered by a teacher (with its top-k log-probs where it has them),
 * scored by a judge, reviewed by an operator, and frozen into immutable versions that trainers read.
 */
import { z } from 'zod'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema } from './core'
import { generationTargetSchema } from './models'

export const IMPORT_FORMATS = ['auto', 'openai', 'sharegpt', 'alpaca'] as const
export const EXPORT_FORMATS = ['openai', 'sharegpt', 'alpaca'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]
export const EXAMPLE_STATES = ['pending', 'approved', 'rejected'] as const

const chatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(200_000),
})

const dateRange = {
  from: timestamp.optional(),
  to: timestamp.optional(),
}

export const datasetSourceSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('request-log'),
      namespaceId: id,
      /** The N most frequent distinct requests, or every distinct request. */
      mode: z.enum(['top', 'all']).default('top'),
      top: z.int().min(1).max(1_000_000).default(1000),
      /** Only requests sent with `store: true` (optionally with this metadata key = value). */
      storedOnly: z.boolean().default(false),
      metadata: z.record(z.string(), z.string()).optional(),
      ...dateRange,
    })
    .strict(),
  z.object({ kind: z.literal('cache'), namespaceId: id }).strict(),
  z.object({ kind: z.literal('templates'), familyId: id }).strict(),
  z
    .object({
      kind: z.literal('pipeline-node'),
      pipelineId: id,
      nodeId: z.string().min(1).max(200),
      limit: z.int().min(1).max(100_000).default(1000),
    })
    .strict(),
  z.object({ kind: z.literal('file'), path: absolutePath, format: z.enum(IMPORT_FORMATS).default('auto') }).strict(),
])
export type DatasetSource = z.input<typeof datasetSourceSchema>

export const sourceSummarySchema = z.object({
  kind: z.string(),
  label: z.string(),
  found: z.int(),
  added: z.int(),
  exactDuplicates: z.int(),
  nearDuplicates: z.int(),
  problems: z.array(z.object({ line: z.int(), message: z.string() })),
  at: timestamp,
})
export type SourceSummary = z.infer<typeof sourceSummarySchema>

export const datasetCountsSchema = z.object({
  total: z.int(),
  answered: z.int(),
  pending: z.int(),
  approved: z.int(),
  rejected: z.int(),
  train: z.int(),
  eval: z.int(),
  withLogprobs: z.int(),
})

export const datasetSchema = z.object({
  id,
  name: z.string(),
  tenant: z.string(),
  description: z.string().nullable(),
  sources: z.array(sourceSummarySchema),
  teacher: z.unknown().nullable(),
  judge: z.unknown().nullable(),
  counts: datasetCountsSchema,
  createdAt: timestamp,
  updatedAt: timestamp,
})
export type Dataset = z.infer<typeof datasetSchema>

/** One answer token: the teacher's top-k next-token log-probs (natural log) and the probability mass outside them. */
export const tokenLogprobsSchema = z.object({
  token: z.string(),
  logprob: z.number().nullable(),
  top: z.array(z.object({ token: z.string(), logprob: z.number() })),
  tailMass: z.number().nullable(),
})
export const logprobsRecordSchema = z.object({
  k: z.int(),
  /** How the probabilities were obtained, in words (e.g. what the sampler did before they were read). */
  normalisation: z.string(),
  tokens: z.array(tokenLogprobsSchema),
})
export type LogprobsRecord = z.infer<typeof logprobsRecordSchema>

export const datasetExampleSchema = z.object({
  id,
  datasetId: id,
  source: z.string(),
  sourceRef: z.string().nullable(),
  prompt: z.array(chatMessageSchema),
  sample: z.int(),
  answer: z.string().nullable(),
  originalAnswer: z.string().nullable(),
  teacher: z.string().nullable(),
  hasLogprobs: z.boolean(),
  logprobsAbsent: z.string().nullable(),
  score: z.number().nullable(),
  judgeReason: z.string().nullable(),
  state: z.enum(EXAMPLE_STATES),
  split: z.enum(['train', 'eval']),
  updatedAt: timestamp,
})
export type DatasetExample = z.infer<typeof datasetExampleSchema>

export const datasetVersionSchema = z.object({
  id,
  datasetId: id,
  version: z.int(),
  contentHash: z.string(),
  trainCount: z.int(),
  evalCount: z.int(),
  withLogprobs: z.int(),
  card: z.object({
    dataset: z.string(),
    note: z.string().nullable(),
    sources: z.array(sourceSummarySchema),
    teacher: z.unknown().nullable(),
    judge: z.unknown().nullable(),
    counts: z.object({ approved: z.int(), train: z.int(), eval: z.int(), withLogprobs: z.int() }),
  }),
  createdAt: timestamp,
})
export type DatasetVersion = z.infer<typeof datasetVersionSchema>

export const teachParamsSchema = z
  .object({
    datasetId: id,
    /** One or several teachers sharing the load (a loaded local model, or an OpenAI-compatible provider). */
    teachers: z.array(generationTargetSchema).min(1).max(16),
    samples: z.int().min(1).max(16).default(1),
    temperature: z.number().min(0).max(2).default(0),
    maxTokens: z.int().min(1).max(32_768).default(256),
    /** Top-k log-probs per answer token (0: none). Local teachers: teacher forcing; providers: `top_logprobs`. */
    topLogprobs: z.int().min(0).max(32).default(16),
    /** Answer only the examples that have no answer yet (a re-run fills the gaps). */
    onlyUnanswered: z.boolean().default(true),
  })
  .strict()
export type TeachParams = z.output<typeof teachParamsSchema>

export const expandParamsSchema = z
  .object({
    datasetId: id,
    teacher: generationTargetSchema,
    /** Variations the teacher writes per seed prompt. */
    variations: z.int().min(1).max(20).default(3),
    /** Seeds: the dataset's first N prompts (by id). */
    seeds: z.int().min(1).max(10_000).default(20),
    temperature: z.number().min(0).max(2).default(0.8),
  })
  .strict()
export type ExpandParams = z.output<typeof expandParamsSchema>

export const judgeParamsSchema = z
  .object({
    datasetId: id,
    judge: z.union([
      z.object({ rubric: z.string().min(1).max(20_000), target: generationTargetSchema }).strict(),
      /** A saved pipeline: its input is the prompt and answer; a number 0-10 in its output is the score. */
      z.object({ pipelineId: id }).strict(),
    ]),
    /** Score (0-10) at or above which an example is approved; below, rejected. */
    threshold: z.int().min(0).max(10).default(7),
    /** Leave the state for the operator: only record the scores. */
    scoreOnly: z.boolean().default(false),
  })
  .strict()
export type JudgeParams = z.output<typeof judgeParamsSchema>

const datasetRef = z.object({ datasetId: id }).strict()

export const distillDatasetMethods = {
  'distill.datasets.create': {
    input: z
      .object({
        name: resourceName,
        tenant: resourceName.default('default'),
        description: z.string().max(2000).optional(),
      })
      .strict(),
    output: datasetSchema,
  },
  'distill.datasets.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(datasetSchema) }),
  },
  'distill.datasets.get': {
    input: datasetRef,
    output: z.object({ dataset: datasetSchema, versions: z.array(datasetVersionSchema) }),
  },
  'distill.datasets.delete': {
    input: datasetRef,
    output: z.object({ deleted: z.boolean() }),
  },
  'distill.datasets.addSource': {
    input: z
      .object({
        datasetId: id,
        source: datasetSourceSchema,
        /** Shingle Jaccard similarity of normalised prompts at or above which a prompt counts as a near duplicate. */
        nearDuplicateThreshold: z.number().min(0.5).max(1).default(0.85),
        /** Share of prompts held out for evaluation (stable hash of the prompt). */
        evalPercent: z.number().min(0).max(50).default(10),
      })
      .strict(),
    output: sourceSummarySchema,
  },
  'distill.datasets.examples': {
    input: z
      .object({
        datasetId: id,
        state: z.enum(EXAMPLE_STATES).optional(),
        search: z.string().max(500).optional(),
        limit: z.int().min(1).max(500).default(50),
        offset: z.int().min(0).default(0),
      })
      .strict(),
    output: z.object({ items: z.array(datasetExampleSchema), total: z.int() }),
  },
  'distill.datasets.review': {
    input: z
      .object({
        datasetId: id,
        ids: z.array(id).min(1).max(10_000),
        action: z.enum(['approve', 'reject', 'reset']),
      })
      .strict(),
    output: z.object({ changed: z.int() }),
  },
  'distill.datasets.edit': {
    input: z.object({ id, answer: z.string().min(1).max(200_000) }).strict(),
    output: datasetExampleSchema,
  },
  'distill.datasets.freeze': {
    input: z.object({ datasetId: id, note: z.string().max(2000).optional() }).strict(),
    output: datasetVersionSchema,
  },
  'distill.datasets.export': {
    input: z
      .object({
        versionId: id,
        format: z.enum(EXPORT_FORMATS).default('openai'),
        split: z.enum(['train', 'eval', 'all']).default('all'),
        /** Where to write; default: the workspace's exports folder. */
        path: absolutePath.optional(),
      })
      .strict(),
    output: z.object({ path: z.string(), examples: z.int(), withLogprobs: z.int() }),
  },
  'distill.datasets.expand': { input: expandParamsSchema, output: z.object({ job: jobSchema }) },
  'distill.teach': { input: teachParamsSchema, output: z.object({ job: jobSchema }) },
  'distill.judge': { input: judgeParamsSchema, output: z.object({ job: jobSchema }) },
} as const
