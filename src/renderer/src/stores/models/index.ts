import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { EventPayload, Job, MethodInput, MethodOutput, Model, ProviderConfig } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'

export type ModelSystem = MethodOutput<'models.system'>
export type LoadOptions = Omit<MethodInput<'models.load'>, 'id'>
export type ProviderInput = MethodInput<'providers.save'>
export type QuantizationType = MethodInput<'gguf.quantize'>['type']
export type WorkerStop = EventPayload<'models.worker'> & { at: number }
export type ProviderTest = MethodOutput<'providers.test'>

/**
 * The Models area: the library (registered GGUF files, their header summaries and load state), the machine the
 * models run on, OpenAI-compatible providers, and the download / quantize / compare jobs started from the page.
 * Kept live from `models.changed`; `models.worker` reports a worker that stopped and took its models with it.
 */
export const useModelsStore = defineStore('models', () => {
  const items = ref<Model[]>([])
  const libraryDir = ref('')
  const loading = ref(false)
  const loaded = ref(false)
  const loadError = ref<string | null>(null)
  /** Models with a load, unload or removal in flight. */
  const busy = ref<Record<number, 'load' | 'unload' | 'remove'>>({})

  const system = ref<ModelSystem | null>(null)
  const probingGpu = ref(false)
  const gpuError = ref<string | null>(null)

  const providers = ref<ProviderConfig[]>([])
  const providersError = ref<string | null>(null)

  /** The last time the model worker stopped; the page turns it into a notification. */
  const workerStop = ref<WorkerStop | null>(null)

  const pull = createJobSlot(() => void refresh())
  const quantize = createJobSlot(() => void refresh())
  const compare = createJobSlot()
  /** The model the quantize job started from (its result names the new one). */
  const quantizeSourceId = ref<number | null>(null)

  const loadedModels = computed(() => items.value.filter((model) => model.loaded !== null))

  let requestCount = 0
  async function refresh(options: { quiet?: boolean } = {}): Promise<void> {
    const request = ++requestCount
    if (!options.quiet) loading.value = true
    try {
      const result = await api.call('models.list')
      if (request !== requestCount) return
      items.value = result.items
      libraryDir.value = result.libraryDir
      loadError.value = null
      loaded.value = true
    } catch (error) {
      if (request === requestCount) loadError.value = (error as Error).message
    } finally {
      if (request === requestCount) loading.value = false
    }
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  function scheduleRefresh(): void {
    if (!loaded.value || refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void refresh({ quiet: true })
    }, 150)
  }

  api.on('models.changed', ({ id, removed }) => {
    if (removed) items.value = items.value.filter((model) => model.id !== id)
    scheduleRefresh()
  })
  api.on('models.worker', (stop) => {
    workerStop.value = { ...stop, at: Date.now() }
    scheduleRefresh()
  })

  async function refreshSystem(): Promise<void> {
    try {
      const info = await api.call('models.system', { probeGpu: false })
      // Keep a GPU probe's answer: the quick call does not ask the worker.
      system.value = { ...info, gpu: system.value?.gpu ?? null }
    } catch {
      // Defaults in the load form fall back to 1 thread; the page still works.
    }
  }

  async function probeGpu(): Promise<void> {
    probingGpu.value = true
    gpuError.value = null
    try {
      system.value = await api.call('models.system', { probeGpu: true })
    } catch (error) {
      gpuError.value = (error as Error).message
    } finally {
      probingGpu.value = false
    }
  }

  async function refreshProviders(): Promise<void> {
    try {
      providers.value = (await api.call('providers.list')).items
      providersError.value = null
    } catch (error) {
      providersError.value = (error as Error).message
    }
  }

  function replace(model: Model): void {
    const index = items.value.findIndex((item) => item.id === model.id)
    if (index >= 0) items.value.splice(index, 1, model)
    else items.value.push(model)
  }

  async function withBusy<T>(id: number, what: 'load' | 'unload' | 'remove', work: () => Promise<T>): Promise<T> {
    busy.value = { ...busy.value, [id]: what }
    try {
      return await work()
    } finally {
      const { [id]: _done, ...rest } = busy.value
      busy.value = rest
    }
  }

  async function register(path: string, name?: string): Promise<Model> {
    const model = await api.call('models.register', { path, ...(name ? { name } : {}) })
    replace(model)
    return model
  }

  async function scan(): Promise<MethodOutput<'models.scan'>> {
    const result = await api.call('models.scan', {})
    await refresh({ quiet: true })
    return result
  }

  async function unregister(id: number, deleteFile: boolean): Promise<boolean> {
    return withBusy(id, 'remove', async () => {
      const { deletedFile } = await api.call('models.unregister', { id, deleteFile })
      items.value = items.value.filter((model) => model.id !== id)
      return deletedFile
    })
  }

  async function load(id: number, options: LoadOptions): Promise<Model> {
    return withBusy(id, 'load', async () => {
      const model = await api.call('models.load', { id, ...options })
      replace(model)
      return model
    })
  }

  async function unload(id: number): Promise<Model> {
    return withBusy(id, 'unload', async () => {
      const model = await api.call('models.unload', { id })
      replace(model)
      return model
    })
  }

  async function startPull(uri: string, name?: string): Promise<Job> {
    const { job } = await api.call('models.pull', { uri, ...(name ? { name } : {}) })
    pull.track(job)
    return job
  }

  async function startQuantize(
    id: number,
    type: QuantizationType,
    name?: string,
    options: Omit<MethodInput<'gguf.quantize'>, 'id' | 'type' | 'name' | 'evaluate'> = {},
  ): Promise<Job> {
    const { job } = await api.call('gguf.quantize', { id, type, ...(name ? { name } : {}), evaluate: true, ...options })
    quantizeSourceId.value = id
    compare.clear()
    quantize.track(job)
    return job
  }

  /** Compares on `text` (default: the backend's sample text), scoring up to `maxPositions` tokens. */
  async function startCompare(
    originalId: number,
    quantizedId: number,
    text?: string,
    maxPositions = 2048,
  ): Promise<Job> {
    const { job } = await api.call('gguf.compare', { originalId, quantizedId, maxPositions, ...(text ? { text } : {}) })
    compare.track(job)
    return job
  }

  async function saveProvider(input: ProviderInput): Promise<ProviderConfig> {
    const saved = await api.call('providers.save', input)
    await refreshProviders()
    return saved
  }

  /** Asks the endpoint for a tiny completion: whether it answers, how fast, or why not. */
  async function testProvider(id: number): Promise<ProviderTest> {
    return api.call('providers.test', { id })
  }

  async function removeProvider(id: number): Promise<void> {
    await api.call('providers.remove', { id })
    providers.value = providers.value.filter((provider) => provider.id !== id)
  }

  /** After missed events: everything the page shows, and the jobs still in flight. */
  async function resync(): Promise<void> {
    await Promise.all([
      refresh({ quiet: true }),
      refreshProviders(),
      refreshSystem(),
      pull.resync(),
      quantize.resync(),
      compare.resync(),
    ])
  }

  return {
    items,
    libraryDir,
    loading,
    loaded,
    loadError,
    busy,
    loadedModels,
    system,
    probingGpu,
    gpuError,
    providers,
    providersError,
    workerStop,
    pullJob: pull.job,
    quantizeJob: quantize.job,
    compareJob: compare.job,
    quantizeSourceId,
    refresh,
    refreshSystem,
    probeGpu,
    refreshProviders,
    register,
    scan,
    unregister,
    load,
    unload,
    startPull,
    startQuantize,
    startCompare,
    saveProvider,
    testProvider,
    removeProvider,
    resync,
  }
})
