import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'
import type {
  FamilyDefinitionInput,
  MethodOutput,
  TemplateFamily,
  TemplateFamilySummary,
} from '../../../../shared/contract'
import { api } from '../../api'

export type ImportResult = MethodOutput<'templates.import'>

const SELECTED_KEY = 'larder.templates.family'

/**
 * Template families: the list (with variant counts by state), the one the Templates page is looking at (remembered
 * across visits), and the definition changes: import of a family file, create, update, remove. Kept live from
 * `templates.changed`.
 */
export const useTemplatesStore = defineStore('templates', () => {
  const items = ref<TemplateFamilySummary[]>([])
  const loading = ref(false)
  const loaded = ref(false)
  const loadError = ref<string | null>(null)
  const selectedId = ref<number | null>(Number(localStorage.getItem(SELECTED_KEY)) || null)

  const selected = computed(() => items.value.find((family) => family.id === selectedId.value) ?? null)

  watch(selectedId, (id) => {
    if (id === null) localStorage.removeItem(SELECTED_KEY)
    else localStorage.setItem(SELECTED_KEY, String(id))
  })

  let requestCount = 0
  async function refresh(options: { quiet?: boolean } = {}): Promise<void> {
    const request = ++requestCount
    if (!options.quiet) loading.value = true
    try {
      const result = await api.call('templates.list')
      if (request !== requestCount) return
      items.value = result.items
      loadError.value = null
      loaded.value = true
      if (!items.value.some((family) => family.id === selectedId.value)) selectedId.value = items.value[0]?.id ?? null
    } catch (error) {
      if (request === requestCount) loadError.value = (error as Error).message
    } finally {
      if (request === requestCount) loading.value = false
    }
  }

  // Counts change with every review action and every generated answer; coalesce bursts into one refetch.
  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  function scheduleRefresh(): void {
    if (!loaded.value || refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void refresh({ quiet: true })
    }, 250)
  }
  api.on('templates.changed', ({ familyId, removed }) => {
    if (removed) items.value = items.value.filter((family) => family.id !== familyId)
    scheduleRefresh()
  })

  async function importText(text: string, replace: boolean): Promise<ImportResult> {
    const result = await api.call('templates.import', { text, replace })
    await refresh({ quiet: true })
    selectedId.value = result.family.id
    return result
  }

  async function create(definition: FamilyDefinitionInput): Promise<TemplateFamily> {
    const family = await api.call('templates.create', { definition })
    await refresh({ quiet: true })
    selectedId.value = family.id
    return family
  }

  async function update(
    id: number,
    definition: FamilyDefinitionInput,
    expectedRevision: number,
  ): Promise<TemplateFamily> {
    const family = await api.call('templates.update', { id, definition, expectedRevision })
    await refresh({ quiet: true })
    return family
  }

  async function remove(id: number): Promise<boolean> {
    const { removed } = await api.call('templates.remove', { id })
    items.value = items.value.filter((family) => family.id !== id)
    if (selectedId.value === id) selectedId.value = items.value[0]?.id ?? null
    return removed
  }

  return { items, loading, loaded, loadError, selectedId, selected, refresh, importText, create, update, remove }
})
