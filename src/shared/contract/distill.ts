/**
 * The Distillation area of the contract: training runs of the built-in trainer (a student GGUF trained on a dataset
 * file with llama.cpp's training API), their live curves and checkpoints, and the demo workspace.
 */
import { z } from 'zod'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema, jobStatusSchema } from './core'

/** A student made from nothing: a small llama with the byte-level (or another model's) vocabulary. */
export const scratchStudentSchema = z
  .object({
    embeddingLength: z.int().min(16).max(8192).default(64),
    blockCount: z.int().min(1).max(128).default(2),
    headCount: z.int().min(1).max(128).default(4),
    feedForwardLength: z.int().min(16).max(32_768).default(128),
    contextLength: z.int().min(256).max(131_072).default(256),
    /** Take the tokenizer (and chat template) of this registered model. */
    vocabularyFromModelId: id.optional(),
    /** Store this Jinja chat template in the student (ChatML when omitted and `chat` is true). */
    chat: z.boolean().default(false),
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
  })
  .strict()

export const studentSpecSchema = z.union([
  z.object({ modelId: id }).strict(),
  z.object({ path: absolutePath }).strict(),
  z.object({ scratch: scratchStudentSchema }).strict(),
])
export type StudentSpec = z.input<typeof studentSpecSchema>

export const LR_SCHEDULES = ['constant', 'cosine', 'linear'] as const
export const DISTILL_QUANTIZATION_TYPES = ['Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_K_M', 'Q5_1', 'Q5_0', 'Q4_1', 'Q4_0'] as const

/** What the trainer does with the data; every field has the default the console's form shows. */
export const hyperparametersSchema = z
  .object({
    epochs: z.int().min(1).max(1000).default(3),
    /** AdamW learning rate; above 0 (llama.cpp asserts it). 3e-4 is stable on small students, 1e-3 diverged. */
    lr: z.number().gt(0).max(1).default(3e-4),
    schedule: z.enum(LR_SCHEDULES).default('cosine'),
    warmupSteps: z.int().min(0).max(1_000_000).default(10),
    minLrRatio: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().min(0).max(1).default(0),
    /** Tokens per training window; llama.cpp rounds contexts up to multiples of 256. */
    context: z
      .int()
      .min(256)
      .max(131_072)
      .refine((value) => value % 256 === 0, { message: 'must be a multiple of 256' })
      .default(256),
    /** Tokens per optimizer step (divides the context); smaller steps need less memory for activations. */
    batch: z.int().min(32).max(131_072).optional(),
    threads: z.int().min(1).max(512).optional(),
    /** Transformer layers on the GPU (0: CPU only). Only where llama.cpp's GPU build loads. */
    gpuLayers: z.int().min(0).max(10_000).default(0),
    /** Train every layer, or only the last N blocks plus the output head. */
    layers: z.union([z.literal('all'), z.object({ last: z.int().min(1).max(1000) }).strict()]).default('all'),
    /** Share of examples held out for validation (by a stable hash of their content). */
    valPercent: z.number().min(0).max(50).default(10),
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(42),
    shuffle: z.boolean().default(true),
    /** Stop after this many optimizer steps (a bounded run); unset: all epochs. */
    maxSteps: z.int().min(1).max(100_000_000).optional(),
  })
  .strict()
  .refine((value) => value.batch === undefined || (value.batch <= value.context && value.context % value.batch === 0), {
    message: 'batch must divide the context',
    path: ['batch'],
  })
export type Hyperparameters = z.output<typeof hyperparametersSchema>

/**
 * Training through an OpenAI-compatible fine-tuning API (OpenAI, or another Larder's gateway): the data is uploaded
 * to the provider's endpoint and the remote job is followed; the result is a remote model served by that endpoint.
 */
export const apiTrainerSchema = z
  .object({
    /** The provider whose base URL and key the fine-tuning API is reached with. */
    providerId: id,
    /** The base model at the remote; the provider's model when omitted. */
    model: z.string().min(1).max(200).optional(),
    suffix: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, dot, dash and underscore (at most 40)')
      .optional(),
    /** How often the remote job is polled. */
    pollMs: z.int().min(20).max(600_000).optional(),
  })
  .strict()

export const trainerSpecSchema = z
  .union([
    z.literal('builtin'),
    z.object({ command: z.string().min(1).max(8000) }).strict(),
    z.object({ api: apiTrainerSchema }).strict(),
  ])
  .default('builtin')

export const trainInputSchema = z
  .object({
    /** The local student; not used (and not needed) when the trainer is a fine-tuning API. */
    student: studentSpecSchema.optional(),
    /** OpenAI chat JSONL (`{"messages": [...]}` per line) or plain text. */
    data: absolutePath.optional(),
    /** Or a frozen dataset version (its examples, exported as OpenAI chat JSONL), instead of `data`. */
    datasetVersionId: id.optional(),
    /** Name of the trained model in the library. */
    name: resourceName.optional(),
    hyperparameters: hyperparametersSchema.prefault({}),
    /** Also register a quantized copy (our quantizer, with the quality report). */
    quantize: z.enum(DISTILL_QUANTIZATION_TYPES).nullable().default(null),
    /**
     * The built-in trainer, an external command template (docs/distillation.md, "External trainers"), or an
     * OpenAI-compatible fine-tuning API ("Training through an OpenAI-compatible fine-tuning API").
     */
    trainer: trainerSpecSchema,
  })
  .strict()
  .refine((value) => value.student !== undefined || (typeof value.trainer === 'object' && 'api' in value.trainer), {
    message: 'a student is required (only a fine-tuning API trainer trains a remote model)',
    path: ['student'],
  })
  .refine((value) => (value.data === undefined) !== (value.datasetVersionId === undefined), {
    message: 'give either data (a file) or datasetVersionId (a dataset version), not both',
    path: ['data'],
  })
export type TrainInput = z.input<typeof trainInputSchema>

export const trainPointSchema = z.object({
  step: z.int().nonnegative(),
  epoch: z.number().nonnegative(),
  loss: z.number().nullable(),
  accuracy: z.number().nullable(),
  lr: z.number().nullable(),
  tokensPerSecond: z.number().nullable(),
  valLoss: z.number().nullable(),
  valAccuracy: z.number().nullable(),
  answerAccuracy: z.number().nullable(),
  answerLoss: z.number().nullable(),
})
export type TrainPointView = z.infer<typeof trainPointSchema>

export const checkpointSchema = z.object({
  epoch: z.number().nonnegative(),
  step: z.int().nonnegative(),
  path: z.string(),
  bytes: z.number().nonnegative(),
  valLoss: z.number().nullable(),
  exists: z.boolean(),
  createdAt: timestamp,
})

export const answerSampleSchema = z.object({
  line: z.int(),
  prompt: z.string(),
  expected: z.string(),
  answer: z.string(),
})

export const preparedSchema = z.object({
  formatting: z.string(),
  trainExamples: z.int(),
  valExamples: z.int(),
  trainTokens: z.int(),
  valTokens: z.int(),
  trainWindows: z.int(),
  valWindows: z.int(),
  skipped: z.array(z.object({ line: z.int(), message: z.string() })),
  parameters: z.number(),
  trainableParameters: z.number(),
  trainedTensors: z.int(),
  stepsPerEpoch: z.number(),
  totalSteps: z.number(),
  libraries: z.string(),
})

export const runResultSchema = z.object({
  modelId: id.nullable(),
  modelName: z.string(),
  path: z.string(),
  steps: z.int(),
  epochsDone: z.number(),
  stoppedEarly: z.boolean(),
  trainSeconds: z.number(),
  tokensTrained: z.number(),
  baseline: trainPointSchema,
  final: trainPointSchema,
  samples: z.array(answerSampleSchema),
  quantized: z
    .object({
      modelId: id,
      name: z.string(),
      type: z.string(),
      meanKlDivergence: z.number().nullable(),
      top1Agreement: z.number().nullable(),
    })
    .nullable(),
  /** Trained through a fine-tuning API: the remote model, the job there, and the provider registered for it. */
  remote: z
    .object({ providerId: id.nullable(), model: z.string(), jobId: z.string(), baseModel: z.string() })
    .nullable()
    .optional(),
})
export type RunResult = z.infer<typeof runResultSchema>

export const distillRunSchema = z.object({
  id,
  jobId: id.nullable(),
  status: jobStatusSchema,
  progress: z.number().nullable(),
  progressMessage: z.string().nullable(),
  error: z.string().nullable(),
  name: z.string(),
  trainer: z.string(),
  studentLabel: z.string(),
  baseModelId: id.nullable(),
  dataPath: z.string(),
  dataSha256: z.string().nullable(),
  dataFormat: z.string().nullable(),
  hyperparameters: z.unknown(),
  quantize: z.string().nullable(),
  prepared: preparedSchema.nullable(),
  result: runResultSchema.nullable(),
  modelId: id.nullable(),
  quantizedModelId: id.nullable(),
  /** The provider registered for the remote model a fine-tuning API made (null for local trainers). */
  providerId: id.nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
})
export type DistillRun = z.infer<typeof distillRunSchema>

export const datasetCheckSchema = z.object({
  format: z.enum(['chat', 'text']),
  examples: z.int(),
  trainExamples: z.int(),
  valExamples: z.int(),
  problems: z.array(z.object({ line: z.int(), message: z.string() })),
  sha256: z.string(),
  bytes: z.number(),
})

export const distillMethods = {
  'distill.train': {
    input: trainInputSchema,
    output: z.object({ job: jobSchema, run: distillRunSchema }),
  },
  'distill.runs': {
    input: z.object({ limit: z.int().min(1).max(200).default(50) }).strict(),
    output: z.object({ items: z.array(distillRunSchema) }),
  },
  'distill.run': {
    input: z.object({ id, maxPoints: z.int().min(10).max(100_000).default(2000) }).strict(),
    output: z.object({
      run: distillRunSchema,
      /** Training points (downsampled to `maxPoints`), plus every evaluation point. */
      points: z.array(trainPointSchema),
      checkpoints: z.array(checkpointSchema),
    }),
  },
  'distill.checkData': {
    input: z.object({ path: absolutePath, valPercent: z.number().min(0).max(50).default(10) }).strict(),
    output: datasetCheckSchema,
  },
} as const

export const distillEvents = {
  /** New points of a running training run (batched a few times a second). */
  'distill.points': z.object({ runId: id, points: z.array(trainPointSchema) }),
  /** A run was created, got a checkpoint, finished, failed or was cancelled. */
  'distill.changed': z.object({ runId: id }),
} as const
