/**
 * The one API contract between the console and the backend. Every method is named `area.action` and declares a zod
 * input and output schema; every event is typed the same way. Both transports (MessagePort in Electron, HTTP + SSE
 * in a browser) carry exactly these names, and the backend validates every call against these schemas.
 *
 * This module imports nothing from node, electron or the DOM.
 */
import { z } from 'zod'
import type { ApiErrorShape } from './errors'

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const
export const jobStatusSchema = z.enum(JOB_STATUSES)
export type JobStatus = z.infer<typeof jobStatusSchema>

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export const logLevelSchema = z.enum(LOG_LEVELS)

const id = z.int().positive()
const timestamp = z.string().describe('ISO 8601 time')

export const jobSchema = z.object({
  id,
  kind: z.string(),
  title: z.string(),
  params: z.unknown(),
  status: jobStatusSchema,
  /** 0..1, or null while the job cannot tell how far along it is. */
  progress: z.number().min(0).max(1).nullable(),
  progressMessage: z.string().nullable(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  attempts: z.int().nonnegative(),
  cancelRequested: z.boolean(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  updatedAt: timestamp,
})
export type Job = z.infer<typeof jobSchema>

export const jobLogSchema = z.object({
  jobId: id,
  seq: z.int().nonnegative(),
  level: logLevelSchema,
  message: z.string(),
  at: timestamp,
})
export type JobLog = z.infer<typeof jobLogSchema>

export const migrationRecordSchema = z.object({
  version: z.int().positive(),
  name: z.string(),
  checksum: z.string(),
  appliedAt: timestamp.nullable(),
})
export type MigrationRecord = z.infer<typeof migrationRecordSchema>

export const THEMES = ['system', 'light', 'dark'] as const
export const LANGUAGES = ['en', 'ko'] as const
export const settingsSchema = z.object({
  theme: z.enum(THEMES),
  language: z.enum(LANGUAGES),
})
export type Settings = z.infer<typeof settingsSchema>

export const backupFileSchema = z.object({
  path: z.string(),
  name: z.string(),
  bytes: z.int().nonnegative(),
  modifiedAt: timestamp,
})
export type BackupFile = z.infer<typeof backupFileSchema>

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((value) => value.startsWith('/') || /^[A-Za-z]:[\\/]/.test(value) || value.startsWith('\\\\'), {
    message: 'must be an absolute path',
  })

/** How a backup is paced: copying in steps lets writers keep working between steps (SQLite's online backup). */
export const backupPacingSchema = z.object({
  pagesPerStep: z.int().min(1).max(1_000_000).default(256),
  stepDelayMs: z.int().min(0).max(10_000).default(0),
})

export const MODEL_SOURCES = ['file', 'library', 'download', 'quantized'] as const

export const modelProblemSchema = z.object({
  severity: z.enum(['error', 'warning']),
  code: z.string(),
  message: z.string(),
})

export const loadedModelSchema = z.object({
  gpuLayers: z.int().nonnegative(),
  contextSize: z.int().positive(),
  sequences: z.int().positive(),
  threads: z.int().positive(),
  trainContextSize: z.int().nonnegative(),
  sizeBytes: z.number().nonnegative(),
})
export type LoadedModel = z.infer<typeof loadedModelSchema>

export const modelSchema = z.object({
  id,
  name: z.string(),
  path: z.string(),
  source: z.enum(MODEL_SOURCES),
  sourceUri: z.string().nullable(),
  sizeBytes: z.number().nonnegative(),
  fileModifiedAt: timestamp,
  architecture: z.string().nullable(),
  parameterCount: z.number().nonnegative().nullable(),
  contextLength: z.number().nonnegative().nullable(),
  fileType: z.string().nullable(),
  summary: z.object({
    tensorTypeCounts: z.record(z.string(), z.number()),
    parameterCountsByType: z.record(z.string(), z.number()),
    fileTypeSource: z.string(),
    tokenizerModel: z.string().nullable(),
    vocabularySize: z.number().nullable(),
    hasChatTemplate: z.boolean(),
    embeddingLength: z.number().nullable(),
    blockCount: z.number().nullable(),
    ggufVersion: z.number(),
  }),
  problems: z.array(modelProblemSchema),
  loaded: loadedModelSchema.nullable(),
  addedAt: timestamp,
})
export type Model = z.infer<typeof modelSchema>

export const providerSchema = z.object({
  id,
  name: z.string(),
  kind: z.literal('openai'),
  baseUrl: z.string(),
  model: z.string(),
  concurrency: z.int().positive(),
  /** The key itself never leaves the backend. */
  hasApiKey: z.boolean(),
  createdAt: timestamp,
})
export type ProviderConfig = z.infer<typeof providerSchema>

const modelName = z
  .string()
  .min(1)
  .max(120)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'use letters, digits and . _ : - (no spaces)')

export const chatMessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string().max(200_000),
})

export const samplingSchema = z.object({
  maxTokens: z.int().min(1).max(32_768).default(256),
  temperature: z.number().min(0).max(5).optional(),
  topP: z.number().min(0).max(1).optional(),
  topK: z.int().min(0).max(1000).optional(),
  seed: z
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  stop: z.array(z.string().min(1).max(100)).max(8).optional(),
})

export const generationTargetSchema = z.union([z.object({ model: id }).strict(), z.object({ provider: id }).strict()])

export const generateInputSchema = z
  .object({
    target: generationTargetSchema,
    prompt: z.string().max(200_000).optional(),
    messages: z.array(chatMessageSchema).min(1).max(200).optional(),
    sampling: samplingSchema.prefault({}),
    jsonSchema: z.record(z.string(), z.unknown()).optional(),
    /** When given, text is streamed as stream.token events with this id while the call runs. */
    streamId: z.string().min(1).max(100).optional(),
  })
  .strict()
  .refine((value) => (value.prompt === undefined) !== (value.messages === undefined), {
    message: 'give either prompt or messages',
    path: ['prompt'],
  })

export const QUANTIZATION_TYPES = ['Q8_0', 'Q5_1', 'Q5_0', 'Q4_1', 'Q4_0', 'F16'] as const

export const methodSpecs = {
  'system.info': {
    input: z.object({}).strict(),
    output: z.object({
      appVersion: z.string(),
      home: z.string(),
      databasePath: z.string(),
      schemaVersion: z.int().nonnegative(),
      latestSchemaVersion: z.int().nonnegative(),
      platform: z.string(),
      nodeVersion: z.string(),
      pid: z.int(),
      startedAt: timestamp,
    }),
  },
  'db.status': {
    input: z.object({}).strict(),
    output: z.object({
      current: z.int().nonnegative(),
      latest: z.int().nonnegative(),
      applied: z.array(migrationRecordSchema),
      pending: z.array(migrationRecordSchema),
    }),
  },
  'jobs.list': {
    input: z
      .object({
        status: z.array(jobStatusSchema).max(JOB_STATUSES.length).optional(),
        kind: z.string().max(100).optional(),
        limit: z.int().min(1).max(500).default(50),
        offset: z.int().min(0).default(0),
      })
      .strict(),
    output: z.object({ items: z.array(jobSchema), total: z.int().nonnegative() }),
  },
  'jobs.get': {
    input: z.object({ id }).strict(),
    output: jobSchema,
  },
  'jobs.logs': {
    input: z.object({ id, afterSeq: z.int().min(0).optional(), limit: z.int().min(1).max(2000).default(500) }).strict(),
    output: z.object({ items: z.array(jobLogSchema) }),
  },
  'jobs.cancel': {
    input: z.object({ id }).strict(),
    output: jobSchema,
  },
  'backup.create': {
    input: z
      .object({
        /** Where to write the backup; default: <home>/backups/larder-<time>.db */
        path: absolutePath.optional(),
        pacing: backupPacingSchema.optional(),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'backup.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(backupFileSchema) }),
  },
  'backup.restore': {
    input: z.object({ path: absolutePath }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'models.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(modelSchema), libraryDir: z.string() }),
  },
  'models.get': {
    input: z.object({ id }).strict(),
    output: modelSchema,
  },
  'models.register': {
    input: z.object({ path: absolutePath, name: modelName.optional() }).strict(),
    output: modelSchema,
  },
  'models.scan': {
    input: z.object({ dir: absolutePath.optional() }).strict(),
    output: z.object({ added: z.array(modelSchema), updated: z.array(modelSchema), missing: z.array(z.string()) }),
  },
  'models.unregister': {
    input: z.object({ id, deleteFile: z.boolean().default(false) }).strict(),
    output: z.object({ deletedFile: z.boolean() }),
  },
  'models.pull': {
    input: z.object({ uri: z.string().min(4).max(2000), name: modelName.optional() }).strict(),
    output: z.object({ job: jobSchema }),
  },
  'models.load': {
    input: z
      .object({
        id,
        contextSize: z.int().min(64).max(1_048_576).optional(),
        gpuLayers: z.union([z.literal('auto'), z.int().min(0).max(10_000)]).optional(),
        threads: z.int().min(1).max(512).optional(),
        sequences: z.int().min(1).max(64).optional(),
        gpu: z.enum(['auto', 'cpu']).optional(),
      })
      .strict(),
    output: modelSchema,
  },
  'models.unload': {
    input: z.object({ id }).strict(),
    output: modelSchema,
  },
  'models.system': {
    input: z.object({ probeGpu: z.boolean().default(false) }).strict(),
    output: z.object({
      workerRunning: z.boolean(),
      defaultThreads: z.int().positive(),
      logicalCores: z.int().positive(),
      gpu: z
        .object({
          type: z.union([z.string(), z.literal(false)]),
          devices: z.array(z.string()),
          vram: z.object({ total: z.number(), used: z.number(), free: z.number() }).nullable(),
        })
        .nullable(),
    }),
  },
  'models.generate': {
    input: generateInputSchema,
    output: z.object({
      text: z.string(),
      tokensIn: z.int().nonnegative(),
      tokensOut: z.int().nonnegative(),
      finishReason: z.enum(['stop', 'length', 'aborted']),
      durationMs: z.number().nonnegative(),
      tokensPerSecond: z.number().nonnegative(),
      providerId: z.string(),
    }),
  },
  'providers.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(providerSchema) }),
  },
  'providers.save': {
    input: z
      .object({
        id: id.optional(),
        name: modelName,
        baseUrl: z.url({ protocol: /^https?$/ }),
        apiKey: z.string().max(1000).optional(),
        model: z.string().min(1).max(200),
        concurrency: z.int().min(1).max(1024).default(4),
      })
      .strict(),
    output: providerSchema,
  },
  'providers.remove': {
    input: z.object({ id }).strict(),
    output: z.object({ removed: z.boolean() }),
  },
  'gguf.quantize': {
    input: z
      .object({
        id,
        type: z.enum(QUANTIZATION_TYPES),
        name: modelName.optional(),
        /** Measure quality against the original afterwards (KL divergence, top-1 agreement, perplexity). */
        evaluate: z.boolean().default(true),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'gguf.compare': {
    input: z
      .object({
        originalId: id,
        quantizedId: id,
        text: z.string().min(1).max(1_000_000).optional(),
        maxPositions: z.int().min(8).max(100_000).default(512),
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'settings.get': {
    input: z.object({}).strict(),
    output: settingsSchema,
  },
  'settings.update': {
    input: settingsSchema.partial().strict(),
    output: settingsSchema,
  },
} as const

export type MethodSpecs = typeof methodSpecs
export type MethodName = keyof MethodSpecs
/** What a caller passes (defaults may be omitted). */
export type MethodInput<M extends MethodName> = z.input<MethodSpecs[M]['input']>
/** What a handler receives once defaults are applied. */
export type ParsedInput<M extends MethodName> = z.output<MethodSpecs[M]['input']>
export type MethodOutput<M extends MethodName> = z.output<MethodSpecs[M]['output']>

export const METHOD_NAMES = Object.keys(methodSpecs) as MethodName[]

export function isMethodName(value: unknown): value is MethodName {
  return typeof value === 'string' && Object.hasOwn(methodSpecs, value)
}

export const eventSpecs = {
  /** A job was created, changed status or progressed. */
  'job.updated': jobSchema,
  'job.log': jobLogSchema,
  /** The backend process went away or came back (desktop app only; the HTTP client reports its own connection). */
  'backend.status': z.object({
    state: z.enum(['ready', 'restarting', 'failed']),
    reason: z.string().optional(),
  }),
  /** The model worker process stopped (crash, native abort, kill); the models it had loaded are unloaded. */
  'models.worker': z.object({ reason: z.string(), lostModels: z.array(z.string()) }),
  /** A model was registered, changed, loaded, unloaded or removed. */
  'models.changed': z.object({ id, removed: z.boolean() }),
  /** Streamed generation output; produced by the model services. */
  'stream.token': z.object({ streamId: z.string(), text: z.string(), done: z.boolean() }),
} as const

export type EventSpecs = typeof eventSpecs
export type EventName = keyof EventSpecs
export type EventPayload<E extends EventName> = z.output<EventSpecs[E]>
export const EVENT_NAMES = Object.keys(eventSpecs) as EventName[]

export function isEventName(value: unknown): value is EventName {
  return typeof value === 'string' && Object.hasOwn(eventSpecs, value)
}

/** Wire messages of the MessagePort transport. */
export type PortRequest = { type: 'call'; id: number; method: string; input: unknown }
export type PortMessage =
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: ApiErrorShape }
  | { type: 'event'; name: EventName; payload: unknown }
