/**
 * The built-in trainer: forks the trainer worker (llama.cpp's training API through koffi), sends it one request,
 * relays its progress, and turns every way it can end into a result or a `TrainerError` with the reason: a
 * divergence or data problem it reports, a native abort (GGML_ASSERT) or an out-of-memory kill seen from outside.
 * Cancelling asks the worker to stop between steps and kills it if it does not within a few seconds.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { TrainerError, type Trainer, type TrainerCallbacks, type TrainerJob } from './trainer'
import type { ParentToWorker, TrainOutcome, TrainRequest, WorkerToParent } from './worker/protocol'

const STOP_GRACE_MS = 10_000

/** The worker's code: next to the built backend, or the TypeScript source under tsx (tests, dev). */
export function trainerWorkerEntry(): { path: string; execArgv: string[] } {
  const here = dirname(fileURLToPath(import.meta.url))
  const built = [join(here, 'trainer-worker.js'), join(here, '..', 'trainer-worker.js')].find((file) =>
    existsSync(file),
  )
  if (built) return { path: built, execArgv: [] }
  const source = join(here, 'worker', 'entry.ts')
  // tsx by its resolved path, so the worker starts whatever the current folder is (an external trainer's workdir).
  if (existsSync(source))
    return { path: source, execArgv: ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href] }
  throw new Error('The trainer worker is missing; run `npm run build`.')
}

export function defaultTrainThreads(logicalCores = cpus().length): number {
  return Math.max(1, Math.floor(logicalCores / 2))
}

function toRequest(job: TrainerJob): TrainRequest {
  return {
    studentPath: job.studentPath,
    runDir: job.runDir,
    examples: job.examples,
    format: job.format,
    context: job.context,
    batch: job.batch,
    threads: job.threads,
    gpuLayers: job.gpuLayers,
    epochs: job.epochs,
    startEpoch: job.startEpoch,
    startStep: job.startStep,
    schedule: job.schedule,
    weightDecay: job.weightDecay,
    layers: job.layers,
    seed: job.seed,
    shuffle: job.shuffle,
    ...(job.stride !== undefined ? { stride: job.stride } : {}),
    maxSteps: job.maxSteps,
    valWindowsMax: job.valWindowsMax ?? 64,
    answerExamples: job.answerExamples ?? 32,
    samples: job.samples ?? 3,
    provenance: job.provenance,
    layout: job.layout,
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null, stderrTail: string): string {
  const assertion = stderrTail
    .split('\n')
    .reverse()
    .find((line) => /GGML_ASSERT|GGML_ABORT|error|terminate/i.test(line))
    ?.trim()
    .slice(0, 400)
  if (signal === 'SIGKILL') {
    return 'The trainer process was killed (SIGKILL); this is most often the system running out of memory. Train a smaller student, fewer layers (--layers last:N) or a smaller context, then start again: the job resumes from the last checkpoint.'
  }
  if (signal === 'SIGABRT' || assertion) {
    return `llama.cpp aborted the trainer${assertion ? `: ${assertion}` : ''}. The backend is unaffected; the last checkpoint is kept.`
  }
  return `The trainer process ended unexpectedly (${signal ?? `exit code ${code}`})${assertion ? `: ${assertion}` : ''}.`
}

export class BuiltinTrainer implements Trainer {
  readonly name = 'builtin'
  private current: ChildProcess | undefined

  /** The worker's pid while a run is in progress (tests kill it). */
  get workerPid(): number | undefined {
    return this.current?.pid
  }

  train(job: TrainerJob, callbacks: TrainerCallbacks, signal: AbortSignal): Promise<TrainOutcome> {
    const { path, execArgv } = trainerWorkerEntry()
    const child = fork(path, [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' })
    this.current = child
    let stderrTail = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString()).slice(-8000)
    })
    return new Promise<TrainOutcome>((resolve, reject) => {
      let settled = false
      let killTimer: NodeJS.Timeout | undefined
      const finish = (error: Error | null, outcome?: TrainOutcome): void => {
        if (settled) return
        settled = true
        if (killTimer) clearTimeout(killTimer)
        signal.removeEventListener('abort', onAbort)
        if (this.current === child) this.current = undefined
        if (error) reject(error)
        else resolve(outcome!)
      }
      const onAbort = (): void => {
        if (child.connected) child.send({ type: 'stop' } satisfies ParentToWorker)
        killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
        killTimer.unref()
      }
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
      child.on('message', (message: WorkerToParent) => {
        switch (message.type) {
          case 'ready':
            child.send({ type: 'train', request: toRequest(job) } satisfies ParentToWorker)
            break
          case 'log':
            callbacks.log(message.level, message.message)
            break
          case 'prepared':
            callbacks.prepared(message.info)
            break
          case 'point':
            callbacks.point(message.point)
            break
          case 'checkpoint':
            callbacks.checkpoint(message.checkpoint)
            break
          case 'done':
            finish(null, message.outcome)
            break
          case 'stopped':
            finish(signal.reason instanceof Error ? signal.reason : new Error('Training was stopped.'))
            break
          case 'failed':
            finish(new TrainerError(message.code, message.message, message.step))
            break
        }
      })
      child.on('error', (error) => finish(new TrainerError('crashed', `The trainer could not start: ${error.message}`)))
      child.on('exit', (code, exitSignal) => {
        if (settled) return
        if (signal.aborted) {
          finish(signal.reason instanceof Error ? signal.reason : new Error('Training was stopped.'))
          return
        }
        finish(new TrainerError('crashed', describeExit(code, exitSignal, stderrTail)))
      })
    })
  }
}
