/**
 * A bounded LRU of cache entries in front of SQLite, for the hot head of the traffic (exact lookups by namespace and
 * key hash). It holds what SQLite holds: every write to an entry through `CacheRepository` drops it here, a change
 * made by another process clears it (see `CacheRuntime.sync`), and flushed hit counters are patched in.
 */
import type { CacheEntry } from '../../shared/contract'

export interface FrontOptions {
  /** Most entries kept (default 20,000). */
  maxEntries?: number
  /** Most characters of answers and prompts kept, roughly the memory bound (default 64 Mi). */
  maxChars?: number
}

const sizeOf = (entry: CacheEntry): number => entry.answer.length + entry.promptText.length + 512

export class EntryFront {
  private readonly entries = new Map<string, CacheEntry>()
  private readonly keyOfId = new Map<number, string>()
  private chars = 0
  private readonly maxEntries: number
  private readonly maxChars: number
  hits = 0
  misses = 0

  constructor(options: FrontOptions = {}) {
    this.maxEntries = options.maxEntries ?? 20_000
    this.maxChars = options.maxChars ?? 64 * 1024 * 1024
  }

  static key(namespaceId: number, keyHash: string): string {
    return `${namespaceId}:${keyHash}`
  }

  get size(): number {
    return this.entries.size
  }

  get(namespaceId: number, keyHash: string): CacheEntry | undefined {
    const key = EntryFront.key(namespaceId, keyHash)
    const entry = this.entries.get(key)
    if (entry === undefined) {
      this.misses++
      return undefined
    }
    this.hits++
    // Most recently used last: delete and re-insert.
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry
  }

  byId(id: number): CacheEntry | undefined {
    const key = this.keyOfId.get(id)
    return key === undefined ? undefined : this.entries.get(key)
  }

  set(entry: CacheEntry): void {
    const key = EntryFront.key(entry.namespaceId, entry.keyHash)
    this.remove(key)
    this.entries.set(key, entry)
    this.keyOfId.set(entry.id, key)
    this.chars += sizeOf(entry)
    while (this.entries.size > this.maxEntries || (this.chars > this.maxChars && this.entries.size > 1)) {
      const oldest = this.entries.keys().next().value as string
      this.remove(oldest)
    }
  }

  /** Replaces a held entry by a patched copy (flushed hit counters); nothing when it is not held. */
  patch(id: number, change: (entry: CacheEntry) => CacheEntry): void {
    const key = this.keyOfId.get(id)
    if (key === undefined) return
    const entry = this.entries.get(key)
    if (entry) this.entries.set(key, change(entry))
  }

  deleteId(id: number): void {
    const key = this.keyOfId.get(id)
    if (key !== undefined) this.remove(key)
  }

  deleteNamespace(namespaceId: number): void {
    for (const [key, entry] of this.entries) if (entry.namespaceId === namespaceId) this.remove(key)
  }

  clear(): void {
    this.entries.clear()
    this.keyOfId.clear()
    this.chars = 0
  }

  private remove(key: string): void {
    const entry = this.entries.get(key)
    if (!entry) return
    this.entries.delete(key)
    if (this.keyOfId.get(entry.id) === key) this.keyOfId.delete(entry.id)
    this.chars -= sizeOf(entry)
  }
}
