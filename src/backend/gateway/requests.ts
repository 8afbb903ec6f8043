/**
 * Step 1 of a completion: an OpenAI request body (chat, legacy completion, or the Responses API: responses-api.ts),
 * validated like OpenAI validates it (types, ranges, roles: a 400 naming the field), and turned into what the rest
 * of the gateway needs: the cacheable parts (the key) and how to answer.
 */
import { z } from 'zod'
import type { CacheableRequest, KeyMessage } from '../../shared/cache-key'
import { generateRequestFrom } from '../cache/generate-request'
import { cacheableFrom } from '../cache/service'
import type { GenerateRequest } from '../models/providers/types'
import { GatewayError, invalidParam, paramPath } from './http'
import { isPlainChat } from './plain-chat'
import { logprobsOf, storedOf, type Stored } from './dataset-material'

export type CompletionApi = 'chat' | 'completion' | 'responses'

/** A validated completion request. */
export interface CompletionRequest {
  api: CompletionApi
  model: string
  stream: boolean
  /** `stream_options.include_usage`: a last chunk with the usage. */
  includeUsage: boolean
  cacheable: CacheableRequest
  /** The conversation ends with an assistant message, to be continued (a prefill). */
  prefill: boolean
  /** Request fields a Responses API answer echoes back. */
  echo?: Record<string, unknown>
  /** Log-probs asked for (alternatives per token), local models only: dataset-material.ts. */
  logprobs?: number
  /** `store: true`: the log row is marked as dataset material, with the request's metadata. */
  stored?: Stored
}

/** The distillation fields of a body (`logprobs`, `store`, `metadata`), when present. */
function materialOf(api: 'chat' | 'completion', body: Record<string, unknown>): Partial<CompletionRequest> {
  const logprobs = logprobsOf(api, body)
  const stored = storedOf(body)
  return { ...(logprobs !== undefined ? { logprobs } : {}), ...(stored ? { stored } : {}) }
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas (loose: unknown members pass through untouched, as the key must see what the client sent)

const range = (min: number, max: number) => z.number().min(min).max(max)

export const samplingFields = {
  temperature: range(0, 2).nullish(),
  top_p: range(0, 1).nullish(),
  top_k: z.int().min(0).nullish(),
  seed: z.int().nullish(),
  max_tokens: z.int().min(1).nullish(),
  max_completion_tokens: z.int().min(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  presence_penalty: range(-2, 2).nullish(),
  frequency_penalty: range(-2, 2).nullish(),
  n: z.int().min(1).max(1, 'only n = 1 is supported').nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).loose().nullish(),
  user: z.string().nullish(),
}

const jsonSchemaFormat = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a name of letters, digits, _ and -, at most 64'),
    description: z.string().nullish(),
    schema: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  })
  .loose()

export const responseFormatSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }).loose(),
  z.object({ type: z.literal('json_object') }).loose(),
  z.object({ type: z.literal('json_schema'), json_schema: jsonSchemaFormat }).loose(),
])

const toolCall = z
  .object({
    id: z.string().min(1),
    type: z.literal('function'),
    function: z.object({ name: z.string(), arguments: z.string() }).loose(),
  })
  .loose()

const tool = z
  .object({
    type: z.literal('function'),
    function: z
      .object({
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a name of letters, digits, _ and -, at most 64'),
        description: z.string().nullish(),
        parameters: z.record(z.string(), z.unknown()).nullish(),
        strict: z.boolean().nullish(),
      })
      .loose(),
  })
  .loose()

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string() }).loose() }).loose(),
])

const contentPart = z.object({ type: z.string(), text: z.string().optional() }).loose()
const content = z.union([z.string(), z.array(contentPart)]).nullable()

const message = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: content.optional(),
    name: z.string().nullish(),
    tool_calls: z.array(toolCall).nullish(),
    tool_call_id: z.string().nullish(),
  })
  .loose()

export const chatBody = z
  .object({
    model: z.string().min(1).max(200),
    messages: z.array(message).min(1).max(500),
    ...samplingFields,
    response_format: responseFormatSchema.nullish(),
    tools: z.array(tool).max(128).nullish(),
    tool_choice: toolChoice.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.int().min(0).max(20).nullish(),
    logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  })
  .loose()

const completionBody = z
  .object({
    model: z.string().min(1).max(200),
    prompt: z.union([z.string(), z.array(z.string()).length(1, 'one prompt per request')]),
    ...samplingFields,
    echo: z.boolean().nullish(),
    logprobs: z.int().min(0).max(5).nullish(),
    best_of: z.int().min(1).max(1, 'only best_of = 1 is supported').nullish(),
    suffix: z.string().nullish(),
  })
  .loose()

type ChatBody = z.infer<typeof chatBody>
type Message = z.infer<typeof message>

/** The body, or a 400 naming the first field that is wrong. */
export function validate<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  const param = paramPath(issue.path)
  const where = param ? `'${param}'` : 'the body'
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined'))
    throw invalidParam(param, `Missing required parameter: ${where}.`, 'missing_required_parameter')
  throw invalidParam(
    param,
    `Invalid value for ${where}: ${issue.message}.`,
    issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value',
  )
}

/** Parameters that change the answer, as the cache key takes them. */
const ANSWER_PARAMS = [
  'temperature',
  'top_p',
  'top_k',
  'seed',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'response_format',
  'tools',
  'tool_choice',
]

export function answerParams(body: Record<string, unknown>): Record<string, unknown> {
  const params: Record<string, unknown> = {}
  for (const key of ANSWER_PARAMS) if (body[key] !== undefined) params[key] = body[key]
  return params
}

function textOf(value: Message['content'], param: string): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'string') return value
  let text = ''
  for (const [index, part] of value.entries()) {
    if (part.type !== 'text' || typeof part.text !== 'string')
      throw invalidParam(
        `${param}[${index}].type`,
        `Only text content is supported; this part is "${part.type}".`,
        'unsupported_content',
      )
    text += part.text
  }
  return text
}

function checkMessage(message: Message, index: number): void {
  // The common case first: a user or system message with text.
  if (typeof message.content === 'string' && !message.tool_calls && !message.tool_call_id && message.role !== 'tool')
    return
  const param = `messages[${index}]`
  if (message.role === 'tool' && !message.tool_call_id)
    throw invalidParam(
      `${param}.tool_call_id`,
      'A tool message needs the tool_call_id it answers.',
      'missing_required_parameter',
    )
  if (message.tool_calls && message.role !== 'assistant')
    throw invalidParam(`${param}.tool_calls`, 'Only assistant messages carry tool_calls.')
  const needsContent = message.role !== 'assistant' || !message.tool_calls || message.tool_calls.length === 0
  if (needsContent && (message.content === null || message.content === undefined))
    throw invalidParam(`${param}.content`, `A ${message.role} message needs content.`, 'missing_required_parameter')
}

function checkTools(body: ChatBody): void {
  if (!body.logit_bias && (body.tool_choice === undefined || body.tool_choice === null)) return
  if (body.logit_bias && Object.keys(body.logit_bias).length > 0)
    throw invalidParam('logit_bias', 'logit_bias is not supported by this gateway.', 'unsupported_parameter')
  const choice = body.tool_choice
  if (choice === undefined || choice === null) return
  const tools = body.tools ?? []
  if (tools.length === 0 && choice !== 'none')
    throw invalidParam('tool_choice', 'tool_choice is only allowed when tools are given.')
  if (typeof choice === 'object' && !tools.some((t) => t.function.name === choice.function.name))
    throw invalidParam('tool_choice', `tool_choice names "${choice.function.name}", which is not one of the tools.`)
}

function keyMessage(message: Message, index: number): KeyMessage {
  const content =
    typeof message.content === 'string' ? message.content : textOf(message.content, `messages[${index}].content`)
  const key: KeyMessage = { role: message.role, content }
  if (message.tool_calls) key.tool_calls = message.tool_calls
  if (typeof message.tool_call_id === 'string') key.tool_call_id = message.tool_call_id
  return key
}

function parseChat(rawBody: unknown): CompletionRequest {
  // Common bodies skip zod (plain-chat.ts, proven to accept only what zod accepts); the rest is validated in full.
  const plain = isPlainChat(rawBody)
  const body = plain ? (rawBody as ChatBody) : validate(chatBody, rawBody)
  if (!plain) {
    body.messages.forEach(checkMessage)
    checkTools(body)
  }
  const messages = body.messages.map(keyMessage)
  return {
    api: 'chat',
    model: body.model,
    stream: body.stream === true,
    includeUsage: body.stream === true && body.stream_options?.include_usage === true,
    cacheable: cacheableFrom({ model: body.model, messages, params: answerParams(body) }),
    prefill: messages.at(-1)!.role === 'assistant',
    ...(plain ? {} : materialOf('chat', body)),
  }
}

function parseCompletionBody(rawBody: unknown): CompletionRequest {
  const body = validate(completionBody, rawBody)
  if (body.echo === true) throw invalidParam('echo', 'echo is not supported by this gateway.', 'unsupported_parameter')
  if (body.suffix) throw invalidParam('suffix', 'suffix is not supported by this gateway.', 'unsupported_parameter')
  const prompt = Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt
  return {
    api: 'completion',
    model: body.model,
    stream: body.stream === true,
    includeUsage: body.stream === true && body.stream_options?.include_usage === true,
    cacheable: cacheableFrom({ model: body.model, prompt, params: answerParams(body) }),
    prefill: false,
    ...materialOf('completion', body),
  }
}

export function parseCompletion(api: 'chat' | 'completion', rawBody: unknown): CompletionRequest {
  if (rawBody === null || typeof rawBody !== 'object' || Array.isArray(rawBody))
    throw new GatewayError(400, 'The request body must be a JSON object.', { code: 'invalid_json' })
  return api === 'chat' ? parseChat(rawBody) : parseCompletionBody(rawBody)
}

/** What the provider is asked to generate for a request (a miss). */
export function generationOf(
  request: CompletionRequest,
): Omit<GenerateRequest, 'signal' | 'onText'> & { maxTokens: number } {
  return generateRequestFrom(request.cacheable)
}
