import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { DistillRun, Job, MethodInput, MethodOutput, TrainPointView } from '../../../../shared/contract'
import { api } from '../../api'
import { isActive } from '../jobs/shared'

export type TrainRequest = MethodInput<'distill.train'>
export type RunDetail = MethodOutput<'distill.run'>
export type DataCheck = MethodOutput<'distill.checkData'>
export type Checkpoint = RunDetail['checkpoints'][number]

/**
 * The Distillation area: training runs (newest first), the selected run with its curves and checkpoints kept live
 * from `distill.points` / `distill.changed`, the dataset check behind the form, and starting a run.
 */
export const useDistillationStore = defineStore('distillation', () => {
  const runs = ref<DistillRun[]>([])
  const loaded = ref(false)
  const loadError = ref<string | null>(null)
  const selectedId = ref<number | null>(null)
  const detail = ref<RunDetail | null>(null)
  const detailError = ref<string | null>(null)
  const starting = ref(false)
  const cancelling = ref(false)

  const selected = computed(() => runs.value.find((run) => run.id === selectedId.value) ?? detail.value?.run ?? null)
  const activeRun = computed(() => runs.value.find((run) => isActive(run)) ?? null)

  async function refresh(): Promise<void> {
    try {
      runs.value = (await api.call('distill.runs', { limit: 50 })).items
      loadError.value = null
      loaded.value = true
      if (selectedId.value === null && runs.value.length > 0) await select(runs.value[0]!.id)
    } catch (error) {
      loadError.value = (error as Error).message
    }
  }

  let detailRequest = 0
  async function loadDetail(id: number): Promise<void> {
    const request = ++detailRequest
    try {
      const result = await api.call('distill.run', { id, maxPoints: 1500 })
      if (request !== detailRequest || selectedId.value !== id) return
      detail.value = result
      detailError.value = null
    } catch (error) {
      if (request === detailRequest) detailError.value = (error as Error).message
    }
  }

  async function select(id: number): Promise<void> {
    if (selectedId.value !== id) detail.value = null
    selectedId.value = id
    await loadDetail(id)
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  function scheduleRefresh(): void {
    if (refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void refresh()
      if (selectedId.value !== null) void loadDetail(selectedId.value)
    }, 200)
  }

  api.on('distill.points', ({ runId, points }) => {
    if (runId !== selectedId.value || !detail.value) return
    const known = detail.value.points
    const lastStep = known.length > 0 ? known[known.length - 1]!.step : -1
    const fresh = points.filter((point: TrainPointView) => point.step >= lastStep)
    detail.value = { ...detail.value, points: [...known, ...fresh] }
  })
  api.on('distill.changed', () => scheduleRefresh())
  api.on('job.updated', (job: Job) => {
    const run = runs.value.find((candidate) => candidate.jobId === job.id)
    if (!run) return
    if (run.status !== job.status) scheduleRefresh()
    runs.value = runs.value.map((candidate) =>
      candidate.id === run.id
        ? {
            ...candidate,
            status: job.status,
            progress: job.progress,
            progressMessage: job.progressMessage,
            error: job.error,
          }
        : candidate,
    )
  })

  async function start(request: TrainRequest): Promise<DistillRun> {
    starting.value = true
    try {
      const { run } = await api.call('distill.train', request)
      await refresh()
      await select(run.id)
      return run
    } finally {
      starting.value = false
    }
  }

  async function cancel(run: DistillRun): Promise<void> {
    if (!run.jobId || !isActive(run)) return
    cancelling.value = true
    try {
      await api.call('jobs.cancel', { id: run.jobId })
      scheduleRefresh()
    } finally {
      cancelling.value = false
    }
  }

  function checkData(path: string, valPercent: number): Promise<DataCheck> {
    return api.call('distill.checkData', { path, valPercent })
  }

  return {
    runs,
    loaded,
    loadError,
    selectedId,
    selected,
    detail,
    detailError,
    activeRun,
    starting,
    cancelling,
    refresh,
    select,
    start,
    cancel,
    checkData,
    resync: async () => {
      await refresh()
      if (selectedId.value !== null) await loadDetail(selectedId.value)
    },
  }
})
