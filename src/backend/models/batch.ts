/**
 * Batched generation over one or many providers. Each provider has its own concurrency limit (for a local model:
 * its number of parallel context sequences, which llama.cpp evaluates together in one batch; for a server: how many
 * requests it may take at once). A request that fails in a way another provider might not (connection refused,
 * 429, 5xx, timeout) is retried on a provider it has not failed on yet; a provider that keeps failing is rested for
 * a while. Results come back in input order, with progress along the way.
 */
import { ProviderError, type GenerateRequest, type GenerateResult, type Provider } from './providers/types'

export interface ProviderSlot {
  provider: Provider
  /** How many requests this provider may work on at once. */
  concurrency: number
}

export interface AttemptFailure {
  providerId: string
  error: string
}

export type BatchItemResult =
  | { index: number; ok: true; result: GenerateResult; failures: AttemptFailure[] }
  | { index: number; ok: false; error: string; failures: AttemptFailure[] }

export interface BatchOptions {
  /** Attempts per request across providers (default: number of providers + 1, at least 2). */
  maxAttempts?: number
  /** Consecutive retryable failures after which a provider is rested (default 3). */
  failuresBeforeRest?: number
  restMs?: number
  signal?: AbortSignal
  onItemDone?: (item: BatchItemResult, done: number, total: number) => void
}

interface SlotState extends ProviderSlot {
  active: number
  consecutiveFailures: number
  restingUntil: number
}

export async function runBatch(
  requests: GenerateRequest[],
  providers: ProviderSlot[],
  options: BatchOptions = {},
): Promise<BatchItemResult[]> {
  if (providers.length === 0) throw new ProviderError('No provider to run the batch on.', false)
  for (const slot of providers) {
    if (!Number.isInteger(slot.concurrency) || slot.concurrency < 1) {
      throw new ProviderError(`Provider ${slot.provider.id} needs a concurrency of at least 1.`, false)
    }
  }
  const maxAttempts = options.maxAttempts ?? Math.max(2, providers.length + 1)
  const failuresBeforeRest = options.failuresBeforeRest ?? 3
  const restMs = options.restMs ?? 10_000
  const slots: SlotState[] = providers.map((slot) => ({ ...slot, active: 0, consecutiveFailures: 0, restingUntil: 0 }))
  const results: BatchItemResult[] = new Array(requests.length)
  const failures: AttemptFailure[][] = requests.map(() => [])
  const queue: number[] = requests.map((_, index) => index)
  let done = 0

  return new Promise<BatchItemResult[]>((resolve, reject) => {
    if (requests.length === 0) {
      resolve([])
      return
    }
    let wakeTimer: NodeJS.Timeout | undefined

    const finish = (item: BatchItemResult): void => {
      results[item.index] = item
      done++
      options.onItemDone?.(item, done, requests.length)
      if (done === requests.length) {
        if (wakeTimer) clearTimeout(wakeTimer)
        resolve(results)
      }
    }

    const pickSlot = (index: number, now: number): SlotState | undefined => {
      const tried = new Set(failures[index]!.map((failure) => failure.providerId))
      const open = slots.filter((slot) => slot.active < slot.concurrency && slot.restingUntil <= now)
      const untried = open.filter((slot) => !tried.has(slot.provider.id))
      // Prefer a provider this request has not failed on; fall back to any only once every provider was tried.
      const everyTried = slots.every((slot) => tried.has(slot.provider.id))
      const candidates = untried.length > 0 ? untried : everyTried ? open : []
      return candidates.sort((a, b) => a.active / a.concurrency - b.active / b.concurrency)[0]
    }

    const pump = (): void => {
      if (options.signal?.aborted) return
      const now = Date.now()
      for (let position = 0; position < queue.length;) {
        const index = queue[position]!
        const slot = pickSlot(index, now)
        if (!slot) {
          position++
          continue
        }
        queue.splice(position, 1)
        start(index, slot)
      }
      // Requests waiting only for rested providers: look again when the first rest ends.
      if (queue.length > 0 && slots.every((slot) => slot.active === 0)) {
        const nextWake = Math.min(...slots.map((slot) => slot.restingUntil))
        if (wakeTimer) clearTimeout(wakeTimer)
        wakeTimer = setTimeout(pump, Math.max(10, nextWake - Date.now()))
      }
    }

    const start = (index: number, slot: SlotState): void => {
      slot.active++
      const request = { ...requests[index]!, ...(options.signal ? { signal: options.signal } : {}) }
      slot.provider.generate(request).then(
        (result) => {
          slot.active--
          slot.consecutiveFailures = 0
          finish({ index, ok: true, result, failures: failures[index]! })
          pump()
        },
        (error: unknown) => {
          slot.active--
          if (options.signal?.aborted) {
            reject(options.signal.reason ?? new Error('Batch cancelled'))
            return
          }
          const message = error instanceof Error ? error.message : String(error)
          const retryable = error instanceof ProviderError ? error.retryable : false
          failures[index]!.push({ providerId: slot.provider.id, error: message })
          if (retryable) {
            slot.consecutiveFailures++
            if (slot.consecutiveFailures >= failuresBeforeRest) {
              slot.restingUntil = Date.now() + restMs
              slot.consecutiveFailures = 0
            }
          }
          if (retryable && failures[index]!.length < maxAttempts) queue.unshift(index)
          else finish({ index, ok: false, error: message, failures: failures[index]! })
          pump()
        },
      )
    }

    options.signal?.addEventListener('abort', () => {
      if (wakeTimer) clearTimeout(wakeTimer)
      reject(options.signal!.reason ?? new Error('Batch cancelled'))
    })
    pump()
  })
}
