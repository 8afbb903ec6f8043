import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { CacheNamespace, Model, ProviderConfig } from '../../../../shared/contract'
import { api } from '../../api'
import { targetKey } from './graph'

/**
 * What the node settings choose from: registered models, providers and cache namespaces. Refetched when the editor
 * opens and after missed events; `models.changed` keeps the model list current.
 */
export const usePipelineCatalogStore = defineStore('pipeline-catalog', () => {
  const models = ref<Model[]>([])
  const providers = ref<ProviderConfig[]>([])
  const namespaces = ref<CacheNamespace[]>([])
  const loaded = ref(false)
  const error = ref<string | null>(null)

  let request = 0
  async function refresh(): Promise<void> {
    const current = ++request
    try {
      const [modelList, providerList, namespaceList] = await Promise.all([
        api.call('models.list'),
        api.call('providers.list'),
        api.call('cache.namespaces.list'),
      ])
      if (current !== request) return
      models.value = modelList.items
      providers.value = providerList.items
      namespaces.value = namespaceList.items
      error.value = null
      loaded.value = true
    } catch (cause) {
      if (current === request) error.value = (cause as Error).message
    }
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  api.on('models.changed', () => {
    if (!loaded.value || timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      void refresh()
    }, 300)
  })

  /** `model:3` / `provider:2` -> a name to show on a node. */
  const targetNames = computed(() => {
    const names = new Map<string, string>()
    for (const model of models.value) names.set(`model:${model.id}`, model.name)
    for (const provider of providers.value) names.set(`provider:${provider.id}`, provider.name)
    return names
  })

  function targetName(target: unknown): string | null {
    const key = targetKey(target)
    return key ? (targetNames.value.get(key) ?? null) : null
  }

  const firstNamespaceId = computed(() => namespaces.value[0]?.id ?? null)

  return { models, providers, namespaces, loaded, error, refresh, targetName, firstNamespaceId }
})
