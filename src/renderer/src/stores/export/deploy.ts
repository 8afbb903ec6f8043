import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Deployment, DeployPlan, Job, MethodInput, MethodOutput, SavedTarget } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'

export type DeployRequest = MethodInput<'export.deploy'>

/** What the deploy job returns (src/backend/export/deploy.ts). */
export interface DeployOutcome {
  version: number
  uploaded: number
  skipped: number
  deleted: number
  verify: { manifestMatches: boolean; sampled: number; failures: string[] }
}

export function isDeployOutcome(value: unknown): value is DeployOutcome {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Record<string, unknown>
  return typeof candidate.version === 'number' && typeof candidate.verify === 'object' && candidate.verify !== null
}

/**
 * Deploying bundles to object storage: the plan (a dry run, also the preflight of credentials, bucket and owner),
 * the deploy job with its progress, saved targets, and the deployments (what is live where) with rollback.
 */
export const useDeployStore = defineStore('cdn-deploy', () => {
  const plan = ref<DeployPlan | null>(null)
  const error = ref<string | null>(null)
  const busy = ref(false)
  const deployments = ref<Deployment[]>([])
  const targets = ref<SavedTarget[]>([])
  const notice = ref<string | null>(null)
  const slot = createJobSlot(() => void refresh())

  async function refresh(): Promise<void> {
    try {
      const [list, saved] = await Promise.all([
        api.call('export.deployments', { limit: 50 }),
        api.call('export.targets.list', {}),
      ])
      deployments.value = list.items
      targets.value = saved.items
    } catch (failure) {
      error.value = (failure as Error).message
    }
  }

  async function run(request: DeployRequest): Promise<Job | null> {
    busy.value = true
    error.value = null
    notice.value = null
    try {
      const result = await api.call('export.deploy', request)
      plan.value = result.plan
      if (result.job) slot.track(result.job)
      return result.job
    } catch (failure) {
      error.value = (failure as Error).message
      return null
    } finally {
      busy.value = false
    }
  }

  async function rollback(target: string, endpoint: string | null): Promise<MethodOutput<'export.rollback'> | null> {
    error.value = null
    try {
      // A saved target for this address brings its keys; otherwise the backend's environment credentials are used.
      const saved = targets.value.find((item) => item.url === target)
      const result = await api.call('export.rollback', {
        to: target,
        ...(endpoint ? { endpoint } : {}),
        ...(saved ? { target: saved.name } : {}),
      })
      await refresh()
      return result
    } catch (failure) {
      error.value = (failure as Error).message
      return null
    }
  }

  async function saveTarget(input: MethodInput<'export.targets.save'>): Promise<SavedTarget | null> {
    error.value = null
    try {
      const saved = await api.call('export.targets.save', input)
      await refresh()
      return saved
    } catch (failure) {
      error.value = (failure as Error).message
      return null
    }
  }

  return {
    plan,
    error,
    busy,
    deployments,
    targets,
    notice,
    job: slot.job,
    refresh,
    run,
    rollback,
    saveTarget,
    resync: () => Promise.all([slot.resync(), refresh()]),
  }
})
