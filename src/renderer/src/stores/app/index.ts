import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { EventPayload, MethodOutput } from '../../../../shared/contract'
import { ApiError, api, type ConnectionState } from '../../api'
import { useSettingsStore } from '../settings'

export type AppState = 'loading' | 'ready' | 'unauthorized' | 'error'
export type SystemInfo = MethodOutput<'system.info'>
export type BackendStatus = EventPayload<'backend.status'>

/**
 * The console as a whole: start-up state, the workspace it is connected to, and the health of the connection.
 * `resyncCount` goes up whenever events may have been missed (the stream reconnected, the backend restarted, the
 * database was restored); pages watch it and refetch what they show.
 */
export const useAppStore = defineStore('app', () => {
  const state = ref<AppState>('loading')
  const errorMessage = ref('')
  const systemInfo = ref<SystemInfo | null>(null)
  const transport = api.transport
  const connection = ref<ConnectionState>(api.connectionState())
  const backendStatus = ref<BackendStatus | null>(null)
  const resyncCount = ref(0)
  const settings = useSettingsStore()

  function fail(error: unknown): void {
    if (error instanceof ApiError && error.code === 'unauthorized') {
      state.value = 'unauthorized'
      return
    }
    state.value = 'error'
    errorMessage.value = error instanceof Error ? error.message : String(error)
  }

  async function bootstrap(): Promise<void> {
    state.value = 'loading'
    errorMessage.value = ''
    try {
      const [info] = await Promise.all([api.call('system.info'), settings.load()])
      systemInfo.value = info
      state.value = 'ready'
    } catch (error) {
      fail(error)
    }
  }

  /** Reloads what describes the workspace (after a restore or a backend restart) and tells pages to refetch. */
  async function reloadWorkspace(): Promise<void> {
    try {
      const [info] = await Promise.all([api.call('system.info'), settings.load()])
      systemInfo.value = info
    } catch (error) {
      if (error instanceof ApiError && error.code === 'unauthorized') state.value = 'unauthorized'
      // Otherwise keep what is shown; the page that asked reports its own failure.
    }
    resyncCount.value += 1
  }

  let previousConnection = connection.value
  api.onConnectionChange((next) => {
    connection.value = next
    if (next === 'unauthorized') state.value = 'unauthorized'
    // Events sent while the stream was down are lost: refetch once it is back.
    if (next === 'connected' && previousConnection === 'reconnecting' && state.value === 'ready') void reloadWorkspace()
    previousConnection = next
  })

  api.on('backend.status', (status) => {
    if (status.state === 'ready') {
      backendStatus.value = null
      if (state.value === 'ready') void reloadWorkspace()
      else if (state.value === 'error') void bootstrap()
    } else {
      backendStatus.value = status
    }
  })

  return {
    state,
    errorMessage,
    systemInfo,
    transport,
    connection,
    backendStatus,
    resyncCount,
    bootstrap,
    reloadWorkspace,
  }
})
