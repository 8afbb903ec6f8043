/** The gateway's HTTP plumbing: reading a JSON body, OpenAI-shaped errors, event-stream headers. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ApiError } from '../../shared/errors'

export function openAiError(
  response: ServerResponse,
  status: number,
  text: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.end()
    return
  }
  response.writeHead(status, { 'content-type': 'application/json', ...headers })
  response.end(JSON.stringify({ error: { message: text, type, code: status } }))
}

/** An ApiError (or anything thrown) as the gateway's HTTP answer. */
export function sendApiError(response: ServerResponse, error: unknown): void {
  const apiError = error instanceof ApiError ? error : ApiError.from(error)
  const status =
    apiError.code === 'payload_too_large'
      ? 413
      : apiError.code === 'invalid_input'
        ? 400
        : apiError.code === 'not_found'
          ? 404
          : 500
  openAiError(response, status, apiError.message, status >= 500 ? 'server_error' : 'invalid_request_error')
}

export function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        reject(new ApiError({ code: 'payload_too_large', message: `Request body is over the ${limit}-byte limit.` }))
        request.destroy()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown)
      } catch (error) {
        reject(
          new ApiError({
            code: 'invalid_input',
            message: `The request body is not valid JSON: ${(error as Error).message}`,
          }),
        )
      }
    })
    request.on('error', reject)
  })
}

export function startEventStream(response: ServerResponse, headers: Record<string, string>): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    ...headers,
  })
}
