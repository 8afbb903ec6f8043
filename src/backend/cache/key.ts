/**
 * The backend's synchronous cache key: byte-for-byte the key of `src/shared/cache-key.ts` (which stays on Web Crypto
 * for the edge worker), computed with node:crypto and a direct serialiser of the canonical form instead of building
 * and re-sorting intermediate objects. `key.test.ts` proves the equality on many generated requests.
 */
import { hash } from 'node:crypto'
import {
  canonicalJson,
  canonicalRequest,
  normalizeText,
  type CacheableRequest,
  type CanonicalRequest,
  type NormalizationRules,
} from '../../shared/cache-key'

export interface CacheKey {
  canonical: CanonicalRequest
  /** `canonicalJson(canonical)`: what is hashed. */
  json: string
  keyHash: string
  promptText: string
}

const PUNCTUATION = /[\p{P}\p{S}]/gu
/** Whitespace that `normalizeText` would change: any but a lone inner space. */
const WHITESPACE_TO_FOLD = /[^\S ]|\s\s|^\s|\s$/u

/**
 * `normalizeText` of the shared module, skipping the whitespace rewrite when it would change nothing (the usual
 * case: single spaces between words). Proven equal by key.test.ts.
 */
export function normalizeFast(text: string, rules: NormalizationRules): string {
  let out = text
  if (rules.nfkc) out = out.normalize('NFKC')
  if (rules.case) out = out.toLowerCase()
  if (rules.punctuation) out = out.replace(PUNCTUATION, ' ')
  if ((rules.whitespace || rules.punctuation) && WHITESPACE_TO_FOLD.test(out)) out = out.replace(/\s+/gu, ' ').trim()
  return out
}

/** The same as the shared module's private `stable`: keys sorted, undefined members dropped, recursively. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable)
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>
    const out: Record<string, unknown> = {}
    const keys = Object.keys(record)
    for (let i = 1; i < keys.length; i++) {
      // Usually already in order (cacheableFrom builds them so): sort only when not.
      if (keys[i - 1]! > keys[i]!) {
        keys.sort()
        break
      }
    }
    for (const key of keys) {
      const member = record[key]
      if (member === undefined) continue
      // An own "__proto__" member (JSON.parse makes them) must stay a member, as Object.fromEntries keeps it.
      if (key === '__proto__')
        Object.defineProperty(out, key, { value: stable(member), enumerable: true, writable: true, configurable: true })
      else out[key] = stable(member)
    }
    return out
  }
  return value
}

function plainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** The canonical form and its JSON text, without the shared module's double `stable` pass. */
function canonicalParts(
  request: CacheableRequest,
  rules: NormalizationRules,
): { canonical: CanonicalRequest; json: string } {
  const { model, kind, messages, params } = request
  if (typeof model !== 'string' || typeof kind !== 'string' || !Array.isArray(messages) || !plainObject(params)) {
    // Odd shapes (only possible from untyped callers) take the reference path, so the bytes stay identical.
    const canonical = canonicalRequest(request, rules)
    return { canonical, json: canonicalJson(canonical) }
  }
  const normalized: CanonicalRequest['messages'] = new Array(messages.length)
  let json = `{"kind":${JSON.stringify(kind)},"messages":[`
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const content =
      typeof message.content === 'string'
        ? normalizeFast(message.content, rules)
        : normalizeText(message.content, rules)
    if (typeof message.role !== 'string') {
      const canonical = canonicalRequest(request, rules)
      return { canonical, json: canonicalJson(canonical) }
    }
    if (message.tool_calls !== undefined || message.tool_call_id !== undefined) {
      // Function-calling turns (rare): as the shared module builds them, serialised through `stable`.
      normalized[i] = {
        role: message.role,
        content,
        ...(message.tool_calls !== undefined ? { tool_calls: message.tool_calls } : {}),
        ...(message.tool_call_id !== undefined ? { tool_call_id: message.tool_call_id } : {}),
      }
      json += `${i === 0 ? '' : ','}${JSON.stringify(stable(normalized[i]))}`
      continue
    }
    normalized[i] = { role: message.role, content }
    json += `${i === 0 ? '' : ','}{"content":${JSON.stringify(content)},"role":${JSON.stringify(message.role)}}`
  }
  const stableParams = stable(params) as Record<string, unknown>
  json += `],"model":${JSON.stringify(model)},"params":${JSON.stringify(stableParams)},"v":1}`
  return { canonical: { v: 1, model, kind, messages: normalized, params: stableParams }, json }
}

export function cacheKeySync(request: CacheableRequest, rules: NormalizationRules): CacheKey {
  const { canonical, json } = canonicalParts(request, rules)
  const promptText = request.messages
    .map((m) => (m.role === 'user' ? m.content : `[${m.role}] ${m.content}`))
    .join('\n')
  return { canonical, json, keyHash: hash('sha256', json, 'hex'), promptText }
}
