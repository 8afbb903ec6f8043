import { ref, type Ref } from 'vue'
import type { Job } from '../../../../shared/contract'
import { api } from '../../api'
import { RecentJobs, isActive, newerJob } from './shared'

export interface JobSlot {
  /** The latest copy of the job this slot follows, or null before one was started. */
  readonly job: Ref<Job | null>
  /** Follows `job` from now on (a job just returned by a `*.start`-like call). */
  track(job: Job): void
  /** After missed events: fetches the job again if it was still running. */
  resync(): Promise<void>
  clear(): void
}

/**
 * One job that an area started and shows: kept current from `job.updated`, with `onFinished` called once when it
 * ends. For stores (singletons); the subscription lives as long as the page does.
 */
export function createJobSlot(onFinished?: (job: Job) => void): JobSlot {
  const job = ref<Job | null>(null)
  const recent = new RecentJobs(50)
  const finished = new Set<number>()

  function track(incoming: Job): void {
    const latest = newerJob(job.value, recent.latest(incoming))
    job.value = latest
    if (!isActive(latest) && !finished.has(latest.id)) {
      finished.add(latest.id)
      onFinished?.(latest)
    }
  }

  api.on('job.updated', (update) => {
    recent.remember(update)
    if (job.value?.id === update.id) track(update)
  })

  async function resync(): Promise<void> {
    const current = job.value
    if (!current || !isActive(current)) return
    try {
      track(await api.call('jobs.get', { id: current.id }))
    } catch {
      // The Jobs page shows the truth; keep what we have.
    }
  }

  return {
    job,
    track,
    resync,
    clear: () => {
      job.value = null
    },
  }
}

/** A field of a job's result, when it has the expected type. */
export function resultField<T>(job: Job | null, key: string, guard: (value: unknown) => value is T): T | undefined {
  const result = job?.result
  if (typeof result !== 'object' || result === null) return undefined
  const value = (result as Record<string, unknown>)[key]
  return guard(value) ? value : undefined
}
