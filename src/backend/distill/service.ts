/**
 * The Distillation area: training runs as `distill.train` jobs. A run is checked before its job exists (student,
 * data, name: bad input is a 4xx, nothing is queued), then the job prepares a trainable student, reads the data,
 * hands both to a `Trainer` (the built-in one by default), records every point and checkpoint, and finally
 * registers the trained model (and optionally a quantized copy) in the library with its provenance.
 *
 * Resumable: the job's checkpoint state names the trainable student and the last checkpoint GGUF; a run interrupted
 * by a crash (or a SIGKILL of the process) starts again from that checkpoint with the schedule where it was.
 */
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs'
import { basename, join } from 'node:path'
import { z } from 'zod'
import type { DistillRun, Hyperparameters, Job, ParsedInput, RunResult, TrainPointView } from '../../shared/contract'
import type { DISTILL_QUANTIZATION_TYPES } from '../../shared/contract'
import { CHATML_TEMPLATE, isAdapterFile, readGgufFile } from '../gguf/index'
import { ApiError } from '../../shared/errors'
import type { EventBus } from '../events'
import type { JobContext, JobKind, JobRunner } from '../jobs/runner'
import { defaultThreads } from '../models/model-host'
import { quantizeJobParams, type QuantizationJobs } from '../models/quantization'
import type { ModelsService } from '../models/service'
import type { Workspace } from '../workspace/workspace'
import { BuiltinTrainer } from './builtin-trainer'
import { DatasetError, readDataset, type ParsedDataset } from './data'
import { DistillRepository } from './repository'
import {
  checkStudent,
  needsConversion,
  StudentError,
  writeScratchStudent,
  writeTrainableStudent,
  type ScratchStudentSpec,
} from './student'
import { ExternalCommandTrainer } from './trainers/external'
import { checkCommand } from './trainers/protocol'
import { TrainerError, type CheckpointInfo, type Trainer, type TrainerJob, type TrainOutcome } from './trainer'
import { message } from '../../shared/messages'
import { apiTrainerParams, checkApiRun, RemoteRun, RemoteTrainingError, type ApiTrainerSpec } from './remote-run'

export const DISTILL_JOB = 'distill.train'
const POINT_FLUSH_MS = 500

type TrainInput = ParsedInput<'distill.train'>
/** An external trainer's command travels with the job, so a resumed job runs the same command. */
type DistillJobParams = { runId: number; command?: string | undefined; api?: ApiTrainerSpec | undefined }
type StudentSpec = NonNullable<TrainInput['student']>
type TrainerSpec = TrainInput['trainer']
const apiOf = (trainer: TrainerSpec): ApiTrainerSpec | undefined =>
  typeof trainer === 'object' && 'api' in trainer ? trainer.api : undefined
const commandOf = (trainer: TrainerSpec): string | undefined =>
  typeof trainer === 'object' && 'command' in trainer ? trainer.command : undefined

interface RunState {
  /** The trainable student the run started from. */
  studentPath?: string
  baseModelId?: number | null
  last?: CheckpointInfo
}

function invalid(message: string, path: string[]): ApiError {
  return new ApiError({ code: 'invalid_input', message, path })
}

function describeStudent(student: StudentSpec, models: ModelsService): string {
  if ('modelId' in student) return models.get(student.modelId).name
  if ('path' in student) return basename(student.path)
  const s = student.scratch
  return `new ${s.blockCount}x${s.embeddingLength} llama (${s.headCount} heads, ff ${s.feedForwardLength})`
}

export class DistillService {
  readonly trainers = new Map<string, Trainer>([['builtin', new BuiltinTrainer()]])
  private readonly pending = new Map<number, TrainPointView[]>()

  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly runner: JobRunner,
    private readonly models: ModelsService,
    private readonly quantization: QuantizationJobs,
  ) {}

  get repo(): DistillRepository {
    return new DistillRepository(this.workspace.db)
  }

  get runsDir(): string {
    return join(this.workspace.paths.home, 'distill')
  }

  /** The quantized copy of a trained model, with its quality against it (reused when a resumed job made it already). */
  private async quantizeResult(
    model: { id: number; name: string },
    quantize: string,
    provenance: Record<string, unknown>,
    context: JobContext<DistillJobParams>,
  ): Promise<RunResult['quantized']> {
    const type = quantize as (typeof DISTILL_QUANTIZATION_TYPES)[number]
    const existing = (await this.models.list()).items.find(
      (candidate) => candidate.sourceUri === `quantized:${model.name}:${type}`,
    )
    if (existing)
      return { modelId: existing.id, name: existing.name, type, meanKlDivergence: null, top1Agreement: null }
    const params = quantizeJobParams.parse({ id: model.id, type, name: `${model.name}-${type}`, evaluate: true })
    const report = await this.quantization.quantizeModel(params, {
      signal: context.signal,
      progress: (_fraction, message) => context.progress(1, `Quantizing to ${type}: ${message}`),
      log: (level, message) => context.log(level, message),
    })
    this.repo.setModelProvenance(report.modelId, { ...provenance, quantized: type, from: model.name })
    return {
      modelId: report.modelId,
      name: report.name,
      type,
      meanKlDivergence: report.quality?.meanKlDivergence ?? null,
      top1Agreement: report.quality?.top1Agreement ?? null,
    }
  }

  /** Checks everything that can be checked without training, so bad input never becomes a failed job. */
  async validate(input: TrainInput): Promise<{ label: string; baseModelId: number | null; dataset: ParsedDataset }> {
    const api = apiOf(input.trainer)
    if (api) {
      const dataset = await this.validateData(input)
      return { label: checkApiRun(this.workspace, api, dataset, input.quantize), baseModelId: null, dataset }
    }
    const student = input.student!
    let baseModelId: number | null = null
    if ('modelId' in student) {
      // An adapter's own weights are not a model to train: its base is (an external trainer can write a new LoRA).
      const model = this.models.fullModel(student.modelId, ['student', 'modelId'])
      baseModelId = model.id
      await this.checkStudentFile(model.path)
    } else if ('path' in student) {
      if (!existsSync(student.path)) throw invalid(`No student file at ${student.path}.`, ['student', 'path'])
      await this.checkStudentFile(student.path)
    } else {
      const scratch = student.scratch
      if (scratch.embeddingLength % scratch.headCount !== 0 || (scratch.embeddingLength / scratch.headCount) % 2) {
        throw invalid(
          `The embedding size (${scratch.embeddingLength}) must split into ${scratch.headCount} heads of an even size.`,
          ['student', 'scratch', 'headCount'],
        )
      }
      if (scratch.vocabularyFromModelId !== undefined) this.models.get(scratch.vocabularyFromModelId)
    }
    const command = commandOf(input.trainer)
    if (command !== undefined) {
      const problem = checkCommand(command)
      if (problem) throw invalid(problem, ['trainer', 'command'])
    }
    const dataset = await this.validateData(input)
    return { label: describeStudent(student, this.models), baseModelId, dataset }
  }

  private async validateData(input: TrainInput): Promise<ParsedDataset> {
    if (input.name && (await this.nameTaken(input.name))) {
      throw new ApiError({ code: 'conflict', message: `A model named "${input.name}" already exists.`, path: ['name'] })
    }
    try {
      return readDataset(input.data ?? '', { valFraction: input.hyperparameters.valPercent / 100 })
    } catch (error) {
      if (error instanceof DatasetError) throw invalid(error.message, ['data'])
      throw error
    }
  }

  private async nameTaken(name: string): Promise<boolean> {
    return (await this.models.list()).items.some((model) => model.name === name)
  }

  private async checkStudentFile(path: string): Promise<void> {
    try {
      await checkStudent(path)
    } catch (error) {
      throw invalid((error as Error).message, ['student'])
    }
  }

  async start(input: TrainInput): Promise<{ job: Job; run: DistillRun }> {
    const { label, baseModelId } = await this.validate(input)
    const repo = this.repo
    const api = apiOf(input.trainer)
    const command = commandOf(input.trainer)
    const runId = repo.create({
      name: input.name ?? '',
      student: input.student ?? { remote: api?.model ?? null },
      studentLabel: label,
      baseModelId,
      dataPath: input.data ?? '',
      hyperparameters: input.hyperparameters,
      quantize: input.quantize,
    })
    const name = input.name ?? `distilled-${runId}`
    if (!input.name) repo.setName(runId, name)
    if (command !== undefined) repo.setTrainer(runId, 'external')
    if (api) repo.setTrainer(runId, 'api')
    const job = this.runner.enqueue(DISTILL_JOB, {
      runId,
      ...(command !== undefined ? { command } : {}),
      ...(api ? { api } : {}),
    })
    repo.setJob(runId, job.id)
    this.events.emit('distill.changed', { runId })
    return { job, run: repo.get(runId)! }
  }

  checkData(path: string, valPercent: number) {
    try {
      const dataset = readDataset(path, { valFraction: valPercent / 100 })
      return {
        format: dataset.format,
        examples: dataset.examples.length,
        trainExamples: dataset.examples.filter((example) => example.split === 'train').length,
        valExamples: dataset.examples.filter((example) => example.split === 'val').length,
        problems: dataset.problems.slice(0, 200),
        sha256: dataset.sha256,
        bytes: dataset.bytes,
      }
    } catch (error) {
      if (error instanceof DatasetError) throw invalid(error.message, ['path'])
      throw error
    }
  }

  getRun(id: number, maxPoints: number) {
    this.flushPoints()
    const repo = this.repo
    const run = repo.get(id)
    if (!run) throw new ApiError({ code: 'not_found', message: `Run ${id} does not exist.`, path: ['id'] })
    return { run, points: repo.points(id, maxPoints), checkpoints: repo.checkpoints(id) }
  }

  listRuns(limit: number): DistillRun[] {
    return this.repo.list(limit)
  }

  job(): JobKind<DistillJobParams> {
    return {
      kind: DISTILL_JOB,
      params: z.object({ runId: z.int().positive(), command: z.string().optional(), api: apiTrainerParams.optional() }),
      resumable: true,
      title: (params) => message('job.train', { run: this.repo.get(params.runId)?.name ?? `#${params.runId}` }),
      run: (context) => this.runJob(context),
    }
  }

  private queuePoint(runId: number, point: TrainPointView): void {
    const list = this.pending.get(runId) ?? []
    list.push(point)
    this.pending.set(runId, list)
  }

  private flushPoints(): void {
    for (const [runId, points] of this.pending) {
      this.pending.delete(runId)
      this.repo.addPoints(runId, points)
      this.events.emit('distill.points', { runId, points })
    }
  }

  private async prepareStudent(run: DistillRun, student: StudentSpec, runDir: string, context: JobContext<unknown>) {
    if ('scratch' in student) {
      const scratch = student.scratch
      const spec: ScratchStudentSpec = {
        embeddingLength: scratch.embeddingLength,
        blockCount: scratch.blockCount,
        headCount: scratch.headCount,
        feedForwardLength: scratch.feedForwardLength,
        contextLength: scratch.contextLength,
        seed: scratch.seed,
        name: run.name,
        ...(scratch.vocabularyFromModelId !== undefined
          ? { vocabularyFrom: this.models.get(scratch.vocabularyFromModelId).path }
          : {}),
        ...(scratch.chat ? { chatTemplate: CHATML_TEMPLATE } : {}),
      }
      const path = join(runDir, 'student.gguf')
      const written = await writeScratchStudent(path, spec)
      context.log('info', `Wrote a new student: ${written.parameterCount.toLocaleString('en')} parameters.`)
      return path
    }
    const source = 'modelId' in student ? this.models.get(student.modelId).path : student.path
    const check = await checkStudent(source)
    if (!needsConversion(check)) return source
    const path = join(runDir, 'student-f32.gguf')
    const types = Object.entries(check.convertTypes)
      .map(([type, count]) => `${count} ${type}`)
      .join(', ')
    context.log(
      'info',
      `Converting the student for training: ${types ? `dequantizing ${types} tensors to F32` : ''}${types && check.tied ? '; ' : ''}${check.tied ? 'untying the output projection' : ''}.`,
    )
    await writeTrainableStudent(check, source, path)
    return path
  }

  private trainerJob(
    run: DistillRun,
    hyper: Hyperparameters,
    dataset: ParsedDataset,
    studentPath: string,
    runDir: string,
    state: RunState,
  ): TrainerJob {
    const resumeFrom = state.last && existsSync(state.last.path) ? state.last : undefined
    return {
      studentPath: resumeFrom?.path ?? studentPath,
      runDir,
      examples: dataset.examples,
      format: dataset.format,
      context: hyper.context,
      batch: hyper.batch ?? Math.min(hyper.context, DEFAULT_BATCH),
      threads: hyper.threads ?? defaultThreads(),
      gpuLayers: hyper.gpuLayers,
      epochs: hyper.epochs,
      startEpoch: resumeFrom ? Math.floor(resumeFrom.epoch) : 0,
      startStep: resumeFrom?.step ?? 0,
      schedule: { lr: hyper.lr, kind: hyper.schedule, warmupSteps: hyper.warmupSteps, minLrRatio: hyper.minLrRatio },
      weightDecay: hyper.weightDecay,
      layers: hyper.layers,
      seed: hyper.seed,
      shuffle: hyper.shuffle,
      maxSteps: hyper.maxSteps,
      provenance: { run: String(run.id), dataset: dataset.sha256 },
    }
  }

  private async runJob(context: JobContext<DistillJobParams>): Promise<unknown> {
    const repo = this.repo
    const run = repo.get(context.params.runId)
    if (!run) throw new Error(`Run ${context.params.runId} no longer exists.`)
    const studentSpec = repo.studentSpec(run.id) as StudentSpec
    const hyper = run.hyperparameters as Hyperparameters
    const runDir = join(this.runsDir, `run-${run.id}`)
    mkdirSync(runDir, { recursive: true })
    if (context.params.api) return this.runRemote(run, context.params.api, runDir, context)
    const state = { ...((context.checkpoint as RunState | null) ?? {}) }
    try {
      if (!state.studentPath || !existsSync(state.studentPath)) {
        context.progress(null, 'Preparing the student')
        state.studentPath = await this.prepareStudent(run, studentSpec, runDir, context)
        context.saveCheckpoint(state)
      }
      const dataset = readDataset(run.dataPath, { valFraction: (hyper.valPercent ?? 10) / 100 })
      repo.setData(run.id, dataset.sha256, dataset.format)
      this.logProblems(context, dataset)
      const job = this.trainerJob(run, hyper, dataset, state.studentPath, runDir, state)
      if (job.startStep > 0) {
        repo.dropPointsAfter(run.id, job.startStep)
        context.log('info', `Resuming from the checkpoint after epoch ${job.startEpoch} (step ${job.startStep}).`)
      }
      const outcome = await this.train(run, job, state, context)
      return await this.finish(run, hyper, dataset, outcome, context, state.studentPath)
    } catch (error) {
      if (error instanceof TrainerError || error instanceof StudentError || error instanceof DatasetError) {
        throw new Error(error.message, { cause: error })
      }
      throw error
    } finally {
      this.flushPoints()
      this.events.emit('distill.changed', { runId: run.id })
    }
  }

  private async runRemote(
    run: DistillRun,
    spec: ApiTrainerSpec,
    runDir: string,
    context: JobContext<DistillJobParams>,
  ): Promise<RunResult> {
    const hyper = run.hyperparameters as Hyperparameters
    const timer = setInterval(() => this.flushPoints(), POINT_FLUSH_MS)
    try {
      const dataset = readDataset(run.dataPath, { valFraction: (hyper.valPercent ?? 10) / 100 })
      this.repo.setData(run.id, dataset.sha256, dataset.format)
      this.logProblems(context, dataset)
      const remote = new RemoteRun(this.workspace, this.events, (runId, point) => this.queuePoint(runId, point))
      return await remote.run(run, spec, dataset, runDir, context)
    } catch (error) {
      if (error instanceof RemoteTrainingError || error instanceof DatasetError) {
        throw new Error(error.message, { cause: error })
      }
      throw error
    } finally {
      clearInterval(timer)
      this.flushPoints()
      this.events.emit('distill.changed', { runId: run.id })
    }
  }

  private logProblems(context: JobContext<unknown>, dataset: ParsedDataset): void {
    const problems = dataset.problems
    if (problems.length === 0) return
    for (const problem of problems.slice(0, 20)) context.log('warn', problem.message)
    context.log(
      'warn',
      `${problems.length} line${problems.length === 1 ? ' was' : 's were'} skipped; ${dataset.examples.length} examples are used.`,
    )
  }

  private async train(
    run: DistillRun,
    job: TrainerJob,
    state: RunState,
    context: JobContext<DistillJobParams>,
  ): Promise<TrainOutcome> {
    const command = context.params.command
    const trainer = command
      ? new ExternalCommandTrainer(command)
      : (this.trainers.get(run.trainer) ?? this.trainers.get('builtin')!)
    let totalSteps = 1
    let lastVal: number | null = null
    const timer = setInterval(() => this.flushPoints(), POINT_FLUSH_MS)
    try {
      return await trainer.train(
        job,
        {
          log: (level, message) => context.log(level, message),
          prepared: (info) => {
            totalSteps = Math.max(1, info.totalSteps)
            this.repo.setPrepared(run.id, info)
            for (const problem of info.skipped.slice(0, 20)) context.log('warn', problem.message)
            context.log(
              'info',
              `Training on ${info.trainExamples} examples (${info.trainTokens.toLocaleString('en')} tokens, ${info.trainWindows} windows), validating on ${info.valExamples}; ${info.trainableParameters.toLocaleString('en')} of ${info.parameters.toLocaleString('en')} parameters train (${info.formatting}; ${info.libraries}).`,
            )
            this.events.emit('distill.changed', { runId: run.id })
          },
          point: (point) => {
            this.queuePoint(run.id, point)
            if (point.valLoss !== null) lastVal = point.valLoss
            context.progress(
              point.step / totalSteps,
              `Epoch ${Math.min(job.epochs, Math.floor(point.epoch) + 1)}/${job.epochs} · step ${point.step}/${totalSteps}` +
                (point.loss !== null ? ` · loss ${point.loss.toFixed(3)}` : '') +
                (lastVal !== null ? ` · val ${lastVal.toFixed(3)}` : '') +
                (point.tokensPerSecond !== null
                  ? ` · ${Math.round(point.tokensPerSecond).toLocaleString('en')} tok/s`
                  : ''),
            )
          },
          checkpoint: (checkpoint) => {
            this.flushPoints()
            this.repo.addCheckpoint(run.id, checkpoint)
            state.last = checkpoint
            context.saveCheckpoint(state)
            context.log('info', `Checkpoint after epoch ${checkpoint.epoch}: ${checkpoint.path}`)
            this.events.emit('distill.changed', { runId: run.id })
          },
        },
        context.signal,
      )
    } finally {
      clearInterval(timer)
    }
  }

  /**
   * The library model a LoRA result applies to: the run's student when it was a library model, else the file the
   * trainer was given as {base} (a scratch or file student), copied into the library once.
   */
  private async adapterBase(run: DistillRun, studentPath: string, context: JobContext<unknown>): Promise<number> {
    const items = (await this.models.list()).items
    if (run.baseModelId !== null && items.some((model) => model.id === run.baseModelId)) return run.baseModelId
    const sourceUri = `distill:run-${run.id}:base`
    const ours = items.find((model) => model.sourceUri === sourceUri)
    if (ours) return ours.id
    const destination = join(this.models.libraryDir, `${run.name}-base-run-${run.id}.gguf`)
    copyFileSync(studentPath, `${destination}.partial`)
    renameSync(`${destination}.partial`, destination)
    const model = await this.models.register(destination, { source: 'library', sourceUri })
    context.log('info', `The LoRA's base, the student this run trained from, is in the library as ${model.name}.`)
    return model.id
  }

  private async finish(
    run: DistillRun,
    hyper: Hyperparameters,
    dataset: ParsedDataset,
    outcome: TrainOutcome,
    context: JobContext<DistillJobParams>,
    studentPath: string,
  ): Promise<RunResult> {
    context.progress(1, 'Registering the trained model')
    // An external trainer may write a LoRA adapter: it is registered on the model the run started from.
    const lora = await isLoraFile(outcome.lastCheckpoint.path)
    const base = lora ? await this.adapterBase(run, studentPath, context) : undefined
    this.flushPoints()
    const baseline = this.repo.baseline(run.id) ?? outcome.baseline
    mkdirSync(this.models.libraryDir, { recursive: true })
    // A resumed job may already have copied the model; any other file or model of that name is left alone.
    const sourceUri = `distill:run-${run.id}`
    const taken = (await this.models.list()).items
    const ours = taken.find((model) => model.sourceUri === sourceUri)
    let name = ours?.name ?? run.name
    for (let suffix = 2; !ours && taken.some((model) => model.name === name); suffix++) name = `${run.name}-${suffix}`
    let destination = ours?.path ?? join(this.models.libraryDir, `${name}.gguf`)
    if (!ours && existsSync(destination)) destination = join(this.models.libraryDir, `${name}-run-${run.id}.gguf`)
    if (!ours) {
      const partial = `${destination}.partial`
      copyFileSync(outcome.lastCheckpoint.path, partial)
      renameSync(partial, destination)
    }
    const model = await this.models.register(destination, { name, source: 'library', sourceUri, base })
    const provenance = {
      kind: 'distillation',
      output: lora ? 'lora' : 'model',
      run: run.id,
      trainer: run.trainer,
      base: run.studentLabel,
      baseModelId: run.baseModelId,
      dataset: {
        path: run.dataPath,
        sha256: dataset.sha256,
        format: dataset.format,
        examples: dataset.examples.length,
      },
      hyperparameters: hyper,
      metrics: {
        steps: outcome.steps,
        epochs: outcome.epochsDone,
        valLoss: outcome.final.valLoss,
        valAccuracy: outcome.final.valAccuracy,
        answerAccuracy: outcome.final.answerAccuracy,
        baselineValLoss: baseline.valLoss,
      },
    }
    this.repo.setModelProvenance(model.id, provenance)
    this.events.emit('models.changed', { id: model.id, removed: false })
    if (lora && run.quantize) context.log('info', 'The result is a LoRA adapter; adapters are not quantized.')
    const quantized = run.quantize && !lora ? await this.quantizeResult(model, run.quantize, provenance, context) : null
    const result: RunResult = {
      modelId: model.id,
      modelName: model.name,
      path: destination,
      steps: outcome.steps,
      epochsDone: outcome.epochsDone,
      stoppedEarly: outcome.stoppedEarly,
      trainSeconds: outcome.trainSeconds,
      tokensTrained: outcome.tokensTrained,
      baseline,
      final: outcome.final,
      samples: outcome.samples,
      quantized,
    }
    this.repo.setResult(run.id, result)
    context.log(
      'info',
      `Trained ${model.name}: validation loss ${fmt(baseline.valLoss)} -> ${fmt(outcome.final.valLoss)}, answer accuracy ${pct(baseline.answerAccuracy)} -> ${pct(outcome.final.answerAccuracy)}.`,
    )
    return result
  }
}

export const DEFAULT_BATCH = 64

async function isLoraFile(path: string): Promise<boolean> {
  return isAdapterFile(await readGgufFile(path))
}

const fmt = (value: number | null): string => (value === null ? '-' : value.toFixed(3))
const pct = (value: number | null): string => (value === null ? '-' : `${(value * 100).toFixed(1)}%`)
