import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { MethodOutput, TemplateFamily, TemplateVariant } from '../../../../shared/contract'
import { api } from '../../api'

export type ApproveResult = MethodOutput<'templates.variants.approve'>
export type VariantState = TemplateVariant['state']

/** The most variants one segment shows; generation aims for at most 50 per segment, so this is never reached in use. */
const PAGE = 1000

/**
 * One template family on the Templates page: its definition and segments (with counts and the last generation's
 * tokens and time), the variants of the segment under review, and the review actions (approve, reject, reopen,
 * edit, add, weights). Kept live from `templates.changed` for this family.
 */
export const useTemplateFamilyStore = defineStore('template-family', () => {
  const familyId = ref<number | null>(null)
  const family = ref<TemplateFamily | null>(null)
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const segmentKey = ref<string | null>(null)
  const variants = ref<TemplateVariant[]>([])
  const variantsTotal = ref(0)
  const variantsLoading = ref(false)
  const variantsError = ref<string | null>(null)

  const segment = computed(() => family.value?.segments.find((candidate) => candidate.key === segmentKey.value) ?? null)

  let familyRequest = 0
  async function refresh(options: { quiet?: boolean } = {}): Promise<void> {
    const id = familyId.value
    if (id === null) return
    const request = ++familyRequest
    if (!options.quiet) loading.value = true
    try {
      const result = await api.call('templates.get', { id })
      if (request !== familyRequest || familyId.value !== id) return
      family.value = result
      loadError.value = null
      // The segment under review may have gone with a change of dimensions: review the first one instead.
      if (!result.segments.some((candidate) => candidate.key === segmentKey.value)) {
        segmentKey.value = result.segments[0]?.key ?? null
        void refreshVariants()
      }
    } catch (error) {
      if (request === familyRequest) loadError.value = (error as Error).message
    } finally {
      if (request === familyRequest) loading.value = false
    }
  }

  let variantsRequest = 0
  async function refreshVariants(options: { quiet?: boolean } = {}): Promise<void> {
    const id = familyId.value
    const key = segmentKey.value
    if (id === null || key === null) {
      variants.value = []
      variantsTotal.value = 0
      return
    }
    const request = ++variantsRequest
    if (!options.quiet) variantsLoading.value = true
    try {
      const result = await api.call('templates.variants.list', { familyId: id, segmentKey: key, limit: PAGE })
      if (request !== variantsRequest) return
      variants.value = result.items
      variantsTotal.value = result.total
      variantsError.value = null
    } catch (error) {
      if (request === variantsRequest) variantsError.value = (error as Error).message
    } finally {
      if (request === variantsRequest) variantsLoading.value = false
    }
  }

  /** Opens a family (or none): its detail, then the variants of its first segment. */
  async function open(id: number | null): Promise<void> {
    // The same family again (the page was revisited): bring it up to date quietly, keeping the segment under review.
    if (id === familyId.value && family.value) {
      await Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
      return
    }
    familyId.value = id
    family.value = null
    segmentKey.value = null
    variants.value = []
    variantsTotal.value = 0
    loadError.value = null
    variantsError.value = null
    await refresh()
  }

  function selectSegment(key: string): void {
    if (key === segmentKey.value) return
    segmentKey.value = key
    variants.value = []
    void refreshVariants()
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined
  /** Coalesces bursts (a bulk approval, a generation answering in parallel) into one quiet refetch. */
  function scheduleRefresh(delay = 250): void {
    if (refreshTimer !== undefined) return
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined
      void Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
    }, delay)
  }
  api.on('templates.changed', ({ familyId: changed, removed }) => {
    if (changed !== familyId.value) return
    if (removed) {
      family.value = null
      variants.value = []
      return
    }
    scheduleRefresh()
  })

  function requireFamily(): number {
    if (familyId.value === null) throw new Error('No template family selected')
    return familyId.value
  }

  function replaceVariant(variant: TemplateVariant): void {
    const index = variants.value.findIndex((item) => item.id === variant.id)
    if (index >= 0) variants.value.splice(index, 1, variant)
  }

  async function approve(ids: number[]): Promise<ApproveResult> {
    const result = await api.call('templates.variants.approve', { familyId: requireFamily(), ids })
    await Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
    return result
  }

  /** Every draft of the segment under review that has no problems. */
  async function approveAllDrafts(): Promise<ApproveResult> {
    const result = await api.call('templates.variants.approve', {
      familyId: requireFamily(),
      all: true,
      ...(segmentKey.value !== null ? { segmentKey: segmentKey.value } : {}),
    })
    await Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
    return result
  }

  async function reject(ids: number[], reason: string): Promise<number> {
    const { rejected } = await api.call('templates.variants.reject', {
      familyId: requireFamily(),
      ids,
      ...(reason.trim() ? { reason: reason.trim() } : {}),
    })
    await Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
    return rejected
  }

  async function reopen(ids: number[]): Promise<number> {
    const { reopened } = await api.call('templates.variants.reopen', { familyId: requireFamily(), ids })
    await Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
    return reopened
  }

  /** Saves edited text (checked by the backend; an approved variant goes back to draft) and/or a new weight. */
  async function updateVariant(id: number, change: { template?: string; weight?: number }): Promise<TemplateVariant> {
    const variant = await api.call('templates.variants.update', { id, ...change })
    replaceVariant(variant)
    void refresh({ quiet: true })
    return variant
  }

  async function addVariant(template: string, weight = 1): Promise<TemplateVariant> {
    const key = segmentKey.value
    if (key === null) throw new Error('No segment selected')
    const variant = await api.call('templates.variants.add', {
      familyId: requireFamily(),
      segmentKey: key,
      template,
      weight,
    })
    await Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })])
    return variant
  }

  return {
    familyId,
    family,
    loading,
    loadError,
    segmentKey,
    segment,
    variants,
    variantsTotal,
    variantsLoading,
    variantsError,
    open,
    refresh,
    refreshVariants,
    selectSegment,
    scheduleRefresh,
    approve,
    approveAllDrafts,
    reject,
    reopen,
    updateVariant,
    addVariant,
    resync: () => Promise.all([refresh({ quiet: true }), refreshVariants({ quiet: true })]),
  }
})
