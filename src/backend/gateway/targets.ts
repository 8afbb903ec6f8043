/** Which provider answers a request's `model`: a pipeline, a registered model (loaded on first use), a provider. */
import type { Backend } from '../backend'
import type { NamespaceConfig } from '../cache/runtime'
import type { Provider } from '../models/providers/types'
import { PIPELINE_MODEL_PREFIX, PipelineProvider } from '../pipelines/provider'
import { GatewayError } from './http'

export interface Target {
  kind: 'pipeline' | 'local' | 'provider'
  provider: Provider
  /** The model name an entry records as its provenance. */
  label: string
  /** A local target's registered model (log-probs are computed on it). */
  modelId?: number
}

export function modelNotFound(message: string): GatewayError {
  return new GatewayError(404, message, { param: 'model', code: 'model_not_found' })
}

export class ModelTargets {
  private readonly loading = new Map<number, Promise<unknown>>()

  constructor(
    private readonly backend: Backend,
    /** Parallel sequences a model is loaded with (the live queue's concurrency). */
    private readonly sequences: number,
  ) {}

  /** The provider for `model`, or the namespace's generation target when `model` names none. */
  async resolve(model: string, namespace: NamespaceConfig): Promise<Target> {
    if (model.startsWith(PIPELINE_MODEL_PREFIX)) {
      const name = model.slice(PIPELINE_MODEL_PREFIX.length)
      // The namespace is the caller's, so its tenant is the caller's: another tenant's pipeline does not exist here.
      const pipeline = this.backend.pipelines.byName(name, namespace.tenant)
      if (!pipeline) throw modelNotFound(`There is no pipeline named "${name}".`)
      return {
        kind: 'pipeline',
        provider: new PipelineProvider(this.backend.pipelines, pipeline.id, name, namespace.tenant),
        label: model,
      }
    }
    const db = this.backend.workspace.db
    const local = db.prepare('SELECT id FROM models WHERE name = ?').get(model) as { id: number } | undefined
    const remote = db.prepare('SELECT id FROM providers WHERE name = ?').get(model) as { id: number } | undefined
    const target = local ? { model: local.id } : remote ? { provider: remote.id } : namespace.generationTarget
    if (!target)
      throw modelNotFound(`The model "${model}" does not exist. GET /v1/models lists the models this gateway serves.`)
    if ('model' in target) await this.ensureLoaded(target.model)
    const { provider } = this.backend.models.providerFor(target)
    if ('model' in target)
      return { kind: 'local', provider, label: this.backend.models.get(target.model).name, modelId: target.model }
    return { kind: 'provider', provider, label: provider.id }
  }

  /** Loads a registered model once, however many requests ask for it at the same time. */
  private async ensureLoaded(id: number): Promise<void> {
    if (this.backend.models.get(id).loaded) return
    let loading = this.loading.get(id)
    if (!loading) {
      loading = this.backend.models.load({ id, sequences: this.sequences }).finally(() => this.loading.delete(id))
      this.loading.set(id, loading)
    }
    await loading
  }
}
