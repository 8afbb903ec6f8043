import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type {
  Dataset,
  DatasetExample,
  DatasetSource,
  DatasetVersion,
  Job,
  MethodInput,
  SourceSummary,
} from '../../../../shared/contract'
import { api } from '../../api'

export type TeachRequest = Omit<MethodInput<'distill.teach'>, 'datasetId'>
export type JudgeRequest = Omit<MethodInput<'distill.judge'>, 'datasetId'>
export type ExampleState = DatasetExample['state']

/**
 * Distillation datasets: the list, the selected dataset with its versions, one page of its examples for review
 * (state filter, search), the teacher/judge job in progress (kept live from `job.updated`), and the actions.
 */
export const useDistillDatasetsStore = defineStore('distill-datasets', () => {
  const datasets = ref<Dataset[]>([])
  const selectedId = ref<number | null>(null)
  const versions = ref<DatasetVersion[]>([])
  const examples = ref<DatasetExample[]>([])
  const total = ref(0)
  const page = ref(1)
  const pageSize = ref(20)
  const stateFilter = ref<ExampleState | null>(null)
  const search = ref('')
  const job = ref<Job | null>(null)
  const error = ref<string | null>(null)
  const lastSource = ref<SourceSummary | null>(null)
  const busy = ref(false)

  const selected = computed(() => datasets.value.find((dataset) => dataset.id === selectedId.value) ?? null)

  async function guard<T>(work: () => Promise<T>): Promise<T | undefined> {
    busy.value = true
    try {
      const result = await work()
      error.value = null
      return result
    } catch (caught) {
      error.value = (caught as Error).message
      return undefined
    } finally {
      busy.value = false
    }
  }

  async function refresh(): Promise<void> {
    await guard(async () => {
      datasets.value = (await api.call('distill.datasets.list', {})).items
      if (selectedId.value === null && datasets.value.length > 0) selectedId.value = datasets.value[0]!.id
      if (selectedId.value !== null) await loadSelected()
    })
  }

  async function loadSelected(): Promise<void> {
    const id = selectedId.value
    if (id === null) return
    const [detail, page_] = await Promise.all([
      api.call('distill.datasets.get', { datasetId: id }),
      api.call('distill.datasets.examples', {
        datasetId: id,
        limit: pageSize.value,
        offset: (page.value - 1) * pageSize.value,
        ...(stateFilter.value ? { state: stateFilter.value } : {}),
        ...(search.value.trim() ? { search: search.value.trim() } : {}),
      }),
    ])
    if (selectedId.value !== id) return
    datasets.value = datasets.value.map((dataset) => (dataset.id === id ? detail.dataset : dataset))
    versions.value = detail.versions
    examples.value = page_.items
    total.value = page_.total
  }

  async function select(id: number): Promise<void> {
    selectedId.value = id
    page.value = 1
    await guard(loadSelected)
  }

  async function create(name: string): Promise<void> {
    const dataset = await guard(() => api.call('distill.datasets.create', { name }))
    if (!dataset) return
    datasets.value = [dataset, ...datasets.value]
    await select(dataset.id)
  }

  async function addSource(source: DatasetSource): Promise<void> {
    if (selectedId.value === null) return
    const summary = await guard(() => api.call('distill.datasets.addSource', { datasetId: selectedId.value!, source }))
    if (summary) lastSource.value = summary
    await guard(loadSelected)
  }

  async function startJob(
    method: 'distill.teach' | 'distill.judge',
    input: TeachRequest | JudgeRequest,
  ): Promise<void> {
    if (selectedId.value === null) return
    const started = await guard(() => api.call(method, { ...input, datasetId: selectedId.value! } as never))
    if (started) job.value = (started as { job: Job }).job
  }

  async function review(ids: number[], action: 'approve' | 'reject' | 'reset'): Promise<void> {
    if (selectedId.value === null || ids.length === 0) return
    await guard(() => api.call('distill.datasets.review', { datasetId: selectedId.value!, ids, action }))
    await guard(loadSelected)
  }

  async function edit(id: number, answer: string): Promise<void> {
    await guard(() => api.call('distill.datasets.edit', { id, answer }))
    await guard(loadSelected)
  }

  async function freeze(note: string): Promise<void> {
    if (selectedId.value === null) return
    await guard(() => api.call('distill.datasets.freeze', { datasetId: selectedId.value!, ...(note ? { note } : {}) }))
    await guard(loadSelected)
  }

  async function exportVersion(versionId: number, format: 'openai' | 'sharegpt' | 'alpaca') {
    return guard(() => api.call('distill.datasets.export', { versionId, format }))
  }

  api.on('job.updated', (updated) => {
    if (job.value?.id !== updated.id) return
    job.value = updated
    if (updated.status !== 'queued' && updated.status !== 'running') void guard(loadSelected)
  })

  return {
    datasets,
    selectedId,
    selected,
    versions,
    examples,
    total,
    page,
    pageSize,
    stateFilter,
    search,
    job,
    error,
    lastSource,
    busy,
    refresh,
    loadSelected: () => guard(loadSelected),
    select,
    create,
    addSource,
    startJob,
    review,
    edit,
    freeze,
    exportVersion,
  }
})
