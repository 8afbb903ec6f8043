/**
 * `larder distill eval|evaluations|promote|rollback|promotions`, and `larder distill trainer-jsonl`: the built-in
 * trainer run in this process behind the external-command contract (JSON-lines progress on stdout, the trained GGUF
 * at --out), so the external-trainer path is tested with a real trainer where Python trainers cannot be installed.
 */
import { copyFileSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { EvalInput, Evaluation, Job, Model } from '../../shared/contract'
import { TASK_METRICS } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../../backend/backend'
import { BuiltinTrainer } from '../../backend/distill/builtin-trainer'
import { readDataset, type DatasetExample } from '../../backend/distill/data'
import { DEFAULT_BATCH } from '../../backend/distill/service'
import { checkStudent, needsConversion, writeTrainableStudent } from '../../backend/distill/student'
import { defaultThreads } from '../../backend/models/model-host'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'
import { dataOrDatasetVersion } from './distill-datasets'
import { registerPromotion } from './distill-promote'

const fraction = (value: string): number => {
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError('must be a number of at least 0')
  return parsed
}

async function modelId(backend: Backend, value: string): Promise<number> {
  const { items } = (await backend.call('models.list', {})) as { items: Model[] }
  const model = items.find((m) => m.name === value || String(m.id) === value)
  if (!model) throw new ApiError({ code: 'not_found', message: `No model named "${value}" in the library.` })
  return model.id
}

async function target(backend: Backend, value: string): Promise<NonNullable<EvalInput['teacher']>> {
  if (value.startsWith('provider:')) {
    const name = value.slice('provider:'.length)
    const { items } = (await backend.call('providers.list', {})) as { items: Array<{ id: number; name: string }> }
    const provider = items.find((p) => p.name === name || String(p.id) === name)
    if (!provider) throw new ApiError({ code: 'not_found', message: `No provider named "${name}".` })
    return { provider: provider.id }
  }
  return { model: await modelId(backend, value) }
}

const pct = (value: number | null | undefined): string => (value == null ? '-' : `${(value * 100).toFixed(1)}%`)
const num = (value: number | null | undefined, digits = 3): string => (value == null ? '-' : value.toFixed(digits))
const mib = (bytes: number | null | undefined): string => (bytes == null ? '-' : `${(bytes / 2 ** 20).toFixed(1)}M`)

export function describeEvaluation(evaluation: Evaluation): string {
  const report = evaluation.report
  if (!report)
    return `Evaluation ${evaluation.id}: ${evaluation.status}${evaluation.error ? ` (${evaluation.error})` : ''}\n`
  const lines = [
    `Evaluation ${evaluation.id} (${evaluation.name}): ${report.examples} examples, task metric ${report.taskMetric}, teacher top-${report.topK}.`,
    `  ${'model'.padEnd(26)} ${'KL'.padStart(7)} ${'top-1'.padStart(7)} ${'NLL'.padStart(7)} ${'task'.padStart(7)} ${'tok/s'.padStart(8)} ${'mem'.padStart(8)} ${'$/1k'.padStart(8)}  gate`,
  ]
  for (const c of report.contestants) {
    const verdict = report.verdicts.find((v) => v.key === c.key)
    lines.push(
      `  ${`${c.role === 'teacher' ? '[T] ' : ''}${c.label}`.slice(0, 26).padEnd(26)} ${num(c.tokenMetrics?.meanKl).padStart(7)} ${pct(c.tokenMetrics?.top1Agreement).padStart(7)} ${num(c.tokenMetrics?.nll).padStart(7)} ${pct(c.task?.score).padStart(7)} ${num(c.tokensPerSecond, 0).padStart(8)} ${mib(c.memoryBytes).padStart(8)} ${num(c.costPer1kAnswers, 4).padStart(8)}  ${verdict ? (verdict.passed ? 'passed' : 'FAILED') : ''}`,
    )
    if (c.tokenMetricsSkipped) lines.push(`      token metrics skipped: ${c.tokenMetricsSkipped}`)
    if (c.memoryBytes != null)
      lines.push(`      mem: peak worker RSS (${mib(c.memoryBaselineBytes)} of it before the model was loaded)`)
    else if (c.memoryBasis) lines.push(`      mem: ${c.memoryBasis}`)
    for (const reason of verdict?.reasons ?? []) lines.push(`      ${reason}`)
  }
  return `${lines.join('\n')}\n`
}

interface EvalOptions {
  data?: string
  dataset?: string
  datasetVersion?: number
  student: string[]
  teacher?: string
  metric: (typeof TASK_METRICS)[number]
  split: 'all' | 'val'
  maxExamples?: number
  maxTokens?: number
  topK?: number
  costPerHour?: number
  gateMaxKl?: number
  gateMinTop1?: number
  gateMinTask?: number
  json?: boolean
}

function registerEval(group: Command, context: CliContext): void {
  group
    .command('eval')
    .description(
      'Measure students against their teacher on an eval set (OpenAI chat JSONL): KL, top-1, NLL on answer positions, a task metric, speed, size, cost, and the gate.',
    )
    .option('--data <file>', 'chat JSONL whose last assistant message per line is the teacher answer')
    .option('--dataset <name>', "or a frozen dataset version's eval split (name or id)")
    .option('--dataset-version <n>', 'which version of --dataset (default: the newest)', positiveInt)
    .requiredOption(
      '--student <model...>',
      'registered models (names or ids), or provider:NAME (e.g. a model a fine-tuning API made: no token metrics)',
    )
    .option('--teacher <model>', 'a registered GGUF (token metrics) or provider:NAME (answers and speed only)')
    .option('--metric <name>', `task metric: ${TASK_METRICS.join(', ')}`, 'exact')
    .option('--split <which>', 'all lines, or only the stable-hash validation split ("val")', 'all')
    .option('--max-examples <n>', 'examples to evaluate (default 64)', positiveInt)
    .option('--max-tokens <n>', 'tokens per answer (default 128)', positiveInt)
    .option('--top-k <n>', 'teacher top-k kept per position (default 16)', positiveInt)
    .option('--cost-per-hour <x>', 'what an hour of the local machine costs', fraction)
    .option('--gate-max-kl <x>', 'gate: largest mean KL', fraction)
    .option('--gate-min-top1 <x>', 'gate: smallest top-1 agreement (0..1)', fraction)
    .option('--gate-min-task <x>', 'gate: smallest task score (0..1)', fraction)
    .option('--json', 'print the evaluation as JSON')
    .action(async (options: EvalOptions, command: Command) => {
      const backend = context.openBackend(command)
      try {
        if (!(TASK_METRICS as readonly string[]).includes(options.metric)) {
          throw new ApiError({ code: 'invalid_input', message: `--metric must be one of ${TASK_METRICS.join(', ')}.` })
        }
        const students = []
        for (const value of options.student) {
          const student = await target(backend, value)
          students.push('provider' in student ? { providerId: student.provider } : { modelId: student.model })
        }
        const gate = Object.fromEntries(
          Object.entries({
            maxKl: options.gateMaxKl,
            minTop1: options.gateMinTop1,
            minTask: options.gateMinTask,
          }).filter(([, value]) => value !== undefined),
        )
        const input: EvalInput = {
          ...(await dataOrDatasetVersion(backend, options)),
          students,
          split: options.split,
          taskMetric: options.metric,
          teacher: options.teacher ? await target(backend, options.teacher) : null,
          gate,
          ...(options.maxExamples ? { maxExamples: options.maxExamples } : {}),
          ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
          ...(options.topK ? { topK: options.topK } : {}),
          ...(options.costPerHour !== undefined ? { localCostPerHour: options.costPerHour } : {}),
        }
        let evaluationId = 0
        const code = await context.runJobHere(
          backend,
          async () => {
            const started = (await backend.call('distill.eval', input)) as { job: Job; evaluation: Evaluation }
            evaluationId = started.evaluation.id
            return started.job
          },
          false,
          { describe: () => '' },
        )
        const evaluation = (await backend.call('distill.evaluation', { id: evaluationId })) as Evaluation
        context.io.out(options.json ? `${JSON.stringify(evaluation)}\n` : describeEvaluation(evaluation))
        if (code !== EXIT.ok) throw new CliExit(code)
      } finally {
        await backend.close()
      }
    })
}

interface JsonlTrainOptions {
  dataset: string
  eval?: string
  base: string
  out: string
  workdir?: string
  maxSteps?: number
  epochs: number
  lr: number
  threads?: number
}

function examplesOf(path: string, split: 'train' | 'val'): DatasetExample[] {
  return readDataset(path, { valFraction: 0 }).examples.map((example) => ({ ...example, split }))
}

/** The built-in trainer behind the external contract: JSON lines on stdout, logs on stderr, the GGUF at --out. */
async function trainJsonl(options: JsonlTrainOptions, io: CliContext['io']): Promise<void> {
  const workdir = resolve(options.workdir ?? join(resolve(options.out), '..', 'trainer-jsonl'))
  mkdirSync(workdir, { recursive: true })
  const check = await checkStudent(resolve(options.base))
  let studentPath = resolve(options.base)
  if (needsConversion(check)) {
    studentPath = join(workdir, 'base-f32.gguf')
    await writeTrainableStudent(check, resolve(options.base), studentPath)
  }
  const examples = [...examplesOf(options.dataset, 'train'), ...(options.eval ? examplesOf(options.eval, 'val') : [])]
  const line = (value: Record<string, unknown>): void => io.out(`${JSON.stringify(value)}\n`)
  const outcome = await new BuiltinTrainer().train(
    {
      studentPath,
      runDir: workdir,
      examples,
      format: examples[0]?.kind === 'text' ? 'text' : 'chat',
      context: 256,
      batch: DEFAULT_BATCH,
      threads: options.threads ?? defaultThreads(),
      gpuLayers: 0,
      epochs: options.epochs,
      startEpoch: 0,
      startStep: 0,
      schedule: { lr: options.lr, kind: 'cosine', warmupSteps: 10, minLrRatio: 0.1 },
      weightDecay: 0,
      layers: 'all',
      seed: 42,
      shuffle: true,
      maxSteps: options.maxSteps,
      provenance: { trainer: 'trainer-jsonl' },
    },
    {
      log: (level, message) => io.err(`[${level}] ${message}\n`),
      prepared: (info) => line({ total_steps: info.totalSteps }),
      point: (p) =>
        line({
          step: p.step,
          epoch: p.epoch,
          loss: p.loss,
          eval_loss: p.valLoss,
          lr: p.lr,
          tokens_per_second: p.tokensPerSecond,
        }),
      checkpoint: (c) => io.err(`[info] checkpoint at step ${c.step}: ${c.path}\n`),
    },
    new AbortController().signal,
  )
  copyFileSync(outcome.lastCheckpoint.path, resolve(options.out))
  io.err(`[info] wrote ${resolve(options.out)}\n`)
}

export function registerDistillEvalCommands(program: Command, context: CliContext): void {
  const group =
    program.commands.find((candidate) => candidate.name() === 'distill') ??
    program.command('distill').description('Distillation.')
  registerEval(group, context)
  group
    .command('evaluations')
    .description('Evaluation reports, newest first.')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const { items } = (await backend.call('distill.evaluations', {})) as { items: Evaluation[] }
        context.io.out(
          options.json
            ? `${JSON.stringify(items)}\n`
            : items.map(describeEvaluation).join('') || 'No evaluations yet.\n',
        )
      })
    })
  registerPromotion(group, context)
  group
    .command('trainer-jsonl')
    .description(
      'Run the built-in trainer in this process behind the external-trainer contract (JSON-lines progress on stdout).',
    )
    .requiredOption('--dataset <file>', 'training data (chat JSONL or text)')
    .option('--eval <file>', 'validation data')
    .requiredOption('--base <file>', 'the student GGUF to start from')
    .requiredOption('--out <file>', 'where to write the trained GGUF')
    .option('--workdir <dir>', 'scratch folder (checkpoints)')
    .option('--max-steps <n>', 'stop after this many steps', positiveInt)
    .option('--epochs <n>', 'passes over the data', positiveInt, 1)
    .option('--lr <x>', 'learning rate', fraction, 3e-4)
    .option('--threads <n>', 'CPU threads', positiveInt)
    .action(async (options: JsonlTrainOptions) => {
      await trainJsonl(options, context.io)
    })
}
