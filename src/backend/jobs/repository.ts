/** SQL for the jobs and job_logs tables; the rest of the backend never writes these tables directly. */
import type { Job, JobLog, JobStatus } from '../../shared/contract'
import { refOf, type Message, type MessageRef } from '../../shared/messages'
import type { Db } from '../db/database'

interface JobRow {
  id: number
  kind: string
  title: string
  title_ref: string | null
  params: string
  status: JobStatus
  progress: number | null
  progress_message: string | null
  progress_ref: string | null
  checkpoint: string | null
  result: string | null
  error: string | null
  error_ref: string | null
  attempts: number
  cancel_requested: number
  owner_id: string | null
  owner_pid: number | null
  heartbeat_at: number | null
  created_at: string
  started_at: string | null
  finished_at: string | null
  updated_at: string
}

export interface StoredJob extends Job {
  checkpoint: unknown
  ownerId: string | null
  ownerPid: number | null
  heartbeatAt: number | null
}

function parseJson(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown)
}

/** English text, optionally with the message it was made from (its key and parameters, for translation). */
export type Text = string | Message

const textOf = (value: Text | null): string | null => (value === null || typeof value === 'string' ? value : value.text)
const refJson = (value: Text | null): string | null =>
  value === null || typeof value === 'string' ? null : JSON.stringify(refOf(value))
const parseRef = (text: string | null): MessageRef | null => parseJson(text) as MessageRef | null

function toJob(row: JobRow): StoredJob {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    titleRef: parseRef(row.title_ref),
    params: parseJson(row.params),
    status: row.status,
    progress: row.progress,
    progressMessage: row.progress_message,
    progressRef: parseRef(row.progress_ref),
    result: parseJson(row.result),
    error: row.error,
    errorRef: parseRef(row.error_ref),
    attempts: row.attempts,
    cancelRequested: row.cancel_requested === 1,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
    checkpoint: parseJson(row.checkpoint),
    ownerId: row.owner_id,
    ownerPid: row.owner_pid,
    heartbeatAt: row.heartbeat_at,
  }
}

/** The public shape, without runner bookkeeping. */
export function publicJob(job: StoredJob): Job {
  return {
    id: job.id,
    kind: job.kind,
    title: job.title,
    titleRef: job.titleRef,
    params: job.params,
    status: job.status,
    progress: job.progress,
    progressMessage: job.progressMessage,
    progressRef: job.progressRef,
    result: job.result,
    error: job.error,
    errorRef: job.errorRef,
    attempts: job.attempts,
    cancelRequested: job.cancelRequested,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    updatedAt: job.updatedAt,
  }
}

const now = (): string => new Date().toISOString()

export class JobsRepository {
  private readonly statements

  constructor(private readonly db: Db) {
    this.statements = {
      insert: db.prepare(
        `INSERT INTO jobs (kind, title, title_ref, params, status, created_at, updated_at)
         VALUES (@kind, @title, @titleRef, @params, 'queued', @now, @now) RETURNING *`,
      ),
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      nextQueued: db.prepare(
        `SELECT id FROM jobs WHERE status = 'queued' AND kind IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT 1`,
      ),
      claim: db.prepare(
        `UPDATE jobs SET status = 'running', attempts = attempts + 1, owner_id = @ownerId, owner_pid = @pid,
           heartbeat_at = @beat, started_at = coalesce(started_at, @now), updated_at = @now, error = NULL
         WHERE id = @id AND status = 'queued' AND cancel_requested = 0 RETURNING *`,
      ),
      progress: db.prepare(
        `UPDATE jobs SET progress = @progress, progress_message = @message, progress_ref = @ref, updated_at = @now
         WHERE id = @id AND status = 'running' RETURNING *`,
      ),
      checkpoint: db.prepare('UPDATE jobs SET checkpoint = ?, updated_at = ? WHERE id = ?'),
      finish: db.prepare(
        `UPDATE jobs SET status = @status, result = @result, error = @error, error_ref = @errorRef, finished_at = @now, updated_at = @now,
           progress = CASE WHEN @status = 'succeeded' THEN 1 ELSE progress END,
           owner_id = NULL, owner_pid = NULL, heartbeat_at = NULL
         WHERE id = @id RETURNING *`,
      ),
      requeue: db.prepare(
        `UPDATE jobs SET status = 'queued', owner_id = NULL, owner_pid = NULL, heartbeat_at = NULL, updated_at = @now
         WHERE id = @id RETURNING *`,
      ),
      cancelQueued: db.prepare(
        `UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = @now, updated_at = @now
         WHERE id = @id AND status = 'queued' RETURNING *`,
      ),
      requestCancel: db.prepare(
        `UPDATE jobs SET cancel_requested = 1, updated_at = @now WHERE id = @id AND status = 'running' RETURNING *`,
      ),
      heartbeat: db.prepare(
        `UPDATE jobs SET heartbeat_at = @beat WHERE owner_id = @ownerId AND status = 'running'
         RETURNING id, cancel_requested`,
      ),
      running: db.prepare(`SELECT * FROM jobs WHERE status = 'running' ORDER BY id`),
      lastSeq: db.prepare('SELECT coalesce(max(seq), 0) FROM job_logs WHERE job_id = ?').pluck(),
      insertLog: db.prepare(
        'INSERT INTO job_logs (job_id, seq, level, message, message_ref, at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      logs: db.prepare(
        `SELECT job_id AS jobId, seq, level, message, message_ref AS messageRef, at FROM job_logs WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
    }
  }

  create(kind: string, title: Text, params: unknown): StoredJob {
    const row = this.statements.insert.get({
      kind,
      title: textOf(title),
      titleRef: refJson(title),
      params: JSON.stringify(params ?? null),
      now: now(),
    }) as JobRow
    return toJob(row)
  }

  get(id: number): StoredJob | undefined {
    const row = this.statements.get.get(id) as JobRow | undefined
    return row ? toJob(row) : undefined
  }

  list(filter: { status?: JobStatus[]; kind?: string; limit: number; offset: number }): {
    items: StoredJob[]
    total: number
  } {
    const where: string[] = []
    const args: unknown[] = []
    if (filter.status && filter.status.length > 0) {
      where.push(`status IN (${filter.status.map(() => '?').join(', ')})`)
      args.push(...filter.status)
    }
    if (filter.kind) {
      where.push('kind = ?')
      args.push(filter.kind)
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
    const total = this.db
      .prepare(`SELECT count(*) FROM jobs ${clause}`)
      .pluck()
      .get(...args) as number
    const rows = this.db
      .prepare(`SELECT * FROM jobs ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...args, filter.limit, filter.offset) as JobRow[]
    return { items: rows.map(toJob), total }
  }

  nextQueuedId(kinds: string[]): number | undefined {
    return (this.statements.nextQueued.get(JSON.stringify(kinds)) as { id: number } | undefined)?.id
  }

  /** Atomically takes a queued job; undefined when another runner got it first or it was cancelled. */
  claim(id: number, ownerId: string): StoredJob | undefined {
    const row = this.statements.claim.get({ id, ownerId, pid: process.pid, beat: Date.now(), now: now() }) as
      JobRow | undefined
    return row ? toJob(row) : undefined
  }

  setProgress(id: number, progress: number | null, message: Text | null): StoredJob | undefined {
    const row = this.statements.progress.get({
      id,
      progress,
      message: textOf(message),
      ref: refJson(message),
      now: now(),
    }) as JobRow | undefined
    return row ? toJob(row) : undefined
  }

  saveCheckpoint(id: number, state: unknown): void {
    this.statements.checkpoint.run(JSON.stringify(state ?? null), now(), id)
  }

  finish(id: number, status: 'succeeded' | 'failed' | 'cancelled', result: unknown, error: Text | null): StoredJob {
    const row = this.statements.finish.get({
      id,
      status,
      result: result === undefined ? null : JSON.stringify(result),
      error: textOf(error),
      errorRef: refJson(error),
      now: now(),
    }) as JobRow
    return toJob(row)
  }

  requeue(id: number): StoredJob {
    return toJob(this.statements.requeue.get({ id, now: now() }) as JobRow)
  }

  cancelQueued(id: number): StoredJob | undefined {
    const row = this.statements.cancelQueued.get({ id, now: now() }) as JobRow | undefined
    return row ? toJob(row) : undefined
  }

  requestCancel(id: number): StoredJob | undefined {
    const row = this.statements.requestCancel.get({ id, now: now() }) as JobRow | undefined
    return row ? toJob(row) : undefined
  }

  /** Marks this runner's jobs alive and returns those whose cancel was requested (possibly by another process). */
  heartbeat(ownerId: string): { id: number; cancel_requested: number }[] {
    return this.statements.heartbeat.all({ ownerId, beat: Date.now() }) as { id: number; cancel_requested: number }[]
  }

  running(): StoredJob[] {
    return (this.statements.running.all() as JobRow[]).map(toJob)
  }

  appendLog(jobId: number, level: JobLog['level'], message: Text): JobLog {
    const at = now()
    const seq = (this.statements.lastSeq.get(jobId) as number) + 1
    const ref = refJson(message)
    this.statements.insertLog.run(jobId, seq, level, textOf(message), ref, at)
    return { jobId, seq, level, message: textOf(message)!, messageRef: parseRef(ref), at }
  }

  logs(jobId: number, afterSeq: number, limit: number): JobLog[] {
    const rows = this.statements.logs.all(jobId, afterSeq, limit) as (Omit<JobLog, 'messageRef'> & {
      messageRef: string | null
    })[]
    return rows.map((row) => ({ ...row, messageRef: parseRef(row.messageRef) }))
  }
}
