/**
 * Distillation II, evaluation and promotion: `distill.eval` measures students (and quantized variants) against
 * their teacher on an eval set (token metrics on answer positions, task metrics, speed, size, cost), keeps the
 * report with a gate verdict; `distill.promote` points a cache namespace, a pipeline node or a template family at a
 * student model or provider (refused when the gate failed unless overridden, the override recorded);
 * `distill.rollback` restores what it replaced.
 */
import { z } from 'zod'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema, jobStatusSchema } from './core'
import { generationTargetSchema } from './models'

export const TASK_METRICS = ['exact', 'json', 'classification', 'rouge'] as const

export const gateSchema = z
  .object({
    /** Largest mean KL(teacher || student) on answer positions (nats). */
    maxKl: z.number().min(0).optional(),
    /** Smallest top-1 agreement with the teacher on answer positions. */
    minTop1: z.number().min(0).max(1).optional(),
    /** Smallest task score (the chosen task metric, 0..1). */
    minTask: z.number().min(0).max(1).optional(),
    /** Smallest pairwise judge win-rate against the teacher (ties count half). */
    minWinRate: z.number().min(0).max(1).optional(),
  })
  .strict()
export type Gate = z.infer<typeof gateSchema>

export const evalInputSchema = z
  .object({
    name: resourceName.optional(),
    /** OpenAI chat JSONL; the last assistant message of each line is the teacher's answer (the reference). */
    data: absolutePath.optional(),
    /** Or a frozen dataset version: its eval split (exported as OpenAI chat JSONL) is the data, instead of `data`. */
    datasetVersionId: id.optional(),
    /** Use every line, or only the stable-hash validation split (data.ts's `stableFraction`). */
    split: z.enum(['all', 'val']).default('all'),
    valPercent: z.number().min(1).max(50).default(10),
    /** A local GGUF (token metrics by teacher forcing) or a provider (answers/speed only). Null: the file's answers. */
    teacher: generationTargetSchema.nullable().default(null),
    /**
     * Local students (a GGUF: every metric) or providers (an OpenAI-compatible endpoint, e.g. a model a fine-tuning
     * API made: answers, task metrics, judge and speed; token metrics are skipped, a provider cannot be
     * teacher-forced). Gate verdicts are keyed `model:<id>` and `provider:<id>`.
     */
    students: z
      .array(
        z.union([
          z.object({ modelId: id, label: z.string().min(1).max(100).optional() }).strict(),
          z.object({ providerId: id, label: z.string().min(1).max(100).optional() }).strict(),
        ]),
      )
      .min(1)
      .max(8),
    taskMetric: z.enum(TASK_METRICS).default('exact'),
    /** For `json`: the schema each answer must satisfy (schema-valid rate). */
    jsonSchema: z.record(z.string(), z.unknown()).optional(),
    /** Pairwise judge (positions swapped) of each student against the teacher's answer. */
    judge: z
      .object({
        target: generationTargetSchema,
        rubric: z.string().min(1).max(4000).default('Which answer is better?'),
      })
      .strict()
      .optional(),
    topK: z.int().min(1).max(64).default(16),
    maxExamples: z.int().min(1).max(2000).default(64),
    maxTokens: z.int().min(1).max(4096).default(128),
    contextSize: z.int().min(64).max(32_768).default(512),
    /** What a local model's hour costs (hardware, power); the teacher's price per token comes from settings. */
    localCostPerHour: z.number().min(0).nullable().default(null),
    gate: gateSchema.default({}),
  })
  .strict()
  .refine((value) => (value.data === undefined) !== (value.datasetVersionId === undefined), {
    message: 'give either data (a file) or datasetVersionId (a dataset version), not both',
    path: ['data'],
  })
export type EvalInput = z.input<typeof evalInputSchema>

export const taskScoresSchema = z.object({
  score: z.number(),
  exactMatch: z.number(),
  jsonFieldF1: z.number().nullable(),
  schemaValidRate: z.number().nullable(),
  accuracy: z.number().nullable(),
  macroF1: z.number().nullable(),
  rougeL: z.number().nullable(),
})

export const contestantSchema = z.object({
  key: z.string(),
  role: z.enum(['teacher', 'student']),
  label: z.string(),
  modelId: id.nullable(),
  sizeBytes: z.number().nullable(),
  tokensPerSecond: z.number().nullable(),
  /** Mean tokens per answer (for the cost estimate). */
  tokensPerAnswer: z.number().nullable(),
  /**
   * Peak worker RSS, in bytes: the peak resident set size (`process.resourceUsage().maxRSS`) of a model worker
   * process of its own that loaded only this model (its weights, context and KV cache) and generated the eval
   * answers; it includes that process's Node.js runtime and llama.cpp (see `memoryBaselineBytes`). Not node-llama-
   * cpp's estimate of model + context. Null for a remote endpoint (`memoryBasis` says why) and in older reports.
   */
  memoryBytes: z.number().nullable().default(null),
  /** The same worker's peak RSS before the model was loaded (the Node.js runtime and worker code alone). */
  memoryBaselineBytes: z.number().nullable().default(null),
  /** What `memoryBytes` is, in words, or why it is missing. */
  memoryBasis: z.string().nullable().default(null),
  tokenMetrics: z
    .object({ positions: z.int(), meanKl: z.number(), top1Agreement: z.number(), nll: z.number() })
    .nullable(),
  /** Why token metrics are missing (a remote teacher without log-probs, a different tokenizer). */
  tokenMetricsSkipped: z.string().nullable(),
  task: taskScoresSchema.nullable(),
  winRate: z.number().nullable(),
  costPer1kAnswers: z.number().nullable(),
  costBasis: z.string().nullable(),
})
export type Contestant = z.infer<typeof contestantSchema>

export const gateVerdictSchema = z.object({
  key: z.string(),
  passed: z.boolean(),
  reasons: z.array(z.string()),
})

export const evalExampleSchema = z.object({
  line: z.int(),
  prompt: z.string(),
  reference: z.string(),
  answers: z.record(z.string(), z.string()),
  kl: z.record(z.string(), z.number().nullable()),
})

export const evalReportSchema = z.object({
  examples: z.int(),
  taskMetric: z.enum(TASK_METRICS),
  topK: z.int(),
  normalisation: z.string().nullable(),
  contestants: z.array(contestantSchema),
  gate: gateSchema,
  verdicts: z.array(gateVerdictSchema),
  samples: z.array(evalExampleSchema),
  /** Training curves of students made by distill.train (run id -> points), for the report page. */
  curves: z.record(
    z.string(),
    z.array(z.object({ step: z.int(), loss: z.number().nullable(), valLoss: z.number().nullable() })),
  ),
})
export type EvalReport = z.infer<typeof evalReportSchema>

export const evaluationSchema = z.object({
  id,
  jobId: id.nullable(),
  status: jobStatusSchema,
  error: z.string().nullable(),
  name: z.string(),
  dataPath: z.string(),
  input: z.unknown(),
  report: evalReportSchema.nullable(),
  createdAt: timestamp,
})
export type Evaluation = z.infer<typeof evaluationSchema>

/**
 * What a promotion switches to the student: a cache namespace's generation target, one model node of a pipeline
 * (llm, judge, reflect, or a classifier router), or a template family's generation target.
 */
export const promotionTargetSchema = z.union([
  z.object({ namespaceId: id }).strict(),
  z.object({ pipelineId: id, nodeId: z.string().min(1).max(200) }).strict(),
  z.object({ familyId: id }).strict(),
])
export type PromotionTarget = z.infer<typeof promotionTargetSchema>

export const promotionSchema = z.object({
  id,
  target: promotionTargetSchema,
  targetLabel: z.string(),
  /** The student: a registered model, or a provider (an OpenAI-compatible endpoint, e.g. a remote fine-tune). */
  modelId: id.nullable(),
  modelName: z.string().nullable(),
  providerId: id.nullable(),
  providerName: z.string().nullable(),
  evaluationId: id.nullable(),
  gatePassed: z.boolean().nullable(),
  override: z.string().nullable(),
  previous: z.unknown(),
  actor: z.string(),
  createdAt: timestamp,
  rolledBackAt: timestamp.nullable(),
  rolledBackBy: z.string().nullable(),
})
export type Promotion = z.infer<typeof promotionSchema>

export const distillEvalMethods = {
  'distill.eval': {
    input: evalInputSchema,
    output: z.object({ job: jobSchema, evaluation: evaluationSchema }),
  },
  'distill.evaluations': {
    input: z.object({ limit: z.int().min(1).max(200).default(50) }).strict(),
    output: z.object({ items: z.array(evaluationSchema) }),
  },
  'distill.evaluation': {
    input: z.object({ id }).strict(),
    output: evaluationSchema,
  },
  'distill.promote': {
    input: z
      .object({
        target: promotionTargetSchema,
        /** The student: a registered model (gate verdict `model:<id>`) or a provider (`provider:<id>`); exactly one. */
        modelId: id.optional(),
        providerId: id.optional(),
        /** The report whose gate verdict for this student allows the promotion. */
        evaluationId: id.optional(),
        /** Promote although the gate failed (or without a report): the reason is recorded. */
        override: z.string().min(3).max(500).optional(),
        actor: z.string().min(1).max(100).default('operator'),
      })
      .strict()
      .refine((value) => (value.modelId === undefined) !== (value.providerId === undefined), {
        message: 'Give the student as exactly one of modelId (a registered model) or providerId (a provider).',
        path: ['modelId'],
      }),
    output: promotionSchema,
  },
  'distill.rollback': {
    input: z.object({ id, actor: z.string().min(1).max(100).default('operator') }).strict(),
    output: promotionSchema,
  },
  'distill.promotions': {
    input: z.object({ limit: z.int().min(1).max(500).default(100) }).strict(),
    output: z.object({ items: z.array(promotionSchema) }),
  },
} as const

export const distillEvalEvents = {
  /** An evaluation was created, finished or failed; a promotion or rollback happened. */
  'distill.evalChanged': z.object({ evaluationId: id.nullable() }),
} as const
