/**
 * Slow-client and oversized-body campaign against a real `larder serve` transport (API + gateway): K sockets that
 * trickle a body with a valid key, K unauthenticated ones, K oversized gateway and /api bodies, K GETs with a body,
 * all at once, while a normal client keeps calling. Every hostile socket must be answered (413, 401, 400, 408) and
 * closed; the normal client must keep being served. Small N in CI (slow-clients.test.ts), large N by hand:
 *
 *   npm run campaign -- slow --n 200 [--timeout-ms 30000]   (the production request timeout)
 */
import { connect } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Backend } from '../../src/backend/backend'
import { Gateway } from '../../src/backend/gateway/gateway'
import { startHttpServer, type RunningHttpServer } from '../../src/backend/server/http-server'

export interface SlowClientResult {
  perKind: number
  /**
   * Per kind: how many sockets got an answer, how many the server closed, and the statuses. A client that sent its
   * whole (oversized) body may keep its connection (HTTP keep-alive after the drained 413); every other kind must be
   * closed.
   */
  kinds: Record<string, { answered: number; closed: number; statuses: Record<string, number> }>
  normalCalls: number
  normalFailures: number
  normalP50Ms: number
  normalMaxMs: number
  seconds: number
}

const TOKEN = 'campaign-token'

interface Hostile {
  head: string
  /** Bytes sent after the head; then the socket trickles one byte every `trickleMs` (0: no trickle). */
  body: Buffer
  trickleMs: number
}

function hostileKinds(big: number): Record<string, Hostile> {
  const json = { 'content-type': 'application/json' }
  const head = (line: string, headers: Record<string, string | number>) =>
    `${line}\r\nhost: x\r\n${Object.entries({ ...json, ...headers })
      .map(([key, value]) => `${key}: ${value}`)
      .join('\r\n')}\r\n\r\n`
  return {
    'slow body, valid token': {
      head: head('POST /api/system.info HTTP/1.1', { authorization: `Bearer ${TOKEN}`, 'content-length': 1000 }),
      body: Buffer.from('{'),
      trickleMs: 200,
    },
    'slow body, no token': {
      head: head('POST /api/system.info HTTP/1.1', { 'content-length': 1000 }),
      body: Buffer.from('{'),
      trickleMs: 200,
    },
    'slow gateway body, valid token': {
      head: head('POST /v1/chat/completions HTTP/1.1', { authorization: `Bearer ${TOKEN}`, 'content-length': 1000 }),
      body: Buffer.from('{'),
      trickleMs: 200,
    },
    'oversized gateway body': {
      head: head('POST /v1/chat/completions HTTP/1.1', { authorization: `Bearer ${TOKEN}`, 'content-length': big }),
      body: Buffer.alloc(big, 0x20),
      trickleMs: 0,
    },
    'oversized api body': {
      head: head('POST /api/system.info HTTP/1.1', { authorization: `Bearer ${TOKEN}`, 'content-length': big }),
      body: Buffer.alloc(big, 0x20),
      trickleMs: 0,
    },
    'GET with a body': {
      head: head('GET /index.html HTTP/1.1', { 'content-length': 100 * 1024 * 1024 }),
      body: Buffer.alloc(64 * 1024),
      trickleMs: 0,
    },
  }
}

function hostileSocket(
  server: RunningHttpServer,
  kind: Hostile,
  waitMs: number,
): Promise<{ closed: boolean; status: string }> {
  return new Promise((resolve) => {
    const socket = connect(server.port, '127.0.0.1')
    let response = ''
    let trickle: NodeJS.Timeout | undefined
    const finish = (closed: boolean): void => {
      clearInterval(trickle)
      clearTimeout(timer)
      socket.destroy()
      resolve({ closed, status: /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 'none' })
    }
    socket.on('data', (chunk) => (response += chunk.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => finish(true))
    socket.write(kind.head)
    socket.write(kind.body)
    if (kind.trickleMs > 0) trickle = setInterval(() => socket.write(' '), kind.trickleMs)
    const timer = setTimeout(() => finish(false), waitMs)
  })
}

export async function slowClientCampaign(options: {
  perKind: number
  /** The server's request timeout (the production default is 30 s; CI uses a short one). */
  requestTimeoutMs: number
  log?: (line: string) => void
}): Promise<SlowClientResult> {
  const started = performance.now()
  const root = mkdtempSync(join(tmpdir(), 'larder-slow-'))
  const backend = Backend.open({ home: join(root, 'home') }).start()
  const server = await startHttpServer({
    backend,
    port: 0,
    token: TOKEN,
    gateway: new Gateway(backend, { adminToken: TOKEN }),
    timeouts: { requestMs: options.requestTimeoutMs, headersMs: Math.min(10_000, options.requestTimeoutMs) },
    maxConnections: options.perKind * 8 + 50,
  })
  const result: SlowClientResult = {
    perKind: options.perKind,
    kinds: {},
    normalCalls: 0,
    normalFailures: 0,
    normalP50Ms: 0,
    normalMaxMs: 0,
    seconds: 0,
  }
  try {
    const waitMs = options.requestTimeoutMs + 5000
    let flooding = true
    const latencies: number[] = []
    const normal = (async () => {
      while (flooding) {
        const at = performance.now()
        try {
          const response = await fetch(`${server.url}/api/system.info`, {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: '{}',
          })
          if (response.status !== 200) result.normalFailures++
          await response.arrayBuffer()
        } catch {
          result.normalFailures++
        }
        result.normalCalls++
        latencies.push(performance.now() - at)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()
    const kinds = hostileKinds(2 * 1024 * 1024)
    const outcomes = await Promise.all(
      Object.entries(kinds).map(async ([name, kind]) => {
        const sockets = await Promise.all(
          Array.from({ length: options.perKind }, () => hostileSocket(server, kind, waitMs)),
        )
        return [name, sockets] as const
      }),
    )
    flooding = false
    await normal
    for (const [name, sockets] of outcomes) {
      const statuses: Record<string, number> = {}
      for (const socket of sockets) statuses[socket.status] = (statuses[socket.status] ?? 0) + 1
      result.kinds[name] = {
        answered: sockets.filter((socket) => socket.status !== 'none').length,
        closed: sockets.filter((socket) => socket.closed).length,
        statuses,
      }
    }
    latencies.sort((a, b) => a - b)
    result.normalP50Ms = Math.round(latencies[Math.floor(latencies.length / 2)] ?? 0)
    result.normalMaxMs = Math.round(latencies.at(-1) ?? 0)
  } finally {
    await server.close()
    await backend.close()
    rmSync(root, { recursive: true, force: true })
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10
  return result
}
