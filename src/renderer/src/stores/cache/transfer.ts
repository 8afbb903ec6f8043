import { defineStore } from 'pinia'
import type { CacheEntry, Job, MethodInput } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'
import { useCacheStore } from '.'

export type LogFormat = NonNullable<MethodInput<'cache.log.import'>['format']>

/** Moving data in and out of a namespace: request-log imports, entry imports and exports, each a job. */
export const useCacheTransferStore = defineStore('cache-transfer', () => {
  const cache = useCacheStore()
  const importLog = createJobSlot()
  const importEntries = createJobSlot()
  const exportEntries = createJobSlot()

  function namespaceId(): number {
    if (cache.selectedId === null) throw new Error('No namespace selected')
    return cache.selectedId
  }

  async function startImportLog(path: string, format?: LogFormat): Promise<Job> {
    const { job } = await api.call('cache.log.import', {
      namespaceId: namespaceId(),
      path,
      ...(format ? { format } : {}),
    })
    importLog.track(job)
    return job
  }

  async function startImportEntries(path: string): Promise<Job> {
    const { job } = await api.call('cache.import', { namespaceId: namespaceId(), path })
    importEntries.track(job)
    return job
  }

  async function startExportEntries(path: string, state?: CacheEntry['state'][]): Promise<Job> {
    const { job } = await api.call('cache.export', {
      namespaceId: namespaceId(),
      path,
      ...(state && state.length > 0 ? { state } : {}),
    })
    exportEntries.track(job)
    return job
  }

  return {
    importLogJob: importLog.job,
    importEntriesJob: importEntries.job,
    exportEntriesJob: exportEntries.job,
    startImportLog,
    startImportEntries,
    startExportEntries,
    resync: () => Promise.all([importLog.resync(), importEntries.resync(), exportEntries.resync()]),
  }
})
