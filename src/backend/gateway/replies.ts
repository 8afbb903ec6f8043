/**
 * Writing answers in OpenAI's shapes: chat.completion, text_completion (here) and the Responses API
 * (responses-api.ts). A reply is written whole (JSON, or a cached answer streamed in small pieces) or live: opened
 * on the first generated text, fed deltas, closed with the finish reason (and usage when asked).
 */
import type { ServerResponse } from 'node:http'
import type { CacheEntry } from '../../shared/contract'
import type { ToolCall } from '../models/providers/types'
import {
  chatLogprobs,
  chatLogprobsJson,
  completionLogprobs,
  completionLogprobsJson,
  tokenPieces,
  type AnswerLogprobs,
} from './dataset-material'
import { startEventStream } from './http'
import type { CompletionApi } from './requests'

export type AnswerFinish = 'stop' | 'length' | 'tool_calls'

/** An answer, from the cache or just generated. */
export interface Answer {
  text: string
  /** JSON.stringify(text), when known already (hot entries). */
  textJson?: string
  finishReason: AnswerFinish
  toolCalls: ToolCall[] | null
  tokensIn: number
  tokensOut: number
  /** Teacher-forced log-probs, when the client asked for them (dataset-material.ts). */
  logprobs?: AnswerLogprobs
}

/** One streamed token with its log-probs: the answer's log-probs, the token's index, its text offset in the answer. */
export interface TokenDelta {
  logprobs: AnswerLogprobs
  index: number
  offset: number
}

/** The shape of the reply: which API, under which id, for which model name. */
export interface ReplyFormat {
  id: string
  api: CompletionApi
  model: string
  stream: boolean
  includeUsage: boolean
  /** Request fields a Responses API answer echoes. */
  echo?: Record<string, unknown>
}

const answerJsons = new WeakMap<CacheEntry, string>()

/** JSON.stringify(entry.answer), once per entry object (hot entries are served from the same object). */
export function answerJson(entry: CacheEntry): string {
  let text = answerJsons.get(entry)
  if (text === undefined) {
    text = JSON.stringify(entry.answer)
    answerJsons.set(entry, text)
  }
  return text
}

/** The answer a cache entry holds. */
export function answerOf(entry: CacheEntry): Answer {
  return {
    text: entry.answer,
    textJson: answerJson(entry),
    finishReason: entry.finishReason,
    toolCalls: entry.toolCalls,
    tokensIn: entry.tokensIn ?? 0,
    tokensOut: entry.tokensOut ?? 0,
  }
}

/** Splits cached text into small pieces so a streamed hit looks like a streamed generation. */
export function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? []
}

export function usageOf(answer: Answer): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  return {
    prompt_tokens: answer.tokensIn,
    completion_tokens: answer.tokensOut,
    total_tokens: answer.tokensIn + answer.tokensOut,
  }
}

/** One reply in one API's shape. */
export abstract class Reply {
  private opened = false

  constructor(
    protected readonly response: ServerResponse,
    protected readonly format: ReplyFormat,
    protected readonly headers: Record<string, string>,
  ) {}

  get started(): boolean {
    return this.opened
  }

  /** The whole answer at once: JSON, or an event stream of small pieces when the client asked to stream. */
  whole(answer: Answer): void {
    if (!this.format.stream) {
      this.writeJson(answer)
      return
    }
    for (const piece of pieces(answer.text)) this.delta(piece)
    this.close(answer)
  }

  /** Generated text, as it comes (streaming only). */
  delta(text: string): void {
    if (!this.opened) this.open()
    this.writeDelta(text)
  }

  /**
   * The end of a live answer (the whole answer when not streaming). A streamed answer with log-probs is written here
   * whole, one chunk per token with its log-probs: they are known once the answer is (teacher forcing, after it).
   */
  close(answer: Answer): void {
    if (!this.format.stream) {
      this.writeJson(answer)
      return
    }
    if (!this.opened) this.open()
    if (answer.logprobs) this.writeTokens(answer.text, answer.logprobs)
    this.writeEnd(answer)
  }

  private writeTokens(text: string, logprobs: AnswerLogprobs): void {
    if (logprobs.tokens.length === 0 && text !== '') this.writeDelta(text)
    let offset = 0
    for (const [index, piece] of tokenPieces(text, logprobs.tokens).entries()) {
      this.writeDelta(piece, { logprobs, index, offset })
      offset += logprobs.tokens[index]!.token.length
    }
  }

  private open(): void {
    this.opened = true
    startEventStream(this.response, this.headers)
    this.writeStart()
  }

  protected abstract writeJson(answer: Answer): void
  protected abstract writeStart(): void
  protected abstract writeDelta(text: string, token?: TokenDelta): void
  protected abstract writeEnd(answer: Answer): void

  protected sendJsonText(text: string): void {
    this.response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...this.headers,
    })
    this.response.end(text)
  }

  protected created(): number {
    return Math.floor(Date.now() / 1000)
  }
}

/** `chat.completion` and `chat.completion.chunk`. */
export class ChatReply extends Reply {
  protected writeJson(answer: Answer): void {
    // JSON.stringify of the OpenAI body, written out (the same bytes, fewer objects on the hot path).
    const json = JSON.stringify
    const { id, model } = this.format
    const content = answer.toolCalls && answer.text === '' ? 'null' : (answer.textJson ?? json(answer.text))
    const calls = answer.toolCalls ? `,"tool_calls":${json(answer.toolCalls)}` : ''
    const usage = `"usage":{"prompt_tokens":${answer.tokensIn},"completion_tokens":${answer.tokensOut},"total_tokens":${answer.tokensIn + answer.tokensOut}}`
    this.sendJsonText(
      `{"id":${json(id)},"object":"chat.completion","created":${this.created()},"model":${json(model)},"choices":[{"index":0,"message":{"role":"assistant","content":${content}${calls}},"finish_reason":"${answer.finishReason}"${answer.logprobs ? `,"logprobs":${chatLogprobsJson(answer.logprobs)}` : ''}}],${usage}}`,
    )
  }

  private chunk(delta: Record<string, unknown>, finish: string | null, logprobs?: Record<string, unknown>): void {
    const { id, model } = this.format
    const body = {
      id,
      object: 'chat.completion.chunk',
      created: this.created(),
      model,
      choices: [{ index: 0, delta, ...(logprobs ? { logprobs } : {}), finish_reason: finish }],
    }
    this.response.write(`data: ${JSON.stringify(body)}\n\n`)
  }

  protected writeStart(): void {
    this.chunk({ role: 'assistant', content: '' }, null)
  }

  protected writeDelta(text: string, token?: TokenDelta): void {
    const logprobs = token && chatLogprobs(token.logprobs, [token.logprobs.tokens[token.index]!])
    this.chunk({ content: text }, null, logprobs)
  }

  protected writeEnd(answer: Answer): void {
    if (answer.toolCalls) this.chunk({ tool_calls: answer.toolCalls.map((call, index) => ({ index, ...call })) }, null)
    this.chunk({}, answer.finishReason)
    if (this.format.includeUsage) {
      const { id, model } = this.format
      const usage = {
        id,
        object: 'chat.completion.chunk',
        created: this.created(),
        model,
        choices: [],
        usage: usageOf(answer),
      }
      this.response.write(`data: ${JSON.stringify(usage)}\n\n`)
    }
    this.response.end('data: [DONE]\n\n')
  }
}

/** The legacy `text_completion`. */
export class CompletionReply extends Reply {
  protected writeJson(answer: Answer): void {
    const json = JSON.stringify
    const { id, model } = this.format
    const usage = `"usage":{"prompt_tokens":${answer.tokensIn},"completion_tokens":${answer.tokensOut},"total_tokens":${answer.tokensIn + answer.tokensOut}}`
    this.sendJsonText(
      `{"id":${json(id)},"object":"text_completion","created":${this.created()},"model":${json(model)},"choices":[{"index":0,"text":${answer.textJson ?? json(answer.text)},"logprobs":${answer.logprobs ? completionLogprobsJson(answer.logprobs) : 'null'},"finish_reason":"${answer.finishReason}"}],${usage}}`,
    )
  }

  private chunk(text: string, finish: string | null, usage?: Answer, token?: TokenDelta): void {
    const { id, model } = this.format
    const logprobs = token
      ? completionLogprobs(token.logprobs, [token.logprobs.tokens[token.index]!], token.offset)
      : null
    const body = {
      id,
      object: 'text_completion',
      created: this.created(),
      model,
      choices: usage ? [] : [{ index: 0, text, logprobs, finish_reason: finish }],
      ...(usage ? { usage: usageOf(usage) } : {}),
    }
    this.response.write(`data: ${JSON.stringify(body)}\n\n`)
  }

  protected writeStart(): void {}

  protected writeDelta(text: string, token?: TokenDelta): void {
    this.chunk(text, null, undefined, token)
  }

  protected writeEnd(answer: Answer): void {
    this.chunk('', answer.finishReason)
    if (this.format.includeUsage) this.chunk('', null, answer)
    this.response.end('data: [DONE]\n\n')
  }
}
