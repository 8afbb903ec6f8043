/**
 * Coalescing: identical misses (same tenant, namespace, key and cache controls) that arrive while one is being
 * generated share that generation instead of starting another. A client that joins late gets the text generated so
 * far, then the rest as it comes. The generation stops only when every client waiting for it has gone.
 */

export class SharedGeneration<T> {
  readonly controller = new AbortController()
  private text = ''
  private readonly listeners = new Set<(text: string) => void>()
  private waiting = 0
  result!: Promise<T>

  /** Generated text: passed to every streaming client. */
  emit(text: string): void {
    this.text += text
    for (const listener of this.listeners) listener(text)
  }

  /** A client starts waiting; `leave` when it goes before the end (the last one out stops the generation). */
  join(onText?: (text: string) => void): { result: Promise<T>; leave: () => void } {
    this.waiting++
    if (onText) {
      if (this.text) onText(this.text)
      this.listeners.add(onText)
    }
    let left = false
    return {
      result: this.result,
      leave: () => {
        if (left) return
        left = true
        this.waiting--
        if (onText) this.listeners.delete(onText)
        if (this.waiting === 0) this.controller.abort(new Error('client disconnected'))
      },
    }
  }
}

export class InFlight<T> {
  private readonly running = new Map<string, SharedGeneration<T>>()

  get size(): number {
    return this.running.size
  }

  /** The generation under `key`: the one running, or a new one started by `start` (then `leader` is true). */
  share(
    key: string,
    start: (shared: SharedGeneration<T>) => Promise<T>,
  ): { shared: SharedGeneration<T>; leader: boolean } {
    const running = this.running.get(key)
    if (running) return { shared: running, leader: false }
    const shared = new SharedGeneration<T>()
    this.running.set(key, shared)
    shared.result = start(shared).finally(() => {
      if (this.running.get(key) === shared) this.running.delete(key)
    })
    return { shared, leader: true }
  }
}
