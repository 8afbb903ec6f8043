import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Job, MethodInput, MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'
import { useCacheStore } from '.'

export type CacheAnalytics = MethodOutput<'cache.analytics'>
export type Bucket = NonNullable<MethodInput<'cache.analytics'>['bucket']>
export type PrewarmTarget = MethodInput<'cache.prewarm'>['target']

/** Coverage analytics of the selected namespace, and the pre-warm job that fills its head. */
export const useCacheAnalyticsStore = defineStore('cache-analytics', () => {
  const cache = useCacheStore()
  const data = ref<CacheAnalytics | null>(null)
  const bucket = ref<Bucket>('day')
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const prewarm = createJobSlot(() => void refresh({ quiet: true }))
  let requestCount = 0

  async function refresh(options: { quiet?: boolean } = {}): Promise<void> {
    const namespaceId = cache.selectedId
    if (namespaceId === null) {
      data.value = null
      return
    }
    const request = ++requestCount
    if (!options.quiet) loading.value = true
    try {
      const result = await api.call('cache.analytics', { namespaceId, bucket: bucket.value })
      if (request !== requestCount) return
      data.value = result
      loadError.value = null
    } catch (error) {
      if (request === requestCount) loadError.value = (error as Error).message
    } finally {
      if (request === requestCount) loading.value = false
    }
  }

  function setBucket(value: Bucket): void {
    bucket.value = value
    void refresh()
  }

  async function startPrewarm(top: number, target?: PrewarmTarget): Promise<Job> {
    const namespaceId = cache.selectedId
    if (namespaceId === null) throw new Error('No namespace selected')
    const { job } = await api.call('cache.prewarm', { namespaceId, top, ...(target ? { target } : {}) })
    prewarm.track(job)
    return job
  }

  return {
    data,
    bucket,
    loading,
    loadError,
    prewarmJob: prewarm.job,
    refresh,
    setBucket,
    startPrewarm,
    resync: () => Promise.all([refresh({ quiet: true }), prewarm.resync()]),
  }
})
