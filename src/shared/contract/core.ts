/** The foundation's part of the contract: system, database, jobs, backups, settings. */
import { z } from 'zod'
import { absolutePath, id, timestamp } from './common'

/** A translatable message's key and parameters (src/shared/messages.ts), stored and sent beside its English text. */
export const messageRefSchema = z.object({
  key: z.string(),
  params: z.record(z.string(), z.union([z.string(), z.number()])),
})

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const
export const jobStatusSchema = z.enum(JOB_STATUSES)
export type JobStatus = z.infer<typeof jobStatusSchema>

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export const logLevelSchema = z.enum(LOG_LEVELS)

export const jobSchema = z.object({
  id,
  kind: z.string(),
  title: z.string(),
  /** The title as a message key and parameters, for the console to translate (null: show `title`). */
  titleRef: messageRefSchema.nullable(),
  params: z.unknown(),
  status: jobStatusSchema,
  /** 0..1, or null while the job cannot tell how far along it is. */
  progress: z.number().min(0).max(1).nullable(),
  progressMessage: z.string().nullable(),
  progressRef: messageRefSchema.nullable(),
  result: z.unknown().nullable(),
  error: z.string().nullable(),
  errorRef: messageRefSchema.nullable(),
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
  messageRef: messageRefSchema.nullable(),
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
  /** What live generation costs, for the cost estimate of each logged request (null: not estimated). */
  pricing: z.object({
    inputPer1kTokens: z.number().min(0).max(1000).nullable(),
    outputPer1kTokens: z.number().min(0).max(1000).nullable(),
    currency: z.string().min(1).max(8),
  }),
})
export type Settings = z.infer<typeof settingsSchema>

export const backupFileSchema = z.object({
  path: z.string(),
  name: z.string(),
  bytes: z.int().nonnegative(),
  modifiedAt: timestamp,
})
export type BackupFile = z.infer<typeof backupFileSchema>

/** How a backup is paced: copying in steps lets writers keep working between steps (SQLite's online backup). */
export const backupPacingSchema = z.object({
  pagesPerStep: z.int().min(1).max(1_000_000).default(256),
  stepDelayMs: z.int().min(0).max(10_000).default(0),
})

export const coreMethods = {
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
  'settings.get': {
    input: z.object({}).strict(),
    output: settingsSchema,
  },
  'settings.update': {
    input: settingsSchema.partial().strict(),
    output: settingsSchema,
  },
} as const

export const coreEvents = {
  /** A job was created, changed status or progressed. */
  'job.updated': jobSchema,
  'job.log': jobLogSchema,
  /** The backend process went away or came back (desktop app only; the HTTP client reports its own connection). */
  'backend.status': z.object({
    state: z.enum(['ready', 'restarting', 'failed']),
    reason: z.string().optional(),
  }),
  /** Streamed generation output; produced by the model services. */
  'stream.token': z.object({ streamId: z.string(), text: z.string(), done: z.boolean() }),
} as const
