/**
 * Bounds live generation: at most `concurrency` requests generate at once and at most `maxQueued` wait; beyond
 * that the gateway answers 429 with Retry-After instead of queueing without bound.
 */
export class QueueFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('The live-generation queue is full.')
  }
}

export class LiveQueue {
  private active = 0
  private readonly waiting: { resolve: () => void; reject: (error: Error) => void; signal?: AbortSignal }[] = []

  constructor(
    readonly concurrency: number,
    readonly maxQueued: number,
  ) {}

  get stats(): { active: number; queued: number } {
    return { active: this.active, queued: this.waiting.length }
  }

  /** Waits for a slot; the returned function gives it back. Throws QueueFullError at once when full. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.concurrency) {
      this.active++
      return this.releaser()
    }
    if (this.waiting.length >= this.maxQueued)
      throw new QueueFullError(Math.max(1, Math.ceil(this.waiting.length / this.concurrency)))
    await new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject, ...(signal ? { signal } : {}) }
      this.waiting.push(waiter)
      signal?.addEventListener('abort', () => {
        const index = this.waiting.indexOf(waiter)
        if (index >= 0) {
          this.waiting.splice(index, 1)
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
        }
      })
    })
    return this.releaser()
  }

  private releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiting.shift()
      if (next) next.resolve()
      else this.active--
    }
  }
}
