/**
 * What to ask a provider for a cacheable request (the gateway's misses, pre-warming logged requests): every part of
 * the key that changes the answer is passed on, so the answer stored under a key is an answer to that key.
 */
import type { CacheableRequest, CanonicalRequest, KeyMessage } from '../../shared/cache-key'
import type {
  ChatMessage,
  GenerateRequest,
  ResponseFormat,
  ToolCall,
  ToolChoice,
  ToolDefinition,
} from '../models/providers/types'

function chatMessage(message: KeyMessage): ChatMessage {
  const role = message.role === 'developer' ? 'system' : (message.role as ChatMessage['role'])
  return {
    role,
    content: message.content,
    ...(Array.isArray(message.tool_calls) ? { toolCalls: message.tool_calls as ToolCall[] } : {}),
    ...(typeof message.tool_call_id === 'string' ? { toolCallId: message.tool_call_id } : {}),
  }
}

export function generateRequestFrom(
  request: CacheableRequest | CanonicalRequest,
): Omit<GenerateRequest, 'signal' | 'onText'> & { maxTokens: number } {
  const params = request.params as Record<string, unknown>
  const number = (key: string): number | undefined =>
    typeof params[key] === 'number' ? (params[key] as number) : undefined
  const format = params.response_format as ResponseFormat | undefined
  return {
    ...(request.kind === 'chat'
      ? { messages: request.messages.map(chatMessage) }
      : { prompt: request.messages[0]?.content ?? '' }),
    maxTokens: number('max_tokens') ?? 256,
    ...(number('temperature') !== undefined ? { temperature: number('temperature')! } : {}),
    ...(number('top_p') !== undefined ? { topP: number('top_p')! } : {}),
    ...(number('top_k') !== undefined ? { topK: number('top_k')! } : {}),
    ...(number('seed') !== undefined ? { seed: number('seed')! } : {}),
    ...(Array.isArray(params.stop) && params.stop.length > 0 ? { stop: params.stop as string[] } : {}),
    ...(format && typeof format === 'object' && format.type !== 'text' ? { responseFormat: format } : {}),
    ...(Array.isArray(params.tools) && params.tools.length > 0 ? { tools: params.tools as ToolDefinition[] } : {}),
    ...(params.tool_choice !== undefined ? { toolChoice: params.tool_choice as ToolChoice } : {}),
  }
}
