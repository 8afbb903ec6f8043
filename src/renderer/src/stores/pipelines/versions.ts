import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'

export type PipelineVersion = MethodOutput<'pipelines.versions'>['items'][number]
export type PipelineDiff = MethodOutput<'pipelines.diff'>

/** The versions drawer: a pipeline's saved versions, the diff of two of them, and restoring one. */
export const usePipelineVersionsStore = defineStore('pipeline-versions', () => {
  const pipelineId = ref<number | null>(null)
  const items = ref<PipelineVersion[]>([])
  const loading = ref(false)
  const error = ref<string | null>(null)
  /** The two versions being compared, older first. */
  const picked = ref<number[]>([])
  const diff = ref<PipelineDiff | null>(null)
  const diffPair = ref<[number, number] | null>(null)
  const diffing = ref(false)
  const diffError = ref<string | null>(null)
  const restoring = ref<number | null>(null)

  let request = 0
  async function load(id: number): Promise<void> {
    const current = ++request
    if (pipelineId.value !== id) {
      items.value = []
      picked.value = []
      diff.value = null
      diffPair.value = null
    }
    pipelineId.value = id
    loading.value = true
    try {
      const result = await api.call('pipelines.versions', { id })
      if (current !== request) return
      items.value = result.items
      error.value = null
    } catch (cause) {
      if (current === request) error.value = (cause as Error).message
    } finally {
      if (current === request) loading.value = false
    }
  }

  /** Ticks a version for the diff; a third tick replaces the oldest pick. */
  function toggle(version: number): void {
    if (picked.value.includes(version)) picked.value = picked.value.filter((value) => value !== version)
    else picked.value = [...picked.value, version].slice(-2)
  }

  async function compare(): Promise<void> {
    if (pipelineId.value === null || picked.value.length !== 2) return
    const [from, to] = [...picked.value].sort((a, b) => a - b) as [number, number]
    diffing.value = true
    diffError.value = null
    try {
      diff.value = await api.call('pipelines.diff', { id: pipelineId.value, from, to })
      diffPair.value = [from, to]
    } catch (cause) {
      diffError.value = (cause as Error).message
    } finally {
      diffing.value = false
    }
  }

  /** Makes `version` current again (saved as a new version); returns the new version number. */
  async function restore(version: number): Promise<number> {
    if (pipelineId.value === null) throw new Error('No pipeline is open.')
    restoring.value = version
    try {
      const result = await api.call('pipelines.restore', { id: pipelineId.value, version })
      await load(pipelineId.value)
      return result.version
    } finally {
      restoring.value = null
    }
  }

  return {
    pipelineId,
    items,
    loading,
    error,
    picked,
    diff,
    diffPair,
    diffing,
    diffError,
    restoring,
    load,
    toggle,
    compare,
    restore,
  }
})
