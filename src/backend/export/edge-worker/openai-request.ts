/**
 * An OpenAI-style request body as the cache key sees it. Must match the gateway's `cacheableFrom`
 * (src/backend/cache/service.ts) exactly, or the edge would look up different keys than the gateway stored; a test
 * compares the two on many bodies. (Platform-free copy because the gateway's module imports Node code.)
 */
import type { CacheableRequest, KeyMessage } from '../../../shared/cache-key'

export interface OpenAiBody {
  model?: unknown
  messages?: unknown
  prompt?: unknown
  [key: string]: unknown
}

export function cacheableFromBody(body: OpenAiBody): CacheableRequest | { error: string } {
  if (typeof body.model !== 'string' || body.model.length === 0) return { error: 'The request needs a "model".' }
  let messages: KeyMessage[] | undefined
  if (body.messages !== undefined) {
    if (
      !Array.isArray(body.messages) ||
      body.messages.length === 0 ||
      !body.messages.every(
        (message: unknown) =>
          typeof message === 'object' &&
          message !== null &&
          typeof (message as KeyMessage).role === 'string' &&
          typeof (message as KeyMessage).content === 'string',
      )
    ) {
      return { error: '"messages" must be a list of {role, content} with text content.' }
    }
    messages = (body.messages as KeyMessage[]).map(({ role, content, tool_calls, tool_call_id }) => ({
      role,
      content,
      ...(tool_calls !== undefined ? { tool_calls } : {}),
      ...(tool_call_id !== undefined ? { tool_call_id } : {}),
    }))
  } else if (typeof body.prompt !== 'string') {
    return { error: 'The request needs "messages" or a text "prompt".' }
  }
  const pick = (key: string): number | undefined => (typeof body[key] === 'number' ? (body[key] as number) : undefined)
  const stop = body.stop
  return {
    model: body.model,
    kind: messages ? 'chat' : 'completion',
    messages: messages ?? [{ role: 'user', content: typeof body.prompt === 'string' ? body.prompt : '' }],
    params: {
      temperature: pick('temperature'),
      top_p: pick('top_p'),
      top_k: pick('top_k'),
      seed: pick('seed'),
      max_tokens: pick('max_tokens') ?? pick('max_completion_tokens'),
      stop: typeof stop === 'string' ? [stop] : Array.isArray(stop) ? (stop as string[]) : undefined,
      response_format: body.response_format,
      tool_choice: body.tool_choice,
      tools: body.tools,
    },
  }
}
