import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { DatasetVersion, EvalInput, Evaluation, Job, Promotion } from '../../../../shared/contract'
import { api } from '../../api'

/**
 * Evaluations (students against their teacher, with the gate's verdicts) and promotions (history, rollback),
 * kept fresh from `distill.evalChanged` and the evaluation jobs' updates.
 */
export const useDistillEvalStore = defineStore('distill-eval', () => {
  const evaluations = ref<Evaluation[]>([])
  const promotions = ref<Promotion[]>([])
  const selectedId = ref<number | null>(null)
  const loadError = ref<string | null>(null)
  const rollingBack = ref<number | null>(null)
  const loaded = ref(false)

  const selected = computed(
    () => evaluations.value.find((evaluation) => evaluation.id === selectedId.value) ?? evaluations.value[0] ?? null,
  )

  async function refresh(): Promise<void> {
    try {
      const [list, history] = await Promise.all([
        api.call('distill.evaluations', { limit: 50 }),
        api.call('distill.promotions', { limit: 200 }),
      ])
      evaluations.value = list.items
      promotions.value = history.items
      loadError.value = null
      loaded.value = true
    } catch (error) {
      loadError.value = (error as Error).message
    }
  }

  let timer: ReturnType<typeof setTimeout> | undefined
  function scheduleRefresh(): void {
    if (timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      void refresh()
    }, 200)
  }
  api.on('distill.evalChanged', () => scheduleRefresh())
  api.on('job.updated', (job: Job) => {
    if (evaluations.value.some((evaluation) => evaluation.jobId === job.id)) scheduleRefresh()
  })

  async function rollback(promotion: Promotion): Promise<void> {
    rollingBack.value = promotion.id
    try {
      await api.call('distill.rollback', { id: promotion.id, actor: 'console' })
      await refresh()
    } finally {
      rollingBack.value = null
    }
  }

  /** Starts `distill.eval` and shows the new evaluation's report (pending until its job ends). */
  async function start(input: EvalInput): Promise<Evaluation> {
    const { evaluation } = await api.call('distill.eval', input)
    await refresh()
    selectedId.value = evaluation.id
    return evaluation
  }

  /** The frozen versions of a dataset, newest first, for the form's version picker. */
  async function versionsOf(datasetId: number): Promise<DatasetVersion[]> {
    return (await api.call('distill.datasets.get', { datasetId })).versions
  }

  return {
    evaluations,
    promotions,
    selectedId,
    selected,
    loadError,
    loaded,
    rollingBack,
    refresh,
    rollback,
    start,
    versionsOf,
  }
})
