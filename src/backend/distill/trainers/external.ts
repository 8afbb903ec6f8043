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

  train(job: TrainerJob, callbacks: TrainerCallbacks, signal: AbortSignal): Promise<TrainOutcome> {
    const files = this.files(job)
    const argv = fillCommand(this.command, files)
    const started = performance.now()
    const tail: string[] = []
    const remember = (line: string): void => {
      tail.push(line)
      if (tail.length > TAIL_LINES) tail.shift()
    }
    let first: TrainPoint | undefined
    let last: TrainPoint = emptyTrainPoint()
    let lastVal: number | null = null
    let announcedTotal = 0
    const counts = {
      train: job.examples.filter((example) => example.split === 'train').length,
      val: job.examples.filter((example) => example.split === 'val').length,
    }
    const announce = (total: number): void => {
      if (total === announcedTotal) return
      announcedTotal = total
      callbacks.prepared({
        formatting: `external trainer (${argv[0]}) formats the data itself`,
        trainExamples: counts.train,
        valExamples: counts.val,
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
        libraries: `external command: ${argv[0]}`,
      })
    }
    announce(job.maxSteps ?? 1)
    const onLine = (line: string): void => {
      const progress = parseProgress(line)
      if (!progress) {
        if (line.trim()) {
          remember(line)
          callbacks.log('info', line.slice(0, 2000))
        }
        return
      }
      if (progress.totalSteps) announce(progress.totalSteps)
      if (!progress.point) return
      first ??= progress.point
      // A point with only an evaluation keeps the last training loss, so `final` has both.
      last = { ...progress.point, loss: progress.point.loss ?? last.loss }
      if (progress.point.valLoss !== null) lastVal = progress.point.valLoss
      callbacks.point(progress.point)
    }
    callbacks.log('info', `Running ${argv.map((word) => JSON.stringify(word)).join(' ')}`)
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: files.workdir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    })
    createInterface({ input: child.stdout! }).on('line', onLine)
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (!line.trim()) return
      remember(line)
      callbacks.log('info', line.slice(0, 2000))
    })
    const trainerLog = new FileTail(join(files.workdir, 'trainer_log.jsonl'))
    const poll = setInterval(() => trainerLog.read().forEach(onLine), POLL_MS)
    return new Promise<TrainOutcome>((resolve, reject) => {
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
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
      const lastLines = (): string => (tail.length ? `\n${tail.slice(-10).join('\n')}` : ' (it printed nothing)')
      child.on('error', (error) => {
        clearInterval(poll)
        signal.removeEventListener('abort', onAbort)
        reject(new TrainerError('crashed', `The external trainer could not start (${argv[0]}): ${error.message}`))
      })
      child.on('close', (code, exitSignal) => {
        clearInterval(poll)
        trainerLog.read().forEach(onLine)
        if (killTimer) clearTimeout(killTimer)
        signal.removeEventListener('abort', onAbort)
        if (signal.aborted) {
          reject(signal.reason instanceof Error ? signal.reason : new Error('Training was stopped.'))
          return
        }
        if (code !== 0) {
          const how = exitSignal ? `was killed by ${exitSignal}` : `exited with code ${code}`
          reject(new TrainerError('crashed', `The external trainer ${how}. Its last lines:${lastLines()}`, last.step))
          return
        }
        const convert = {
          cacheDir: join(dirname(job.runDir), 'tools'),
          log: (line: string) => callbacks.log('info', line),
          signal,
        }
        this.result(files.out, lastLines(), convert)
          .then(({ path, bytes }) => {
            const final = { ...last, valLoss: last.valLoss ?? lastVal }
            resolve({
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
            })
          })
          .catch(reject)
      })
    })
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
