import type { Job, JobStatus } from '../../../../shared/contract'

/** Statuses in which a job may still change (and can be cancelled). */
export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'running']

/** Every status, in the order a job passes through them. Checked against the contract's union below. */
export const JOB_STATUS_ORDER = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
] as const satisfies readonly JobStatus[]
type MissingStatus = Exclude<JobStatus, (typeof JOB_STATUS_ORDER)[number]>
const everyStatusListed: MissingStatus extends never ? true : false = true
void everyStatusListed

export function isActive(job: Pick<Job, 'status'> | null | undefined): boolean {
  return !!job && ACTIVE_STATUSES.includes(job.status)
}

/** Of two copies of the same job, the later one. Events and list replies can arrive out of order. */
export function newerJob(current: Job | null | undefined, candidate: Job): Job {
  if (!current || current.id !== candidate.id) return candidate
  return candidate.updatedAt >= current.updatedAt ? candidate : current
}

/** Remembers the latest copy of recently seen jobs, so a slower reply cannot roll a job back. */
export class RecentJobs {
  private readonly jobs = new Map<number, Job>()
  constructor(private readonly capacity = 500) {}

  remember(job: Job): Job {
    const latest = newerJob(this.jobs.get(job.id), job)
    this.jobs.delete(job.id)
    this.jobs.set(job.id, latest)
    if (this.jobs.size > this.capacity) {
      const oldest = this.jobs.keys().next().value
      if (oldest !== undefined) this.jobs.delete(oldest)
    }
    return latest
  }

  latest(job: Job): Job {
    return newerJob(this.jobs.get(job.id), job)
  }
}
