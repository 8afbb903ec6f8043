import { defineStore } from 'pinia'
import { ref } from 'vue'
import type {
  CacheNamespace,
  MethodInput,
  Model,
  Promotion,
  ProviderConfig,
  TemplateFamilySummary,
} from '../../../../shared/contract'
import { nodeUsesModel, pipelineDefinitionSchema } from '../../../../shared/pipeline-definition'
import { api } from '../../api'
import { useDistillEvalStore } from './index'

/** A student picked from a report ("Promote…" on its row): the form opens with it and the report chosen. */
export interface Prefill {
  evaluationId: number
  student: { kind: 'model' | 'provider'; id: number }
}

export interface ModelNode {
  id: string
  type: string
  label: string | null
}

/**
 * What the promote form chooses from (cache namespaces, pipelines and their model nodes, template families, models
 * and providers as students), and the promotion itself; the history refreshes through the evaluations store.
 */
export const usePromoteStore = defineStore('distill-promote', () => {
  const namespaces = ref<CacheNamespace[]>([])
  const pipelines = ref<Array<{ id: number; name: string; tenant: string }>>([])
  const families = ref<TemplateFamilySummary[]>([])
  const models = ref<Model[]>([])
  const providers = ref<ProviderConfig[]>([])
  const error = ref<string | null>(null)
  const promoting = ref(false)
  const prefill = ref<Prefill | null>(null)

  /** From a report row's gate key (`model:<id>` / `provider:<id>`); false for keys that are not a student. */
  function prefillFrom(evaluationId: number, key: string): boolean {
    const match = /^(model|provider):(\d+)$/.exec(key)
    if (!match) return false
    prefill.value = { evaluationId, student: { kind: match[1] as 'model' | 'provider', id: Number(match[2]) } }
    return true
  }

  async function refresh(): Promise<void> {
    try {
      const [namespaceList, pipelineList, familyList, modelList, providerList] = await Promise.all([
        api.call('cache.namespaces.list'),
        api.call('pipelines.list', {}),
        api.call('templates.list'),
        api.call('models.list'),
        api.call('providers.list'),
      ])
      namespaces.value = namespaceList.items
      pipelines.value = pipelineList.items
      families.value = familyList.items
      models.value = modelList.items
      providers.value = providerList.items
      error.value = null
    } catch (cause) {
      error.value = (cause as Error).message
    }
  }

  /** The nodes of a pipeline's current version that call a model (the ones a student can replace). */
  async function modelNodes(pipelineId: number): Promise<ModelNode[]> {
    const { definition } = await api.call('pipelines.get', { id: pipelineId })
    return pipelineDefinitionSchema
      .parse(definition)
      .nodes.filter((node) => nodeUsesModel(node))
      .map((node) => ({ id: node.id, type: node.type, label: node.label ?? null }))
  }

  async function promote(input: MethodInput<'distill.promote'>): Promise<Promotion> {
    promoting.value = true
    try {
      const promotion = await api.call('distill.promote', input)
      await useDistillEvalStore().refresh()
      return promotion
    } finally {
      promoting.value = false
    }
  }

  return {
    namespaces,
    pipelines,
    families,
    models,
    providers,
    error,
    promoting,
    prefill,
    prefillFrom,
    refresh,
    modelNodes,
    promote,
  }
})
