import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { MethodOutput, RequestLogRow } from '../../../../shared/contract'
import type { HIT_KINDS } from '../../../../shared/contract'
import { api } from '../../api'
import { useCacheStore } from '.'

export type HitKind = (typeof HIT_KINDS)[number]

/** The request log of the selected namespace, one server-side page at a time. */
export const useRequestLogStore = defineStore('cache-request-log', () => {
  const cache = useCacheStore()
  const items = ref<RequestLogRow[]>([])
  const total = ref(0)
  const page = ref(1)
  const pageSize = ref(20)
  const hitKinds = ref<HitKind[]>([])
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  let requestCount = 0
  /** The row open in the drawer, with its request and entry (cache.log.get). */
  const opened = ref<MethodOutput<'cache.log.get'> | null>(null)
  const openedId = ref<number | null>(null)
  const openError = ref<string | null>(null)

  async function openRow(id: number): Promise<void> {
    openedId.value = id
    opened.value = null
    openError.value = null
    try {
      const result = await api.call('cache.log.get', { id })
      if (openedId.value === id) opened.value = result
    } catch (error) {
      if (openedId.value === id) openError.value = (error as Error).message
    }
  }

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
      const result = await api.call('cache.log.list', {
        namespaceId,
        ...(hitKinds.value.length > 0 ? { hitKind: [...hitKinds.value] } : {}),
        limit: pageSize.value,
        offset: (page.value - 1) * pageSize.value,
      })
      if (request !== requestCount) return
      items.value = result.items
      total.value = result.total
      loadError.value = null
    } catch (error) {
      if (request === requestCount) loadError.value = (error as Error).message
    } finally {
      if (request === requestCount) loading.value = false
    }
  }

  return {
    items,
    total,
    page,
    pageSize,
    hitKinds,
    loading,
    loadError,
    fetchPage,
    opened,
    openedId,
    openError,
    openRow,
    closeRow: () => {
      openedId.value = null
      opened.value = null
    },
    setPage: (value: number) => {
      page.value = value
      void fetchPage()
    },
    setPageSize: (value: number) => {
      pageSize.value = value
      page.value = 1
      void fetchPage()
    },
    setHitKinds: (value: HitKind[]) => {
      hitKinds.value = value
      page.value = 1
      void fetchPage()
    },
  }
})
