import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { CacheEntry, EntryVersion, MethodInput, MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'

export type EntryPatch = Omit<MethodInput<'cache.entries.update'>, 'id'>
/** Other entries for the same prompt with other answer-changing parameters. */
export type EntrySibling = MethodOutput<'cache.entries.get'>['siblings'][number]

/** The entry drawer: one entry with its version history, edited in place. */
export const useCacheEntryStore = defineStore('cache-entry', () => {
  const entryId = ref<number | null>(null)
  const entry = ref<CacheEntry | null>(null)
  const versions = ref<EntryVersion[]>([])
  const siblings = ref<EntrySibling[]>([])
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const saving = ref(false)
  let generation = 0

  async function refresh(): Promise<void> {
    const id = entryId.value
    if (id === null) return
    const current = generation
    loading.value = entry.value === null
    try {
      const result = await api.call('cache.entries.get', { id })
      if (current !== generation) return
      entry.value = result.entry
      versions.value = [...result.versions].sort((a, b) => b.version - a.version)
      siblings.value = result.siblings
      loadError.value = null
    } catch (error) {
      if (current === generation) loadError.value = (error as Error).message
    } finally {
      if (current === generation) loading.value = false
    }
  }

  api.on('cache.changed', ({ namespaceId }) => {
    if (entry.value && entry.value.namespaceId === namespaceId && !saving.value) void refresh()
  })

  function open(id: number, known?: CacheEntry): Promise<void> {
    generation += 1
    entryId.value = id
    entry.value = known ?? null
    versions.value = []
    siblings.value = []
    loadError.value = null
    return refresh()
  }

  function close(): void {
    generation += 1
    entryId.value = null
    entry.value = null
    versions.value = []
    siblings.value = []
  }

  async function update(patch: EntryPatch): Promise<CacheEntry> {
    const id = entryId.value
    if (id === null) throw new Error('No entry is open')
    saving.value = true
    try {
      entry.value = await api.call('cache.entries.update', { id, ...patch })
      await refresh()
      return entry.value
    } finally {
      saving.value = false
    }
  }

  async function revert(version: number): Promise<CacheEntry> {
    const id = entryId.value
    if (id === null) throw new Error('No entry is open')
    saving.value = true
    try {
      entry.value = await api.call('cache.entries.revert', { id, version })
      await refresh()
      return entry.value
    } finally {
      saving.value = false
    }
  }

  return { entryId, entry, versions, siblings, loading, loadError, saving, open, close, refresh, update, revert }
})
