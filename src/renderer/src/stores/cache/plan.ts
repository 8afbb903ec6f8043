import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { CachePlan, Job, MethodInput } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'
import { useCacheStore } from '.'

export type PlanSource = NonNullable<MethodInput<'cache.plan'>['source']>
export type PrewarmTarget = MethodInput<'cache.prewarm'>['target']

/**
 * Traffic planning for the selected namespace: the plan's inputs (target, split, source, semantic threshold), the
 * plan itself, and the actions it offers: embed the log for the semantic what-if, pre-warm the planned requests that
 * have no entry, approve the planned drafts.
 */
export const useCachePlanStore = defineStore('cache-plan', () => {
  const cache = useCacheStore()
  const target = ref(0.9)
  const split = ref(0.7)
  const source = ref<PlanSource>('auto')
  /** Null: the namespace's own threshold. */
  const semanticThreshold = ref<number | null>(null)
  const data = ref<CachePlan | null>(null)
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const embedding = createJobSlot(() => void refresh({ quiet: true }))
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
      const result = await api.call('cache.plan', {
        namespaceId,
        target: target.value,
        split: split.value,
        source: source.value,
        ...(semanticThreshold.value !== null ? { semanticThreshold: semanticThreshold.value } : {}),
      })
      if (request !== requestCount) return
      data.value = result
      loadError.value = null
    } catch (error) {
      if (request === requestCount) loadError.value = (error as Error).message
    } finally {
      if (request === requestCount) loading.value = false
    }
  }

  function update(patch: {
    target?: number
    split?: number
    source?: PlanSource
    semanticThreshold?: number | null
  }): void {
    if (patch.target !== undefined) target.value = patch.target
    if (patch.split !== undefined) split.value = patch.split
    if (patch.source !== undefined) source.value = patch.source
    if (patch.semanticThreshold !== undefined) semanticThreshold.value = patch.semanticThreshold
    void refresh()
  }

  function namespaceId(): number {
    if (cache.selectedId === null) throw new Error('No namespace selected')
    return cache.selectedId
  }

  async function startEmbedding(): Promise<Job> {
    const { job } = await api.call('cache.plan.embed', { namespaceId: namespaceId() })
    embedding.track(job)
    return job
  }

  async function prewarmPlanned(chosen?: PrewarmTarget): Promise<Job> {
    const keys = data.value?.budget.missingKeys ?? []
    if (keys.length === 0) throw new Error('Nothing to pre-warm')
    const { job } = await api.call('cache.prewarm', {
      namespaceId: namespaceId(),
      top: keys.length,
      keys,
      ...(chosen ? { target: chosen } : {}),
    })
    prewarm.track(job)
    return job
  }

  /** "Approve these N drafts": the planned drafts, by id. */
  async function approvePlannedDrafts(): Promise<number> {
    const ids = data.value?.budget.draftIds ?? []
    if (ids.length === 0) return 0
    const { affected } = await api.call('cache.entries.bulk', {
      filter: { namespaceId: namespaceId(), ids },
      action: 'approve',
    })
    await refresh({ quiet: true })
    return affected
  }

  /** Another namespace: its own plan and jobs (the inputs stay, as an operator compares namespaces). */
  function reset(): void {
    requestCount++
    data.value = null
    loadError.value = null
    embedding.clear()
    prewarm.clear()
  }

  return {
    target,
    split,
    source,
    semanticThreshold,
    data,
    loading,
    loadError,
    embeddingJob: embedding.job,
    prewarmJob: prewarm.job,
    refresh,
    reset,
    update,
    startEmbedding,
    prewarmPlanned,
    approvePlannedDrafts,
    resync: () => Promise.all([refresh({ quiet: true }), embedding.resync(), prewarm.resync()]),
  }
})
