/** `larder cache ...` and `larder gateway keys ...`. */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { CacheNamespace, Job, Model } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../../backend/backend'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'
import { registerCacheCurationCommands } from './cache-curate'
import { registerCachePlanCommand } from './cache-plan'

/** "support" or "acme/support"; created on first use when it is the default namespace. */
async function resolveNamespace(backend: Backend, spec: string): Promise<CacheNamespace> {
  const [tenant, name] = spec.includes('/') ? (spec.split('/', 2) as [string, string]) : ['default', spec]
  const existing = backend.cache.namespaceFor(tenant, name)
  if (!existing) {
    throw new ApiError({
      code: 'not_found',
      message: `No namespace "${tenant}/${name}". Create it in the console or with the default name.`,
    })
  }
  return existing
}

const percent = (value: number | null): string => (value === null ? '-' : `${(value * 100).toFixed(1)}%`)

export function registerCacheCommands(program: Command, context: CliContext): void {
  const { io } = context
  const cache = program
    .command('cache')
    .description(
      'The response cache: curation (list, show, approve...), namespaces, stats, logs, pre-warm, import/export.',
    )

  const { withBackend } = context
  const runJob = async (backend: Backend, method: string, input: object, json: boolean): Promise<void> => {
    const code = await context.runJobHere(
      backend,
      async () => ((await backend.call(method, input)) as { job: Job }).job,
      json,
    )
    if (code !== EXIT.ok) throw new CliExit(code)
  }

  cache
    .command('stats')
    .description('Hit rate, coverage of traffic by the top requests, and what the cache saved.')
    .option('--namespace <name>', 'namespace ("name" or "tenant/name")', 'default')
    .option('--json', 'print JSON')
    .action(async (options: { namespace: string; json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        const ns = await resolveNamespace(backend, options.namespace)
        const stats = (await backend.call('cache.analytics', { namespaceId: ns.id })) as {
          totalRequests: number
          distinctRequests: number
          hitRate: number | null
          entriesFor: Record<string, number | null>
          byKind: Record<string, number>
          saved: { tokensOut: number; gpuSeconds: number }
          topUncached: { promptText: string | null; count: number }[]
        }
        if (options.json) {
          io.out(`${JSON.stringify({ namespace: ns, ...stats }, null, 2)}\n`)
          return
        }
        io.out(
          `${ns.tenant}/${ns.name}: ${ns.entryCounts.approved} approved, ${ns.entryCounts.draft} draft, ${ns.entryCounts.rejected} rejected entries\n`,
        )
        io.out(`requests logged: ${stats.totalRequests} (${stats.distinctRequests} distinct)\n`)
        io.out(
          `hit rate (gateway): ${percent(stats.hitRate)}  ${Object.entries(stats.byKind)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}\n`,
        )
        io.out(
          `entries needed to cover 50/80/90/95% of traffic: ${['50', '80', '90', '95'].map((p) => stats.entriesFor[p] ?? '-').join(' / ')}\n`,
        )
        io.out(
          `saved: ${stats.saved.tokensOut} generated tokens, ~${stats.saved.gpuSeconds.toFixed(1)} s of generation\n`,
        )
        if (stats.topUncached.length > 0) io.out('most-asked uncached requests:\n')
        for (const row of stats.topUncached.slice(0, 5))
          io.out(`  ${String(row.count).padStart(6)}  ${(row.promptText ?? '').slice(0, 80)}\n`)
      }),
    )

  registerCachePlanCommand(cache, context, resolveNamespace)
  registerCacheCurationCommands(cache, context)

  cache
    .command('import-log')
    .description('Import a request log (JSONL: one OpenAI-style request per line; or CSV with a prompt column).')
    .argument('<file>', '.jsonl or .csv file')
    .option('--namespace <name>', 'namespace ("name" or "tenant/name")', 'default')
    .option('--json', 'print the finished job as JSON')
    .action(async (file: string, options: { namespace: string; json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        const ns = await resolveNamespace(backend, options.namespace)
        await runJob(backend, 'cache.log.import', { namespaceId: ns.id, path: resolve(file) }, options.json ?? false)
      }),
    )

  cache
    .command('prewarm')
    .description('Generate answers for the most frequent uncached requests in the log, as drafts for review.')
    .requiredOption('--top <n>', 'how many of the most frequent uncached requests', positiveInt)
    .option('--namespace <name>', 'namespace ("name" or "tenant/name")', 'default')
    .option('--model <name>', "registered model to generate with (default: the namespace's target)")
    .option('--json', 'print the finished job as JSON')
    .action(async (options: { top: number; namespace: string; model?: string; json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        const ns = await resolveNamespace(backend, options.namespace)
        let target: { model: number } | undefined
        if (options.model) {
          const { items } = (await backend.call('models.list', {})) as { items: Model[] }
          const model = items.find((m) => m.name === options.model)
          if (!model) throw new ApiError({ code: 'not_found', message: `No model named "${options.model}".` })
          target = { model: model.id }
        }
        await runJob(
          backend,
          'cache.prewarm',
          { namespaceId: ns.id, top: options.top, ...(target ? { target } : {}) },
          options.json ?? false,
        )
      }),
    )

  cache
    .command('export')
    .description('Export entries as JSONL (request, answer, state, provenance) for review outside Larder.')
    .argument('<file>', 'output .jsonl file')
    .option('--namespace <name>', 'namespace ("name" or "tenant/name")', 'default')
    .option('--state <state...>', 'only these states (draft approved rejected)')
    .option('--json', 'print the finished job as JSON')
    .action(async (file: string, options: { namespace: string; state?: string[]; json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        const ns = await resolveNamespace(backend, options.namespace)
        await runJob(
          backend,
          'cache.export',
          { namespaceId: ns.id, path: resolve(file), ...(options.state ? { state: options.state } : {}) },
          options.json ?? false,
        )
      }),
    )

  cache
    .command('import')
    .description('Import entries from JSONL ({request, answer, state?} per line).')
    .argument('<file>', '.jsonl file')
    .option('--namespace <name>', 'namespace ("name" or "tenant/name")', 'default')
    .option('--json', 'print the finished job as JSON')
    .action(async (file: string, options: { namespace: string; json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        const ns = await resolveNamespace(backend, options.namespace)
        await runJob(backend, 'cache.import', { namespaceId: ns.id, path: resolve(file) }, options.json ?? false)
      }),
    )

  const gateway = program
    .command('gateway')
    .description('The OpenAI-compatible gateway served by `larder serve` under /v1.')
  const keys = gateway.command('keys').description('API keys: each maps to a tenant; only a hash is stored.')
  keys
    .command('create')
    .description('Create a key (printed once; store it now).')
    .requiredOption('--tenant <name>', 'tenant the key belongs to')
    .option('--label <text>', 'what the key is for')
    .action(async (options: { tenant: string; label?: string }, command: Command) =>
      withBackend(command, async (backend) => {
        const created = (await backend.call('gateway.keys.create', {
          tenant: options.tenant,
          ...(options.label ? { label: options.label } : {}),
        })) as {
          key: { id: number }
          secret: string
        }
        io.out(`${created.secret}\n`)
        io.err(
          `Key ${created.key.id} for tenant "${options.tenant}". It is shown only now; Larder keeps just its hash.\n`,
        )
      }),
    )
  keys
    .command('list')
    .description('List keys (prefixes only).')
    .action(async (_options: unknown, command: Command) =>
      withBackend(command, async (backend) => {
        const { items } = (await backend.call('gateway.keys.list', {})) as {
          items: {
            id: number
            tenant: string
            label: string | null
            prefix: string
            lastUsedAt: string | null
            revokedAt: string | null
          }[]
        }
        if (items.length === 0) io.out('No keys yet: larder gateway keys create --tenant NAME\n')
        for (const key of items) {
          io.out(
            `${String(key.id).padStart(4)}  ${key.prefix}…  ${key.tenant.padEnd(16)} ${key.revokedAt ? 'revoked' : 'active '}  last used ${key.lastUsedAt ?? 'never'}  ${key.label ?? ''}\n`,
          )
        }
      }),
    )
  keys
    .command('revoke')
    .description('Revoke a key; requests using it are refused at once.')
    .argument('<id>', 'key id', positiveInt)
    .action(async (id: number, _options: unknown, command: Command) =>
      withBackend(command, async (backend) => {
        await backend.call('gateway.keys.revoke', { id })
        io.out(`Key ${id} revoked.\n`)
      }),
    )
}
