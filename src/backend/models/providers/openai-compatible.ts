/**
 * A provider for any OpenAI-compatible endpoint. Streams with SSE, maps JSON-schema requests to
 * `response_format: json_schema`, and classifies failures: connection errors, 429 and 5xx may succeed elsewhere
 * (retryable); 4xx means the request itself is wrong.
 */
import {
  ProviderError,
  validateRequest,
  type ChatMessage,
  type FinishReason,
  type GenerateRequest,
  type GenerateResult,
  type TokenLogprob,
  type Provider,
  type ToolCall,
} from './types'

export interface OpenAiCompatibleOptions {
  id: string
  /** e.g. http://127.0.0.1:8000/v1 */
  baseUrl: string
  apiKey?: string
  model: string
  /** Per-request time limit. */
  timeoutMs?: number
}

interface WireToolCall {
  index?: number
  id?: string
  type?: 'function'
  function?: { name?: string; arguments?: string }
}

interface WireLogprob {
  token?: string
  logprob?: number
  top_logprobs?: { token?: string; logprob?: number }[]
}

interface CompletionChoice {
  logprobs?: { content?: WireLogprob[] | null } | null
  text?: string
  message?: { content?: string | null; tool_calls?: WireToolCall[] }
  delta?: { content?: string | null; tool_calls?: WireToolCall[] }
  finish_reason?: string | null
}

interface CompletionBody {
  choices?: CompletionChoice[]
  usage?: { prompt_tokens?: number; completion_tokens?: number }
}

/** OpenAI's `choices[].logprobs.content`, when an endpoint returned it whole. */
function readLogprobs(content: WireLogprob[] | null | undefined): TokenLogprob[] | undefined {
  if (!Array.isArray(content) || content.length === 0) return undefined
  const tokens: TokenLogprob[] = []
  for (const item of content) {
    if (typeof item?.token !== 'string' || typeof item.logprob !== 'number') return undefined
    const top = (item.top_logprobs ?? []).filter(
      (entry): entry is { token: string; logprob: number } =>
        typeof entry?.token === 'string' && typeof entry.logprob === 'number',
    )
    tokens.push({ token: item.token, logprob: item.logprob, top })
  }
  return tokens
}

function finishReasonOf(value: string | null | undefined): FinishReason {
  return value === 'length' ? 'length' : value === 'tool_calls' ? 'tool_calls' : 'stop'
}

/** Chat messages in OpenAI's wire shape (tool calls and tool results included). */
function wireMessages(messages: ChatMessage[]): Record<string, unknown>[] {
  return messages.map((message) => ({
    role: message.role,
    content: message.toolCalls && message.content === '' ? null : message.content,
    ...(message.toolCalls ? { tool_calls: message.toolCalls } : {}),
    ...(message.toolCallId ? { tool_call_id: message.toolCallId } : {}),
  }))
}

/** Tool calls as they arrive: whole (a JSON answer) or in pieces by index (a stream). */
class ToolCallCollector {
  private readonly calls: ToolCall[] = []

  add(parts: WireToolCall[] | undefined): void {
    for (const [position, part] of (parts ?? []).entries()) {
      const index = part.index ?? position
      const call = (this.calls[index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } })
      if (part.id) call.id = part.id
      if (part.function?.name) call.function.name += part.function.name
      if (part.function?.arguments) call.function.arguments += part.function.arguments
    }
  }

  get result(): ToolCall[] | undefined {
    const calls = this.calls.filter(Boolean)
    return calls.length > 0 ? calls : undefined
  }
}

export class OpenAiCompatibleProvider implements Provider {
  readonly kind = 'openai' as const
  readonly id: string
  private readonly baseUrl: string

  constructor(private readonly options: OpenAiCompatibleOptions) {
    this.id = options.id
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
  }

  private headers(): Record<string, string> {
    return {
      'content-type': 'application/json',
      ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
    }
  }

  private async post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 120_000)
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(body),
        signal: combined,
      })
    } catch (error) {
      if (signal?.aborted) throw signal.reason ?? error
      const reason = timeout.aborted
        ? 'timed out'
        : (((error as Error).cause as Error | undefined)?.message ?? (error as Error).message)
      throw new ProviderError(`${this.id}: cannot reach ${this.baseUrl} (${reason}).`, true)
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '')
      const retryable = response.status === 429 || response.status >= 500
      throw new ProviderError(
        `${this.id}: ${this.baseUrl}${path} answered ${response.status} ${text.slice(0, 300)}`.trim(),
        retryable,
        response.status,
      )
    }
    return response
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    validateRequest(request)
    const started = performance.now()
    const isChat = request.messages !== undefined
    const stream = request.onText !== undefined
    const body: Record<string, unknown> = {
      model: this.options.model,
      max_tokens: request.maxTokens,
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      ...(request.stop ? { stop: request.stop } : {}),
      ...(isChat ? { messages: wireMessages(request.messages!) } : { prompt: request.prompt }),
      ...(request.tools ? { tools: request.tools } : {}),
      ...(request.toolChoice ? { tool_choice: request.toolChoice } : {}),
      ...(request.responseFormat ? { response_format: request.responseFormat } : {}),
      ...(request.topLogprobs && isChat ? { logprobs: true, top_logprobs: request.topLogprobs } : {}),
      ...(request.jsonSchema
        ? {
            response_format: {
              type: 'json_schema',
              json_schema: { name: 'output', schema: request.jsonSchema, strict: true },
            },
          }
        : {}),
    }
    if (request.grammar) throw new ProviderError(`${this.id}: GBNF grammars are only supported by local models.`, false)
    const response = await this.post(isChat ? '/chat/completions' : '/completions', body, request.signal)
    let text = ''
    let finish: FinishReason = 'stop'
    let tokensIn = 0
    let tokensOut = 0
    const toolCalls = new ToolCallCollector()
    let logprobs: TokenLogprob[] | undefined
    if (stream) {
      for await (const data of readServerSentData(response, request.signal)) {
        if (data === '[DONE]') break
        const chunk = JSON.parse(data) as CompletionBody
        const choice = chunk.choices?.[0]
        const piece = choice?.delta?.content ?? choice?.text ?? ''
        if (piece) {
          text += piece
          request.onText!(piece)
        }
        toolCalls.add(choice?.delta?.tool_calls)
        if (choice?.finish_reason) finish = finishReasonOf(choice.finish_reason)
        if (chunk.usage) {
          tokensIn = chunk.usage.prompt_tokens ?? tokensIn
          tokensOut = chunk.usage.completion_tokens ?? tokensOut
        }
      }
    } else {
      const parsed = (await response.json()) as CompletionBody
      const choice = parsed.choices?.[0]
      text = choice?.message?.content ?? choice?.text ?? ''
      toolCalls.add(choice?.message?.tool_calls)
      finish = finishReasonOf(choice?.finish_reason)
      tokensIn = parsed.usage?.prompt_tokens ?? 0
      tokensOut = parsed.usage?.completion_tokens ?? 0
      logprobs = readLogprobs(choice?.logprobs?.content)
    }
    const calls = toolCalls.result
    return {
      text,
      ...(calls ? { toolCalls: calls } : {}),
      ...(logprobs ? { logprobs } : {}),
      tokensIn,
      tokensOut,
      finishReason: request.signal?.aborted ? 'aborted' : finish,
      durationMs: performance.now() - started,
      providerId: this.id,
    }
  }

  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const response = await this.post('/embeddings', { model: this.options.model, input: texts }, signal)
    const body = (await response.json()) as { data?: { index: number; embedding: number[] }[] }
    const rows = [...(body.data ?? [])].sort((a, b) => a.index - b.index)
    if (rows.length !== texts.length) {
      throw new ProviderError(`${this.id}: expected ${texts.length} embeddings, got ${rows.length}.`, true)
    }
    return rows.map((row) => row.embedding)
  }

  /** OpenAI itself has no tokenizer endpoint; vLLM and llama.cpp's server do (one level above /v1). */
  async tokenize(text: string): Promise<number[]> {
    const root = this.baseUrl.replace(/\/v1$/, '')
    const response = await fetch(`${root}/tokenize`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ model: this.options.model, prompt: text, content: text }),
    }).catch(() => undefined)
    if (!response?.ok) {
      throw new ProviderError(
        `${this.id}: this endpoint offers no /tokenize; token counts come from usage instead.`,
        false,
      )
    }
    const body = (await response.json()) as { tokens?: number[] }
    return body.tokens ?? []
  }

  async countTokens(text: string): Promise<number> {
    return (await this.tokenize(text)).length
  }
}

/** Yields the `data:` payloads of a Server-Sent Events response. */
export async function* readServerSentData(response: Response, signal?: AbortSignal): AsyncGenerator<string> {
  if (!response.body) return
  const decoder = new TextDecoder()
  let buffer = ''
  const reader = response.body.getReader()
  try {
    for (;;) {
      if (signal?.aborted) return
      const { value, done } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let boundary: number
      while ((boundary = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, boundary)
        buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, '')
        const data = block
          .split(/\r?\n/)
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n')
        if (data) yield data
      }
    }
  } finally {
    reader.releaseLock()
    await response.body.cancel().catch(() => undefined)
  }
}
