/**
 * OpenAI's Responses API (`POST /v1/responses`, the Vercel AI SDK's default path): text input (a string, or
 * messages with input_text / output_text parts) and `instructions`, text output, `text.format` (JSON output),
 * streaming as the Responses event stream, and the cache: a request is keyed as the equivalent chat request, so
 * both APIs share entries. `include: ["message.output_text.logprobs"]` (+ `top_logprobs`) gives a local model's
 * log-probs on the output text and on each streamed delta (dataset-material.ts); such a request skips the cache. Tools, previous_response_id and non-text input are refused with a 400 that says so.
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { cacheableFrom } from '../cache/service'
import { GatewayError, invalidParam } from './http'
import { tokenEntry, type AnswerLogprobs } from './dataset-material'
import { Reply, type Answer, type TokenDelta } from './replies'
import { answerParams, samplingFields, validate, type CompletionRequest } from './requests'

const inputPart = z.object({ type: z.string(), text: z.string().optional() }).loose()

const inputItem = z
  .object({
    type: z.string().optional(),
    role: z.enum(['system', 'developer', 'user', 'assistant']).optional(),
    content: z.union([z.string(), z.array(inputPart)]).optional(),
  })
  .loose()

const textFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).loose(),
  z.object({ type: z.literal('json_object') }).loose(),
  z
    .object({
      type: z.literal('json_schema'),
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a name of letters, digits, _ and -, at most 64'),
      schema: z.record(z.string(), z.unknown()),
      description: z.string().nullish(),
      strict: z.boolean().nullish(),
    })
    .loose(),
])

const responsesBody = z
  .object({
    model: z.string().min(1).max(200),
    input: z.union([z.string(), z.array(inputItem).min(1).max(500)]),
    instructions: z.string().nullish(),
    max_output_tokens: z.int().min(1).nullish(),
    temperature: samplingFields.temperature,
    top_p: samplingFields.top_p,
    stream: samplingFields.stream,
    text: z.object({ format: textFormat.nullish() }).loose().nullish(),
    tools: z.array(z.unknown()).nullish(),
    tool_choice: z.unknown().optional(),
    previous_response_id: z.string().nullish(),
    store: z.boolean().nullish(),
    metadata: z.record(z.string(), z.string()).nullish(),
    user: samplingFields.user,
    include: z.array(z.string()).nullish(),
    top_logprobs: z.int().min(0).max(20).nullish(),
  })
  .loose()

type ResponsesBody = z.infer<typeof responsesBody>

function itemText(item: z.infer<typeof inputItem>, index: number): string {
  if (typeof item.content === 'string') return item.content
  let text = ''
  for (const [part, value] of (item.content ?? []).entries()) {
    if ((value.type !== 'input_text' && value.type !== 'output_text') || typeof value.text !== 'string')
      throw invalidParam(
        `input[${index}].content[${part}].type`,
        `Only text input is supported; this part is "${value.type}".`,
        'unsupported_content',
      )
    text += value.text
  }
  return text
}

function messagesOf(body: ResponsesBody): { role: string; content: string }[] {
  const messages = body.instructions ? [{ role: 'system', content: body.instructions }] : []
  if (typeof body.input === 'string') return [...messages, { role: 'user', content: body.input }]
  for (const [index, item] of body.input.entries()) {
    if ((item.type !== undefined && item.type !== 'message') || !item.role)
      throw invalidParam(
        `input[${index}]`,
        `Only message items are supported on /v1/responses (this one is "${item.type ?? 'without a role'}").`,
        'unsupported_parameter',
      )
    messages.push({ role: item.role, content: itemText(item, index) })
  }
  return messages
}

/** `text.format` as the chat API's `response_format` (so both APIs key and generate the same way). */
function responseFormatOf(body: ResponsesBody): unknown {
  const format = body.text?.format
  if (!format || format.type !== 'json_schema') return format ?? undefined
  const { type: _type, name, schema, description, strict, ...rest } = format
  void rest
  return {
    type: 'json_schema',
    json_schema: {
      name,
      schema,
      ...(description ? { description } : {}),
      ...(strict !== undefined && strict !== null ? { strict } : {}),
    },
  }
}

/** The `include` value that asks for the output text's log-probs (with `top_logprobs` alternatives per token). */
export const LOGPROBS_INCLUDE = 'message.output_text.logprobs'

/** A token's log-probs as the Responses event stream carries them (`response.output_text.delta`/`.done`): no bytes. */
function eventEntry(logprobs: AnswerLogprobs, index: number): Record<string, unknown> {
  const token = logprobs.tokens[index]!
  return {
    token: token.token,
    logprob: token.logprob ?? -9999,
    top_logprobs: token.top.slice(0, logprobs.top).map((entry) => ({ token: entry.token, logprob: entry.logprob })),
  }
}

export function parseResponsesRequest(rawBody: unknown): CompletionRequest {
  if (rawBody === null || typeof rawBody !== 'object' || Array.isArray(rawBody))
    throw new GatewayError(400, 'The request body must be a JSON object.', { code: 'invalid_json' })
  const body = validate(responsesBody, rawBody)
  if (body.tools && body.tools.length > 0)
    throw invalidParam(
      'tools',
      'Tools are not supported on /v1/responses; use /v1/chat/completions.',
      'unsupported_parameter',
    )
  if (body.previous_response_id)
    throw invalidParam(
      'previous_response_id',
      'Responses are not stored here; send the whole conversation as input instead.',
      'unsupported_parameter',
    )
  const messages = messagesOf(body)
  const responseFormat = responseFormatOf(body)
  const logprobs = body.include?.includes(LOGPROBS_INCLUDE) ? (body.top_logprobs ?? 0) : undefined
  const params = answerParams({
    temperature: body.temperature ?? undefined,
    top_p: body.top_p ?? undefined,
    max_tokens: body.max_output_tokens ?? undefined,
    response_format: responseFormat,
  })
  return {
    api: 'responses',
    model: body.model,
    stream: body.stream === true,
    includeUsage: false,
    cacheable: cacheableFrom({ model: body.model, messages, params }),
    prefill: messages.at(-1)?.role === 'assistant',
    ...(logprobs !== undefined ? { logprobs } : {}),
    echo: {
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      temperature: body.temperature ?? null,
      top_p: body.top_p ?? null,
      text: { format: body.text?.format ?? { type: 'text' } },
      metadata: body.metadata ?? {},
      user: body.user ?? null,
      top_logprobs: body.top_logprobs ?? null,
    },
  }
}

/** A Responses API answer: a `response` object, or the event stream that builds one. */
export class ResponsesReply extends Reply {
  private sequence = 0
  private readonly itemId = `msg_${randomUUID().replaceAll('-', '')}`

  private responseObject(status: 'in_progress' | 'completed' | 'incomplete', answer?: Answer): Record<string, unknown> {
    const { id, model, echo } = this.format
    return {
      id,
      object: 'response',
      created_at: this.created(),
      status,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      model,
      output: answer ? [this.item(answer, status)] : [],
      parallel_tool_calls: true,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      tool_choice: 'auto',
      tools: [],
      truncation: 'disabled',
      usage: answer
        ? {
            input_tokens: answer.tokensIn,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: answer.tokensOut,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: answer.tokensIn + answer.tokensOut,
          }
        : null,
      ...echo,
    }
  }

  /** An `output_text` part; with `logprobs` (OpenAI's `ResponseOutputText.Logprob[]`) when they were asked for. */
  private part(text: string, logprobs?: AnswerLogprobs): Record<string, unknown> {
    return {
      type: 'output_text',
      text,
      annotations: [],
      ...(logprobs ? { logprobs: logprobs.tokens.map((token) => tokenEntry(token, logprobs.top)) } : {}),
    }
  }

  private item(answer: Answer | null, status: 'in_progress' | 'completed' | 'incomplete'): Record<string, unknown> {
    return {
      type: 'message',
      id: this.itemId,
      status,
      role: 'assistant',
      content: status === 'in_progress' || !answer ? [] : [this.part(answer.text, answer.logprobs)],
    }
  }

  private event(type: string, data: Record<string, unknown>): void {
    const body = JSON.stringify({ type, sequence_number: this.sequence++, ...data })
    this.response.write(`event: ${type}\ndata: ${body}\n\n`)
  }

  protected writeJson(answer: Answer): void {
    this.sendJsonText(JSON.stringify(this.responseObject(statusOf(answer), answer)))
  }

  protected writeStart(): void {
    const response = this.responseObject('in_progress')
    this.event('response.created', { response })
    this.event('response.in_progress', { response })
    this.event('response.output_item.added', { output_index: 0, item: this.item(null, 'in_progress') })
    this.event('response.content_part.added', {
      item_id: this.itemId,
      output_index: 0,
      content_index: 0,
      part: this.part(''),
    })
  }

  protected writeDelta(text: string, token?: TokenDelta): void {
    this.event('response.output_text.delta', {
      item_id: this.itemId,
      output_index: 0,
      content_index: 0,
      delta: text,
      logprobs: token ? [eventEntry(token.logprobs, token.index)] : [],
    })
  }

  protected writeEnd(answer: Answer): void {
    const at = { item_id: this.itemId, output_index: 0, content_index: 0 }
    const status = statusOf(answer)
    const { logprobs } = answer
    const entries = logprobs ? logprobs.tokens.map((_, index) => eventEntry(logprobs, index)) : []
    this.event('response.output_text.done', { ...at, text: answer.text, logprobs: entries })
    this.event('response.content_part.done', { ...at, part: this.part(answer.text, logprobs) })
    this.event('response.output_item.done', { output_index: 0, item: this.item(answer, status) })
    this.event(status === 'completed' ? 'response.completed' : 'response.incomplete', {
      response: this.responseObject(status, answer),
    })
    this.response.end()
  }
}

function statusOf(answer: Answer): 'completed' | 'incomplete' {
  return answer.finishReason === 'length' ? 'incomplete' : 'completed'
}

export function responseId(): string {
  return `resp_${randomUUID().replaceAll('-', '')}`
}
