/**
 * What the gateway does for distillation: `logprobs`/`top_logprobs` on chat and completions for local models, and
 * `store: true` + `metadata` marking a request as dataset material (as OpenAI's stored completions do).
 *
 * Log-probs come from teacher forcing the answer through the same loaded model (`controlledEvaluate` in the model
 * worker, the full softmax at temperature 1): the distribution the model puts on each answer token, whatever sampler
 * chose it. Streamed (`stream: true`), the same numbers go out one token per chunk once the answer is complete
 * (replies.ts `Reply.close`, `tokenPieces`): they exist only after teacher forcing the whole answer. Stored requests are written straight to the request log with their metadata (not through the
 * write-behind batch of the hit path): they are rare, and a stored request must not be lost.
 */
import type { Db } from '../db/database'
import type { QueuedLogRow } from '../cache/write-behind'
import { SettingsRepository, estimateCost } from '../settings/repository'
import type { ModelsService } from '../models/service'
import type { TeacherLogprobsResult } from '../models/worker/teacher-logprobs'
import type { GenerateRequest } from '../models/providers/types'
import { invalidParam } from './http'

export interface AnswerLogprobs {
  /** How many alternatives per token the client asked for (0: only the chosen token's log-prob). */
  top: number
  tokens: TeacherLogprobsResult['tokens']
}

export interface Stored {
  metadata: Record<string, string> | null
}

/** `logprobs` of a chat body (boolean + `top_logprobs`) or a completions body (an integer 0-5), as a count. */
export function logprobsOf(api: 'chat' | 'completion', body: Record<string, unknown>): number | undefined {
  const asked = api === 'chat' ? body.logprobs === true : typeof body.logprobs === 'number'
  if (!asked) return undefined
  return api === 'chat' ? Number(body.top_logprobs ?? 0) : Number(body.logprobs)
}

/** `store` and `metadata` (OpenAI's limits: 16 pairs, keys up to 64 characters, values up to 512). */
export function storedOf(body: Record<string, unknown>): Stored | undefined {
  const metadata = body.metadata
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata))
      throw invalidParam('metadata', 'metadata must be an object of string values.', 'invalid_type')
    const entries = Object.entries(metadata as Record<string, unknown>)
    if (entries.length > 16) throw invalidParam('metadata', 'metadata takes at most 16 pairs.', 'invalid_value')
    for (const [key, value] of entries) {
      if (key.length > 64 || typeof value !== 'string' || value.length > 512)
        throw invalidParam(
          `metadata.${key}`,
          'metadata keys are up to 64 characters, values strings up to 512.',
          'invalid_value',
        )
    }
  }
  if (body.store !== undefined && body.store !== null && typeof body.store !== 'boolean')
    throw invalidParam('store', 'store must be true or false.', 'invalid_type')
  if (body.store !== true) return undefined
  return { metadata: (metadata as Record<string, string> | null | undefined) ?? null }
}

/** The teacher-forced log-probs of `answer` under a loaded local model. */
export async function answerLogprobs(
  models: ModelsService,
  modelId: number,
  generation: Pick<GenerateRequest, 'messages' | 'prompt'>,
  answer: string,
  top: number,
): Promise<AnswerLogprobs> {
  const messages = generation.messages
    ?.filter((message) => message.role !== 'tool')
    .map((message) => ({ role: message.role as 'system' | 'user' | 'assistant', content: message.content }))
  const result = await models.teacherLogprobs(modelId, {
    ...(messages ? { messages } : { prompt: generation.prompt ?? '' }),
    answer,
    k: Math.max(1, top),
  })
  return { top, tokens: result.tokens }
}

const bytesOf = (token: string): number[] => [...Buffer.from(token, 'utf8')]

type AnswerToken = AnswerLogprobs['tokens'][number]

/** One answer token as OpenAI's `logprobs.content[]` entry (chat, and the Responses API's output text). */
export function tokenEntry(token: AnswerToken, top: number): Record<string, unknown> {
  return {
    token: token.token,
    logprob: token.logprob ?? -9999,
    bytes: bytesOf(token.token),
    top_logprobs: token.top
      .slice(0, top)
      .map((entry) => ({ token: entry.token, logprob: entry.logprob, bytes: bytesOf(entry.token) })),
  }
}

/** OpenAI's chat `choices[].logprobs`. */
export function chatLogprobs(logprobs: AnswerLogprobs, tokens = logprobs.tokens): Record<string, unknown> {
  return { content: tokens.map((token) => tokenEntry(token, logprobs.top)), refusal: null }
}

export function chatLogprobsJson(logprobs: AnswerLogprobs): string {
  return JSON.stringify(chatLogprobs(logprobs))
}

/** The legacy completions `choices[].logprobs` for `tokens` (all of the answer's by default), starting at `offset`. */
export function completionLogprobs(
  logprobs: AnswerLogprobs,
  tokens = logprobs.tokens,
  offset = 0,
): Record<string, unknown> {
  const offsets = tokens.map((token) => {
    const at = offset
    offset += token.token.length
    return at
  })
  return {
    tokens: tokens.map((token) => token.token),
    token_logprobs: tokens.map((token) => token.logprob),
    top_logprobs: tokens.map((token) =>
      Object.fromEntries(token.top.slice(0, logprobs.top).map((entry) => [entry.token, entry.logprob])),
    ),
    text_offset: offsets,
  }
}

export function completionLogprobsJson(logprobs: AnswerLogprobs): string {
  return JSON.stringify(completionLogprobs(logprobs))
}

/**
 * The answer's text cut at its tokens, one piece per token, for a streamed answer with log-probs: each chunk carries
 * one token's text and its entry. The pieces always join to `text`: where a token's text is not the next part of the
 * answer (a token that is half of a UTF-8 character), the rest of the answer goes with that token and the tokens
 * after it carry none.
 */
export function tokenPieces(text: string, tokens: readonly AnswerToken[]): string[] {
  const pieces: string[] = []
  let at = 0
  for (const [index, token] of tokens.entries()) {
    const last = index === tokens.length - 1
    if (at < text.length && !last && token.token !== '' && text.startsWith(token.token, at)) {
      pieces.push(token.token)
      at += token.token.length
    } else {
      pieces.push(text.slice(at))
      at = text.length
    }
  }
  return pieces
}

/** A stored request's log row, written at once with `stored = 1` and its metadata. */
export function logStoredRequest(db: Db, row: QueuedLogRow, stored: Stored): void {
  const cost = estimateCost(new SettingsRepository(db).get(), row.tokensIn, row.tokensOut)
  db.prepare(
    `INSERT INTO request_log (at, namespace_id, tenant, key_hash, canonical, prompt_text, hit_kind, reason, similarity,
       entry_id, latency_ms, tokens_in, tokens_out, cost_estimate, source, stored, metadata)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
  ).run(
    row.at,
    row.namespaceId,
    row.tenant,
    row.keyHash,
    row.canonical,
    row.promptText,
    row.hitKind,
    row.reason,
    row.similarity,
    row.entryId,
    row.latencyMs,
    row.tokensIn,
    row.tokensOut,
    cost,
    row.source,
    stored.metadata ? JSON.stringify(stored.metadata) : null,
  )
}
