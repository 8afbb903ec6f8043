import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { CacheEntry, MethodInput } from '../../../../shared/contract'
import { api } from '../../api'
import { useCacheStore } from '.'

export type EntryState = CacheEntry['state']
export type EntrySort = NonNullable<MethodInput<'cache.entries.list'>['sort']>
export type BulkAction = MethodInput<'cache.entries.bulk'>['action']
export type InvalidateFilter = Pick<
  MethodInput<'cache.entries.bulk'>['filter'],
  'model' | 'promptVersion' | 'createdBy' | 'createdBefore'
>

/** One server-side page of a namespace's entries, with filters, search, sort and the rows picked for bulk actions. */
export const useCacheEntriesStore = defineStore('cache-entries', () => {
  const cache = useCacheStore()
  const items = ref<CacheEntry[]>([])
  const total = ref(0)
  const page = ref(1)
  const pageSize = ref(20)
  const stateFilter = ref<EntryState[]>([])
  const search = ref('')
  const modelFilter = ref('')
  const minHits = ref<number | null>(null)
  const sort = ref<EntrySort>('hits')
  const checked = ref<number[]>([])
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const bulkBusy = ref(false)
  let requestCount = 0
  let active = false

  async function fetchPage(options: { quiet?: boolean } = {}): Promise<void> {
    const namespaceId = cache.selectedId
    if (namespaceId === null) {
      items.value = []
      total.value = 0
      return
    }
    const request = ++requestCount
    if (!options.quiet) loading.value = true
    try {
      const result = await api.call('cache.entries.list', {
        namespaceId,
        ...(stateFilter.value.length > 0 ? { state: [...stateFilter.value] } : {}),
        ...(search.value.trim() ? { search: search.value.trim() } : {}),
        ...(modelFilter.value.trim() ? { model: modelFilter.value.trim() } : {}),
        ...(minHits.value !== null ? { minHits: minHits.value } : {}),
        sort: sort.value,
        limit: pageSize.value,
        offset: (page.value - 1) * pageSize.value,
      })
      if (request !== requestCount) return
      const lastPage = Math.max(1, Math.ceil(result.total / pageSize.value))
      if (result.items.length === 0 && page.value > lastPage) {
        page.value = lastPage
        void fetchPage(options)
        return
      }
      items.value = result.items
      total.value = result.total
      // Keep only picked rows that still exist on this page.
      const ids = new Set(result.items.map((entry) => entry.id))
      checked.value = checked.value.filter((id) => ids.has(id))
      loadError.value = null
    } catch (error) {
      if (request === requestCount) loadError.value = (error as Error).message
    } finally {
      if (request === requestCount) loading.value = false
    }
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  api.on('cache.changed', ({ namespaceId }) => {
    if (!active || namespaceId !== cache.selectedId || refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void fetchPage({ quiet: true })
    }, 250)
  })

  function reset(): void {
    page.value = 1
    checked.value = []
    void fetchPage()
  }

  function setPage(value: number): void {
    page.value = value
    checked.value = []
    void fetchPage()
  }
  function setPageSize(value: number): void {
    pageSize.value = value
    reset()
  }
  function setStateFilter(value: EntryState[]): void {
    stateFilter.value = value
    reset()
  }
  function setSearch(value: string): void {
    search.value = value
    reset()
  }
  function setModelFilter(value: string): void {
    modelFilter.value = value
    reset()
  }
  function setMinHits(value: number | null): void {
    minHits.value = value
    reset()
  }
  function setSort(value: EntrySort): void {
    sort.value = value
    reset()
  }

  /** Applies `action` to the picked rows; returns how many entries changed. */
  async function bulk(action: BulkAction): Promise<number> {
    const namespaceId = cache.selectedId
    if (namespaceId === null || checked.value.length === 0) return 0
    bulkBusy.value = true
    try {
      const { affected } = await api.call('cache.entries.bulk', {
        filter: { namespaceId, ids: [...checked.value] },
        action,
      })
      // Done with these rows: a later action starts from a fresh pick, so nothing is changed twice by accident.
      checked.value = []
      await fetchPage({ quiet: true })
      return affected
    } finally {
      bulkBusy.value = false
    }
  }

  /** Applies `action` to every entry of the namespace that matches `filter` (pinned ones included). */
  async function invalidate(filter: InvalidateFilter, action: 'draft' | 'reject' | 'delete'): Promise<number> {
    const namespaceId = cache.selectedId
    if (namespaceId === null) return 0
    const { affected } = await api.call('cache.entries.bulk', { filter: { namespaceId, ...filter }, action })
    checked.value = []
    await fetchPage({ quiet: true })
    return affected
  }

  function start(): void {
    active = true
  }
  function stop(): void {
    active = false
    clearTimeout(refreshTimer)
    refreshTimer = undefined
  }

  return {
    items,
    total,
    page,
    pageSize,
    stateFilter,
    search,
    modelFilter,
    minHits,
    setModelFilter,
    setMinHits,
    sort,
    checked,
    loading,
    loadError,
    bulkBusy,
    fetchPage,
    reset,
    setPage,
    setPageSize,
    setStateFilter,
    setSearch,
    setSort,
    bulk,
    invalidate,
    start,
    stop,
  }
})
