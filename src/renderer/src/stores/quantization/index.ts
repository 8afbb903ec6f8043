import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Job, MethodInput, MethodOutput, QuantizationType } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot } from '../jobs/job-slot'

export type QuantizePlan = MethodOutput<'gguf.plan'>
export type QuantizeOptions = Omit<MethodInput<'gguf.sweep'>, 'id' | 'types' | 'text' | 'maxPositions'>

/** One type's row of a comparison (the gguf.sweep job's result). */
export interface SweepRow {
  type: QuantizationType
  sizeBytes: number
  bitsPerWeight: number
  fallbacks: number
  meanKlDivergence: number
  maxKlDivergence: number
  top1Agreement: number
  perplexity: number
  tokensPerSecond: number
  positions: number
}
export interface SweepResult {
  modelId: number
  modelName: string
  original: { perplexity: number; sizeBytes: number }
  imatrix: string | null
  rows: SweepRow[]
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** The job's result when it has the shape the page draws, else null (an older or failed job). */
export function sweepResultOf(job: Job | null): SweepResult | null {
  const result = job?.status === 'succeeded' ? (job.result as Partial<SweepResult> | null) : null
  if (!result || !Array.isArray(result.rows) || !result.original || !isNumber(result.original.sizeBytes)) return null
  const rows = result.rows.filter(
    (row): row is SweepRow =>
      typeof row?.type === 'string' &&
      isNumber(row.sizeBytes) &&
      isNumber(row.meanKlDivergence) &&
      isNumber(row.top1Agreement) &&
      isNumber(row.perplexity),
  )
  return { ...(result as SweepResult), rows }
}

/**
 * Quantization choices on the Models page: what each file type gives for a model (gguf.plan, from its header),
 * and the comparison of several types (the gguf.sweep job), including the last one run for a model.
 */
export const useQuantizationStore = defineStore('quantization', () => {
  const plans = ref<Record<string, QuantizePlan>>({})
  const planErrors = ref<Record<string, string>>({})
  const sweep = createJobSlot()
  /** The model the tracked comparison belongs to. */
  const sweepModelId = ref<number | null>(null)

  const planKey = (id: number, options: Pick<QuantizeOptions, 'pure' | 'allowRequantize'>): string =>
    `${id}:${options.pure ? 1 : 0}:${options.allowRequantize ? 1 : 0}`

  async function loadPlan(id: number, options: Pick<QuantizeOptions, 'pure' | 'allowRequantize'> = {}): Promise<void> {
    const key = planKey(id, options)
    if (plans.value[key]) return
    try {
      plans.value[key] = await api.call('gguf.plan', {
        id,
        pure: options.pure ?? false,
        allowRequantize: options.allowRequantize ?? false,
      })
      delete planErrors.value[key]
    } catch (error) {
      planErrors.value[key] = (error as Error).message
    }
  }

  function planFor(id: number, options: Pick<QuantizeOptions, 'pure' | 'allowRequantize'> = {}): QuantizePlan | null {
    return plans.value[planKey(id, options)] ?? null
  }

  function planErrorFor(id: number, options: Pick<QuantizeOptions, 'pure' | 'allowRequantize'> = {}): string | null {
    return planErrors.value[planKey(id, options)] ?? null
  }

  async function startSweep(id: number, types: QuantizationType[], options: QuantizeOptions): Promise<Job> {
    const { job } = await api.call('gguf.sweep', { id, types, ...options })
    sweepModelId.value = id
    sweep.track(job)
    return job
  }

  /** Shows the last comparison finished for this model (from the job history), unless one is being followed. */
  async function loadLatestSweep(id: number): Promise<void> {
    if (sweepModelId.value === id && sweep.job.value) return
    const { items } = await api.call('jobs.list', { kind: 'gguf.sweep', status: ['succeeded'], limit: 50 })
    const latest = items.find((job) => (job.params as { id?: unknown }).id === id)
    sweepModelId.value = id
    if (latest) sweep.track(latest)
    else sweep.clear()
  }

  return {
    loadPlan,
    planFor,
    planErrorFor,
    startSweep,
    loadLatestSweep,
    sweepJob: sweep.job,
    sweepModelId,
    resync: () => sweep.resync(),
  }
})
