import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Job, JobStatus } from '../../../../shared/contract'
import { api } from '../../api'
import { RecentJobs, isActive, newerJob } from './shared'

/**
 * Jobs run by another process (the CLI) emit no events here, so the visible page is also refetched: every 2 s
 * while one of its jobs is queued or running, and every 5 s otherwise, so that a job started elsewhere shows up.
 */
export const ACTIVE_REFRESH_MS = 2000
export const IDLE_REFRESH_MS = 5000

/** The Jobs page: one server-side page of jobs, kept live from `job.updated` events. */
export const useJobsStore = defineStore('jobs', () => {
  const items = ref<Job[]>([])
  const total = ref(0)
  const page = ref(1)
  const pageSize = ref(20)
  const statusFilter = ref<JobStatus[]>([])
  const loading = ref(false)
  const loaded = ref(false)
  const loadError = ref<string | null>(null)
  const cancelling = ref<number[]>([])

  const recent = new RecentJobs()
  let requestCount = 0
  let highestIdSeen = 0
  let active = false
  let unsubscribe: (() => void) | undefined
  let pollTimer: ReturnType<typeof setTimeout> | undefined
  let pollDelay = 0
  let refreshTimer: ReturnType<typeof setTimeout> | undefined

  function matchesFilter(job: Job): boolean {
    return statusFilter.value.length === 0 || statusFilter.value.includes(job.status)
  }

  async function fetchPage(options: { quiet?: boolean } = {}): Promise<void> {
    const request = ++requestCount
    if (!options.quiet) loading.value = true
    try {
      const result = await api.call('jobs.list', {
        ...(statusFilter.value.length > 0 ? { status: [...statusFilter.value] } : {}),
        limit: pageSize.value,
        offset: (page.value - 1) * pageSize.value,
      })
      if (request !== requestCount) return
      const lastPage = Math.max(1, Math.ceil(result.total / pageSize.value))
      if (result.items.length === 0 && page.value > lastPage) {
        // The page we were on no longer exists (jobs went away, or the filter changed): show the last one.
        page.value = lastPage
        void fetchPage(options)
        return
      }
      items.value = result.items.map((job) => recent.latest(job))
      for (const job of result.items) highestIdSeen = Math.max(highestIdSeen, job.id)
      total.value = result.total
      loadError.value = null
      loaded.value = true
    } catch (error) {
      if (request !== requestCount) return
      loadError.value = error instanceof Error ? error.message : String(error)
    } finally {
      if (request === requestCount) {
        loading.value = false
        schedulePoll()
      }
    }
  }

  /** Coalesces bursts of events that the page cannot place by itself into one quiet refetch. */
  function scheduleRefresh(): void {
    if (!active || refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void fetchPage({ quiet: true })
    }, 300)
  }

  function schedulePoll(): void {
    if (!active) return
    const delay = items.value.some(isActive) ? ACTIVE_REFRESH_MS : IDLE_REFRESH_MS
    // An idle wait is cut short when a job becomes active.
    if (pollTimer !== undefined && (delay === pollDelay || delay > pollDelay)) return
    clearTimeout(pollTimer)
    pollDelay = delay
    pollTimer = setTimeout(() => {
      pollTimer = undefined
      if (document.visibilityState === 'hidden') schedulePoll()
      else void fetchPage({ quiet: true })
    }, delay)
  }

  function applyUpdate(incoming: Job): void {
    const job = recent.remember(incoming)
    const index = items.value.findIndex((item) => item.id === job.id)
    if (index >= 0) {
      items.value.splice(index, 1, newerJob(items.value[index], job))
      // A job that no longer matches the filter stays until the refetch takes it away, so rows don't jump.
      if (!matchesFilter(job)) scheduleRefresh()
      schedulePoll()
      return
    }
    const isNew = job.id > highestIdSeen
    highestIdSeen = Math.max(highestIdSeen, job.id)
    if (!isNew || !matchesFilter(job)) return
    if (page.value === 1) {
      items.value.unshift(job)
      if (items.value.length > pageSize.value) items.value.pop()
      total.value += 1
      schedulePoll()
    } else {
      // Later pages shift by one; refetch rather than guess.
      scheduleRefresh()
    }
  }

  function setPage(value: number): void {
    page.value = value
    void fetchPage()
  }

  function setPageSize(value: number): void {
    pageSize.value = value
    page.value = 1
    void fetchPage()
  }

  function setStatusFilter(value: JobStatus[]): void {
    statusFilter.value = value
    page.value = 1
    void fetchPage()
  }

  async function cancel(id: number): Promise<Job> {
    cancelling.value = [...cancelling.value, id]
    try {
      const job = await api.call('jobs.cancel', { id })
      applyUpdate(job)
      return job
    } finally {
      cancelling.value = cancelling.value.filter((value) => value !== id)
    }
  }

  /** Called when the Jobs page shows: live updates and the active-job refresh run only while it is visible. */
  function start(): void {
    if (active) return
    active = true
    unsubscribe = api.on('job.updated', applyUpdate)
    void fetchPage({ quiet: loaded.value })
  }

  function stop(): void {
    active = false
    unsubscribe?.()
    unsubscribe = undefined
    clearTimeout(pollTimer)
    clearTimeout(refreshTimer)
    pollTimer = undefined
    refreshTimer = undefined
  }

  return {
    items,
    total,
    page,
    pageSize,
    statusFilter,
    loading,
    loaded,
    loadError,
    cancelling,
    fetchPage,
    setPage,
    setPageSize,
    setStatusFilter,
    cancel,
    start,
    stop,
  }
})
