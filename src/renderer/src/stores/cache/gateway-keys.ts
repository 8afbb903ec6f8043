import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'

export type GatewayKey = MethodOutput<'gateway.keys.list'>['items'][number]

/** API keys of the OpenAI-compatible gateway. A new key's secret is returned once and never stored here. */
export const useGatewayKeysStore = defineStore('gateway-keys', () => {
  const items = ref<GatewayKey[]>([])
  const loading = ref(false)
  const loadError = ref<string | null>(null)

  async function refresh(): Promise<void> {
    loading.value = true
    try {
      items.value = (await api.call('gateway.keys.list')).items
      loadError.value = null
    } catch (error) {
      loadError.value = (error as Error).message
    } finally {
      loading.value = false
    }
  }

  async function create(tenant: string, label?: string): Promise<{ key: GatewayKey; secret: string }> {
    const result = await api.call('gateway.keys.create', { tenant, ...(label ? { label } : {}) })
    await refresh()
    return result
  }

  async function revoke(id: number): Promise<void> {
    await api.call('gateway.keys.revoke', { id })
    await refresh()
  }

  return { items, loading, loadError, refresh, create, revoke }
})
