/**
 * `larder distill datasets build|list|show|review|export|import` and `larder distill teach|judge`: distillation
 * datasets from the request log, the cache, template prompts, a pipeline node or files; a teacher's answers (with
 * log-probs); a judge; immutable versions exported for trainers.
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { Dataset, DatasetSource, DatasetVersion, Job, Model, SourceSummary } from '../../shared/contract'
import { EXPORT_FORMATS, IMPORT_FORMATS } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../../backend/backend'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'

type Target = { model: number } | { provider: number }

function choice<T extends string>(values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value))
      throw new InvalidArgumentError(`must be one of ${values.join(', ')}`)
    return value as T
  }
}

function fraction(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value)
    if (!Number.isFinite(parsed) || parsed < min || parsed > max)
      throw new InvalidArgumentError(`must be ${min}..${max}`)
    return parsed
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** A dataset by name or id. */
/** A dataset's version by number, or its newest; a clear error when it has none yet. */
async function versionOf(backend: Backend, dataset: Dataset, number?: number): Promise<DatasetVersion> {
  const { versions } = (await backend.call('distill.datasets.get', { datasetId: dataset.id })) as {
    versions: DatasetVersion[]
  }
  const version = number ? versions.find((v) => v.version === number) : versions[0]
  if (version) return version
  throw new ApiError({
    code: 'invalid_input',
    message: `${dataset.name} has no ${number ? `version ${number}` : 'version'} yet: approve examples and export with --freeze.`,
  })
}

/** `--dataset <name|id>` and an optional version number, as `distill train` and `datasets export` take them. */
export async function datasetVersionOf(
  backend: Backend,
  dataset: Dataset | string,
  number?: number,
): Promise<DatasetVersion> {
  return versionOf(backend, typeof dataset === 'string' ? await datasetOf(backend, dataset) : dataset, number)
}

/** `--data <file>` or `--dataset <name> [--dataset-version N]`, exactly one, as `distill train` and `eval` take. */
export async function dataOrDatasetVersion(
  backend: Backend,
  options: { data?: string; dataset?: string; datasetVersion?: number },
): Promise<{ data: string } | { datasetVersionId: number }> {
  if ((options.data === undefined) === (options.dataset === undefined)) {
    throw new ApiError({
      code: 'invalid_input',
      message: 'Give either --data <file> or --dataset <name> (a frozen dataset version), not both.',
    })
  }
  if (options.data !== undefined) {
    if (options.datasetVersion !== undefined)
      throw new ApiError({ code: 'invalid_input', message: '--dataset-version goes with --dataset, not --data.' })
    return { data: resolve(options.data) }
  }
  return { datasetVersionId: (await datasetVersionOf(backend, options.dataset!, options.datasetVersion)).id }
}

async function datasetOf(backend: Backend, value: string): Promise<Dataset> {
  const { items } = (await backend.call('distill.datasets.list', {})) as { items: Dataset[] }
  const found = items.find((dataset) => dataset.name === value || String(dataset.id) === value)
  if (!found)
    throw new ApiError({
      code: 'not_found',
      message: `No dataset named "${value}". List them: larder distill datasets list.`,
    })
  return found
}

async function datasetOrNew(backend: Backend, name: string): Promise<Dataset> {
  const { items } = (await backend.call('distill.datasets.list', {})) as { items: Dataset[] }
  return (
    items.find((dataset) => dataset.name === name) ??
    ((await backend.call('distill.datasets.create', { name })) as Dataset)
  )
}

/** A registered model or a configured provider, by name or id. */
async function targetOf(backend: Backend, value: string): Promise<Target> {
  const { items: models } = (await backend.call('models.list', {})) as { items: Model[] }
  const model = models.find((m) => m.name === value || String(m.id) === value)
  if (model) return { model: model.id }
  const { items: providers } = (await backend.call('providers.list', {})) as { items: { id: number; name: string }[] }
  const provider = providers.find((p) => p.name === value || String(p.id) === value)
  if (provider) return { provider: provider.id }
  throw new ApiError({ code: 'not_found', message: `No model or provider named "${value}".` })
}

function describeSource(summary: SourceSummary): string {
  const lines = [
    `${summary.label}: ${summary.found} found, ${summary.added} added, ${summary.exactDuplicates} exact and ${summary.nearDuplicates} near duplicates skipped.`,
  ]
  for (const problem of summary.problems.slice(0, 10)) lines.push(`  ${problem.message}`)
  if (summary.problems.length > 10) lines.push(`  ... and ${summary.problems.length - 10} more problems`)
  return `${lines.join('\n')}\n`
}

function describeDataset(dataset: Dataset, versions: DatasetVersion[] = []): string {
  const c = dataset.counts
  const lines = [
    `${dataset.name} (#${dataset.id}, tenant ${dataset.tenant}): ${c.total} examples, ${c.answered} answered, ${c.approved} approved, ${c.rejected} rejected, ${c.pending} pending; ${c.train} train / ${c.eval} eval; ${c.withLogprobs} with log-probs`,
  ]
  for (const source of dataset.sources) lines.push(`  source: ${source.label} (+${source.added})`)
  for (const version of versions) {
    lines.push(
      `  v${version.version}  ${version.contentHash.slice(0, 12)}  ${version.trainCount} train / ${version.evalCount} eval  ${version.withLogprobs} with log-probs  ${version.createdAt}`,
    )
  }
  return `${lines.join('\n')}\n`
}

interface BuildOptions {
  from: DatasetSource['kind']
  namespace?: number
  top?: number
  all?: boolean
  storedOnly?: boolean
  since?: string
  until?: string
  family?: number
  pipeline?: number
  node?: string
  file?: string
  format?: (typeof IMPORT_FORMATS)[number]
  evalPercent?: number
  near?: number
  json?: boolean
}

function sourceOf(options: BuildOptions): DatasetSource {
  const need = <T>(value: T | undefined, flag: string): T => {
    if (value === undefined)
      throw new ApiError({ code: 'invalid_input', message: `--from ${options.from} needs ${flag}.` })
    return value
  }
  switch (options.from) {
    case 'request-log':
      return {
        kind: 'request-log',
        namespaceId: need(options.namespace, '--namespace <id>'),
        mode: options.all ? 'all' : 'top',
        ...(options.top ? { top: options.top } : {}),
        storedOnly: options.storedOnly ?? false,
        ...(options.since ? { from: options.since } : {}),
        ...(options.until ? { to: options.until } : {}),
      }
    case 'cache':
      return { kind: 'cache', namespaceId: need(options.namespace, '--namespace <id>') }
    case 'templates':
      return { kind: 'templates', familyId: need(options.family, '--family <id>') }
    case 'pipeline-node':
      return {
        kind: 'pipeline-node',
        pipelineId: need(options.pipeline, '--pipeline <id>'),
        nodeId: need(options.node, '--node <id>'),
      }
    case 'file':
      return { kind: 'file', path: resolve(need(options.file, '--file <path>')), format: options.format ?? 'auto' }
  }
}

async function addSource(backend: Backend, name: string, source: DatasetSource, options: BuildOptions) {
  const dataset = await datasetOrNew(backend, name)
  return (await backend.call('distill.datasets.addSource', {
    datasetId: dataset.id,
    source,
    ...(options.evalPercent !== undefined ? { evalPercent: options.evalPercent } : {}),
    ...(options.near !== undefined ? { nearDuplicateThreshold: options.near } : {}),
  })) as SourceSummary
}

function registerDatasetCommands(group: Command, context: CliContext): void {
  const { io } = context
  const datasets = group.command('datasets').description('Distillation datasets: sources, review, versions, export.')
  const print = (json: boolean | undefined, value: unknown, text: string) =>
    io.out(json ? `${JSON.stringify(value, null, 2)}\n` : text)

  datasets
    .command('build <name>')
    .description(
      'Add a source to a dataset (created if new): duplicates are skipped, the split is by a hash of each prompt.',
    )
    .requiredOption(
      '--from <kind>',
      'request-log, cache, templates, pipeline-node or file',
      choice(['request-log', 'cache', 'templates', 'pipeline-node', 'file'] as const),
    )
    .option('--namespace <id>', 'cache namespace (request-log, cache)', positiveInt)
    .option('--top <n>', 'the N most frequent distinct requests (request-log; default 1000)', positiveInt)
    .option('--all', 'every distinct request (request-log)')
    .option('--stored-only', 'only requests sent with store: true (request-log)')
    .option('--since <time>', 'from this ISO time (request-log)')
    .option('--until <time>', 'before this ISO time (request-log)')
    .option('--family <id>', 'template family (templates)', positiveInt)
    .option('--pipeline <id>', 'pipeline (pipeline-node)', positiveInt)
    .option('--node <id>', 'node id (pipeline-node)')
    .option('--file <path>', 'JSONL file (file)')
    .option('--format <format>', `file format: ${IMPORT_FORMATS.join(', ')}`, choice(IMPORT_FORMATS))
    .option('--eval-percent <p>', 'share held out for evaluation (default 10)', fraction(0, 50))
    .option('--near <j>', 'near-duplicate Jaccard threshold (default 0.85)', fraction(0.5, 1))
    .option('--json', 'print JSON')
    .action((name: string, options: BuildOptions, command: Command) =>
      context.withBackend(command, async (backend) => {
        const summary = await addSource(backend, name, sourceOf(options), options)
        print(options.json, summary, describeSource(summary))
      }),
    )

  datasets
    .command('import <name> <file>')
    .description(
      'Import OpenAI chat JSONL, ShareGPT or Alpaca lines into a dataset (bad lines are reported by number).',
    )
    .option('--format <format>', `${IMPORT_FORMATS.join(', ')} (default auto, per line)`, choice(IMPORT_FORMATS))
    .option('--eval-percent <p>', 'share held out for evaluation (default 10)', fraction(0, 50))
    .option('--near <j>', 'near-duplicate Jaccard threshold (default 0.85)', fraction(0.5, 1))
    .option('--json', 'print JSON')
    .action((name: string, file: string, options: BuildOptions, command: Command) =>
      context.withBackend(command, async (backend) => {
        const source: DatasetSource = { kind: 'file', path: resolve(file), format: options.format ?? 'auto' }
        const summary = await addSource(backend, name, source, options)
        print(options.json, summary, describeSource(summary))
      }),
    )

  datasets
    .command('list')
    .description('List datasets.')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) =>
      context.withBackend(command, async (backend) => {
        const { items } = (await backend.call('distill.datasets.list', {})) as { items: Dataset[] }
        if (!options.json && items.length === 0)
          io.out('No datasets yet. Start one: larder distill datasets import NAME FILE\n')
        else print(options.json, { items }, items.map((dataset) => describeDataset(dataset)).join(''))
      }),
    )

  datasets
    .command('show <dataset>')
    .description('Counts, sources and versions of a dataset.')
    .option('--json', 'print JSON')
    .action((value: string, options: { json?: boolean }, command: Command) =>
      context.withBackend(command, async (backend) => {
        const dataset = await datasetOf(backend, value)
        const shown = (await backend.call('distill.datasets.get', { datasetId: dataset.id })) as {
          dataset: Dataset
          versions: DatasetVersion[]
        }
        print(options.json, shown, describeDataset(shown.dataset, shown.versions))
      }),
    )

  datasets
    .command('review <dataset>')
    .description('Approve or reject examples (all answered pending ones, or by id).')
    .option('--approve-pending', 'approve every answered example still pending')
    .option('--approve <ids...>', 'approve these example ids')
    .option('--reject <ids...>', 'reject these example ids')
    .action(
      (value: string, options: { approvePending?: boolean; approve?: string[]; reject?: string[] }, command: Command) =>
        context.withBackend(command, async (backend) => {
          const dataset = await datasetOf(backend, value)
          const review = async (ids: number[], action: 'approve' | 'reject') =>
            ids.length === 0
              ? 0
              : (
                  (await backend.call('distill.datasets.review', { datasetId: dataset.id, ids, action })) as {
                    changed: number
                  }
                ).changed
          let ids = (options.approve ?? []).map(Number)
          if (options.approvePending) {
            const { items } = (await backend.call('distill.datasets.examples', {
              datasetId: dataset.id,
              state: 'pending',
              limit: 500,
            })) as {
              items: { id: number; answer: string | null }[]
            }
            ids = [...ids, ...items.filter((item) => item.answer !== null).map((item) => item.id)]
          }
          const approved = await review(ids, 'approve')
          const rejected = await review((options.reject ?? []).map(Number), 'reject')
          io.out(`${approved} approved, ${rejected} rejected.\n`)
        }),
    )

  datasets
    .command('export <dataset>')
    .description(
      'Write a version as JSONL (OpenAI chat, ShareGPT or Alpaca); --freeze makes a new version of the approved examples first.',
    )
    .option('--freeze', 'freeze the approved examples into a new version and export that')
    .option('--note <text>', 'a note for the new version card')
    .option('--version <n>', 'which version (default: the newest)', positiveInt)
    .option('--format <format>', `${EXPORT_FORMATS.join(', ')} (default openai)`, choice(EXPORT_FORMATS))
    .option('--split <split>', 'train, eval or all (default all)', choice(['train', 'eval', 'all'] as const))
    .option('--out <file>', 'where to write (default: the workspace exports folder)')
    .option('--json', 'print JSON')
    .action(
      (
        value: string,
        options: {
          freeze?: boolean
          note?: string
          version?: number
          format?: string
          split?: string
          out?: string
          json?: boolean
        },
        command: Command,
      ) =>
        context.withBackend(command, async (backend) => {
          const dataset = await datasetOf(backend, value)
          if (options.freeze)
            await backend.call('distill.datasets.freeze', {
              datasetId: dataset.id,
              ...(options.note ? { note: options.note } : {}),
            })
          const version = await datasetVersionOf(backend, dataset, options.version)
          const result = (await backend.call('distill.datasets.export', {
            versionId: version.id,
            ...(options.format ? { format: options.format } : {}),
            ...(options.split ? { split: options.split } : {}),
            ...(options.out ? { path: resolve(options.out) } : {}),
          })) as { path: string; examples: number; withLogprobs: number }
          print(
            options.json,
            { version, ...result },
            `Wrote ${result.examples} examples (${result.withLogprobs} with log-probs) of ${dataset.name} v${version.version} to ${result.path}\n`,
          )
        }),
    )
}

function registerTeacherCommands(group: Command, context: CliContext): void {
  const run = async (command: Command, json: boolean | undefined, start: (backend: Backend) => Promise<Job>) => {
    const backend = context.openBackend(command)
    try {
      const code = await context.runJobHere(backend, () => start(backend), json ?? false)
      if (code !== EXIT.ok) throw new CliExit(code)
    } finally {
      await backend.close()
    }
  }

  group
    .command('teach <dataset>')
    .description("Answer a dataset's prompts with one or several teachers (local models record top-k log-probs).")
    .requiredOption('--teacher <name>', 'a registered model or a provider (repeat to share the load)', collect)
    .option('--samples <n>', 'answers per prompt (default 1)', positiveInt)
    .option('--temperature <t>', 'sampling temperature (default 0)', fraction(0, 2))
    .option('--max-tokens <n>', 'answer length limit (default 256)', positiveInt)
    .option('--top-logprobs <k>', 'top-k log-probs per answer token, 0 for none (default 16)', fraction(0, 32))
    .option('--all', 're-answer prompts that have answers too')
    .option('--json', 'print the finished job as JSON')
    .action(
      (
        value: string,
        options: {
          teacher: string[]
          samples?: number
          temperature?: number
          maxTokens?: number
          topLogprobs?: number
          all?: boolean
          json?: boolean
        },
        command: Command,
      ) =>
        run(command, options.json, async (backend) => {
          const dataset = await datasetOf(backend, value)
          const teachers = await Promise.all(options.teacher.map((name) => targetOf(backend, name)))
          const input = {
            datasetId: dataset.id,
            teachers,
            onlyUnanswered: !options.all,
            ...(options.samples !== undefined ? { samples: options.samples } : {}),
            ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
            ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
            ...(options.topLogprobs !== undefined ? { topLogprobs: Math.round(options.topLogprobs) } : {}),
          }
          return ((await backend.call('distill.teach', input)) as { job: Job }).job
        }),
    )

  group
    .command('judge <dataset>')
    .description(
      'Score answered examples 0-10 with a rubric and a model (or a saved pipeline); approve at or above the threshold.',
    )
    .option('--rubric <text>', 'what a good answer is')
    .option('--judge <name>', 'the judging model or provider (with --rubric)')
    .option('--pipeline <id>', 'a saved pipeline as the judge', positiveInt)
    .option('--threshold <n>', 'score to approve (default 7)', fraction(0, 10))
    .option('--score-only', 'record scores, leave approval to a person')
    .option('--json', 'print the finished job as JSON')
    .action(
      (
        value: string,
        options: {
          rubric?: string
          judge?: string
          pipeline?: number
          threshold?: number
          scoreOnly?: boolean
          json?: boolean
        },
        command: Command,
      ) =>
        run(command, options.json, async (backend) => {
          const dataset = await datasetOf(backend, value)
          if (!options.pipeline && !(options.rubric && options.judge)) {
            throw new ApiError({ code: 'invalid_input', message: 'Give --rubric and --judge, or --pipeline.' })
          }
          const judge = options.pipeline
            ? { pipelineId: options.pipeline }
            : { rubric: options.rubric!, target: await targetOf(backend, options.judge!) }
          const input = {
            datasetId: dataset.id,
            judge,
            scoreOnly: options.scoreOnly ?? false,
            ...(options.threshold !== undefined ? { threshold: Math.round(options.threshold) } : {}),
          }
          return ((await backend.call('distill.judge', input)) as { job: Job }).job
        }),
    )
}

/** Adds the dataset commands to `larder distill` (registered after it). */
export function registerDistillDatasetCommands(program: Command, context: CliContext): void {
  const group =
    program.commands.find((candidate) => candidate.name() === 'distill') ??
    program.command('distill').description('Distillation.')
  registerDatasetCommands(group, context)
  registerTeacherCommands(group, context)
}
