import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { CdnExport, Job, MethodInput, MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'
import { isActive } from '../jobs/shared'

export type ExportPlan = MethodOutput<'export.plan'>
export type ExportFilters = MethodInput<'export.plan'>
export type ExportRequest = MethodInput<'export.cdn'>

/** What the export job returns (src/backend/export/service.ts). */
export interface ExportOutcome {
  outDir: string
  tarPath: string | null
  version: number
  manifestHash: string
  previousManifestHash: string | null
  incremental: boolean
  counts: CdnExport['counts']
}

export function isExportOutcome(value: unknown): value is ExportOutcome {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return (
    typeof candidate.outDir === 'string' &&
    typeof candidate.manifestHash === 'string' &&
    typeof candidate.counts === 'object' &&
    candidate.counts !== null
  )
}

/**
 * The CDN export: what a bundle would hold with the chosen filters (published families, approved cache entries per
 * namespace), the export job with its progress, and the earlier exports of this workspace (the base for an
 * incremental one).
 */
export const useExportStore = defineStore('cdn-export', () => {
  const plan = ref<ExportPlan | null>(null)
  const planError = ref<string | null>(null)
  const planLoading = ref(false)
  const history = ref<CdnExport[]>([])
  const historyError = ref<string | null>(null)
  const cancelling = ref(false)
  const slot = createJobSlot(() => void refreshHistory())

  let planRequest = 0
  async function refreshPlan(filters: ExportFilters = {}): Promise<void> {
    const request = ++planRequest
    planLoading.value = true
    try {
      const result = await api.call('export.plan', filters)
      if (request !== planRequest) return
      plan.value = result
      planError.value = null
    } catch (error) {
      if (request === planRequest) planError.value = (error as Error).message
    } finally {
      if (request === planRequest) planLoading.value = false
    }
  }

  async function refreshHistory(): Promise<void> {
    try {
      history.value = (await api.call('export.list', { limit: 20 })).items
      historyError.value = null
    } catch (error) {
      historyError.value = (error as Error).message
    }
  }

  /** Starts the export job; the backend refuses a folder that is not empty or not writable before a job exists. */
  async function start(request: ExportRequest): Promise<Job> {
    const { job } = await api.call('export.cdn', request)
    slot.track(job)
    return job
  }

  async function cancel(): Promise<void> {
    const job = slot.job.value
    if (!job || !isActive(job)) return
    cancelling.value = true
    try {
      slot.track(await api.call('jobs.cancel', { id: job.id }))
    } finally {
      cancelling.value = false
    }
  }

  return {
    plan,
    planError,
    planLoading,
    history,
    historyError,
    cancelling,
    job: slot.job,
    refreshPlan,
    refreshHistory,
    start,
    cancel,
    resync: () => Promise.all([slot.resync(), refreshHistory()]),
  }
})
