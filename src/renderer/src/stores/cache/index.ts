import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type { CacheNamespace, MethodInput } from '../../../../shared/contract'
import { api } from '../../api'

export type NamespaceInput = MethodInput<'cache.namespaces.save'>

const SELECTED_KEY = 'larder.cache.namespace'

/** Cache namespaces and the one the Cache page is looking at (remembered across visits). */
export const useCacheStore = defineStore('cache', () => {
  const namespaces = ref<CacheNamespace[]>([])
  const loading = ref(false)
  const loaded = ref(false)
  const loadError = ref<string | null>(null)
  const selectedId = ref<number | null>(Number(localStorage.getItem(SELECTED_KEY)) || null)

  const selected = computed(() => namespaces.value.find((namespace) => namespace.id === selectedId.value) ?? null)

  watch(selectedId, (id) => {
    if (id === null) localStorage.removeItem(SELECTED_KEY)
    else localStorage.setItem(SELECTED_KEY, String(id))
  })

  async function refresh(options: { quiet?: boolean } = {}): Promise<void> {
    if (!options.quiet) loading.value = true
    try {
      namespaces.value = (await api.call('cache.namespaces.list')).items
      loadError.value = null
      loaded.value = true
      if (!namespaces.value.some((namespace) => namespace.id === selectedId.value)) {
        selectedId.value = namespaces.value[0]?.id ?? null
      }
    } catch (error) {
      loadError.value = (error as Error).message
    } finally {
      loading.value = false
    }
  }

  // Entry counts per state change with every curation.
  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  api.on('cache.changed', () => {
    if (!loaded.value || refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void refresh({ quiet: true })
    }, 300)
  })

  async function save(input: NamespaceInput): Promise<{ namespace: CacheNamespace; invalidated: number }> {
    const result = await api.call('cache.namespaces.save', input)
    await refresh({ quiet: true })
    selectedId.value = result.namespace.id
    return result
  }

  async function remove(id: number): Promise<number> {
    const { removedEntries } = await api.call('cache.namespaces.remove', { id })
    await refresh({ quiet: true })
    return removedEntries
  }

  return { namespaces, loading, loaded, loadError, selectedId, selected, refresh, save, remove }
})
