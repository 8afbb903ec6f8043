/**
 * What a finished job made, as a console link: the model a quantization or pull produced, a pipeline run's trace,
 * a template family, a distillation run, a CDN bundle. Read from the job's params and result, as the jobs store them.
 */
import type { Job } from '../../../../shared/contract'

export type JobLinkKind = 'model' | 'trace' | 'family' | 'distillRun' | 'bundle' | 'namespace' | 'provider'

export interface JobLink {
  kind: JobLinkKind
  /** A vue-router location: the page and its query. */
  to: { name: string; query: Record<string, string> }
  /** The id or name shown in the link text. */
  label: string
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {}
const positiveInt = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null

/** The name the job's title used for a thing (its message parameters), else `#id`. */
function nameOr(job: Partial<Pick<Job, 'titleRef'>>, key: string, id: number): string {
  const name = job.titleRef?.params[key]
  return typeof name === 'string' && name !== '' ? name : `#${id}`
}

export function jobLink(
  job: Pick<Job, 'kind' | 'params' | 'result' | 'status'> & Partial<Pick<Job, 'titleRef'>>,
): JobLink | null {
  const params = record(job.params)
  const result = record(job.result)
  switch (job.kind) {
    case 'pipelines.run': {
      const pipeline = positiveInt(params.id)
      if (pipeline === null) return null
      const run = positiveInt(result.runId)
      const query: Record<string, string> = { id: String(pipeline), ...(run !== null ? { run: String(run) } : {}) }
      return { kind: 'trace', to: { name: 'pipelines', query }, label: run !== null ? `#${run}` : `#${pipeline}` }
    }
    case 'templates.generate': {
      const family = positiveInt(params.familyId)
      return family === null
        ? null
        : {
            kind: 'family',
            to: { name: 'templates', query: { family: String(family) } },
            label: nameOr(job, 'family', family),
          }
    }
    case 'distill.train': {
      const run = positiveInt(params.runId)
      // Trained through a fine-tuning API: what it made is a remote model, served by the provider it registered.
      const remote = record(result.remote)
      const provider = positiveInt(remote.providerId)
      if (provider !== null && job.status === 'succeeded') {
        const label = typeof remote.model === 'string' ? remote.model : `#${provider}`
        return { kind: 'provider', to: { name: 'models', query: { provider: String(provider) } }, label }
      }
      return run === null
        ? null
        : {
            kind: 'distillRun',
            to: { name: 'distillation', query: { run: String(run) } },
            label: nameOr(job, 'run', run),
          }
    }
    case 'export.cdn':
      return job.status === 'succeeded'
        ? {
            kind: 'bundle',
            to: { name: 'export', query: {} },
            label: typeof result.version === 'string' ? result.version : '',
          }
        : null
    default: {
      // Quantize, pull, sweep, hash: the model they made or worked on.
      const model = positiveInt(result.modelId) ?? positiveInt(record(result.quantized).modelId)
      if (model !== null) {
        const name = typeof result.name === 'string' ? result.name : `#${model}`
        return { kind: 'model', to: { name: 'models', query: { model: String(model) } }, label: name }
      }
      const namespace = positiveInt(params.namespaceId)
      return job.kind.startsWith('cache.') && namespace !== null
        ? {
            kind: 'namespace',
            to: { name: 'cache', query: { namespace: String(namespace) } },
            label: nameOr(job, 'namespace', namespace),
          }
        : null
    }
  }
}
