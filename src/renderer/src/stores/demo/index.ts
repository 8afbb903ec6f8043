import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Job } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'

/**
 * The demo workspace offer: whether this workspace is still empty (then the console offers the demo) and the job
 * that builds it, followed live.
 */
export const useDemoStore = defineStore('demo', () => {
  const empty = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  const starting = ref(false)
  const slot = createJobSlot(() => void refresh())
  // A demo started elsewhere (the CLI, another window, a script) shows here too.
  api.on('job.updated', (job) => {
    if (job.kind === 'demo.build') slot.track(job)
  })

  async function refresh(): Promise<void> {
    try {
      const status = await api.call('demo.status', {})
      empty.value = status.empty
      loaded.value = status.loaded
      if (status.job) slot.track(status.job)
    } catch (failure) {
      error.value = (failure as Error).message
    }
  }

  async function load(): Promise<Job | null> {
    starting.value = true
    error.value = null
    try {
      const { job } = await api.call('demo.load', {})
      slot.track(job)
      return job
    } catch (failure) {
      error.value = (failure as Error).message
      return null
    } finally {
      starting.value = false
    }
  }

  return { empty, loaded, error, starting, job: slot.job, refresh, load }
})
