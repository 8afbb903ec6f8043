/**
 * The third trainer: an OpenAI-compatible fine-tuning API (OpenAI's, or another Larder's gateway), driven with the
 * official `openai` client. It uploads the train (and eval) JSONL with purpose "fine-tune", creates the job, then
 * polls it: the remote status becomes the Larder job's progress, each remote message event becomes one job log line
 * (in order, once), `metrics` events and checkpoint metrics become curve points, checkpoints are recorded. An abort
 * cancels the remote job; a remote failure is thrown with the remote's message; a job cancelled at the remote ends
 * the Larder job cancelled (JobCancelledError). Network errors and 5xx/429 answers
 * are retried with backoff a few times, then the run fails saying so. The API key is never logged.
 *
 * Unlike the local trainers it makes no GGUF: the outcome is the remote model's name (`fine_tuned_model`).
 */
import { createReadStream } from 'node:fs'
import { basename } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import OpenAI, { APIConnectionError, APIError, toFile } from 'openai'
import type { FineTuningJob, FineTuningJobEvent } from 'openai/resources/fine-tuning/index'
import { JobCancelledError } from '../../jobs/runner'
import type { TrainPoint } from '../trainer'
import { emptyTrainPoint } from '../worker/protocol'

export const DEFAULT_POLL_MS = 5000
const TRIES = 5
const RETRY_BASE_MS = 500
const PAGE = 100

export interface RemoteEndpoint {
  baseUrl: string
  apiKey: string | null
}

export interface RemoteTrainingSpec {
  trainFile: string
  evalFile?: string | undefined
  model: string
  suffix?: string | undefined
  epochs: number
  /** Sent only when it means something (the operator moved the learning rate off Larder's default). */
  learningRateMultiplier?: number | undefined
  seed: number
  /** Sent as `metadata.larder_max_steps` (a Larder gateway bounds the run by it; others ignore metadata). */
  maxSteps?: number | undefined
  /** The remote job of an earlier attempt: poll it instead of creating another. */
  resumeJobId?: string | undefined
}

export interface RemoteCheckpoint {
  id: string
  step: number
  model: string
  valLoss: number | null
}

export interface RemoteCallbacks {
  log(level: 'info' | 'warn' | 'error', message: string): void
  /** The remote job exists (saved so a resumed Larder job polls it instead of starting another). */
  created(jobId: string): void
  status(status: FineTuningJob['status'], fraction: number | null, message: string): void
  point(point: TrainPoint): void
  checkpoint(checkpoint: RemoteCheckpoint): void
}

export interface RemoteOutcome {
  jobId: string
  fineTunedModel: string
  trainedTokens: number | null
  steps: number
  last: TrainPoint | null
}

/** A refusal or failure at the remote: the Larder job fails with this message. */
export class RemoteTrainingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RemoteTrainingError'
  }
}

const TERMINAL = new Set<FineTuningJob['status']>(['succeeded', 'failed', 'cancelled'])
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null)

function retryable(error: unknown): boolean {
  if (error instanceof APIConnectionError) return true
  return error instanceof APIError && (error.status === 429 || (error.status ?? 0) >= 500)
}

export class OpenAiApiTrainer {
  readonly name = 'api'
  private readonly client: OpenAI
  private readonly seenEvents = new Set<string>()
  private readonly seenCheckpoints = new Set<string>()
  private readonly pointSteps = new Set<number>()
  private totalSteps: number | null = null
  private lastStep = 0
  private last: TrainPoint | null = null

  constructor(
    private readonly endpoint: RemoteEndpoint,
    private readonly pollMs = DEFAULT_POLL_MS,
    /** Events and checkpoints per page (OpenAI's default is 20; fewer in a test makes it page back). */
    private readonly pageSize = PAGE,
  ) {
    this.client = new OpenAI({
      apiKey: endpoint.apiKey || 'none',
      baseURL: endpoint.baseUrl.replace(/\/+$/, ''),
      maxRetries: 0,
      timeout: 120_000,
    })
  }

  /** One API call, retried with backoff on network errors, 5xx and 429; a 4xx is the remote's refusal. */
  private async call<T>(what: string, signal: AbortSignal, request: (signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      // A child signal per request: the client's listeners go with it instead of piling up on the job's signal.
      const child = new AbortController()
      const abort = () => child.abort(signal.reason)
      signal.addEventListener('abort', abort, { once: true })
      try {
        if (signal.aborted) throw signal.reason
        return await request(child.signal)
      } catch (error) {
        if (signal.aborted) throw signal.reason
        if (!retryable(error)) {
          const status = error instanceof APIError && error.status ? ` (HTTP ${error.status})` : ''
          throw new RemoteTrainingError(
            `${this.endpoint.baseUrl} refused ${what}${status}: ${(error as Error).message}`,
          )
        }
        if (attempt >= TRIES) {
          throw new RemoteTrainingError(
            `Lost contact with the fine-tuning API at ${this.endpoint.baseUrl} while ${what}: ${(error as Error).message} (gave up after ${TRIES} tries).`,
          )
        }
        await sleep(RETRY_BASE_MS * 2 ** (attempt - 1), undefined, { signal })
      } finally {
        signal.removeEventListener('abort', abort)
      }
    }
  }

  private async upload(path: string, signal: AbortSignal): Promise<string> {
    const file = await this.call(`uploading ${basename(path)}`, signal, async (signal) =>
      this.client.files.create(
        { file: await toFile(createReadStream(path), basename(path)), purpose: 'fine-tune' },
        { signal },
      ),
    )
    return file.id
  }

  private async create(spec: RemoteTrainingSpec, callbacks: RemoteCallbacks, signal: AbortSignal) {
    const trainingFile = await this.upload(spec.trainFile, signal)
    const validationFile = spec.evalFile ? await this.upload(spec.evalFile, signal) : undefined
    callbacks.log(
      'info',
      `Uploaded the training data (${trainingFile}${validationFile ? `, validation ${validationFile}` : ''}).`,
    )
    const hyperparameters = {
      n_epochs: spec.epochs,
      ...(spec.learningRateMultiplier !== undefined ? { learning_rate_multiplier: spec.learningRateMultiplier } : {}),
    }
    const job = await this.call('creating the fine-tuning job', signal, (signal) =>
      this.client.fineTuning.jobs.create(
        {
          model: spec.model,
          training_file: trainingFile,
          ...(validationFile ? { validation_file: validationFile } : {}),
          ...(spec.suffix ? { suffix: spec.suffix } : {}),
          seed: spec.seed,
          method: { type: 'supervised', supervised: { hyperparameters } },
          ...(spec.maxSteps ? { metadata: { larder_max_steps: String(spec.maxSteps) } } : {}),
        },
        { signal },
      ),
    )
    callbacks.created(job.id)
    callbacks.log('info', `Created the fine-tuning job ${job.id} on ${spec.model}.`)
    return job
  }

  /** Events not seen yet, oldest first (the API lists newest first; `after` pages back to older ones). */
  private async newEvents(jobId: string, signal: AbortSignal): Promise<FineTuningJobEvent[]> {
    const fresh: FineTuningJobEvent[] = []
    const inThisPoll = new Set<string>()
    let after: string | undefined
    for (let page = 0; page < 100; page++) {
      const list = await this.call('reading events', signal, (signal) =>
        this.client.fineTuning.jobs.listEvents(
          jobId,
          { limit: this.pageSize, ...(after ? { after } : {}) },
          { signal },
        ),
      )
      let reachedKnown = false
      for (const event of list.data) {
        if (this.seenEvents.has(event.id) || inThisPoll.has(event.id)) {
          reachedKnown = true
          break
        }
        inThisPoll.add(event.id)
        fresh.push(event)
      }
      if (reachedKnown || !list.has_more || list.data.length === 0) break
      after = list.data.at(-1)!.id
    }
    fresh.reverse()
    for (const event of fresh) this.seenEvents.add(event.id)
    return fresh
  }

  private epochOf(step: number, epochs: number): number {
    return this.totalSteps ? (step / this.totalSteps) * epochs : 0
  }

  private addPoint(point: TrainPoint, callbacks: RemoteCallbacks): void {
    this.pointSteps.add(point.step)
    this.lastStep = Math.max(this.lastStep, point.step)
    this.last = point
    callbacks.point(point)
  }

  private metricsPoint(data: Record<string, unknown>, epochs: number): TrainPoint | null {
    const step = num(data.step)
    if (step === null) return null
    const total = num(data.total_steps)
    if (total) this.totalSteps = total
    return {
      ...emptyTrainPoint(step, this.epochOf(step, epochs)),
      loss: num(data.train_loss),
      accuracy: num(data.train_mean_token_accuracy),
      valLoss: num(data.valid_loss) ?? num(data.full_valid_loss),
      valAccuracy: num(data.valid_mean_token_accuracy) ?? num(data.full_valid_mean_token_accuracy),
    }
  }

  private async followEvents(jobId: string, epochs: number, callbacks: RemoteCallbacks, signal: AbortSignal) {
    for (const event of await this.newEvents(jobId, signal)) {
      const data = (event.data ?? {}) as Record<string, unknown>
      const point = event.type === 'metrics' ? this.metricsPoint(data, epochs) : null
      if (point) this.addPoint(point, callbacks)
      // A metrics event is a curve point, not a log line (a long run sends hundreds).
      if (event.type === 'metrics' && point) continue
      const level = event.level === 'error' ? 'error' : event.level === 'warn' ? 'warn' : 'info'
      callbacks.log(level, `[remote] ${event.message}`)
    }
  }

  private async followCheckpoints(jobId: string, epochs: number, callbacks: RemoteCallbacks, signal: AbortSignal) {
    const list = await this.call('reading checkpoints', signal, (signal) =>
      this.client.fineTuning.jobs.checkpoints.list(jobId, { limit: 100 }, { signal }),
    )
    const fresh = list.data.filter((checkpoint) => !this.seenCheckpoints.has(checkpoint.id))
    for (const checkpoint of fresh.sort((a, b) => a.step_number - b.step_number)) {
      this.seenCheckpoints.add(checkpoint.id)
      const metrics = (checkpoint.metrics ?? {}) as Record<string, unknown>
      const valLoss = num(metrics.valid_loss) ?? num(metrics.full_valid_loss)
      callbacks.checkpoint({
        id: checkpoint.id,
        step: checkpoint.step_number,
        model: checkpoint.fine_tuned_model_checkpoint,
        valLoss,
      })
      const point = this.metricsPoint({ ...metrics, step: checkpoint.step_number }, epochs)
      if (point && !this.pointSteps.has(point.step) && (point.loss !== null || point.valLoss !== null)) {
        this.addPoint(point, callbacks)
      }
    }
  }

  private report(job: FineTuningJob, callbacks: RemoteCallbacks): void {
    const fraction = this.totalSteps ? Math.min(1, this.lastStep / this.totalSteps) : null
    const step = this.lastStep ? ` · step ${this.lastStep}${this.totalSteps ? `/${this.totalSteps}` : ''}` : ''
    const loss = this.last?.loss !== null && this.last?.loss !== undefined ? ` · loss ${this.last.loss.toFixed(3)}` : ''
    callbacks.status(job.status, fraction, `Remote job ${job.id}: ${job.status.replace('_', ' ')}${step}${loss}`)
  }

  /** Asks the remote to cancel (best effort, bounded), after the Larder job was cancelled. */
  private async cancelRemote(jobId: string, callbacks: RemoteCallbacks): Promise<void> {
    try {
      const job = await this.client.fineTuning.jobs.cancel(jobId, { signal: AbortSignal.timeout(30_000) })
      callbacks.log('info', `Cancelled the remote job ${jobId} (${job.status}).`)
    } catch (error) {
      callbacks.log('warn', `Cancelling the remote job ${jobId} failed: ${(error as Error).message}`)
    }
  }

  async train(spec: RemoteTrainingSpec, callbacks: RemoteCallbacks, signal: AbortSignal): Promise<RemoteOutcome> {
    let jobId = spec.resumeJobId
    try {
      if (!jobId) jobId = (await this.create(spec, callbacks, signal)).id
      else callbacks.log('info', `Following the remote job ${jobId} again.`)
      for (;;) {
        const job = await this.call('polling the job', signal, (signal) =>
          this.client.fineTuning.jobs.retrieve(jobId!, { signal }),
        )
        await this.followEvents(job.id, spec.epochs, callbacks, signal)
        await this.followCheckpoints(job.id, spec.epochs, callbacks, signal)
        this.report(job, callbacks)
        if (TERMINAL.has(job.status)) return this.outcome(job)
        await sleep(this.pollMs, undefined, { signal })
      }
    } catch (error) {
      if (signal.aborted && jobId) await this.cancelRemote(jobId, callbacks)
      throw signal.aborted ? signal.reason : error
    }
  }

  private outcome(job: FineTuningJob): RemoteOutcome {
    if (job.status === 'failed') {
      throw new RemoteTrainingError(
        `The remote fine-tuning job ${job.id} failed: ${job.error?.message ?? 'no reason given'}`,
      )
    }
    if (job.status === 'cancelled') {
      throw new JobCancelledError(`The remote fine-tuning job ${job.id} was cancelled at the remote.`)
    }
    if (!job.fine_tuned_model) {
      throw new RemoteTrainingError(`The remote job ${job.id} succeeded without naming a fine-tuned model.`)
    }
    return {
      jobId: job.id,
      fineTunedModel: job.fine_tuned_model,
      trainedTokens: job.trained_tokens ?? null,
      steps: this.lastStep,
      last: this.last,
    }
  }
}
