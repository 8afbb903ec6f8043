/**
 * Writing answers in OpenAI's chat.completion / text_completion shapes, whole (JSON, or a hit streamed in small
 * pieces) or as a live event stream (open, deltas, close).
 */
import type { ServerResponse } from 'node:http'
import type { CacheEntry } from '../../shared/contract'
import { startEventStream } from './http'
import type { CompletionApi } from './requests'

/** An answer, from the cache or just generated. */
export interface Answer {
  text: string
  /** JSON.stringify(text), when known already (hot entries). */
  textJson?: string
  finishReason: string
  tokensIn: number
  tokensOut: number
}

/** The shape of the reply: which API, under which id, for which model name. */
export interface ReplyFormat {
  id: string
  api: CompletionApi
  model: string
  stream: boolean
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

/** Splits cached text into small pieces so a streamed hit looks like a streamed generation. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? []
}

export function writeChunk(
  response: ServerResponse,
  format: ReplyFormat,
  delta: { role?: string; content?: string },
  finish: string | null,
): void {
  const created = Math.floor(Date.now() / 1000)
  const { id, model } = format
  const chunk =
    format.api === 'chat'
      ? { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] }
      : {
          id,
          object: 'text_completion',
          created,
          model,
          choices: [{ index: 0, text: delta.content ?? '', finish_reason: finish }],
        }
  response.write(`data: ${JSON.stringify(chunk)}\n\n`)
}

/** Starts a live event stream (the first generated text, or the end when nothing was generated). */
export function openStream(response: ServerResponse, format: ReplyFormat, headers: Record<string, string>): void {
  startEventStream(response, headers)
  writeChunk(response, format, { role: 'assistant', content: '' }, null)
}

export function closeStream(response: ServerResponse, format: ReplyFormat, answer: Answer): void {
  writeChunk(response, format, {}, answer.finishReason)
  response.end('data: [DONE]\n\n')
}

/** The whole answer at once: JSON, or an event stream of small pieces when the client asked to stream. */
export function writeWhole(
  response: ServerResponse,
  format: ReplyFormat,
  headers: Record<string, string>,
  answer: Answer,
): void {
  if (format.stream) {
    openStream(response, format, headers)
    for (const piece of pieces(answer.text)) writeChunk(response, format, { content: piece }, null)
    closeStream(response, format, answer)
    return
  }
  // JSON.stringify of the OpenAI body, written out (the same bytes, fewer objects on the hot path).
  const json = JSON.stringify
  const created = Math.floor(Date.now() / 1000)
  const head = `{"id":${json(format.id)},"object":${format.api === 'chat' ? '"chat.completion"' : '"text_completion"'},"created":${created},"model":${json(format.model)},"choices":[{"index":0,`
  const content = answer.textJson ?? json(answer.text)
  const choice =
    format.api === 'chat'
      ? `"message":{"role":"assistant","content":${content}},"finish_reason":${json(answer.finishReason)}}]`
      : `"text":${content},"finish_reason":${json(answer.finishReason)}}]`
  const usage = `"usage":{"prompt_tokens":${json(answer.tokensIn)},"completion_tokens":${json(answer.tokensOut)},"total_tokens":${json(answer.tokensIn + answer.tokensOut)}}}`
  const text = `${head}${choice},${usage}`
  response.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  response.end(text)
}

/** A generated answer on its way out: pieces streamed as they come (when streaming), then the end. */
export class LiveStream {
  private started = false

  constructor(
    private readonly response: ServerResponse,
    private readonly format: ReplyFormat,
    private readonly headers: Record<string, string>,
  ) {}

  write(text: string): void {
    if (!this.started) {
      this.started = true
      openStream(this.response, this.format, this.headers)
    }
    writeChunk(this.response, this.format, { content: text }, null)
  }

  /** The end of the answer (the whole answer when not streaming). */
  finish(answer: Answer): void {
    if (!this.format.stream) {
      writeWhole(this.response, this.format, this.headers, answer)
      return
    }
    if (!this.started) openStream(this.response, this.format, this.headers)
    closeStream(this.response, this.format, answer)
  }
}
