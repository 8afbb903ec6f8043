/**
 * Owns the model worker process: starts it on first use, forwards calls, streams text back, and when the worker
 * dies (a native abort in llama.cpp, out of memory, a kill) fails the calls in flight with the reason, forgets what
 * was loaded, and reports it, so the backend and the window keep running. The next call starts a fresh worker.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ProviderError } from './providers/types'
import type { CompareRequest, CompareResult } from './worker/compare'
import type { TeacherLogprobsRequest, TeacherLogprobsResult } from './worker/teacher-logprobs'
import type { TokenEvalRequest, TokenEvalResult } from '../distill/eval/token-metrics'
import type {
  LoadedInfo,
  LoadOptions,
  WorkerGenerateRequest,
  WorkerGenerateResult,
  WorkerReply,
  WorkerRequest,
  WorkerSystemInfo,
  WorkerUsage,
} from './worker/protocol'

type WorkerRequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never

export interface WorkerExit {
  code: number | null
  signal: NodeJS.Signals | null
  reason: string
  lostModels: string[]
}

/** Where the worker's code is: next to the built backend, or the TypeScript source under tsx (tests, dev). */
export function workerEntry(): { path: string; execArgv: string[] } {
  const here = dirname(fileURLToPath(import.meta.url))
  const built = [join(here, 'model-worker.js'), join(here, '..', 'model-worker.js')].find((file) => existsSync(file))
  if (built) return { path: built, execArgv: [] }
  const source = join(here, 'worker', 'entry.ts')
  if (existsSync(source)) return { path: source, execArgv: ['--import', 'tsx'] }
  throw new Error('The model worker is missing; run `npm run build`.')
}

/**
 * llama.cpp's default of 4 threads oversubscribes small machines badly (measured on 2 vCPUs: 1 thread ~2,000 tok/s
 * on the tiny test model, 4 threads ~2 tok/s). Use half the logical cores (hyper-threads share an FPU), at least 1;
 * `larder models bench --threads` measures the real optimum on a machine.
 */
export function defaultThreads(logicalCores = cpus().length): number {
  return Math.max(1, Math.floor(logicalCores / 2))
}

export class ModelHost {
  private worker: ChildProcess | undefined
  private ready: Promise<ChildProcess> | undefined
  private nextId = 1
  private readonly pending = new Map<
    number,
    {
      resolve: (value: unknown) => void
      reject: (error: Error) => void
      onText?: (text: string) => void
      onProgress?: (done: number, total: number) => void
      type?: WorkerRequest['type']
      /** How much the worker had written to stderr when the call was sent: its own output starts there. */
      stderrMark?: number
    }
  >()
  /** The worker's stderr: the last part of it, and how many characters it wrote in all. */
  private stderr = { tail: '', total: 0 }
  private readonly loaded = new Map<string, LoadedInfo>()
  private readonly exitListeners = new Set<(exit: WorkerExit) => void>()

  onWorkerExit(listener: (exit: WorkerExit) => void): () => void {
    this.exitListeners.add(listener)
    return () => this.exitListeners.delete(listener)
  }

  get loadedModels(): LoadedInfo[] {
    return [...this.loaded.values()]
  }

  get workerPid(): number | undefined {
    return this.worker?.pid
  }

  private start(): Promise<ChildProcess> {
    if (this.ready) return this.ready
    const { path, execArgv } = workerEntry()
    const child = fork(path, [], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'], serialization: 'advanced' })
    const stderr = { tail: '', total: 0 }
    this.stderr = stderr
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      stderr.tail = (stderr.tail + text).slice(-STDERR_KEPT)
      stderr.total += text.length
    })
    const stderrTail = (): string => stderr.tail
    this.worker = child
    this.ready = new Promise((resolve, reject) => {
      const onEarlyExit = (code: number | null): void =>
        reject(new ProviderError(`The model worker failed to start (exit ${code}): ${stderrTail().trim()}`, false))
      child.once('exit', onEarlyExit)
      child.on('message', (message: WorkerReply) => {
        if (message.type === 'ready') {
          child.off('exit', onEarlyExit)
          resolve(child)
          return
        }
        const call = this.pending.get(message.id)
        if (!call) return
        if (message.type === 'text') {
          call.onText?.(message.text)
          return
        }
        if (message.type === 'progress') {
          call.onProgress?.(message.done, message.total)
          return
        }
        this.pending.delete(message.id)
        if (message.ok) call.resolve(message.result)
        else {
          // llama.cpp says why on stderr ("error loading model: ..."); node-llama-cpp only "Failed to load model".
          const why = call.stderrMark !== undefined ? errorLine(outputSince(stderr, call.stderrMark)) : ''
          const detail = why && !message.error.includes(why) ? ` (${why})` : ''
          call.reject(new ProviderError(`${message.error}${detail}`, message.retryable, message.status))
        }
      })
    })
    child.on('exit', (code, signal) => {
      if (this.worker !== child) return
      this.worker = undefined
      this.ready = undefined
      // The crash's own output: what the worker wrote since the oldest call in flight was sent (an earlier call's
      // error, still in the tail, must not be named as this crash's reason).
      const marks = [...this.pending.values()].map((call) => call.stderrMark ?? 0)
      const own = outputSince(stderr, marks.length > 0 ? Math.min(...marks) : stderr.total)
      const abort = /GGML_ASSERT|GGML_ABORT|fatal error|abort|Aborted/i.exec(own)
      const line = errorLine(own)
      const reason =
        signal === 'SIGABRT' || abort
          ? `llama.cpp aborted the model worker${line ? `: ${line}` : ''}`
          : signal
            ? `the model worker was stopped by ${signal}`
            : `the model worker exited with code ${code}${line ? `: ${line}` : ''}`
      const lostModels = [...this.loaded.keys()]
      this.loaded.clear()
      for (const [id, call] of this.pending) {
        this.pending.delete(id)
        call.reject(
          call.type === 'load'
            ? // Most likely the file: not worth retrying as is.
              new ProviderError(`Loading the model stopped because ${reason}.`, !(signal === 'SIGABRT' || abort))
            : new ProviderError(
                `Generation stopped because ${reason}. Loaded models were unloaded; load again to continue.`,
                true,
              ),
        )
      }
      for (const listener of this.exitListeners) listener({ code, signal, reason, lostModels })
    })
    return this.ready
  }

  private async request<T>(body: WorkerRequestBody, onText?: (text: string) => void, signal?: AbortSignal): Promise<T> {
    const worker = await this.start()
    const id = this.nextId++
    const onAbort = (): void => {
      if (this.pending.has(id)) this.worker?.send({ id: this.nextId++, type: 'cancel', target: id })
    }
    signal?.addEventListener('abort', onAbort)
    // One listener per call on a job's long-lived signal: removed when the call settles, so they do not pile up.
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (value: unknown) => void,
        reject,
        ...(onText ? { onText } : {}),
        type: body.type,
        stderrMark: this.stderr.total,
      })
      worker.send({ ...body, id } as WorkerRequest)
    }).finally(() => signal?.removeEventListener('abort', onAbort))
  }

  async load(handle: string, path: string, options: LoadOptions): Promise<LoadedInfo> {
    const info = await this.request<LoadedInfo>({ type: 'load', handle, path, options })
    this.loaded.set(handle, info)
    return info
  }

  async unload(handle: string): Promise<void> {
    if (!this.loaded.has(handle)) return
    await this.request({ type: 'unload', handle })
    this.loaded.delete(handle)
  }

  generate(handle: string, request: WorkerGenerateRequest, onText?: (text: string) => void, signal?: AbortSignal) {
    return this.request<WorkerGenerateResult>({ type: 'generate', handle, request }, onText, signal)
  }

  embed(handle: string, texts: string[]): Promise<number[][]> {
    return this.request({ type: 'embed', handle, texts })
  }

  tokenize(handle: string, text: string): Promise<number[]> {
    return this.request({ type: 'tokenize', handle, text })
  }

  /** A loaded model's top-k next-token log-probs on a given answer (teacher forcing). */
  teacherLogprobs(handle: string, request: TeacherLogprobsRequest): Promise<TeacherLogprobsResult> {
    return this.request({ type: 'logprobs', handle, request })
  }

  /** The worker process's peak RSS so far (a fresh host that loads one model measures that model alone). */
  usage(): Promise<WorkerUsage> {
    return this.request({ type: 'usage' })
  }

  system(): Promise<WorkerSystemInfo> {
    return this.request({ type: 'system' })
  }

  /** Quality of a quantized model against its original (KL divergence, top-1 agreement, perplexity). */
  async compare(request: CompareRequest, onProgress?: (done: number, total: number) => void): Promise<CompareResult> {
    const worker = await this.start()
    const id = this.nextId++
    return new Promise<CompareResult>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (value: unknown) => void,
        reject,
        ...(onProgress ? { onProgress } : {}),
      })
      worker.send({ id, type: 'compare', request } satisfies WorkerRequest)
    })
  }

  /** Distillation metrics on answer positions (teacher top-k KL, top-1 agreement, NLL): distill/eval. */
  async distillTokens(
    request: TokenEvalRequest,
    onProgress?: (done: number, total: number) => void,
  ): Promise<TokenEvalResult> {
    const worker = await this.start()
    const id = this.nextId++
    return new Promise<TokenEvalResult>((resolve, reject) => {
      this.pending.set(id, {
        resolve: resolve as (value: unknown) => void,
        reject,
        ...(onProgress ? { onProgress } : {}),
      })
      worker.send({ id, type: 'distillTokens', request } satisfies WorkerRequest)
    })
  }

  /** Stops the worker (unloading everything). */
  async stop(): Promise<void> {
    const worker = this.worker
    if (!worker) return
    this.worker = undefined
    this.ready = undefined
    this.loaded.clear()
    await new Promise<void>((resolve) => {
      worker.once('exit', () => resolve())
      worker.kill('SIGTERM')
      setTimeout(() => worker.kill('SIGKILL'), 3000).unref()
    })
  }
}

const STDERR_KEPT = 8000

/** What the worker wrote to stderr after `mark` characters (as much of it as is still kept). */
function outputSince(stderr: { tail: string; total: number }, mark: number): string {
  const written = stderr.total - mark
  return written <= 0 ? '' : stderr.tail.slice(-Math.min(written, stderr.tail.length))
}

/** The line that says what went wrong: the last assert or error line, else the last line. */
function errorLine(text: string): string {
  const lines = text
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '')
  return (lines.findLast((line) => /GGML_ASSERT|GGML_ABORT|fatal error|error/i.test(line)) ?? lines.at(-1) ?? '')
    .trim()
    .slice(0, 300)
}
