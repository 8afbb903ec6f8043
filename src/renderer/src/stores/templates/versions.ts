import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { MethodOutput, VersionDiff } from '../../../../shared/contract'
import { api } from '../../api'

export type VersionSummary = MethodOutput<'templates.versions.list'>['items'][number]
export type Version = MethodOutput<'templates.versions.get'>

/**
 * Published versions of a family: the list, publishing the approved variants as the next version, diffs between
 * versions (or a version and what publishing now would give), and the published version itself for the preview.
 */
export const useTemplateVersionsStore = defineStore('template-versions', () => {
  const familyId = ref<number | null>(null)
  const items = ref<VersionSummary[]>([])
  const loadError = ref<string | null>(null)
  const diff = ref<VersionDiff | null>(null)
  const diffLoading = ref(false)
  const diffError = ref<string | null>(null)
  const publishing = ref(false)
  /** Published versions fetched for the preview, by number (they never change). */
  const fetched = ref<Record<number, Version>>({})

  let listRequest = 0
  async function refresh(): Promise<void> {
    const id = familyId.value
    if (id === null) return
    const request = ++listRequest
    try {
      const result = await api.call('templates.versions.list', { familyId: id })
      if (request !== listRequest) return
      items.value = result.items
      loadError.value = null
    } catch (error) {
      if (request === listRequest) loadError.value = (error as Error).message
    }
  }

  // A publish from the command line shows up here too.
  api.on('templates.changed', ({ familyId: changed, removed }) => {
    if (changed === familyId.value && !removed) void refresh()
  })

  async function open(id: number | null): Promise<void> {
    if (id === familyId.value) {
      await refresh()
      return
    }
    familyId.value = id
    items.value = []
    diff.value = null
    diffError.value = null
    fetched.value = {}
    await refresh()
  }

  async function publish(note: string): Promise<VersionSummary> {
    const id = familyId.value
    if (id === null) throw new Error('No template family selected')
    publishing.value = true
    try {
      const version = await api.call('templates.publish', {
        familyId: id,
        ...(note.trim() ? { note: note.trim() } : {}),
      })
      await refresh()
      return version
    } finally {
      publishing.value = false
    }
  }

  /** Compares two versions, or a version with the approved variants now (`working`). */
  async function compare(from: number, to: number | 'working'): Promise<VersionDiff | null> {
    const id = familyId.value
    if (id === null) return null
    diffLoading.value = true
    try {
      const result = await api.call('templates.versions.diff', { familyId: id, from, to })
      if (familyId.value !== id) return null
      diff.value = result
      diffError.value = null
      return result
    } catch (error) {
      diff.value = null
      diffError.value = (error as Error).message
      return null
    } finally {
      diffLoading.value = false
    }
  }

  /** A published version with its definition and variants (cached: a version never changes). */
  async function version(number: number): Promise<Version> {
    const id = familyId.value
    if (id === null) throw new Error('No template family selected')
    const known = fetched.value[number]
    if (known) return known
    const result = await api.call('templates.versions.get', { familyId: id, version: number })
    if (familyId.value === id) fetched.value = { ...fetched.value, [number]: result }
    return result
  }

  return {
    familyId,
    items,
    loadError,
    diff,
    diffLoading,
    diffError,
    publishing,
    fetched,
    open,
    refresh,
    publish,
    compare,
    version,
  }
})
