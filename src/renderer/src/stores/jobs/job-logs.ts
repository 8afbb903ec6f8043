import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { Job, JobLog } from '../../../../shared/contract'
import { api } from '../../api'
import { newerJob } from './shared'

const PAGE = 500
/** A log longer than this is shown from its end; the drawer is for reading, not archiving. */
const MAX_LINES = 5000

/** One job's details and log for the logs drawer, followed live from `job.updated` and `job.log`. */
export const useJobLogsStore = defineStore('job-logs', () => {
  const jobId = ref<number | null>(null)
  const job = ref<Job | null>(null)
  const bySeq = ref(new Map<number, JobLog>())
  const loading = ref(false)
  const error = ref<string | null>(null)
  let generation = 0
  let unsubscribes: (() => void)[] = []

  const lines = computed(() => [...bySeq.value.values()].sort((a, b) => a.seq - b.seq))
  const lastSeq = computed(() => lines.value.at(-1)?.seq ?? 0)

  function addLines(logs: JobLog[]): void {
    if (logs.length === 0) return
    const next = new Map(bySeq.value)
    for (const log of logs) next.set(log.seq, log)
    if (next.size > MAX_LINES) {
      const keep = [...next.keys()].sort((a, b) => a - b).slice(-MAX_LINES)
      bySeq.value = new Map(keep.map((seq) => [seq, next.get(seq)!]))
    } else {
      bySeq.value = next
    }
  }

  /** Reads the log from `afterSeq` on, page by page. */
  async function loadFrom(id: number, afterSeq: number, current: number): Promise<void> {
    let after = afterSeq
    for (;;) {
      const { items } = await api.call('jobs.logs', { id, limit: PAGE, ...(after > 0 ? { afterSeq: after } : {}) })
      if (current !== generation) return
      addLines(items)
      if (items.length < PAGE) return
      after = items.at(-1)!.seq
    }
  }

  async function refresh(): Promise<void> {
    const id = jobId.value
    if (id === null) return
    const current = generation
    loading.value = bySeq.value.size === 0
    try {
      const [detail] = await Promise.all([api.call('jobs.get', { id }), loadFrom(id, lastSeq.value, current)])
      if (current !== generation) return
      job.value = newerJob(job.value, detail)
      error.value = null
    } catch (cause) {
      if (current === generation) error.value = cause instanceof Error ? cause.message : String(cause)
    } finally {
      if (current === generation) loading.value = false
    }
  }

  function open(id: number, known?: Job): Promise<void> {
    close()
    jobId.value = id
    job.value = known ?? null
    // Subscribe before loading, so nothing written in between is missed (duplicates merge by seq).
    unsubscribes = [
      api.on('job.log', (log) => {
        if (log.jobId === id) addLines([log])
      }),
      api.on('job.updated', (update) => {
        if (update.id === id) job.value = newerJob(job.value, update)
      }),
    ]
    return refresh()
  }

  function close(): void {
    generation += 1
    for (const unsubscribe of unsubscribes) unsubscribe()
    unsubscribes = []
    jobId.value = null
    job.value = null
    bySeq.value = new Map()
    error.value = null
    loading.value = false
  }

  return { jobId, job, lines, loading, error, open, close, refresh }
})
