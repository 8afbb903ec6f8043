/**
 * Generation in the model worker: a chat (node-llama-cpp's `LlamaChat`) or a plain completion on one context
 * sequence, with JSON-schema / GBNF / `response_format` grammars, function calling (OpenAI `tools`), an assistant
 * prefill (a conversation ending with an assistant message is continued), and token usage from the sequence's
 * token meter.
 */
import type {
  ChatHistoryItem,
  ChatModelFunctions,
  ChatModelResponse,
  Llama,
  LlamaContextSequence,
  LlamaGrammar,
} from 'node-llama-cpp'
import { randomUUID } from 'node:crypto'
import type { ToolCall, ToolDefinition } from '../providers/types'
import type { WorkerGenerateRequest, WorkerGenerateResult } from './protocol'

/** An error that is the request's fault (answered 400 by the gateway), not the worker's. */
export class BadRequestError extends Error {
  readonly status = 400
}

type Messages = NonNullable<WorkerGenerateRequest['messages']>

/** How the request's tools are used: not at all, offered (the model decides), or one call forced by a grammar. */
type ToolMode =
  | { kind: 'none' }
  | { kind: 'offered'; functions: ChatModelFunctions }
  | { kind: 'forced'; tools: ToolDefinition[]; schema: Record<string, unknown>; single: boolean }

function toolModeOf(request: WorkerGenerateRequest): ToolMode {
  const tools = request.tools ?? []
  const choice = request.toolChoice ?? 'auto'
  if (tools.length === 0 || choice === 'none') return { kind: 'none' }
  if (choice === 'auto') {
    const functions: ChatModelFunctions = Object.fromEntries(
      tools.map((tool) => [
        tool.function.name,
        {
          ...(tool.function.description ? { description: tool.function.description } : {}),
          ...(tool.function.parameters ? { params: tool.function.parameters as never } : {}),
        },
      ]),
    )
    return { kind: 'offered', functions }
  }
  const named = choice === 'required' ? tools : tools.filter((tool) => tool.function.name === choice.function.name)
  const parameters = (tool: ToolDefinition): Record<string, unknown> => tool.function.parameters ?? { type: 'object' }
  if (named.length === 1) return { kind: 'forced', tools: named, schema: parameters(named[0]!), single: true }
  // One call of any of the tools: {"name": ..., "arguments": {...}}.
  const schema = {
    oneOf: named.map((tool) => ({
      type: 'object',
      properties: { name: { const: tool.function.name }, arguments: parameters(tool) },
    })),
  }
  return { kind: 'forced', tools: named, schema, single: false }
}

/** OpenAI messages as node-llama-cpp chat history; tool calls carry the results of the tool messages after them. */
export function toHistory(messages: Messages): ChatHistoryItem[] {
  const results = new Map<string, string>()
  for (const message of messages)
    if (message.role === 'tool' && message.toolCallId) results.set(message.toolCallId, message.content)
  const history: ChatHistoryItem[] = []
  for (const message of messages) {
    if (message.role === 'system') history.push({ type: 'system', text: message.content })
    else if (message.role === 'user') history.push({ type: 'user', text: message.content })
    else if (message.role === 'assistant') {
      const response: ChatModelResponse['response'] = message.content ? [message.content] : []
      for (const call of message.toolCalls ?? []) {
        response.push({
          type: 'functionCall',
          name: call.function.name,
          params: parseArguments(call.function.arguments),
          result: results.get(call.id) ?? '',
        })
      }
      // Consecutive model turns (a call, then the answer after its result) stay one model response.
      const last = history.at(-1)
      if (last?.type === 'model') last.response.push(...response)
      else history.push({ type: 'model', response })
    }
  }
  return history
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

async function grammarFor(
  llama: Llama,
  request: WorkerGenerateRequest,
  tools: ToolMode,
): Promise<LlamaGrammar | undefined> {
  const format = request.responseFormat
  try {
    if (tools.kind === 'forced') return await llama.createGrammarForJsonSchema(tools.schema as never)
    if (request.jsonSchema) return await llama.createGrammarForJsonSchema(request.jsonSchema as never)
    if (request.grammar) return await llama.createGrammar({ grammar: request.grammar })
    if (format?.type === 'json_schema')
      return await llama.createGrammarForJsonSchema((format.json_schema.schema ?? { type: 'object' }) as never)
    if (format?.type === 'json_object') return await llama.getGrammarFor('json')
  } catch (error) {
    throw new BadRequestError(
      `Local models constrain output with a grammar, and this schema cannot become one: ${(error as Error).message}`,
    )
  }
  return undefined
}

function forcedCalls(tools: Extract<ToolMode, { kind: 'forced' }>, text: string): ToolCall[] {
  const id = `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`
  if (tools.single)
    return [{ id, type: 'function', function: { name: tools.tools[0]!.function.name, arguments: text } }]
  const call = parseArguments(text) as { name?: string; arguments?: unknown }
  return [
    {
      id,
      type: 'function',
      function: { name: String(call.name ?? ''), arguments: JSON.stringify(call.arguments ?? {}) },
    },
  ]
}

/** A system note telling the model which tool it must call now (the grammar holds it to the arguments' schema). */
function forcedToolNote(tools: Extract<ToolMode, { kind: 'forced' }>): ChatHistoryItem {
  const lines = tools.tools.map(
    (tool) =>
      `- ${tool.function.name}${tool.function.description ? `: ${tool.function.description}` : ''} (arguments: ${JSON.stringify(tool.function.parameters ?? {})})`,
  )
  const intro = tools.single
    ? `Call the function ${tools.tools[0]!.function.name} now; answer with its arguments as JSON only.`
    : 'Call one of these functions now; answer with {"name": ..., "arguments": {...}} as JSON only.'
  return { type: 'system', text: `${intro}\n${lines.join('\n')}` }
}

const FINISH: Record<string, WorkerGenerateResult['finishReason']> = {
  maxTokens: 'length',
  abort: 'aborted',
  functionCalls: 'tool_calls',
}

/**
 * Generates on `sequence` (cleared by the caller afterwards). Usage comes from the sequence's token meter: llama.cpp
 * computes logits for the prompt's last token to sample the first answer token, and the meter counts that
 * evaluation as output, so prompt tokens are the meter's input tokens plus that one.
 */
export async function generateOn(
  llama: Llama,
  sequence: LlamaContextSequence,
  request: WorkerGenerateRequest,
  signal: AbortSignal,
  onText: ((text: string) => void) | undefined,
): Promise<Omit<WorkerGenerateResult, 'durationMs'>> {
  const { LlamaChat, LlamaCompletion } = await import('node-llama-cpp')
  const tools = request.messages ? toolModeOf(request) : ({ kind: 'none' } as const)
  const grammar = await grammarFor(llama, request, tools)
  const before = sequence.tokenMeter.getState()
  const common = {
    maxTokens: request.maxTokens,
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.topP !== undefined ? { topP: request.topP } : {}),
    ...(request.topK !== undefined ? { topK: request.topK } : {}),
    ...(request.seed !== undefined ? { seed: request.seed } : {}),
    ...(request.stop && request.stop.length > 0 ? { customStopTriggers: request.stop } : {}),
    signal,
    stopOnAbortSignal: true,
    // A forced tool call's text is its arguments, not an answer to stream.
    ...(onText && tools.kind !== 'forced' ? { onTextChunk: onText } : {}),
  }
  let text: string
  let stopReason: string
  let toolCalls: ToolCall[] | undefined
  if (request.messages) {
    const history = toHistory(request.messages)
    if (tools.kind === 'forced') history.splice(history.length - 1, 0, forcedToolNote(tools))
    // A conversation that ends with an assistant message is continued (a prefill); otherwise a new answer starts.
    if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] })
    const chat = new LlamaChat({ contextSequence: sequence, autoDisposeSequence: false })
    try {
      const reply = await chat.generateResponse(history, {
        ...common,
        ...(grammar ? { grammar } : tools.kind === 'offered' ? { functions: tools.functions } : {}),
      })
      text = reply.response
      stopReason = reply.metadata.stopReason
      if (reply.functionCalls && reply.functionCalls.length > 0) {
        toolCalls = reply.functionCalls.map((call) => ({
          id: `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
          type: 'function',
          function: { name: call.functionName, arguments: JSON.stringify(call.params ?? {}) },
        }))
      }
    } catch (error) {
      throw contextError(error)
    } finally {
      chat.dispose({ disposeSequence: false })
    }
    if (tools.kind === 'forced' && stopReason !== 'maxTokens' && stopReason !== 'abort') {
      toolCalls = forcedCalls(tools, text)
      text = ''
      stopReason = 'functionCalls'
    }
  } else {
    const completion = new LlamaCompletion({ contextSequence: sequence, autoDisposeSequence: false })
    try {
      const reply = await completion.generateCompletionWithMeta(request.prompt ?? '', {
        ...common,
        ...(grammar ? { grammar } : {}),
      })
      text = reply.response
      stopReason = reply.metadata.stopReason
    } catch (error) {
      throw contextError(error)
    } finally {
      completion.dispose()
    }
  }
  const used = sequence.tokenMeter.diff(before)
  return {
    text,
    ...(toolCalls ? { toolCalls } : {}),
    tokensIn: used.usedInputTokens + (used.usedOutputTokens > 0 ? 1 : 0),
    tokensOut: used.usedOutputTokens,
    finishReason: FINISH[stopReason] ?? 'stop',
  }
}

/** A prompt that cannot fit the context is the request's fault. */
function contextError(error: unknown): unknown {
  const message = (error as Error)?.message ?? ''
  if (/context (size|shift)|fit the context|too long/i.test(message))
    return new BadRequestError(`The prompt does not fit the model's context: ${message}`)
  return error
}
