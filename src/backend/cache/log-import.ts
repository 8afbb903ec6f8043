/**
 * Importing request logs (JSONL or CSV, OpenAI-style requests) into the request log, idempotently: an import is
 * identified by the file's SHA-256 and the namespace, and a checkpoint (records read so far, counts, first problems)
 * is written in the same transaction as each batch of rows. So an interrupted import (crash, kill, cancel) resumes
 * after the last committed record with no row counted twice, and importing the same content again adds nothing.
 * A bad line never aborts an import: it is skipped and reported with its line number.
 */
import { createHash } from 'node:crypto'
import { createReadStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { parse as parseCsv } from 'csv-parse'
import { z } from 'zod'
import { cacheKey } from '../../shared/cache-key'
import type { Db } from '../db/database'
import type { JobKind } from '../jobs/runner'
import type { Workspace } from '../workspace/workspace'
import { CacheRepository } from './repository'
import { cacheableFrom, type CacheService } from './service'
import { message } from '../../shared/messages'

export const IMPORT_LOG_JOB = 'cache.import-log'

const messageSchema = z.object({ role: z.string(), content: z.string() })
/** One line of an imported log: an OpenAI-style request, optionally with when it happened and how often. */
const logLineSchema = z
  .object({
    model: z.string().min(1).optional(),
    messages: z.array(messageSchema).min(1).optional(),
    prompt: z.string().optional(),
    timestamp: z.union([z.string(), z.number()]).optional(),
    created: z.number().optional(),
    count: z.int().min(1).max(1_000_000).optional(),
  })
  .loose()

const MAX_REPORTED_PROBLEMS = 20
const BATCH_ROWS = 500

interface LineProblem {
  line: number
  message: string
}

/** A record of the file: its line (JSONL) or row (CSV, the header is 1) number, and the value or why it is bad. */
type FileRecord = { line: number; value: unknown } | { line: number; problem: string }

/**
 * A line's time; lines without one (or with an unreadable one) all get `fallback`: the import's `undatedAt`, kept in
 * the job's params (so a resumed import gives them the same instant), so planning can tell them from real timestamps
 * and order them by line (`planning/log.ts`).
 */
function isoFrom(value: string | number | undefined, fallback: string): string {
  if (value === undefined) return fallback
  const date = typeof value === 'number' ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value)
  return Number.isNaN(date.getTime()) ? fallback : date.toISOString()
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** Yields every record of a JSONL or CSV file in order (bad ones too), tracking bytes read for progress. */
export async function* readRecords(
  path: string,
  format: 'jsonl' | 'csv',
  onBytes: (bytes: number) => void,
): AsyncGenerator<FileRecord> {
  const stream = createReadStream(path)
  let bytes = 0
  stream.on('data', (chunk) => {
    bytes += chunk.length
    onBytes(bytes)
  })
  if (format === 'csv') {
    const parser = stream.pipe(parseCsv({ columns: true, skip_empty_lines: true, relax_column_count: true, bom: true }))
    let line = 1
    for await (const row of parser as AsyncIterable<Record<string, string>>) {
      line++
      const record: Record<string, unknown> = { ...row }
      if (row.messages) {
        try {
          record.messages = JSON.parse(row.messages) as unknown
        } catch (error) {
          yield { line, problem: `"messages" is not valid JSON (${(error as Error).message})` }
          continue
        }
      } else if (row.prompt !== undefined && row.system) {
        record.messages = [
          { role: 'system', content: row.system },
          { role: 'user', content: row.prompt },
        ]
        delete record.prompt
      }
      if (row.count) record.count = Number(row.count)
      yield { line, value: record }
    }
    return
  }
  let line = 0
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    line++
    if (text.trim() === '') continue
    try {
      yield { line, value: JSON.parse(text) as unknown }
    } catch (error) {
      yield { line, problem: `not valid JSON (${(error as Error).message})` }
    }
  }
}

interface Checkpoint {
  id: number
  recordsDone: number
  imported: number
  skipped: number
  problems: LineProblem[]
  status: 'running' | 'done'
  startedAt: string
  updatedAt: string
}

/** The `log_imports` rows: one per (namespace, file content). */
class LogImports {
  constructor(private readonly db: Db) {}

  find(namespaceId: number, sha256: string): Checkpoint | undefined {
    const row = this.db
      .prepare(
        `SELECT id, records_done AS recordsDone, imported, skipped, problems, status, started_at AS startedAt,
           updated_at AS updatedAt FROM log_imports WHERE namespace_id = ? AND file_sha256 = ?`,
      )
      .get(namespaceId, sha256) as (Omit<Checkpoint, 'problems'> & { problems: string }) | undefined
    return row ? { ...row, problems: JSON.parse(row.problems) as LineProblem[] } : undefined
  }

  start(namespaceId: number, sha256: string, path: string, format: 'jsonl' | 'csv'): Checkpoint {
    const now = new Date().toISOString()
    this.db
      .prepare(
        `INSERT INTO log_imports (namespace_id, file_sha256, path, format, status, started_at, updated_at)
         VALUES (?, ?, ?, ?, 'running', ?, ?)`,
      )
      .run(namespaceId, sha256, path, format, now, now)
    return this.find(namespaceId, sha256)!
  }

  /** Called inside the transaction that writes the batch's rows. */
  save(checkpoint: Checkpoint): void {
    this.db
      .prepare(
        `UPDATE log_imports SET records_done = ?, imported = ?, skipped = ?, problems = ?, status = ?, updated_at = ?
         WHERE id = ?`,
      )
      .run(
        checkpoint.recordsDone,
        checkpoint.imported,
        checkpoint.skipped,
        JSON.stringify(checkpoint.problems),
        checkpoint.status,
        new Date().toISOString(),
        checkpoint.id,
      )
  }
}

type LogRow = Parameters<CacheRepository['logRequest']>[0]

export interface ImportLogParams {
  namespaceId: number
  path: string
  format?: 'jsonl' | 'csv' | undefined
  /** The time given to lines without one (set when the import is asked for). */
  undatedAt?: string | undefined
}

export function importLogJob(workspace: Workspace, cache: CacheService): JobKind<ImportLogParams> {
  return {
    kind: IMPORT_LOG_JOB,
    params: z.object({
      namespaceId: z.int(),
      path: z.string(),
      format: z.enum(['jsonl', 'csv']).optional(),
      undatedAt: z.string().optional(),
    }),
    // Resuming continues after the last committed record (the checkpoint is in the same transaction as the rows).
    resumable: true,
    title: (params) => message('job.importRequestLog', { file: params.path.split(/[\\/]/).pop() ?? params.path }),
    async run(context) {
      const { path, namespaceId } = context.params
      const namespace = cache.namespace(namespaceId)
      const format = context.params.format ?? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl')
      const total = statSync(path).size
      const undatedAt = context.params.undatedAt ?? new Date().toISOString()
      const sha256 = await fileSha256(path)
      const imports = new LogImports(workspace.db)
      const found = imports.find(namespaceId, sha256)
      if (found?.status === 'done') {
        context.log(
          'info',
          `This file's content was imported into this namespace on ${found.updatedAt} (${found.imported} requests); nothing was added again.`,
        )
        return { imported: 0, skipped: 0, problems: [], alreadyImported: true, totalImported: found.imported }
      }
      const checkpoint = found ?? imports.start(namespaceId, sha256, path, format)
      const resumeAfter = checkpoint.recordsDone
      if (resumeAfter > 0)
        context.log('info', `Resuming after ${format === 'csv' ? 'row' : 'line'} ${resumeAfter} (already committed).`)
      const importedBefore = checkpoint.imported
      const skippedBefore = checkpoint.skipped
      const repo = new CacheRepository(workspace.db)
      let pending: LogRow[] = []
      let lastLine = resumeAfter
      const commit = (status: Checkpoint['status']): void => {
        const rows = pending
        pending = []
        checkpoint.recordsDone = lastLine
        checkpoint.status = status
        repo.transaction(() => {
          for (const row of rows) repo.logRequest(row)
          imports.save(checkpoint)
        })
      }
      const problem = (line: number, message: string): void => {
        checkpoint.skipped++
        if (checkpoint.problems.length < MAX_REPORTED_PROBLEMS) checkpoint.problems.push({ line, message })
      }
      for await (const record of readRecords(path, format, (bytes) =>
        context.progress(bytes / Math.max(1, total), `${checkpoint.imported} requests imported`),
      )) {
        if (record.line <= resumeAfter) continue
        context.throwIfAborted()
        lastLine = record.line
        if ('problem' in record) {
          problem(record.line, record.problem)
          continue
        }
        const parsed = logLineSchema.safeParse(record.value)
        if (!parsed.success || (!parsed.data.messages && parsed.data.prompt === undefined)) {
          problem(
            record.line,
            parsed.success
              ? 'needs "messages" or "prompt"'
              : `${parsed.error.issues[0]!.path.join('.') || 'line'}: ${parsed.error.issues[0]!.message}`,
          )
          continue
        }
        const { model, messages, prompt, count, timestamp, created, ...params } = parsed.data
        const request = cacheableFrom({
          model: model ?? namespace.modelLabel ?? 'default',
          messages,
          prompt,
          params: params as Record<string, unknown>,
        })
        const key = await cacheKey(request, namespace.normalization)
        const at = isoFrom(timestamp ?? created, undatedAt)
        // All rows of one line go into the same batch, so a line is either wholly committed or not at all.
        for (let i = 0; i < (count ?? 1); i++) {
          pending.push({
            at,
            namespaceId,
            tenant: namespace.tenant,
            keyHash: key.keyHash,
            canonical: key.canonical,
            promptText: key.promptText,
            hitKind: 'miss',
            reason: null,
            similarity: null,
            entryId: null,
            latencyMs: null,
            tokensIn: null,
            tokensOut: null,
            source: 'import',
          })
        }
        checkpoint.imported += count ?? 1
        if (pending.length >= BATCH_ROWS) commit('running')
      }
      commit('done')
      for (const { line, message } of checkpoint.problems) context.log('warn', `line ${line}: ${message}`)
      if (checkpoint.skipped > checkpoint.problems.length)
        context.log('warn', `${checkpoint.skipped - checkpoint.problems.length} more lines skipped.`)
      return {
        imported: checkpoint.imported - importedBefore,
        skipped: checkpoint.skipped - skippedBefore,
        problems: checkpoint.problems,
        ...(resumeAfter > 0 ? { resumedAfterLine: resumeAfter, totalImported: checkpoint.imported } : {}),
      }
    },
  }
}
