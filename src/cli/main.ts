/**
 * The `larder` command. Every command has --help; exit codes are in ./exit-codes.ts. Commands open the workspace
 * in-process (the same backend code as the console); jobs started here are visible in a running console.
 */
import { createInterface } from 'node:readline/promises'
import { resolve } from 'node:path'
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import type { Job } from '../shared/contract'
import { ApiError } from '../shared/errors'
import { APP_VERSION } from '../shared/version'
import { Backend } from '../backend/backend'
import { WorkspaceError } from '../backend/db/errors'
import { DEFAULT_HOST, DEFAULT_PORT, PortInUseError } from '../backend/server/http-server'
import { resolveHome } from '../backend/workspace/paths'
import { Workspace } from '../backend/workspace/workspace'
import { EXIT } from './exit-codes'
import { CliExit, positiveInt } from './options'
import { registerCacheCommands } from './commands/cache'
import { registerGgufCommands, registerModelCommands } from './commands/models'
import { registerPipelineCommands } from './commands/pipelines'
import { registerExportCommands } from './commands/export'
import { registerReplicaCommand } from './commands/replica'
import { registerTemplateCommands } from './commands/templates'
import { registerDemoCommand, registerDistillCommands } from './commands/distill'
import { registerDistillDatasetCommands } from './commands/distill-datasets'
import { registerDistillEvalCommands } from './commands/distill-eval'
import { jobProgressReporter } from './progress'
import { serve, type ServeOptions } from './commands/serve'

export { CliExit }

export interface RunJobOptions {
  /** The caller prints the result itself (e.g. as JSON), so the job's status line goes to stderr. */
  statusToStderr?: boolean
  /** How a succeeded job is told on stdout (default: its result as JSON). */
  describe?: (job: Job) => string
}

export interface CliContext {
  io: CliIo
  homeOf(command: Command): string
  openBackend(command: Command, exclusive?: boolean): Backend
  runJobHere(backend: Backend, start: () => Promise<Job>, json: boolean, options?: RunJobOptions): Promise<number>
  /** Opens the workspace's backend for one command and always closes it (flushing writes) afterwards. */
  withBackend<T>(command: Command, work: (backend: Backend) => Promise<T>): Promise<T>
}

export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
  stdinIsTTY: boolean
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  stdinIsTTY: Boolean(process.stdin.isTTY),
}

function nonNegativeInt(value: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidArgumentError('must be 0 or a positive whole number')
  return parsed
}

function port(value: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('must be 0..65535')
  return parsed
}

function exitCodeFor(error: unknown): number {
  if (error instanceof WorkspaceError) return EXIT.workspace
  if (error instanceof PortInUseError) return EXIT.conflict
  if (error instanceof ApiError) {
    if (error.code === 'not_found') return EXIT.notFound
    if (error.code === 'conflict') return EXIT.conflict
    if (error.code === 'invalid_input') return EXIT.usage
    if (error.code === 'unavailable') return EXIT.workspace
  }
  return EXIT.failed
}

function formatJobLine(job: Job): string {
  const progress = job.progress === null ? '   -' : `${Math.round(job.progress * 100)}%`.padStart(4)
  return `${String(job.id).padStart(5)}  ${job.status.padEnd(9)}  ${progress}  ${job.createdAt.slice(0, 19).replace('T', ' ')}  ${job.title}`
}

export function buildProgram(io: CliIo = defaultIo): Command {
  const program = new Command()
  program
    .name('larder')
    .description('Larder: operate generative AI cheaply and fast (cache, templates, pipelines, small models).')
    .version(APP_VERSION, '-v, --version')
    .option('--home <dir>', 'workspace folder (default: $LARDER_HOME, else the OS user-data folder)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()

  const homeOf = (command: Command): string => resolveHome((command.optsWithGlobals() as { home?: string }).home)
  const openBackend = (command: Command, exclusive = true): Backend =>
    Backend.open({ home: homeOf(command), runner: { exclusive, concurrency: 1 } })

  /** Runs one job in this process with a progress bar; the exit code says how it ended. */
  async function runJobHere(
    backend: Backend,
    start: () => Promise<Job>,
    json: boolean,
    options: RunJobOptions = {},
  ): Promise<number> {
    const reporter = jobProgressReporter()
    let jobId = -1
    const unsubscribe = backend.events.subscribe((name, payload) => {
      if (name === 'job.updated' && (payload as Job).id === jobId) reporter.update(payload as Job)
    })
    const onSigint = (): void => {
      if (jobId > 0) backend.runner.cancel(jobId)
    }
    process.once('SIGINT', onSigint)
    try {
      backend.start()
      jobId = (await start()).id
      const job = await backend.runner.waitFor(jobId)
      reporter.stop()
      if (json) io.out(`${JSON.stringify(job, null, 2)}\n`)
      else if (job.status === 'succeeded' && options.statusToStderr) io.err(`Job ${job.id} succeeded.\n`)
      else if (job.status === 'succeeded')
        io.out(options.describe ? options.describe(job) : `Job ${job.id} succeeded: ${JSON.stringify(job.result)}\n`)
      else io.err(`Job ${job.id} ${job.status}: ${job.error ?? ''}\n`)
      return job.status === 'succeeded' ? EXIT.ok : job.status === 'cancelled' ? EXIT.interrupted : EXIT.failed
    } finally {
      process.removeListener('SIGINT', onSigint)
      unsubscribe()
      reporter.stop()
    }
  }

  program
    .command('serve')
    .description('Start the headless backend and serve the console to a browser (127.0.0.1 by default).')
    .option('--port <port>', 'port to listen on (0 picks a free one)', port, DEFAULT_PORT)
    .option('--host <host>', 'address to bind; anything but loopback exposes the console to your network', DEFAULT_HOST)
    .option('--token <token>', 'use this access token instead of a new random one (also $LARDER_TOKEN)')
    .option('--workers <n>', 'gateway processes sharing the port and the workspace (Node cluster)', positiveInt, 1)
    .action(async (options: ServeOptions, command: Command) => {
      await serve(io, homeOf(command), options)
    })

  const db = program.command('db').description('Inspect and migrate the workspace database.')
  db.command('status')
    .description('Show applied and pending schema migrations.')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const workspace = Workspace.open(homeOf(command), { migrate: false })
      try {
        const status = workspace.status()
        if (options.json) {
          io.out(`${JSON.stringify(status, null, 2)}\n`)
          return
        }
        io.out(`Database: ${workspace.paths.database}\nSchema version ${status.current} of ${status.latest}\n`)
        for (const m of status.applied)
          io.out(`  applied  ${String(m.version).padStart(4, '0')}_${m.name}  ${m.appliedAt}\n`)
        for (const m of status.pending) io.out(`  pending  ${String(m.version).padStart(4, '0')}_${m.name}\n`)
      } finally {
        workspace.close()
      }
    })
  db.command('migrate')
    .description('Apply pending schema migrations (a safety backup is written first).')
    .action((_options: unknown, command: Command) => {
      const before = Workspace.open(homeOf(command), { migrate: false })
      const from = before.status().current
      before.close()
      const workspace = Workspace.open(homeOf(command), { migrate: true })
      const status = workspace.status()
      workspace.close()
      io.out(
        status.current === from
          ? `Already up to date (schema version ${status.current}).\n`
          : `Migrated from schema version ${from} to ${status.current}.\n`,
      )
    })

  const jobs = program.command('jobs').description('List, inspect and cancel jobs.')
  jobs
    .command('list')
    .description('List recent jobs, newest first.')
    .option('--status <status...>', 'only these statuses (queued running succeeded failed cancelled)')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--json', 'print JSON')
    .action(async (options: { status?: string[]; limit: number; json?: boolean }, command: Command) => {
      const backend = openBackend(command)
      try {
        const page = (await backend.call('jobs.list', {
          limit: options.limit,
          ...(options.status ? { status: options.status } : {}),
        })) as { items: Job[]; total: number }
        if (options.json) io.out(`${JSON.stringify(page, null, 2)}\n`)
        else if (page.items.length === 0) io.out('No jobs yet.\n')
        else {
          io.out('   ID  STATUS     DONE  CREATED              TITLE\n')
          for (const job of page.items) io.out(`${formatJobLine(job)}\n`)
          if (page.total > page.items.length) io.out(`(${page.total - page.items.length} more; use --limit)\n`)
        }
      } finally {
        await backend.close()
      }
    })
  jobs
    .command('show')
    .description('Show one job with its log.')
    .argument('<id>', 'job id', positiveInt)
    .option('--json', 'print JSON')
    .action(async (id: number, options: { json?: boolean }, command: Command) => {
      const backend = openBackend(command)
      try {
        const job = (await backend.call('jobs.get', { id })) as Job
        const logs = (await backend.call('jobs.logs', { id })) as {
          items: { at: string; level: string; message: string }[]
        }
        if (options.json) {
          io.out(`${JSON.stringify({ ...job, logs: logs.items }, null, 2)}\n`)
          return
        }
        io.out(`${formatJobLine(job)}\n  kind: ${job.kind}  attempts: ${job.attempts}\n`)
        if (job.error) io.out(`  error: ${job.error}\n`)
        if (job.result !== null) io.out(`  result: ${JSON.stringify(job.result)}\n`)
        for (const entry of logs.items) io.out(`  ${entry.at}  ${entry.level.padEnd(5)}  ${entry.message}\n`)
      } finally {
        await backend.close()
      }
    })
  jobs
    .command('cancel')
    .description('Cancel a queued or running job (also one running in `larder serve` or the desktop app).')
    .argument('<id>', 'job id', positiveInt)
    .action(async (id: number, _options: unknown, command: Command) => {
      const backend = openBackend(command)
      try {
        const job = (await backend.call('jobs.cancel', { id })) as Job
        io.out(
          job.status === 'cancelled'
            ? `Job ${id} cancelled.\n`
            : `Cancel requested for job ${id}; the process running it stops it within a second or two.\n`,
        )
      } finally {
        await backend.close()
      }
    })

  program
    .command('backup')
    .description('Back up the workspace database (online: the console may keep working) and verify the copy.')
    .argument('[file]', 'where to write it (default: <home>/backups/larder-<time>.db)')
    .option('--pages-per-step <n>', 'pages copied per step', positiveInt, 256)
    .option('--step-delay <ms>', 'pause between steps so writers are never starved', nonNegativeInt, 0)
    .option('--json', 'print the finished job as JSON')
    .action(
      async (
        file: string | undefined,
        options: { pagesPerStep: number; stepDelay: number; json?: boolean },
        command: Command,
      ) => {
        const backend = openBackend(command)
        try {
          const code = await runJobHere(
            backend,
            async () => {
              const { job } = (await backend.call('backup.create', {
                ...(file ? { path: resolve(file) } : {}),
                pacing: { pagesPerStep: options.pagesPerStep, stepDelayMs: options.stepDelay },
              })) as { job: Job }
              return job
            },
            options.json ?? false,
          )
          if (code !== EXIT.ok) throw new CliExit(code)
        } finally {
          await backend.close()
        }
      },
    )

  program
    .command('restore')
    .description('Replace the workspace database with a backup. The current one is saved first, so this can be undone.')
    .argument('<file>', 'backup file to restore')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'print the finished job as JSON')
    .action(async (file: string, options: { yes?: boolean; json?: boolean }, command: Command) => {
      const path = resolve(file)
      if (!options.yes) {
        if (!io.stdinIsTTY) {
          io.err('Refusing to restore without confirmation: pass --yes (stdin is not a terminal).\n')
          throw new CliExit(EXIT.usage)
        }
        const prompt = createInterface({ input: process.stdin, output: process.stderr })
        const answer = await prompt.question(
          `Replace the workspace database in ${homeOf(command)} with ${path}? [y/N] `,
        )
        prompt.close()
        if (!/^y(es)?$/i.test(answer.trim())) {
          io.err('Nothing changed.\n')
          throw new CliExit(EXIT.interrupted)
        }
      }
      const backend = openBackend(command)
      try {
        const code = await runJobHere(
          backend,
          async () => ((await backend.call('backup.restore', { path })) as { job: Job }).job,
          options.json ?? false,
        )
        if (code !== EXIT.ok) throw new CliExit(code)
      } finally {
        await backend.close()
      }
    })

  async function withBackend<T>(command: Command, work: (backend: Backend) => Promise<T>): Promise<T> {
    const backend = openBackend(command)
    try {
      return await work(backend)
    } finally {
      await backend.close()
    }
  }

  const context: CliContext = { io, homeOf, openBackend, runJobHere, withBackend }
  registerModelCommands(program, context)
  registerGgufCommands(program, context)
  registerCacheCommands(program, context)
  registerPipelineCommands(program, context)
  registerTemplateCommands(program, context)
  registerExportCommands(program, context)
  registerReplicaCommand(program, context)
  registerDistillCommands(program, context)
  registerDistillDatasetCommands(program, context)
  registerDistillEvalCommands(program, context)
  registerDemoCommand(program, context)
  return program
}

/** Runs the CLI and returns the exit code (never calls process.exit itself, so tests can call it). */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return EXIT.ok
  } catch (error) {
    if (error instanceof CliExit) return error.exitCode
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return EXIT.ok
      return EXIT.usage
    }
    io.err(`larder: ${(error as Error).message}\n`)
    return exitCodeFor(error)
  }
}
