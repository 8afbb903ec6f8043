import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'
import { blankDefinition, cloneJson } from './graph'

export type PipelineSummary = MethodOutput<'pipelines.list'>['items'][number]
export type Starter = MethodOutput<'pipelines.starters'>['items'][number]
export type SaveResult = MethodOutput<'pipelines.save'>

/** The Pipelines page's list: saved pipelines with their last run, the starters, create / import / export / delete. */
export const usePipelinesStore = defineStore('pipelines', () => {
  const items = ref<PipelineSummary[]>([])
  const starters = ref<Starter[]>([])
  const loading = ref(false)
  const loaded = ref(false)
  const loadError = ref<string | null>(null)

  let request = 0
  async function refresh(options: { quiet?: boolean } = {}): Promise<void> {
    const current = ++request
    if (!options.quiet) loading.value = true
    try {
      const [list, starterList] = await Promise.all([
        api.call('pipelines.list'),
        starters.value.length > 0 ? Promise.resolve({ items: starters.value }) : api.call('pipelines.starters'),
      ])
      if (current !== request) return
      items.value = list.items
      starters.value = starterList.items
      loadError.value = null
      loaded.value = true
    } catch (error) {
      if (current === request) loadError.value = (error as Error).message
    } finally {
      if (current === request) loading.value = false
    }
  }

  /** A new pipeline named `name`: blank (an Input and an Output) or a copy of a starter. */
  async function create(name: string, starterKey: string | null): Promise<SaveResult> {
    const starter = starters.value.find((candidate) => candidate.key === starterKey)
    const definition = starter ? { ...cloneJson(starter.definition), name } : blankDefinition(name)
    const result = await api.call('pipelines.save', {
      definition,
      note: starter ? `from the ${starter.key} starter` : 'created',
    })
    void refresh({ quiet: true })
    return result
  }

  /**
   * Imports a pipeline file's text. When `name` is given and the text is a JSON object, the pipeline is saved under
   * that name; anything else goes to the backend as it is, so that its message says what is wrong with the file.
   */
  async function importText(text: string, name?: string): Promise<SaveResult> {
    let definition: unknown = text
    try {
      const parsed = JSON.parse(text) as unknown
      definition = parsed
      if (name && typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        definition = { ...(parsed as Record<string, unknown>), name }
      }
    } catch {
      // Not JSON: the backend says so, with the parser's message.
    }
    const result = await api.call('pipelines.import', { definition })
    void refresh({ quiet: true })
    return result
  }

  /** The pipeline file (the documented JSON format) and a file name for it. */
  async function exportFile(id: number, version?: number): Promise<{ fileName: string; text: string }> {
    const { definition } = await api.call('pipelines.export', { id, ...(version ? { version } : {}) })
    const name = typeof definition.name === 'string' ? definition.name : `pipeline-${id}`
    return { fileName: `${name}.pipeline.json`, text: `${JSON.stringify(definition, null, 2)}\n` }
  }

  async function remove(id: number): Promise<void> {
    await api.call('pipelines.remove', { id })
    items.value = items.value.filter((item) => item.id !== id)
    void refresh({ quiet: true })
  }

  return { items, starters, loading, loaded, loadError, refresh, create, importText, exportFile, remove }
})
