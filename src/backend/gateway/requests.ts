/**
 * Step 1 of a completion: an OpenAI request body, validated, turned into what the rest of the gateway needs: the
 * cacheable parts (the key), the generation request, and how to answer (API shape, streaming).
 */
import { z } from 'zod'
import type { CacheableRequest } from '../../shared/cache-key'
import { ApiError } from '../../shared/errors'
import { cacheableFrom } from '../cache/service'
import type { GenerateRequest } from '../models/providers/types'

export type CompletionApi = 'chat' | 'completion'

const message = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'developer', 'tool']),
    content: z
      .union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).loose())])
      .nullable(),
  })
  .loose()

const chatBody = z
  .object({
    model: z.string().min(1).max(200),
    messages: z.array(message).min(1).max(500),
    stream: z.boolean().optional(),
    n: z.int().optional(),
  })
  .loose()

const completionBody = z
  .object({
    model: z.string().min(1).max(200),
    prompt: z.union([z.string(), z.array(z.string()).length(1)]),
    stream: z.boolean().optional(),
    n: z.int().optional(),
  })
  .loose()

/** Sampling parameters the provider understands, from an OpenAI body. */
const ANSWER_PARAMS = [
  'temperature',
  'top_p',
  'top_k',
  'seed',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'response_format',
]

/** A validated completion request. */
export interface CompletionRequest {
  api: CompletionApi
  model: string
  stream: boolean
  cacheable: CacheableRequest
}

function flattenContent(content: z.infer<typeof message>['content']): string {
  if (content === null) return ''
  if (typeof content === 'string') return content
  return content.map((part) => part.text ?? '').join('')
}

export function parseCompletion(api: CompletionApi, rawBody: unknown): CompletionRequest {
  const parsed = api === 'chat' ? chatBody.safeParse(rawBody) : completionBody.safeParse(rawBody)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ApiError({
      code: 'invalid_input',
      message: `Invalid request at "${issue.path.join('.')}": ${issue.message}`,
    })
  }
  const body = parsed.data as Record<string, unknown> & { model: string; stream?: boolean; n?: number }
  if (body.n !== undefined && body.n !== 1)
    throw new ApiError({ code: 'invalid_input', message: 'Only n = 1 is supported.' })
  const params: Record<string, unknown> = {}
  for (const key of ANSWER_PARAMS) if (body[key] !== undefined) params[key] = body[key]
  const cacheable = cacheableFrom({
    model: body.model,
    ...(api === 'chat'
      ? {
          messages: (body.messages as z.infer<typeof message>[]).map((m) => ({
            role: m.role,
            content: flattenContent(m.content),
          })),
        }
      : { prompt: Array.isArray(body.prompt) ? (body.prompt[0] as string) : (body.prompt as string) }),
    params,
  })
  return { api, model: body.model, stream: body.stream === true, cacheable }
}

/** What the provider is asked to generate for a request (a miss). */
export function generationOf(
  request: CompletionRequest,
): Omit<GenerateRequest, 'signal' | 'onText'> & { maxTokens: number } {
  const { cacheable } = request
  const params = cacheable.params
  return {
    ...(request.api === 'chat'
      ? { messages: cacheable.messages as never }
      : { prompt: cacheable.messages[0]!.content }),
    maxTokens: params.max_tokens ?? 256,
    ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
    ...(params.top_p !== undefined ? { topP: params.top_p } : {}),
    ...(params.top_k !== undefined ? { topK: params.top_k } : {}),
    ...(params.seed !== undefined ? { seed: params.seed } : {}),
    ...(params.stop ? { stop: params.stop } : {}),
  }
}
