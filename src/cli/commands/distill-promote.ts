/**
 * `larder distill promote|rollback|promotions`: switch a cache namespace, a pipeline's model node or a template
 * family to a student (a registered model or a provider), refused when the report's gate failed unless --override;
 * roll a promotion back; list the history.
 */
import type { Command } from 'commander'
import type { CacheNamespace, Promotion, PromotionTarget } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../../backend/backend'
import type { CliContext } from '../main'
import { positiveInt } from '../options'

interface Named {
  id: number
  name: string
}

/** A row of a `*.list` method by name or id, or a not-found error that says what was looked for. */
async function find(backend: Backend, method: string, what: string, value: string): Promise<number> {
  const { items } = (await backend.call(method, {})) as { items: Named[] }
  const found = items.find((item) => item.name === value || String(item.id) === value)
  if (!found) throw new ApiError({ code: 'not_found', message: `No ${what} named "${value}".` })
  return found.id
}

async function namespaceId(backend: Backend, value: string): Promise<number> {
  const { items } = (await backend.call('cache.namespaces.list', {})) as { items: CacheNamespace[] }
  const [tenant, name] = value.includes('/') ? value.split('/', 2) : ['default', value]
  const namespace = items.find((n) => String(n.id) === value || (n.tenant === tenant && n.name === name))
  if (!namespace) throw new ApiError({ code: 'not_found', message: `No cache namespace "${value}".` })
  return namespace.id
}

export function describePromotion(p: Promotion): string {
  const state = p.rolledBackAt ? `rolled back ${p.rolledBackAt} by ${p.rolledBackBy}` : 'in force'
  const gate = p.gatePassed === true ? 'gate passed' : `override: ${p.override ?? '-'}`
  const student = p.modelName ?? `provider ${p.providerName ?? '-'}`
  return `${String(p.id).padStart(4)}  ${p.targetLabel} -> ${student}  (${gate}; report ${p.evaluationId ?? '-'}; ${p.actor} at ${p.createdAt}; ${state})\n`
}

interface PromoteOptions {
  namespace?: string
  pipeline?: string
  node?: string
  family?: string
  model?: string
  provider?: string
  evaluation?: number
  override?: string
  actor: string
  json?: boolean
}

const invalid = (message: string): ApiError => new ApiError({ code: 'invalid_input', message })

async function targetOf(backend: Backend, options: PromoteOptions): Promise<PromotionTarget> {
  const given = [options.namespace, options.pipeline, options.family].filter((value) => value !== undefined)
  if (given.length !== 1) throw invalid('Give exactly one target: --namespace, --pipeline with --node, or --family.')
  if ((options.node === undefined) !== (options.pipeline === undefined)) {
    throw invalid('--pipeline and --node go together: the pipeline and the id of its model node.')
  }
  if (options.namespace !== undefined) return { namespaceId: await namespaceId(backend, options.namespace) }
  if (options.pipeline !== undefined) {
    return { pipelineId: await find(backend, 'pipelines.list', 'pipeline', options.pipeline), nodeId: options.node! }
  }
  return { familyId: await find(backend, 'templates.list', 'template family', options.family!) }
}

async function studentOf(
  backend: Backend,
  options: PromoteOptions,
): Promise<{ modelId: number } | { providerId: number }> {
  if ((options.model === undefined) === (options.provider === undefined)) {
    throw invalid('Give the student as exactly one of --model (a registered model) or --provider (a provider).')
  }
  return options.model !== undefined
    ? { modelId: await find(backend, 'models.list', 'model', options.model) }
    : { providerId: await find(backend, 'providers.list', 'provider', options.provider!) }
}

function registerPromote(group: Command, context: CliContext): void {
  group
    .command('promote')
    .description(
      "Switch a namespace's misses, a pipeline node or a template family's generation to a student: refused when the report's gate failed, unless --override.",
    )
    .option('--namespace <name>', 'cache namespace (name, tenant/name or id)')
    .option('--pipeline <name>', 'pipeline (name or id); with --node')
    .option('--node <id>', 'the model node of --pipeline (llm, judge, reflect or classifier router)')
    .option('--family <name>', 'template family (name or id)')
    .option('--model <model>', 'the student: a registered model (name or id)')
    .option('--provider <name>', 'the student: a provider, e.g. a remote fine-tune (name or id)')
    .option('--evaluation <id>', 'the report whose gate verdict allows it', positiveInt)
    .option('--override <reason>', 'promote although the gate failed; the reason is recorded')
    .option('--actor <name>', 'who promotes (recorded)', process.env.USER ?? 'operator')
    .option('--json', 'print the promotion as JSON')
    .action(async (options: PromoteOptions, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const promotion = (await backend.call('distill.promote', {
          target: await targetOf(backend, options),
          ...(await studentOf(backend, options)),
          actor: options.actor,
          ...(options.evaluation ? { evaluationId: options.evaluation } : {}),
          ...(options.override ? { override: options.override } : {}),
        })) as Promotion
        context.io.out(options.json ? `${JSON.stringify(promotion)}\n` : describePromotion(promotion))
      })
    })
}

export function registerPromotion(group: Command, context: CliContext): void {
  registerPromote(group, context)
  group
    .command('rollback <promotion>')
    .description('Restore the target a promotion replaced.')
    .option('--actor <name>', 'who rolls back (recorded)', process.env.USER ?? 'operator')
    .action(async (id: string, options: { actor: string }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const promotion = (await backend.call('distill.rollback', {
          id: Number(id),
          actor: options.actor,
        })) as Promotion
        context.io.out(describePromotion(promotion))
      })
    })
  group
    .command('promotions')
    .description('Promotion history, newest first.')
    .action(async (_options: unknown, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const { items } = (await backend.call('distill.promotions', {})) as { items: Promotion[] }
        context.io.out(items.length ? items.map(describePromotion).join('') : 'No promotions yet.\n')
      })
    })
}
