/**
 * The external-command trainer: TRL, Axolotl, LLaMA-Factory or anything else, run as a command template with
 * `{dataset}` (train split, OpenAI chat JSONL), `{eval}` (validation split), `{base}` (the student GGUF),
 * `{out}` (where the trained GGUF must be written: a full model, or a LoRA adapter GGUF, which the run registers as an
 * adapter on the model it started from) and `{workdir}`. No shell: the template is split into argv and each
 * placeholder stays one argument. The process gets its own process group; cancelling kills the whole group.
 * Progress: the JSON-lines protocol on stdout, or LLaMA-Factory's `{workdir}/trainer_log.jsonl` (protocol.ts);
 * every other line is streamed into the job's log. A Hugging Face model folder or PEFT LoRA folder at `{out}` is
 * converted with llama.cpp's scripts (hf-convert.ts). A non-zero exit, or an `{out}` that is not a GGUF, fails the
 * job with the last lines the command printed.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { readGgufFile } from '../../gguf/index'
import type { DatasetExample } from '../data'
import {
  TrainerError,
  type Trainer,
  type TrainerCallbacks,
  type TrainerJob,
  type TrainOutcome,
  type TrainPoint,
} from '../trainer'
import { convertFolder, folderKind, type ConvertRequest } from './hf-convert'
import { emptyTrainPoint } from '../worker/protocol'
import { fillCommand, parseProgress } from './protocol'

const KILL_GRACE_MS = 5_000
const TAIL_LINES = 20
const POLL_MS = 300

function toJsonl(examples: DatasetExample[]): string {
  return examples
    .map((example) => JSON.stringify(example.kind === 'chat' ? { messages: example.messages } : { text: example.text }))
    .join('\n')
}

/** Reads lines appended to a file since the last call (LLaMA-Factory's trainer_log.jsonl). */
class FileTail {
  private offset = 0
  private partial = ''
  constructor(private readonly path: string) {}

  read(): string[] {
    if (!existsSync(this.path)) return []
    const size = statSync(this.path).size
    if (size <= this.offset) return []
    const buffer = Buffer.alloc(size - this.offset)
    const fd = openSync(this.path, 'r')
    try {
      readSync(fd, buffer, 0, buffer.length, this.offset)
    } finally {
      closeSync(fd)
    }
    this.offset = size
    const text = this.partial + buffer.toString('utf8')
    const lines = text.split('\n')
    this.partial = lines.pop() ?? ''
    return lines
  }
}

/**
 * What an external trainer printed: progress lines (the JSON-lines protocol or trainer_log.jsonl) become points and
 * the run's announced step count; every other line goes into the job's log and the tail kept for error messages.
 */
class ProgressReader {
  first: TrainPoint | undefined
  last: TrainPoint = emptyTrainPoint()
  lastVal: number | null = null
  private readonly tail: string[] = []
  private announcedTotal = 0
  private readonly counts: { train: number; val: number }

  constructor(
    job: TrainerJob,
    private readonly program: string,
    private readonly callbacks: TrainerCallbacks,
  ) {
    this.counts = {
      train: job.examples.filter((example) => example.split === 'train').length,
      val: job.examples.filter((example) => example.split === 'val').length,
    }
    this.announce(job.maxSteps ?? 1)
  }

  /** Any line of output (stdout or trainer_log.jsonl). */
  readonly onLine = (line: string): void => {
    const progress = parseProgress(line)
    if (!progress) return this.onText(line)
    if (progress.totalSteps) this.announce(progress.totalSteps)
    if (!progress.point) return
    this.first ??= progress.point
    // A point with only an evaluation keeps the last training loss, so `final` has both.
    this.last = { ...progress.point, loss: progress.point.loss ?? this.last.loss }
    if (progress.point.valLoss !== null) this.lastVal = progress.point.valLoss
    this.callbacks.point(progress.point)
  }

  /** A line that is not progress (all of stderr): logged and remembered for an error message. */
  readonly onText = (line: string): void => {
    if (!line.trim()) return
    this.tail.push(line)
    if (this.tail.length > TAIL_LINES) this.tail.shift()
    this.callbacks.log('info', line.slice(0, 2000))
  }

  lastLines(): string {
    return this.tail.length ? `\n${this.tail.slice(-10).join('\n')}` : ' (it printed nothing)'
  }

  private announce(total: number): void {
    if (total === this.announcedTotal) return
    this.announcedTotal = total
    this.callbacks.prepared({
      formatting: `external trainer (${this.program}) formats the data itself`,
      trainExamples: this.counts.train,
      valExamples: this.counts.val,
      trainTokens: 0,
      valTokens: 0,
      trainWindows: 0,
      valWindows: 0,
      skipped: [],
      parameters: 0,
      trainableParameters: 0,
      trainedTensors: 0,
      stepsPerEpoch: total,
      totalSteps: total,
      libraries: `external command: ${this.program}`,
    })
  }
}

/**
 * Runs argv in a process group of its own (no shell), its stdout and stderr line by line into `output`; an abort
 * sends the group SIGTERM, then SIGKILL after a grace period. Resolves with how it ended; rejects if it cannot start.
 */
function runGroup(
  argv: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
  output: { onLine: (line: string) => void; onText: (line: string) => void },
  signal: AbortSignal,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(argv[0]!, argv.slice(1), { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  createInterface({ input: child.stdout! }).on('line', output.onLine)
  createInterface({ input: child.stderr! }).on('line', output.onText)
  return new Promise((resolve, reject) => {
    let killTimer: NodeJS.Timeout | undefined
    const killGroup = (signalName: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, signalName)
      } catch {
        // the group is gone already
      }
    }
    const onAbort = (): void => {
      killGroup('SIGTERM')
      killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS)
      killTimer.unref()
    }
    const done = (): void => {
      if (killTimer) clearTimeout(killTimer)
      signal.removeEventListener('abort', onAbort)
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', (error) => {
      done()
      reject(new TrainerError('crashed', `The external trainer could not start (${argv[0]}): ${error.message}`))
    })
    child.on('close', (code, exitSignal) => {
      done()
      resolve({ code, signal: exitSignal })
    })
  })
}

export class ExternalCommandTrainer implements Trainer {
  readonly name = 'external'

  constructor(
    private readonly command: string,
    private readonly env: Record<string, string> = {},
  ) {}

  private files(job: TrainerJob) {
    const workdir = join(job.runDir, 'external')
    mkdirSync(workdir, { recursive: true })
    const files = {
      dataset: join(workdir, 'train.jsonl'),
      eval: join(workdir, 'eval.jsonl'),
      base: job.studentPath,
      out: join(workdir, 'model.gguf'),
      workdir,
      // The job's own hyperparameters, so a template can pass them on instead of the tool's defaults.
      epochs: String(job.epochs),
      batch: String(job.batch),
      seed: String(job.seed),
    }
    writeFileSync(files.dataset, toJsonl(job.examples.filter((example) => example.split === 'train')))
    writeFileSync(files.eval, toJsonl(job.examples.filter((example) => example.split === 'val')))
    rmSync(files.out, { force: true, recursive: true })
    for (const converted of Object.values(CONVERTED)) rmSync(join(workdir, converted), { force: true })
    rmSync(join(workdir, 'trainer_log.jsonl'), { force: true })
    return files
  }

  async train(job: TrainerJob, callbacks: TrainerCallbacks, signal: AbortSignal): Promise<TrainOutcome> {
    const files = this.files(job)
    const argv = fillCommand(this.command, files)
    const started = performance.now()
    const progress = new ProgressReader(job, argv[0]!, callbacks)
    callbacks.log('info', `Running ${argv.map((word) => JSON.stringify(word)).join(' ')}`)
    const trainerLog = new FileTail(join(files.workdir, 'trainer_log.jsonl'))
    const poll = setInterval(() => trainerLog.read().forEach(progress.onLine), POLL_MS)
    let exit: { code: number | null; signal: NodeJS.Signals | null }
    try {
      exit = await runGroup(argv, { cwd: files.workdir, env: { ...process.env, ...this.env } }, progress, signal)
    } finally {
      clearInterval(poll)
    }
    trainerLog.read().forEach(progress.onLine)
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('Training was stopped.')
    const { first, last } = progress
    if (exit.code !== 0) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`
      throw new TrainerError(
        'crashed',
        `The external trainer ${how}. Its last lines:${progress.lastLines()}`,
        last.step,
      )
    }
    const convert = { cacheDir: join(dirname(job.runDir), 'tools'), log: (line: string) => callbacks.log('info', line) }
    const { path, bytes } = await this.result(files.out, progress.lastLines(), { ...convert, signal })
    const final = { ...last, valLoss: last.valLoss ?? progress.lastVal }
    return {
      steps: last.step,
      epochsDone: last.epoch,
      stoppedEarly: false,
      lastCheckpoint: { epoch: last.epoch, step: last.step, path, bytes, valLoss: final.valLoss },
      final,
      baseline: first ?? emptyTrainPoint(),
      samples: [],
      trainSeconds: (performance.now() - started) / 1000,
      tokensTrained: 0,
      epochs: [],
    }
  }

  /** The trained GGUF (converted when {out} is a Hugging Face or PEFT folder) and its size, or why it cannot be used. */
  private async result(
    out: string,
    lastLines: string,
    convert: Omit<ConvertRequest, 'kind' | 'folder' | 'out'>,
  ): Promise<{ path: string; bytes: number }> {
    if (!existsSync(out)) {
      throw new TrainerError(
        'crashed',
        `The external trainer exited 0 but wrote nothing to {out}. Its last lines:${lastLines}`,
      )
    }
    let path = out
    if (statSync(out).isDirectory()) {
      const kind = folderKind(out)
      if (!kind) {
        throw new TrainerError(
          'unavailable',
          `The external trainer wrote a folder to {out} that is neither a Hugging Face model (config.json and *.safetensors) nor a PEFT LoRA (adapter_config.json). Write a GGUF to {out}, or one of those folders.`,
        )
      }
      path = join(dirname(out), CONVERTED[kind])
      await convertFolder({ ...convert, kind, folder: out, out: path })
    }
    try {
      await readGgufFile(path)
    } catch (error) {
      throw new TrainerError(
        'crashed',
        `The external trainer exited 0 but {out} is not a GGUF (${(error as Error).message}). Its last lines:${lastLines}`,
      )
    }
    return { path, bytes: statSync(path).size }
  }
}

/** Where a converted folder's GGUF is written, next to {out}. */
const CONVERTED = { 'hf-model': 'model-converted.gguf', 'peft-lora': 'lora-converted.gguf' } as const
