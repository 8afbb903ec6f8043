/**
 * Step 1 of a completion, once per distinct body: the body's JSON parsed, validated (requests.ts,
 * responses-api.ts) and keyed (cache/key.ts), remembered by the body's exact text. Clients of a cache send the same
 * bodies again and again; a repeat skips JSON.parse, validation and the key's normalise + SHA-256.
 *
 * - Only what parsed and validated is remembered (a bad body is parsed, and refused, every time).
 * - The key is remembered per normalization rules object: a namespace whose settings change gets a new config
 *   object (cache/runtime.ts drops them on every change, in this process or another), so a changed rule can never
 *   reuse a stale key.
 * - Remembered requests are frozen: whoever shares one cannot change it for the next client.
 * - Bounded: bodies over `maxBodyChars` are not remembered, and past `maxBodies` the oldest is forgotten.
 */
import type { NormalizationRules } from '../../shared/cache-key'
import { cacheKeySync, type CacheKey } from '../cache/key'
import { parseJsonText } from './http'
import { parseCompletion, type CompletionApi, type CompletionRequest } from './requests'
import { parseResponsesRequest } from './responses-api'

export interface PreparedRequest {
  request: CompletionRequest
  /** normalization rules -> the request's key under them. */
  keys: WeakMap<NormalizationRules, CacheKey>
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value as object)) deepFreeze(member)
  }
  return value
}

export class PreparedRequests {
  private readonly byApi: Record<CompletionApi, Map<string, PreparedRequest>> = {
    chat: new Map(),
    completion: new Map(),
    responses: new Map(),
  }
  private size = 0
  /** Bodies parsed, and repeats answered from memory (for tests and the benchmark). */
  readonly stats = { parsed: 0, reused: 0 }

  constructor(
    private readonly maxBodies = 1024,
    private readonly maxBodyChars = 16 * 1024,
  ) {}

  /** The validated request a body holds (a 400 naming the field when it is not valid). */
  parse(api: CompletionApi, text: string): PreparedRequest {
    const known = this.byApi[api].get(text)
    if (known) {
      this.stats.reused++
      return known
    }
    const raw = parseJsonText(text)
    const request = api === 'responses' ? parseResponsesRequest(raw) : parseCompletion(api, raw)
    const prepared: PreparedRequest = { request, keys: new WeakMap() }
    this.stats.parsed++
    if (text.length <= this.maxBodyChars) this.remember(api, text, prepared)
    return prepared
  }

  /** The request's cache key under a namespace's normalization rules. */
  keyOf(prepared: PreparedRequest, rules: NormalizationRules): CacheKey {
    let key = prepared.keys.get(rules)
    if (!key) {
      key = deepFreeze(cacheKeySync(prepared.request.cacheable, rules))
      prepared.keys.set(rules, key)
    }
    return key
  }

  private remember(api: CompletionApi, text: string, prepared: PreparedRequest): void {
    deepFreeze(prepared.request)
    if (this.size >= this.maxBodies) this.forgetOldest()
    this.byApi[api].set(text, prepared)
    this.size++
  }

  private forgetOldest(): void {
    for (const map of Object.values(this.byApi)) {
      const oldest = map.keys().next()
      if (oldest.done) continue
      map.delete(oldest.value)
      this.size--
      return
    }
  }
}
