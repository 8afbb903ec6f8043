/**
 * One interface for text generation whatever runs it: a local GGUF model through node-llama-cpp (in the model
 * worker process) or any OpenAI-compatible endpoint (vLLM, llama.cpp server, Ollama, a hosted API).
 */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool'
  content: string
  /** An assistant message's calls of the request's tools. */
  toolCalls?: ToolCall[]
  /** A tool message: the call whose result it is. */
  toolCallId?: string
}

/** A call of one of the request's tools, as OpenAI's chat API writes it (`arguments` is JSON text). */
export interface ToolCall {
  id: string
  type: 'function'
  function: { name: string; arguments: string }
}

/** A tool the model may call (OpenAI's chat API shape). */
export interface ToolDefinition {
  type: 'function'
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null }
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } }

/** OpenAI's `response_format`. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema'
      json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null }
    }

export interface SamplingOptions {
  maxTokens: number
  temperature?: number
  topP?: number
  topK?: number
  seed?: number
  stop?: string[]
}

export interface GenerateRequest extends SamplingOptions {
  /** Plain completion of `prompt`, or a chat over `messages` (exactly one of the two). */
  prompt?: string
  messages?: ChatMessage[]
  /** Constrain the output to JSON matching this schema. */
  jsonSchema?: Record<string, unknown>
  /** Constrain the output with a GBNF grammar (local models only). */
  grammar?: string
  /** A client's `response_format` (the gateway): JSON output, constrained by a grammar on local models. */
  responseFormat?: ResponseFormat
  /** Tools the model may call (function calling), and whether it must. */
  tools?: ToolDefinition[]
  toolChoice?: ToolChoice
  /** Ask an OpenAI-compatible endpoint for this many top log-probs per answer token (`logprobs`/`top_logprobs`). */
  topLogprobs?: number
  signal?: AbortSignal
  /** Called with each piece of text as it is generated (streaming). */
  onText?: (text: string) => void
}

export type FinishReason = 'stop' | 'length' | 'aborted' | 'tool_calls'

export interface GenerateResult {
  text: string
  /** The tools the model called (finishReason "tool_calls"). */
  toolCalls?: ToolCall[]
  tokensIn: number
  tokensOut: number
  finishReason: FinishReason
  durationMs: number
  /** Which provider answered (after fan-out and retries). */
  providerId: string
  /** Per answer token, when `topLogprobs` was asked and the endpoint returned them (natural logs). */
  logprobs?: TokenLogprob[]
}

export interface TokenLogprob {
  token: string
  logprob: number
  top: { token: string; logprob: number }[]
}

export interface Provider {
  readonly id: string
  readonly kind: 'local' | 'openai'
  generate(request: GenerateRequest): Promise<GenerateResult>
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>
  tokenize(text: string): Promise<number[]>
  countTokens(text: string): Promise<number>
}

/** A provider failure that says whether trying another provider could help. */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'ProviderError'
  }
}

export function validateRequest(request: GenerateRequest): void {
  const hasPrompt = typeof request.prompt === 'string'
  const hasMessages = Array.isArray(request.messages)
  if (hasPrompt === hasMessages)
    throw new ProviderError('Give either a prompt or chat messages, not both or neither.', false)
  if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
    throw new ProviderError('maxTokens must be a positive whole number.', false)
  }
}
