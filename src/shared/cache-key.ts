/**
 * The cache key of a request: a canonical form (model or route, messages, and the sampling parameters that change
 * the answer), normalised by a namespace's rules, hashed with SHA-256. Shared by the gateway (Node) and the
 * exported edge worker (Workers runtime), so both derive the same key from the same request. Uses Web Crypto only.
 */

export interface NormalizationRules {
  /** Trim and collapse runs of whitespace. */
  whitespace: boolean
  /** Compare case-insensitively. */
  case: boolean
  /** Unicode NFKC (full-width letters, ligatures, compatibility forms). */
  nfkc: boolean
  /** Ignore punctuation. */
  punctuation: boolean
}

export const DEFAULT_NORMALIZATION: NormalizationRules = {
  whitespace: true,
  case: false,
  nfkc: true,
  punctuation: false,
}

export interface KeyMessage {
  role: string
  content: string
  /** An assistant message's tool calls (OpenAI's shape), which the key must tell apart. */
  tool_calls?: unknown
  /** A tool message's call id. */
  tool_call_id?: string
}

/** The parts of an OpenAI-style request that decide the answer. */
export interface CacheableRequest {
  model: string
  kind: 'chat' | 'completion'
  messages: KeyMessage[]
  params: {
    temperature?: number | undefined
    top_p?: number | undefined
    top_k?: number | undefined
    seed?: number | undefined
    max_tokens?: number | undefined
    stop?: string[] | undefined
    response_format?: unknown
    /** Function calling: a request with tools never shares an answer with one without. */
    tool_choice?: unknown
    tools?: unknown
  }
}

export interface CanonicalRequest {
  v: 1
  model: string
  kind: 'chat' | 'completion'
  messages: KeyMessage[]
  params: Record<string, unknown>
}

const PUNCTUATION = /[\p{P}\p{S}]/gu

export function normalizeText(text: string, rules: NormalizationRules): string {
  let out = text
  if (rules.nfkc) out = out.normalize('NFKC')
  if (rules.case) out = out.toLowerCase()
  if (rules.punctuation) out = out.replace(PUNCTUATION, ' ')
  if (rules.whitespace || rules.punctuation) out = out.replace(/\s+/gu, ' ').trim()
  return out
}

/** Objects with their keys sorted, so equal values always serialise the same way. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .map((key) => [key, stable((value as Record<string, unknown>)[key])]),
    )
  }
  return value
}

export function canonicalRequest(request: CacheableRequest, rules: NormalizationRules): CanonicalRequest {
  return {
    v: 1,
    model: request.model,
    kind: request.kind,
    messages: request.messages.map((message) => ({
      role: message.role,
      content: normalizeText(message.content, rules),
      ...(message.tool_calls !== undefined ? { tool_calls: message.tool_calls } : {}),
      ...(message.tool_call_id !== undefined ? { tool_call_id: message.tool_call_id } : {}),
    })),
    params: stable(request.params) as Record<string, unknown>,
  }
}

export function canonicalJson(canonical: CanonicalRequest): string {
  return JSON.stringify(stable(canonical))
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('')
}

export async function cacheKey(
  request: CacheableRequest,
  rules: NormalizationRules,
): Promise<{ canonical: CanonicalRequest; keyHash: string; promptText: string }> {
  const canonical = canonicalRequest(request, rules)
  return {
    canonical,
    keyHash: await sha256Hex(canonicalJson(canonical)),
    promptText: request.messages.map((m) => (m.role === 'user' ? m.content : `[${m.role}] ${m.content}`)).join('\n'),
  }
}

/** The text that semantic matching embeds: the last user message (what varies between paraphrases). */
export function semanticText(request: CacheableRequest): string {
  const users = request.messages.filter((m) => m.role === 'user')
  return (users.at(-1) ?? request.messages.at(-1))?.content ?? ''
}
