/**
 * The gateway's HTTP plumbing: reading a JSON body, errors in OpenAI's shape, event-stream headers.
 *
 * Every error body is `{"error": {"message", "type", "param", "code"}}` as OpenAI sends it: `type` is one of
 * invalid_request_error, authentication_error, rate_limit_error, server_error; `param` names the offending field
 * (e.g. "temperature", "messages[1].role") or is null; `code` is a string or null, never the HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ApiError } from '../../shared/errors'

export interface GatewayErrorOptions {
  type?: string
  code?: string | null
  param?: string | null
  headers?: Record<string, string>
}

/** An error the gateway answers as it is (status, type, code, param). */
export class GatewayError extends Error {
  readonly type: string
  readonly code: string | null
  readonly param: string | null
  readonly headers: Record<string, string>

  constructor(
    readonly status: number,
    message: string,
    options: GatewayErrorOptions = {},
  ) {
    super(message)
    this.name = 'GatewayError'
    this.type = options.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error')
    this.code = options.code ?? null
    this.param = options.param ?? null
    this.headers = options.headers ?? {}
  }
}

/** A 400 for a bad parameter. */
export function invalidParam(param: string | null, message: string, code = 'invalid_value'): GatewayError {
  return new GatewayError(400, message, { param, code })
}

/** `["messages", 1, "role"]` as OpenAI writes it: `messages[1].role`. */
export function paramPath(path: readonly PropertyKey[]): string | null {
  let out = ''
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`
  return out || null
}

function fromApiError(error: ApiError): GatewayError {
  const param = error.path && error.path.length > 0 ? paramPath(error.path) : null
  switch (error.code) {
    case 'invalid_input':
      return new GatewayError(400, error.message, { param, code: 'invalid_value' })
    case 'payload_too_large':
      return new GatewayError(413, error.message, { code: 'request_too_large', headers: { connection: 'close' } })
    case 'not_found':
      return new GatewayError(404, error.message, { param, code: 'not_found' })
    case 'unauthorized':
      return new GatewayError(401, error.message, { type: 'authentication_error', code: 'invalid_api_key' })
    case 'conflict':
      return new GatewayError(409, error.message, { param, code: 'conflict' })
    case 'unavailable':
      return new GatewayError(503, error.message, { code: 'unavailable' })
    default:
      return new GatewayError(500, error.message)
  }
}

export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error
  return fromApiError(error instanceof ApiError ? error : ApiError.from(error))
}

/** Answers an error; a stream already under way can only be ended. */
export function sendError(response: ServerResponse, error: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.end()
    return
  }
  const failure = toGatewayError(error)
  const body = JSON.stringify({
    error: { message: failure.message, type: failure.type, param: failure.param, code: failure.code },
  })
  response.writeHead(failure.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
    ...failure.headers,
  })
  response.end(body)
}

/**
 * Bodies are read up to a limit. A larger one is not kept but drained, so the client receives the 413
 * (a dropped connection makes SDKs retry).
 */
function tooLarge(limit: number): ApiError {
  return new ApiError({ code: 'payload_too_large', message: `The request body is over the ${limit}-byte limit.` })
}

/** Reads a body of at most `limit` bytes as UTF-8 text. */
export function readText(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (Number(request.headers['content-length'] ?? 0) > limit) {
      reject(tooLarge(limit))
      request.resume()
      return
    }
    let size = 0
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        reject(tooLarge(limit))
        request.removeAllListeners('data')
        request.resume()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')))
    request.on('error', reject)
  })
}

/** JSON.parse with the gateway's 400 for a body that is not JSON. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new GatewayError(400, `The request body is not valid JSON: ${(error as Error).message}`, {
      code: 'invalid_json',
    })
  }
}

export function startEventStream(response: ServerResponse, headers: Record<string, string>): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    ...headers,
  })
}

export function sendJson(response: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  response.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  })
  response.end(text)
}
