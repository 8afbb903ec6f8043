import { defineStore } from 'pinia'
import { ref, type Ref } from 'vue'
import type { BackupFile, Job } from '../../../../shared/contract'
import { api } from '../../api'
import { useAppStore } from '../app'
import { RecentJobs, isActive, newerJob } from '../jobs/shared'

/** Backups of the workspace database: the list, and the backup or restore job the operator started here. */
export const useBackupStore = defineStore('backup', () => {
  const items = ref<BackupFile[]>([])
  const listLoading = ref(false)
  const listError = ref<string | null>(null)
  const backupJob = ref<Job | null>(null)
  const restoreJob = ref<Job | null>(null)
  /** The file the last restore came from (its job only knows the path). */
  const restoreSource = ref<BackupFile | null>(null)
  const starting = ref<'backup' | 'restore' | null>(null)

  const app = useAppStore()
  const recent = new RecentJobs(100)
  const finished = new Set<number>()

  async function refreshList(): Promise<void> {
    listLoading.value = true
    try {
      items.value = (await api.call('backup.list')).items
      listError.value = null
    } catch (error) {
      listError.value = error instanceof Error ? error.message : String(error)
    } finally {
      listLoading.value = false
    }
  }

  type Kind = 'backup' | 'restore'
  const slots: Record<Kind, Ref<Job | null>> = { backup: backupJob, restore: restoreJob }

  function onFinished(kind: Kind, job: Job): void {
    if (finished.has(job.id)) return
    finished.add(job.id)
    void refreshList()
    // A restore swaps the database under everything the console shows: settings, schema, job history.
    if (kind === 'restore' && job.status === 'succeeded') void app.reloadWorkspace()
  }

  function track(kind: Kind, incoming: Job): void {
    const slot = slots[kind]
    const job = newerJob(slot.value, recent.latest(incoming))
    slot.value = job
    if (!isActive(job)) onFinished(kind, job)
  }

  api.on('job.updated', (job) => {
    recent.remember(job)
    for (const kind of ['backup', 'restore'] as const) if (slots[kind].value?.id === job.id) track(kind, job)
  })

  async function createBackup(): Promise<void> {
    starting.value = 'backup'
    try {
      const { job } = await api.call('backup.create')
      track('backup', job)
    } finally {
      starting.value = null
    }
  }

  async function restore(file: BackupFile): Promise<void> {
    starting.value = 'restore'
    try {
      const { job } = await api.call('backup.restore', { path: file.path })
      restoreSource.value = file
      track('restore', job)
    } finally {
      starting.value = null
    }
  }

  /** After missed events: refetch the list and the jobs still in flight. */
  async function resync(): Promise<void> {
    const pending = (['backup', 'restore'] as const).filter((kind) => isActive(slots[kind].value))
    await Promise.all([
      refreshList(),
      ...pending.map(async (kind) => {
        const id = slots[kind].value!.id
        try {
          const job = await api.call('jobs.get', { id })
          if (slots[kind].value?.id === id) track(kind, job)
        } catch {
          // The Jobs page shows the truth; keep what we have.
        }
      }),
    ])
  }

  return {
    items,
    listLoading,
    listError,
    backupJob,
    restoreJob,
    restoreSource,
    starting,
    refreshList,
    createBackup,
    restore,
    resync,
  }
})
