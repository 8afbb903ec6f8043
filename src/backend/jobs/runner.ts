/**
 * Runs persisted jobs with bounded concurrency. Several processes (the desktop backend, `larder serve`, a CLI
 * command) may share one workspace: a runner claims a queued job atomically, keeps a heartbeat on the jobs it owns,
 * and notices cancel requests made by any process. On start it recovers jobs whose owner died: resumable kinds go
 * back to the queue, the rest are marked failed with the reason.
 */
import { randomUUID } from 'node:crypto'
import type { z } from 'zod'
import type { Job, JobLog } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { isMessageKey, message, type MessageKey } from '../../shared/messages'
import type { EventBus } from '../events'
import { publicJob, type JobsRepository, type StoredJob, type Text } from './repository'

export interface JobContext<Params> {
  readonly jobId: number
  readonly params: Params
  /** 1 on the first run, 2+ when the job was resumed after a crash or shutdown. */
  readonly attempt: number
  /** Aborted when the job is cancelled or the runner shuts down. */
  readonly signal: AbortSignal
  /** The state saved by `saveCheckpoint` in an earlier attempt, if any. */
  readonly checkpoint: unknown
  progress(fraction: number | null, message?: Text): void
  log(level: JobLog['level'], message: Text): void
  saveCheckpoint(state: unknown): void
  /** Throws if the job was cancelled, so long loops can stop between steps. */
  throwIfAborted(): void
}

export interface JobKind<Params = unknown> {
  kind: string
  params: z.ZodType<Params>
  /** Whether a run interrupted by a crash may be started again (using the checkpoint to skip done work). */
  resumable: boolean
  /** Names what the job works on (a model's or family's name, not its id), ideally as a translatable message. */
  title(params: Params): Text
  run(context: JobContext<Params>): Promise<unknown>
}

export interface RunnerOptions {
  concurrency?: number
  /** Only run jobs this runner created (the CLI), rather than any queued job (the server). */
  exclusive?: boolean
  heartbeatMs?: number
  /** A running job whose owner has been silent this long is taken to be orphaned even if its pid is alive. */
  staleAfterMs?: number
  /** Give up resuming a job after this many attempts, so a job that crashes the process cannot loop forever. */
  maxAttempts?: number
}

/** Thrown by a job that was cancelled by someone other than Larder's operator (a remote service): it ends cancelled. */
export class JobCancelledError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'JobCancelledError'
  }
}

class AbortReason extends Error {
  constructor(readonly why: 'cancelled' | 'shutdown') {
    super(why === 'cancelled' ? 'Cancelled' : 'Larder is shutting down')
  }
}

const PROGRESS_WRITE_INTERVAL_MS = 200

export class JobRunner {
  readonly ownerId = randomUUID()
  private readonly kinds = new Map<string, JobKind<never>>()
  private readonly active = new Map<number, { controller: AbortController; done: Promise<void> }>()
  private readonly mine = new Set<number>()
  private readonly concurrency: number
  private readonly exclusive: boolean
  private readonly heartbeatMs: number
  private readonly staleAfterMs: number
  private readonly maxAttempts: number
  private heartbeatTimer: NodeJS.Timeout | undefined
  private stopped = false
  private paused = false

  constructor(
    private readonly repo: () => JobsRepository,
    private readonly events: EventBus,
    options: RunnerOptions = {},
  ) {
    this.concurrency = options.concurrency ?? 2
    this.exclusive = options.exclusive ?? false
    this.heartbeatMs = options.heartbeatMs ?? 1000
    this.staleAfterMs = options.staleAfterMs ?? 15_000
    this.maxAttempts = options.maxAttempts ?? 3
  }

  register<Params>(kind: JobKind<Params>): void {
    this.kinds.set(kind.kind, kind as unknown as JobKind<never>)
  }

  start(): void {
    this.recover()
    this.heartbeatTimer = setInterval(() => this.tick(), this.heartbeatMs)
    this.heartbeatTimer.unref()
    this.pump()
  }

  get runningCount(): number {
    return this.active.size
  }

  enqueue(kindName: string, rawParams: unknown): Job {
    const kind = this.kinds.get(kindName)
    if (!kind) throw ApiError.of('invalid_input', message('error.unknownJobKind', { kind: kindName }))
    const parsed = kind.params.safeParse(rawParams)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw ApiError.of('invalid_input', message('error.invalidJobParams', { kind: kindName, detail: issue.message }), {
        path: ['params', ...issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part))],
      })
    }
    const job = this.repo().create(kindName, kind.title(parsed.data as never), parsed.data)
    this.mine.add(job.id)
    this.publish(job)
    queueMicrotask(() => this.pump())
    return publicJob(job)
  }

  cancel(id: number): Job {
    const repo = this.repo()
    const job = repo.get(id)
    if (!job) throw ApiError.of('not_found', message('error.jobNotFound', { id }), { path: ['id'] })
    if (job.status === 'queued') {
      const cancelled = repo.cancelQueued(id)
      if (cancelled) {
        this.log(id, 'info', message('jobLog.cancelledBeforeStart'))
        this.publish(cancelled)
        return publicJob(cancelled)
      }
    }
    if (job.status === 'running' || repo.get(id)?.status === 'running') {
      const requested = repo.requestCancel(id) ?? job
      this.publish(requested)
      // Our own job stops now; another process's job stops at its runner's next heartbeat.
      this.active.get(id)?.controller.abort(new AbortReason('cancelled'))
      return publicJob(requested)
    }
    const already: Record<string, MessageKey> = {
      succeeded: 'error.jobAlreadyFinished',
      failed: 'error.jobAlreadyFailed',
      cancelled: 'error.jobAlreadyCancelled',
    }
    throw ApiError.of('conflict', message(already[job.status] ?? 'error.jobAlreadyFinished', { id }))
  }

  /** Waits until the given job has reached a final state (used by the CLI). */
  async waitFor(id: number): Promise<Job> {
    for (;;) {
      const entry = this.active.get(id)
      if (entry) await entry.done
      const job = this.repo().get(id)
      if (!job) throw ApiError.of('not_found', message('error.jobNotFound', { id }))
      if (job.status !== 'queued' && job.status !== 'running') return publicJob(job)
      await new Promise((resolve) => setTimeout(resolve, 100))
      this.pump()
    }
  }

  /** Stops taking new jobs; running ones are interrupted (resumable ones go back to the queue for next time). */
  async shutdown(): Promise<void> {
    this.stopped = true
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    for (const entry of this.active.values()) entry.controller.abort(new AbortReason('shutdown'))
    await Promise.all([...this.active.values()].map((entry) => entry.done))
  }

  /** Holds new claims while `work` runs (used when the database file is swapped during a restore). */
  async withPaused<T>(work: () => T | Promise<T>): Promise<T> {
    this.paused = true
    try {
      return await work()
    } finally {
      this.paused = false
      queueMicrotask(() => this.pump())
    }
  }

  /** Makes a crash visible: every job left running by a dead runner is requeued or failed with the reason. */
  recover(): void {
    const repo = this.repo()
    for (const job of repo.running()) {
      if (job.ownerId === this.ownerId || !this.isOrphaned(job)) continue
      const kind = this.kinds.get(job.kind)
      if (kind?.resumable && !job.cancelRequested && job.attempts < this.maxAttempts) {
        const requeued = repo.requeue(job.id)
        this.log(job.id, 'warn', message('jobLog.willResume', { attempt: job.attempts + 1 }))
        this.publish(requeued)
      } else {
        const reason = job.cancelRequested
          ? message('jobLog.cancelledInCrash')
          : !kind
            ? message('jobLog.unknownKind', { kind: job.kind })
            : kind.resumable
              ? message('jobLog.gaveUp', { attempts: job.attempts })
              : message('jobLog.notResumable')
        const failed = repo.finish(job.id, job.cancelRequested ? 'cancelled' : 'failed', null, reason)
        this.log(job.id, 'error', reason)
        this.publish(failed)
      }
    }
  }

  private isOrphaned(job: StoredJob): boolean {
    if (job.ownerPid !== null && job.ownerPid !== process.pid && !isProcessAlive(job.ownerPid)) return true
    return job.heartbeatAt === null || Date.now() - job.heartbeatAt > this.staleAfterMs
  }

  private tick(): void {
    if (this.stopped) return
    try {
      for (const row of this.repo().heartbeat(this.ownerId)) {
        if (row.cancel_requested === 1) this.active.get(row.id)?.controller.abort(new AbortReason('cancelled'))
      }
      this.recover()
      this.pump()
    } catch (error) {
      console.error('job runner heartbeat failed:', error)
    }
  }

  private pump(): void {
    if (this.stopped || this.paused) return
    const repo = this.repo()
    const kinds = [...this.kinds.keys()]
    while (this.active.size < this.concurrency) {
      const id = this.exclusive ? this.nextOfMine() : repo.nextQueuedId(kinds)
      if (id === undefined) return
      const job = repo.claim(id, this.ownerId)
      if (!job) {
        this.mine.delete(id)
        continue
      }
      this.execute(job)
    }
  }

  private nextOfMine(): number | undefined {
    for (const id of this.mine) {
      const job = this.repo().get(id)
      if (job?.status === 'queued') return id
      if (!job || (job.status !== 'running' && !this.active.has(id))) this.mine.delete(id)
    }
    return undefined
  }

  private execute(job: StoredJob): void {
    const kind = this.kinds.get(job.kind)!
    const controller = new AbortController()
    this.publish(job)
    this.log(
      job.id,
      'info',
      job.attempts > 1 ? message('jobLog.resumed', { attempt: job.attempts }) : message('jobLog.started'),
    )
    let lastWrite = 0
    let pending: { fraction: number | null; message: Text | null } | undefined
    const flushProgress = (): void => {
      if (!pending) return
      const updated = this.repo().setProgress(job.id, pending.fraction, pending.message)
      pending = undefined
      lastWrite = Date.now()
      if (updated) this.publish(updated)
    }
    const context: JobContext<never> = {
      jobId: job.id,
      params: job.params as never,
      attempt: job.attempts,
      signal: controller.signal,
      checkpoint: job.checkpoint,
      progress: (fraction, text) => {
        const clamped = fraction === null ? null : Math.min(1, Math.max(0, fraction))
        pending = { fraction: clamped, message: text ?? null }
        if (Date.now() - lastWrite >= PROGRESS_WRITE_INTERVAL_MS) flushProgress()
      },
      log: (level, text) => this.log(job.id, level, text),
      saveCheckpoint: (state) => this.repo().saveCheckpoint(job.id, state),
      throwIfAborted: () => {
        if (controller.signal.aborted) throw controller.signal.reason
      },
    }
    const done = (async () => {
      let finished: StoredJob
      try {
        const result = await kind.run(context)
        flushProgress()
        if (controller.signal.aborted) throw controller.signal.reason
        finished = this.repo().finish(job.id, 'succeeded', result ?? null, null)
        this.log(job.id, 'info', message('jobLog.finished'))
      } catch (error) {
        flushProgress()
        const reason = controller.signal.aborted ? controller.signal.reason : undefined
        if (reason instanceof AbortReason && reason.why === 'cancelled') {
          finished = this.repo().finish(job.id, 'cancelled', null, message('jobLog.cancelledByOperator'))
          this.log(job.id, 'warn', message('jobLog.cancelled'))
        } else if (!reason && error instanceof JobCancelledError) {
          finished = this.repo().finish(job.id, 'cancelled', null, error.message)
          this.log(job.id, 'warn', error.message)
        } else if (reason instanceof AbortReason && reason.why === 'shutdown' && kind.resumable) {
          finished = this.repo().requeue(job.id)
          this.log(job.id, 'warn', message('jobLog.pausedForShutdown'))
        } else {
          const failure = reason instanceof AbortReason ? message('jobLog.stoppedForShutdown') : failureText(error)
          finished = this.repo().finish(job.id, 'failed', null, failure)
          this.log(job.id, 'error', failure)
        }
      }
      this.publish(finished)
    })().finally(() => {
      this.active.delete(job.id)
      this.mine.delete(job.id)
      queueMicrotask(() => this.pump())
    })
    this.active.set(job.id, { controller, done })
  }

  private log(jobId: number, level: JobLog['level'], text: Text): void {
    try {
      const entry = this.repo().appendLog(jobId, level, text)
      this.events.emit('job.log', entry)
    } catch (error) {
      console.error(`could not record log for job ${jobId}:`, error)
    }
  }

  private publish(job: StoredJob): void {
    this.events.emit('job.updated', publicJob(job))
  }
}

/** A job's failure: the error's message, translatable when it is an ApiError made from a known message. */
function failureText(error: unknown): Text {
  if (error instanceof ApiError && error.messageKey && isMessageKey(error.messageKey)) {
    return { key: error.messageKey, params: error.params ?? {}, text: error.message }
  }
  return error instanceof Error ? error.message : String(error)
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
