/** `larder distill ...`: train a student GGUF on a dataset with the built-in trainer, and list runs. */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { DistillRun, Job, Model, ProviderConfig, RunResult, TrainInput } from '../../shared/contract'
import { DISTILL_QUANTIZATION_TYPES, LR_SCHEDULES } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { parseLayerSelection } from '../../backend/distill/layers'
import { benchTrain, describeTrainBench } from '../../backend/bench/train'
import { Backend } from '../../backend/backend'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'
import { dataOrDatasetVersion } from './distill-datasets'

function positiveNumber(value: string): number {
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a number above 0')
  return parsed
}

function percent(value: string): number {
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < 0 || parsed > 50) throw new InvalidArgumentError('must be 0..50')
  return parsed
}

function layers(value: string) {
  try {
    return parseLayerSelection(value)
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message)
  }
}

function oneOf<T extends string>(values: readonly T[], upper = false) {
  return (value: string): T => {
    const candidate = upper ? value.toUpperCase() : value.toLowerCase()
    if (!(values as readonly string[]).includes(candidate)) {
      throw new InvalidArgumentError(`must be one of ${values.join(', ')}`)
    }
    return candidate as T
  }
}

interface TrainOptions {
  student?: string
  data?: string
  dataset?: string
  datasetVersion?: number
  out?: string
  epochs?: number
  lr?: number
  schedule?: (typeof LR_SCHEDULES)[number]
  warmup?: number
  layers?: ReturnType<typeof layers>
  context?: number
  batch?: number
  threads?: number
  gpuLayers?: number
  maxSteps?: number
  valPercent?: number
  seed?: number
  quantize?: (typeof DISTILL_QUANTIZATION_TYPES)[number]
  chat?: boolean
  trainerCommand?: string
  trainerApi?: string
  remoteModel?: string
  suffix?: string
  json?: boolean
}

/** A registered model (name or id), a GGUF file, or `new` for a small student made from scratch. */
async function studentSpec(backend: Backend, value: string, chat: boolean): Promise<TrainInput['student']> {
  if (value === 'new') return { scratch: { chat } }
  const { items } = (await backend.call('models.list', {})) as { items: Model[] }
  const model = items.find((m) => m.name === value || String(m.id) === value)
  if (model) return { modelId: model.id }
  const path = resolve(value)
  if (existsSync(path)) return { path }
  throw new ApiError({
    code: 'not_found',
    message: `No model named "${value}" and no file at ${path}. Give a registered model, a GGUF file, or "new".`,
  })
}

/** A configured provider (name or id) as the fine-tuning API trainer. */
async function apiTrainer(backend: Backend, options: TrainOptions): Promise<TrainInput['trainer']> {
  const { items } = (await backend.call('providers.list', {})) as { items: ProviderConfig[] }
  const provider = items.find((p) => p.name === options.trainerApi || String(p.id) === options.trainerApi)
  if (!provider) {
    throw new ApiError({
      code: 'not_found',
      message: `No provider named "${options.trainerApi}" (configured: ${items.map((p) => p.name).join(', ') || 'none'}).`,
    })
  }
  return {
    api: {
      providerId: provider.id,
      ...(options.remoteModel ? { model: options.remoteModel } : {}),
      ...(options.suffix ? { suffix: options.suffix } : {}),
    },
  }
}

async function trainInput(backend: Backend, options: TrainOptions, hyperparameters: Record<string, unknown>) {
  if (!options.trainerApi && !options.student) {
    throw new ApiError({
      code: 'invalid_input',
      message: 'Give --student (a local trainer trains it), or --trainer-api <provider> to train at a remote API.',
    })
  }
  const trainer = options.trainerApi
    ? await apiTrainer(backend, options)
    : options.trainerCommand
      ? { command: options.trainerCommand }
      : undefined
  const input: TrainInput = {
    ...(options.student && !options.trainerApi
      ? { student: await studentSpec(backend, options.student, options.chat ?? false) }
      : {}),
    ...(await dataOrDatasetVersion(backend, options)),
    hyperparameters,
    quantize: options.quantize ?? null,
    ...(options.out ? { name: options.out } : {}),
    ...(trainer ? { trainer } : {}),
  }
  return input
}

const pct = (value: number | null | undefined): string => (value == null ? '-' : `${(value * 100).toFixed(1)}%`)
const num = (value: number | null | undefined): string => (value == null ? '-' : value.toFixed(3))

export function describeRunResult(job: Job): string {
  const result = job.result as RunResult | null
  if (!result) return `Job ${job.id} succeeded.\n`
  if (result.remote) {
    return [
      `Trained ${result.remote.model} from ${result.remote.baseModel} at the remote (job ${result.remote.jobId}, ${result.steps} steps seen, ${result.trainSeconds.toFixed(0)} s).`,
      `  validation loss   ${num(result.final.valLoss)}`,
      `  provider          #${result.remote.providerId ?? '-'} serves it (generate with --provider).`,
      '',
    ].join('\n')
  }
  const lines = [
    `Trained ${result.modelName} in ${result.steps} steps (${result.epochsDone} epoch${result.epochsDone === 1 ? '' : 's'}, ${result.trainSeconds.toFixed(0)} s of training).`,
    `  validation loss   ${num(result.baseline.valLoss)} -> ${num(result.final.valLoss)}`,
    `  answer accuracy   ${pct(result.baseline.answerAccuracy)} -> ${pct(result.final.answerAccuracy)}`,
    `  model             ${result.path}`,
  ]
  if (result.quantized) {
    lines.push(
      `  ${result.quantized.type.padEnd(17)} ${result.quantized.name} (KL ${num(result.quantized.meanKlDivergence)}, top-1 ${pct(result.quantized.top1Agreement)})`,
    )
  }
  for (const sample of result.samples.slice(0, 3)) {
    lines.push(`  > ${sample.prompt.slice(0, 80)}`, `    ${sample.answer.slice(0, 120).replace(/\n/g, ' ')}`)
  }
  return `${lines.join('\n')}\n`
}

function describeRun(run: DistillRun): string {
  const result = run.result
  const metrics = result?.remote
    ? `${result.remote.model} (provider #${result.remote.providerId ?? '-'})`
    : result
      ? `val ${num(result.baseline.valLoss)} -> ${num(result.final.valLoss)}`
      : (run.progressMessage ?? '')
  return `${String(run.id).padStart(4)}  ${run.status.padEnd(9)}  ${run.name.padEnd(24)}  ${run.studentLabel.slice(0, 28).padEnd(28)}  ${metrics}`
}

function describeDemo(home: string) {
  return (job: Job): string => {
    const state = job.result as { modelId?: number } | null
    return (
      `The demo workspace is ready in ${home}${state?.modelId ? ` (demo model #${state.modelId})` : ''}.\n` +
      `Open it: larder serve --home ${home}\n`
    )
  }
}

export function registerDistillCommands(program: Command, context: CliContext): void {
  const { io } = context
  const group = program.command('distill').description('Train small student models with the built-in trainer.')

  group
    .command('train')
    .description(
      "Train a student GGUF on a dataset (OpenAI chat JSONL or plain text) with llama.cpp's training API, offline. The result is registered in the model library.",
    )
    .option(
      '--student <model>',
      'a registered model (name or id), a GGUF file, or "new" for a small one from scratch (local trainers)',
    )
    .option('--data <file>', 'JSONL with {"messages": [...]} per line, or a .txt file')
    .option('--dataset <name>', 'or a frozen dataset version (name or id; see `larder distill datasets`)')
    .option('--dataset-version <n>', 'which version of --dataset (default: the newest)', positiveInt)
    .option('--out <name>', 'name of the trained model in the library')
    .option('--epochs <n>', 'passes over the data (default 3)', positiveInt)
    .option('--lr <x>', 'AdamW learning rate (default 3e-4)', positiveNumber)
    .option('--schedule <kind>', `learning-rate schedule: ${LR_SCHEDULES.join(', ')}`, oneOf(LR_SCHEDULES))
    .option('--warmup <steps>', 'warm-up steps (default 10)', (value) => Number(value))
    .option('--layers <which>', 'train "all" layers or only "last:N" blocks and the output head', layers)
    .option('--context <n>', 'tokens per training window, a multiple of 256 (default 256)', positiveInt)
    .option('--batch <n>', 'tokens per optimizer step, dividing the context (default 64)', positiveInt)
    .option('--threads <n>', 'CPU threads (default: half the cores)', positiveInt)
    .option('--gpu-layers <n>', 'layers on the GPU where llama.cpp has one (default 0)', (value) => Number(value))
    .option('--max-steps <n>', 'stop after this many optimizer steps', positiveInt)
    .option('--val-percent <p>', 'share of examples held out for validation (default 10)', percent)
    .option('--seed <n>', 'seed for the data order (and a new student)', (value) => Number(value))
    .option(
      '--quantize <type>',
      `also register a quantized copy: ${DISTILL_QUANTIZATION_TYPES.join(', ')}`,
      oneOf(DISTILL_QUANTIZATION_TYPES, true),
    )
    .option('--chat', 'a "new" student gets the ChatML chat template')
    .option(
      '--trainer-command <template>',
      'an external trainer: {dataset} {eval} {base} {out} {workdir} {epochs} {batch} {seed} (docs)',
    )
    .option(
      '--trainer-api <provider>',
      'train at an OpenAI-compatible fine-tuning API: a configured provider (name or id); no --student needed',
    )
    .option('--remote-model <model>', "with --trainer-api: the base model there (default: the provider's model)")
    .option('--suffix <text>', 'with --trainer-api: the suffix of the fine-tuned model name')
    .option('--json', 'print the finished job as JSON')
    .action(async (options: TrainOptions, command: Command) => {
      const backend = context.openBackend(command)
      try {
        const hyperparameters = Object.fromEntries(
          Object.entries({
            epochs: options.epochs,
            lr: options.lr,
            schedule: options.schedule,
            warmupSteps: options.warmup,
            layers: options.layers,
            context: options.context,
            batch: options.batch,
            threads: options.threads,
            gpuLayers: options.gpuLayers,
            maxSteps: options.maxSteps,
            valPercent: options.valPercent,
            seed: options.seed,
          }).filter(([, value]) => value !== undefined),
        )
        const input = await trainInput(backend, options, hyperparameters)
        const code = await context.runJobHere(
          backend,
          async () => ((await backend.call('distill.train', input)) as { job: Job }).job,
          options.json ?? false,
          { describe: describeRunResult },
        )
        if (code !== EXIT.ok) throw new CliExit(code)
      } finally {
        await backend.close()
      }
    })

  const bench =
    program.commands.find((candidate) => candidate.name() === 'bench') ??
    program.command('bench').description('Benchmarks that print numbers.')
  bench
    .command('train')
    .description(
      "Training tokens/s and loss per epoch of the built-in trainer beside llama.cpp's finetune.cpp (compiled from the bundled source), tiny and ~2M students, 1 thread.",
    )
    .option('--epochs <n>', 'epochs per run', positiveInt, 2)
    .option('--rounds <n>', 'alternating runs of each trainer (the best epoch counts)', positiveInt, 2)
    .option('--json', 'print one JSON object')
    .action(async (options: { epochs: number; rounds: number; json?: boolean }) => {
      const result = await benchTrain({ epochs: options.epochs, rounds: options.rounds })
      io.out(options.json ? `${JSON.stringify(result)}\n` : describeTrainBench(result))
    })

  group
    .command('runs')
    .description('List training runs, newest first.')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      context.withBackend(command, async (backend) => {
        const { items } = (await backend.call('distill.runs', {})) as { items: DistillRun[] }
        if (options.json) io.out(`${JSON.stringify({ items }, null, 2)}\n`)
        else if (items.length === 0) io.out('No training runs yet. Start one with `larder distill train`.\n')
        else for (const run of items) io.out(`${describeRun(run)}\n`)
      }),
    )
}

/** `larder demo`: a workspace with real data on every page, built offline in a few minutes. */
export function registerDemoCommand(program: Command, context: CliContext): void {
  program
    .command('demo')
    .description(
      'Build a demo workspace offline: trains a small model on the bundled support corpus (about a minute), registers it and a Q8_0 copy, imports a request log, pre-warms and approves cache entries, sends gateway traffic, generates and publishes a template family, wires a starter pipeline and exports a bundle.',
    )
    .option('--quick', 'a much shorter training run and smaller log (for tests)')
    .option('--json', 'print the finished job as JSON')
    .action(async (options: { quick?: boolean; json?: boolean }, command: Command) => {
      const home = context.homeOf(command)
      // The demo job waits for the jobs it starts, so this runner needs room for two at once.
      const backend = Backend.open({ home, runner: { exclusive: true, concurrency: 2 } })
      try {
        const code = await context.runJobHere(
          backend,
          async () => ((await backend.call('demo.load', { quick: options.quick ?? false })) as { job: Job }).job,
          options.json ?? false,
          { describe: describeDemo(home) },
        )
        if (code !== EXIT.ok) throw new CliExit(code)
      } finally {
        await backend.close()
      }
    })
}
