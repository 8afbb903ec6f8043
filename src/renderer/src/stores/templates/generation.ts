import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import type { GenerationRun, Job, MethodInput, MethodOutput } from '../../../../shared/contract'
import { ApiError, api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'
import { isActive } from '../jobs/shared'
import { useTemplatesStore } from '.'
import { useTemplateFamilyStore } from './family'

export type GenerationPlan = MethodOutput<'templates.plan'>
export type GenerationRequest = Omit<MethodInput<'templates.generate'>, 'familyId' | 'confirmLargeGrid'>

/** The backend refused a large grid until the operator confirms: its message says how many calls it would make. */
export class LargeGridError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LargeGridError'
  }
}

/**
 * Generation of a family's variants: the plan (how many calls, for which segments), the job with its progress and
 * cancel, and the runs with tokens and time per segment. While the job answers, the review grid and the runs refresh
 * every moment, so variants show up as they are generated.
 */
export const useTemplateGenerationStore = defineStore('template-generation', () => {
  const familyStore = useTemplateFamilyStore()
  const templatesStore = useTemplatesStore()
  const familyId = ref<number | null>(null)
  const runs = ref<GenerationRun[]>([])
  const runsError = ref<string | null>(null)
  const plan = ref<GenerationPlan | null>(null)
  const planError = ref<string | null>(null)
  const cancelling = ref(false)
  /** The family the tracked job generates for. */
  const jobFamilyId = ref<number | null>(null)

  const slot = createJobSlot(() => {
    void refreshRuns()
    void familyStore.resync()
  })

  let runsRequest = 0
  async function refreshRuns(): Promise<void> {
    const id = familyId.value
    if (id === null) return
    const request = ++runsRequest
    try {
      const result = await api.call('templates.runs.list', { familyId: id, limit: 20 })
      if (request !== runsRequest) return
      runs.value = result.items
      runsError.value = null
    } catch (error) {
      if (request === runsRequest) runsError.value = (error as Error).message
    }
  }

  /** Picks up a generation still running for this family (started before the page opened, or elsewhere). */
  async function adoptRunningJob(): Promise<void> {
    const running = runs.value.find((run) => run.status === 'running' && run.jobId !== null)
    if (!running || running.jobId === null || slot.job.value?.id === running.jobId) return
    try {
      const job = await api.call('jobs.get', { id: running.jobId })
      if (isActive(job) && familyId.value === running.familyId) {
        jobFamilyId.value = running.familyId
        slot.track(job)
      }
    } catch {
      // The Jobs page shows it either way.
    }
  }

  async function open(id: number | null): Promise<void> {
    if (id === familyId.value) {
      await refreshRuns()
      await adoptRunningJob()
      return
    }
    familyId.value = id
    runs.value = []
    plan.value = null
    planError.value = null
    if (jobFamilyId.value !== id && !isActive(slot.job.value)) slot.clear()
    await refreshRuns()
    await adoptRunningJob()
  }

  let planRequest = 0
  async function refreshPlan(request: GenerationRequest): Promise<void> {
    const id = familyId.value
    if (id === null) return
    const current = ++planRequest
    try {
      const result = await api.call('templates.plan', { familyId: id, ...request })
      if (current !== planRequest) return
      plan.value = result
      planError.value = null
    } catch (error) {
      if (current === planRequest) {
        plan.value = null
        planError.value = (error as Error).message
      }
    }
  }

  /**
   * Starts the job. A grid large enough to need confirmation rejects with `LargeGridError` (the backend's message)
   * until it is called again with `confirmLargeGrid`.
   */
  async function start(request: GenerationRequest, confirmLargeGrid = false): Promise<Job> {
    const id = familyId.value
    if (id === null) throw new Error('No template family selected')
    try {
      const { job } = await api.call('templates.generate', { familyId: id, ...request, confirmLargeGrid })
      jobFamilyId.value = id
      slot.track(job)
      void refreshRuns()
      return job
    } catch (error) {
      if (error instanceof ApiError && error.code === 'conflict' && error.path?.[0] === 'confirmLargeGrid') {
        throw new LargeGridError(error.message)
      }
      throw error
    }
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

  // A run started elsewhere (the command line) announces itself when it ends.
  api.on('templates.changed', ({ familyId: changed, removed }) => {
    if (changed === familyId.value && !removed) void refreshRuns()
  })

  // Answers are saved as they arrive but announced only at the end: follow the job's progress instead.
  let progressTimer: ReturnType<typeof setTimeout> | undefined
  watch(
    () => slot.job.value?.progressMessage,
    () => {
      const job = slot.job.value
      if (!job || !isActive(job) || progressTimer !== undefined) return
      progressTimer = setTimeout(() => {
        progressTimer = undefined
        void refreshRuns()
        void templatesStore.refresh({ quiet: true })
        if (jobFamilyId.value === familyStore.familyId) familyStore.scheduleRefresh(0)
      }, 500)
    },
  )

  return {
    familyId,
    job: slot.job,
    jobFamilyId,
    runs,
    runsError,
    plan,
    planError,
    cancelling,
    open,
    refreshRuns,
    refreshPlan,
    start,
    cancel,
    resync: async () => {
      await Promise.all([slot.resync(), refreshRuns()])
      await adoptRunningJob()
    },
  }
})
