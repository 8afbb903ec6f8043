/** `larder cache plan`: the held-out projection, what-ifs, budget and projected-vs-realised of one namespace. */
import { InvalidArgumentError, type Command } from 'commander'
import type { CacheNamespace, CachePlan, Job, Projection } from '../../shared/contract'
import type { Backend } from '../../backend/backend'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit } from '../options'
import { jobProgressReporter } from '../progress'

function share(min: number, max: number) {
  return (value: string): number => {
    const parsed = Number(value)
    if (!Number.isFinite(parsed) || parsed < min || parsed > max)
      throw new InvalidArgumentError(`must be a number from ${min} to ${max} (e.g. 0.9 for 90 %)`)
    return parsed
  }
}

const pct = (value: number | null, digits = 1): string => (value === null ? '-' : `${(value * 100).toFixed(digits)}%`)
const signed = (value: number): string => `${value >= 0 ? '+' : ''}${(value * 100).toFixed(1)}%`
const count = (value: number | null): string => (value === null ? '-' : Math.round(value).toLocaleString('en-US'))
const projection = (p: Projection | null): string =>
  p === null ? '-' : `${pct(p.rate)}${p.low !== null ? ` [${pct(p.low)}, ${pct(p.high)}]` : ' (in-sample)'}`
const duration = (seconds: number | null): string =>
  seconds === null ? '-' : seconds < 90 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`

const ttl = (seconds: number): string =>
  seconds % 86_400 === 0 ? `${seconds / 86_400} d` : seconds % 3600 === 0 ? `${seconds / 3600} h` : `${seconds} s`

function describe(plan: CachePlan): string {
  const { log, split, target, whatIfs, budget } = plan
  const lines: string[] = []
  const span = log.from ? `, ${log.from.slice(0, 10)} to ${log.to!.slice(0, 10)} (${log.days!.toFixed(1)} days)` : ''
  lines.push(
    `${plan.namespace.tenant}/${plan.namespace.name}: ${count(log.requests)} requests (${count(log.distinct)} distinct)${span}, ${log.source} log, ${log.order === 'time' ? 'time order' : 'line order'}`,
  )
  lines.push(
    split.mode === 'held-out'
      ? `split: ranked on the first ${pct(split.actual, 0)} (${count(split.trainRequests)} requests${split.at ? `, to ${split.at}` : ''}), measured on the last ${count(split.heldOutRequests)}; 95% interval: bootstrap over ${split.blocks} ${split.intervalBy}`
      : 'split: none (IN-SAMPLE: the log measured on itself overstates a fresh day)',
  )
  lines.push('entries needed     held-out  in-sample  projected hit rate')
  for (const row of plan.entriesFor) {
    lines.push(
      `  ${pct(row.share, 0).padStart(4)}  ${count(row.entries).padStart(16)}  ${count(row.inSampleEntries).padStart(9)}  ${projection(row.projected)}`,
    )
  }
  lines.push(
    `target ${pct(target.share)}: ${target.entries === null ? `out of reach (at most ${pct(target.maxReachable)})` : `top ${count(target.entries)} -> ${projection(target.projected)}`}`,
  )
  lines.push(`what-ifs on the top ${count(whatIfs.basis.entries)} (${pct(whatIfs.basis.hitRate)}):`)
  if (whatIfs.normalization.length > 0)
    lines.push(`  normalisation: ${whatIfs.normalization.map((r) => `${r.rule} ${signed(r.extra)}`).join(', ')}`)
  if (whatIfs.ttl.available)
    lines.push(`  TTL: ${whatIfs.ttl.rows.map((r) => `${ttl(r.seconds)} ${signed(r.extra)}`).join(', ')}`)
  const semantic = whatIfs.semantic
  lines.push(
    semantic.status === 'ready'
      ? `  semantic at ${semantic.threshold}: ${signed(semantic.extra!)} (${count(semantic.hits)} requests; ${count(semantic.refused)} refused by guards or parameters)`
      : `  semantic at ${semantic.threshold}: ${semantic.status}`,
  )
  lines.push(
    `budget: ${count(budget.entries)} entries: ${budget.servable} servable, ${budget.drafts} drafts to approve (-> ${projection(budget.afterApproving)}), ${budget.missing} to pre-warm, ${budget.rejected} rejected; now ${projection(budget.now)}`,
  )
  const money = (value: number | null): string =>
    value === null ? (budget.pricesSet ? '-' : 'no prices set') : `${value.toFixed(2)} ${budget.currency}`
  lines.push(
    `  pre-warm: ${count(budget.prewarm.tokensIn)} tokens in (${budget.tokensPerEntry.inSource ?? '-'}), ${count(budget.prewarm.tokensOut)} out, ${duration(budget.prewarm.seconds)} at ${budget.speed.tokensPerSecond === null ? '-' : budget.speed.tokensPerSecond.toFixed(0)} tok/s, ${money(budget.prewarm.cost)}`,
  )
  lines.push(
    `  per day (${count(budget.perDay.requests)} requests): ${count(budget.perDay.hits)} hits, ${count(budget.perDay.tokensSaved)} tokens and ${duration(budget.perDay.secondsSaved)} of generation saved, ${money(budget.perDay.costSaved)}`,
  )
  for (const day of plan.realised.days) {
    lines.push(
      `realised ${day.day}: ${pct(day.hitRate)} (exact ${pct(day.exactHitRate)}) of ${count(day.requests)} vs projected ${projection(day.projected)}${day.drift ? '  DRIFT' : ''}`,
    )
  }
  for (const miss of plan.realised.newMisses)
    lines.push(
      `  new miss ${miss.day}: ${miss.misses}x (expected ${miss.expected.toFixed(1)}) ${miss.promptText ?? miss.keyHash}`,
    )
  for (const note of plan.notes) lines.push(`note: ${note.message}`)
  return `${lines.join('\n')}\n`
}

async function embedHere(backend: Backend, namespaceId: number, json: boolean): Promise<void> {
  const reporter = json ? null : jobProgressReporter()
  let jobId = -1
  const unsubscribe = backend.events.subscribe((name, payload) => {
    if (name === 'job.updated' && (payload as Job).id === jobId) reporter?.update(payload as Job)
  })
  try {
    backend.start()
    jobId = ((await backend.call('cache.plan.embed', { namespaceId })) as { job: Job }).job.id
    const job = await backend.runner.waitFor(jobId)
    if (job.status !== 'succeeded') throw new Error(`Embedding the logged prompts ${job.status}: ${job.error ?? ''}`)
  } finally {
    unsubscribe()
    reporter?.stop()
  }
}

interface PlanOptions {
  target: number
  split: number
  semanticThreshold?: number
  namespace: string
  source: string
  json?: boolean
}

export function registerCachePlanCommand(
  cache: Command,
  context: CliContext,
  resolveNamespace: (backend: Backend, spec: string) => Promise<CacheNamespace>,
): void {
  const { io } = context
  cache
    .command('plan')
    .description(
      'Project the hit rate of a cache of the top N on held-out traffic, with what-ifs, the budget for a target and realised vs projected.',
    )
    .option('--target <share>', 'hit rate to reach, 0-0.999', share(0.001, 0.999), 0.9)
    .option(
      '--split <share>',
      'share of the log (earliest first) to rank on; the rest is held out',
      share(0.5, 0.95),
      0.7,
    )
    .option(
      '--semantic-threshold <t>',
      'semantic what-if at this threshold (embeds the log first if needed)',
      share(0.01, 1),
    )
    .option('--namespace <name>', 'namespace ("name" or "tenant/name")', 'default')
    .option('--source <source>', 'auto | import | gateway | all', 'auto')
    .option('--json', 'print the plan as JSON (only JSON on stdout)')
    .action(async (options: PlanOptions, command: Command) =>
      context.withBackend(command, async (backend) => {
        if (!['auto', 'import', 'gateway', 'all'].includes(options.source)) {
          io.err(`--source must be auto, import, gateway or all (got "${options.source}").\n`)
          throw new CliExit(EXIT.usage)
        }
        const ns = await resolveNamespace(backend, options.namespace)
        const input = {
          namespaceId: ns.id,
          target: options.target,
          split: options.split,
          source: options.source,
          ...(options.semanticThreshold !== undefined ? { semanticThreshold: options.semanticThreshold } : {}),
        }
        let plan = (await backend.call('cache.plan', input)) as CachePlan
        if (options.semanticThreshold !== undefined && plan.whatIfs.semantic.status === 'needs-embedding') {
          if (!options.json) io.err('Embedding the logged prompts with the namespace embedder...\n')
          await embedHere(backend, ns.id, options.json ?? false)
          plan = (await backend.call('cache.plan', input)) as CachePlan
        }
        if (options.semanticThreshold !== undefined && plan.whatIfs.semantic.status === 'no-embedder')
          io.err(`${plan.notes.find((n) => n.code === 'no-embedder')!.message}\n`)
        io.out(options.json ? `${JSON.stringify(plan, null, 2)}\n` : describe(plan))
      }),
    )
}
