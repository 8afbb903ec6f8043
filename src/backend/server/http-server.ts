/**
 * The HTTP transport of the API contract, plus the console's static files, for `larder serve`.
 *
 * - `POST /api/<area.action>` with a JSON body calls one method; `GET /api/events` streams contract events (SSE).
 * - Every /api request needs the serve token (Authorization: Bearer) or the session cookie that opening the printed
 *   link sets; tokens are compared in constant time. Requests from other origins and oversized bodies are refused.
 * - Binds to 127.0.0.1 unless told otherwise.
 * - Hostile clients: headers, whole requests and idle sockets time out; concurrent sockets are capped; an auth failure
 *   closes the connection (the rest of its body is not read); a GET with a body is refused before anything reads it;
 *   malformed percent-encoding is a 400; browser sessions expire after an idle time.
 */
import { randomBytes } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { isEventName, type EventName } from '../../shared/contract'
import { ApiError, HTTP_STATUS } from '../../shared/errors'
import type { Backend } from '../backend'
import { toApiError } from '../api/dispatch'
import type { Gateway } from '../gateway/gateway'
import { CONTENT_SECURITY_POLICY } from '../../shared/security'
import { secretsEqual } from './secrets'

export const DEFAULT_PORT = 4870
export const DEFAULT_HOST = '127.0.0.1'
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
export const DEFAULT_SESSION_IDLE_MS = 12 * 60 * 60 * 1000
export const DEFAULT_MAX_CONNECTIONS = 512

export interface ServerTimeouts {
  /** Time to receive a request's headers (default 10 s). */
  headersMs?: number
  /** Time to receive a whole request, body included (default 30 s); responses (event streams) are not limited. */
  requestMs?: number
  /** A socket silent this long in both directions is closed (default 150 s: above the gateway's generation timeout). */
  idleMs?: number
  /** How long an idle keep-alive connection is kept between requests (default 5 s). */
  keepAliveMs?: number
}

export { CONTENT_SECURITY_POLICY }

export interface HttpServerOptions {
  backend: Backend
  host?: string
  port?: number
  /** The serve token; generated when omitted. */
  token?: string
  /** Built console files (out/renderer); the API still works without them. */
  rendererDir?: string
  maxBodyBytes?: number
  /** The OpenAI-compatible gateway, served under /v1. */
  gateway?: Gateway
  timeouts?: ServerTimeouts
  /** Sockets open at once; more are closed on arrival (default 512). */
  maxConnections?: number
  /** A browser session unused this long must sign in again with the printed link (default 12 h). */
  sessionIdleMs?: number
  /** Say which process answered (`x-larder-worker: <pid>`), for `serve --workers N`. */
  workerHeader?: boolean
}

export interface RunningHttpServer {
  server: Server
  url: string
  /** URL that opens the console and signs the browser in. */
  loginUrl: string
  token: string
  port: number
  host: string
  close(): Promise<void>
  /** Called with each browser session this server creates (`serve --workers N` shares them). */
  onSession(listener: (id: string) => void): void
  /** Accepts a browser session another process created. */
  addSession(id: string): void
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.map': 'application/json; charset=utf-8',
}

export { secretsEqual }

export class PortInUseError extends Error {
  constructor(host: string, port: number) {
    super(
      `Port ${port} on ${host} is already in use (is another larder serve running?). Stop it, or pick another port with --port.`,
    )
    this.name = 'PortInUseError'
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  response.end(text)
}

function sendError(response: ServerResponse, error: ApiError): void {
  // After a refused request the connection is closed: its unread body is never read, and a guesser must reconnect.
  if (error.code === 'unauthorized' || error.code === 'forbidden') response.setHeader('connection', 'close')
  sendJson(response, HTTP_STATUS[error.code], { ok: false, error: error.toJSON() })
}

/** decodeURIComponent that answers malformed percent-encoding with a 400, not an exception that becomes a 500. */
function decodePath(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new ApiError({ code: 'invalid_input', message: 'The path has malformed percent-encoding.' })
  }
}

function parseUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://localhost')
  } catch {
    throw new ApiError({ code: 'invalid_input', message: 'The request URL is malformed.' })
  }
}

/** A path URL hands back unchanged: segments that start with no dot, no escapes, query, or doubled slashes. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*\/?$/

/** The request's path (the gateway's hot path skips parsing a URL that needs none). */
function pathnameOf(raw: string | undefined): string {
  if (raw !== undefined && PLAIN_PATH.test(raw)) return raw
  return parseUrl(raw).pathname
}

/** Whether a request announces a body (a GET or HEAD must not have one). */
function hasBody(request: IncomingMessage): boolean {
  return Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0)
    const tooLarge = (): ApiError =>
      new ApiError({ code: 'payload_too_large', message: `Request body is over the ${limit}-byte limit.` })
    if (declared > limit) {
      reject(tooLarge())
      request.resume()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        // Stop keeping the body but let it drain, so the client still receives the 413.
        reject(tooLarge())
        request.removeAllListeners('data')
        request.resume()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolveBody(Buffer.concat(chunks)))
    request.on('error', reject)
  })
}

/** Cookies by name. Other apps on localhost may set cookies here too: a malformed one is skipped, never fatal. */
function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  for (const part of (header ?? '').split(';')) {
    const index = part.indexOf('=')
    if (index <= 0) continue
    try {
      cookies.set(part.slice(0, index).trim(), decodeURIComponent(part.slice(index + 1).trim()))
    } catch {
      // Not ours (ours are base64url), and not decodable: ignore it.
    }
  }
  return cookies
}

export async function startHttpServer(options: HttpServerOptions): Promise<RunningHttpServer> {
  const { backend } = options
  const host = options.host ?? DEFAULT_HOST
  const token = options.token ?? randomBytes(24).toString('base64url')
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const rendererDir = options.rendererDir && existsSync(options.rendererDir) ? resolve(options.rendererDir) : undefined
  const sessionIdleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS
  /** Session id -> when it was last used. */
  const sessions = new Map<string, number>()
  const sessionListeners: ((id: string) => void)[] = []
  const workerId = options.workerHeader ? String(process.pid) : undefined
  const streams = new Set<ServerResponse>()
  let port = options.port ?? DEFAULT_PORT
  let cookieName = `larder_session_${port}`

  const allowedOrigins = (): Set<string> =>
    new Set(
      [host, '127.0.0.1', 'localhost', '[::1]'].map(
        (name) => `http://${name.includes(':') && !name.startsWith('[') ? `[${name}]` : name}:${port}`,
      ),
    )

  function authorized(request: IncomingMessage): boolean {
    const header = request.headers.authorization
    if (header?.startsWith('Bearer ')) return secretsEqual(header.slice(7).trim(), token)
    const session = parseCookies(request.headers.cookie).get(cookieName)
    if (!session) return false
    const now = Date.now()
    let found = false
    for (const [known, lastUsed] of sessions) {
      if (now - lastUsed > sessionIdleMs) sessions.delete(known)
      else if (secretsEqual(session, known)) {
        sessions.set(known, now)
        found = true
      }
    }
    return found
  }

  function checkRequest(request: IncomingMessage): ApiError | undefined {
    const origin = request.headers.origin
    if (origin !== undefined && !allowedOrigins().has(origin)) {
      return new ApiError({ code: 'forbidden', message: `Requests from origin ${origin} are not allowed.` })
    }
    if (!authorized(request)) {
      return new ApiError({
        code: 'unauthorized',
        message:
          'Missing or wrong access token. Open the URL that `larder serve` printed, or send Authorization: Bearer <token>.',
      })
    }
    return undefined
  }

  async function handleCall(request: IncomingMessage, response: ServerResponse, method: string): Promise<void> {
    const contentType = request.headers['content-type'] ?? ''
    if (!contentType.startsWith('application/json')) {
      throw new ApiError({
        code: 'invalid_input',
        message: 'Send the method input as a JSON body (Content-Type: application/json).',
      })
    }
    const body = await readBody(request, maxBodyBytes)
    let input: unknown = {}
    if (body.length > 0) {
      try {
        input = JSON.parse(body.toString('utf8'))
      } catch (error) {
        throw new ApiError({
          code: 'invalid_input',
          message: `The request body is not valid JSON: ${(error as Error).message}`,
        })
      }
    }
    const result = await backend.call(method, input)
    sendJson(response, 200, { ok: true, result })
  }

  function handleEvents(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://localhost')
    const only = url.searchParams.getAll('event').filter(isEventName)
    const wanted = only.length > 0 ? new Set<EventName>(only) : undefined
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    response.write('retry: 2000\n: connected\n\n')
    streams.add(response)
    const unsubscribe = backend.events.subscribe((name, payload) => {
      if (wanted && !wanted.has(name)) return
      response.write(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`)
    })
    const keepAlive = setInterval(() => response.write(': keep-alive\n\n'), 15_000)
    keepAlive.unref()
    const stop = (): void => {
      clearInterval(keepAlive)
      unsubscribe()
      streams.delete(response)
    }
    request.on('close', stop)
    response.on('close', stop)
  }

  function serveStatic(request: IncomingMessage, response: ServerResponse, pathname: string): void {
    const headers = {
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    }
    if (!rendererDir) {
      response.writeHead(503, { ...headers, 'content-type': 'text/plain; charset=utf-8' })
      response.end('The console is not built. Run `npm run build`, then start `larder serve` again.\n')
      return
    }
    const relative = normalize(decodePath(pathname)).replace(/^([/\\])+/, '')
    let file = resolve(rendererDir, relative)
    if (file !== rendererDir && !file.startsWith(rendererDir + sep)) {
      response.writeHead(403, headers)
      response.end()
      return
    }
    if (!existsSync(file) || statSync(file).isDirectory()) {
      // Unknown paths without an extension are console routes: hand them the app.
      if (extname(relative) !== '') {
        response.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' })
        response.end('Not found\n')
        return
      }
      file = join(rendererDir, 'index.html')
    }
    const type = MIME[extname(file)] ?? 'application/octet-stream'
    const immutable = file.includes(`${sep}assets${sep}`)
    response.writeHead(200, {
      ...headers,
      'content-type': type,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    })
    if (request.method === 'HEAD') {
      response.end()
      return
    }
    createReadStream(file).pipe(response)
  }

  const timeouts = {
    headersMs: options.timeouts?.headersMs ?? 10_000,
    requestMs: options.timeouts?.requestMs ?? 30_000,
    idleMs: options.timeouts?.idleMs ?? 150_000,
    keepAliveMs: options.timeouts?.keepAliveMs ?? 5_000,
  }
  const server = createServer(
    {
      headersTimeout: Math.min(timeouts.headersMs, timeouts.requestMs),
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // How often Node checks the two timeouts above (its default, 30 s, would let a slow client linger that long).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeouts.headersMs / 2))),
    },
    (request, response) => {
      void handleRequest(request, response)
    },
  )
  server.timeout = timeouts.idleMs
  server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS

  async function handleRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (workerId) response.setHeader('x-larder-worker', workerId)
    try {
      const pathname = pathnameOf(request.url)
      if ((request.method === 'GET' || request.method === 'HEAD') && hasBody(request)) {
        // Refused before anything reads it; closing the connection means Node does not drain it either.
        response.setHeader('connection', 'close')
        throw new ApiError({ code: 'invalid_input', message: `A ${request.method} request has no body.` })
      }
      if (pathname === '/healthz') {
        sendJson(response, 200, { ok: true })
        return
      }
      if (options.gateway && (await options.gateway.handle(request, response, pathname, maxBodyBytes))) return
      if (pathname.startsWith('/api/')) {
        const refused = checkRequest(request)
        if (refused) throw refused
        if (pathname === '/api/events' && request.method === 'GET') {
          handleEvents(request, response)
          return
        }
        if (request.method !== 'POST') {
          throw new ApiError({ code: 'invalid_input', message: 'Call API methods with POST /api/<area.action>.' })
        }
        await handleCall(request, response, decodePath(pathname.slice('/api/'.length)))
        return
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' })
        response.end()
        return
      }
      const offered = parseUrl(request.url).searchParams.get('token')
      if (offered !== null) {
        if (!secretsEqual(offered, token)) {
          response.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' })
          response.end('This link is not valid for this server. Use the URL that `larder serve` printed.\n')
          return
        }
        // Trade the link's token for an HttpOnly session cookie and drop it from the address bar and history.
        const session = randomBytes(32).toString('base64url')
        sessions.set(session, Date.now())
        for (const listener of sessionListeners) listener(session)
        response.writeHead(303, {
          'set-cookie': `${cookieName}=${session}; HttpOnly; SameSite=Strict; Path=/`,
          location: '/',
          'cache-control': 'no-store',
        })
        response.end()
        return
      }
      serveStatic(request, response, pathname)
    } catch (error) {
      if (!response.headersSent) sendError(response, toApiError(error))
      else response.end()
    }
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(host, port) : error)
    })
    server.listen(port, host, () => resolveListen())
  })
  port = (server.address() as AddressInfo).port
  cookieName = `larder_session_${port}`
  const displayHost = host.includes(':') ? `[${host}]` : host
  const url = `http://${displayHost}:${port}`

  return {
    server,
    url,
    loginUrl: `${url}/?token=${encodeURIComponent(token)}`,
    token,
    port,
    host,
    close: () =>
      new Promise<void>((resolveClose) => {
        for (const stream of streams) stream.end()
        server.close(() => resolveClose())
        server.closeAllConnections()
      }),
    onSession: (listener) => sessionListeners.push(listener),
    addSession: (id) => sessions.set(id, Date.now()),
  }
}
