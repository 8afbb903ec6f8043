// Hostile input on `larder serve` (issue 14): slow and oversized bodies, auth failures that keep the socket, socket
// floods, malformed percent-encoding, bodies on GETs, and sessions that never expire. Raw sockets on 127.0.0.1, so the
// test sees exactly what a misbehaving client would.
import { mkdirSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir, waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'
import { Gateway } from '../gateway/gateway'
import { startHttpServer, type HttpServerOptions, type RunningHttpServer } from './http-server'

const TOKEN = 'test-token-123'
const running: { server: RunningHttpServer; backend: Backend }[] = []

afterEach(async () => {
  for (const { server, backend } of running.splice(0)) {
    await server.close()
    await backend.close()
  }
})

async function start(options: Partial<HttpServerOptions> = {}) {
  const backend = Backend.open({ home: tempDir(), validateOutput: true }).start()
  const rendererDir = tempDir()
  mkdirSync(join(rendererDir, 'assets'))
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Larder</title>')
  const server = await startHttpServer({
    backend,
    port: 0,
    token: TOKEN,
    rendererDir,
    gateway: new Gateway(backend, { adminToken: TOKEN }),
    ...options,
  })
  running.push({ server, backend })
  return { server, backend }
}

interface RawResult {
  response: string
  closedAfterMs: number | null
}

/**
 * Sends `head` (and optionally body bytes), then waits up to `waitMs` for the server to answer and close the socket.
 * `closedAfterMs` is null when the socket was still open at the end.
 */
function raw(server: RunningHttpServer, head: string, options: { body?: Buffer; waitMs: number }): Promise<RawResult> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket: Socket = connect(server.port, '127.0.0.1')
    let response = ''
    let closedAfterMs: number | null = null
    socket.on('data', (chunk) => (response += chunk.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      closedAfterMs = Date.now() - started
      clearTimeout(timer)
      resolve({ response, closedAfterMs })
    })
    socket.write(head)
    if (options.body) socket.write(options.body)
    const timer = setTimeout(() => {
      socket.destroy()
      resolve({ response, closedAfterMs })
    }, options.waitMs)
  })
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)

describe('slow clients', () => {
  it('times out a slow request body (with a valid key) and slow headers', async () => {
    const { server } = await start({ timeouts: { requestMs: 600, headersMs: 400 } })
    const body = await raw(
      server,
      `POST /api/system.info HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
      { waitMs: 5000 },
    )
    expect(body.closedAfterMs).not.toBeNull()
    expect(body.closedAfterMs!).toBeLessThan(4000)
    const headers = await raw(server, 'GET / HTTP/1.1\r\nhost: x\r\n', { waitMs: 5000 })
    expect(headers.closedAfterMs).not.toBeNull()
    expect(headers.closedAfterMs!).toBeLessThan(4000)
  })

  it('keeps an event stream open past the request timeout', async () => {
    const { server } = await start({ timeouts: { requestMs: 300, headersMs: 300 } })
    const stream = await raw(server, `GET /api/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\n\r\n`, {
      waitMs: 1200,
    })
    expect(statusOf(stream.response)).toBe(200)
    expect(stream.closedAfterMs).toBeNull()
  })

  it('closes the connection after an auth failure, without reading the rest of the body', async () => {
    const { server } = await start()
    for (const path of ['/api/system.info', '/v1/chat/completions']) {
      const refused = await raw(
        server,
        `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{`,
        { waitMs: 3000 },
      )
      expect(statusOf(refused.response), path).toBe(401)
      expect(refused.response.toLowerCase()).toContain('connection: close')
      expect(refused.closedAfterMs, path).not.toBeNull()
    }
  })

  it('caps concurrent sockets', async () => {
    const { server } = await start({ maxConnections: 4 })
    const sockets = Array.from({ length: 8 }, () => {
      const socket = connect(server.port, '127.0.0.1')
      socket.on('error', () => undefined)
      return { socket, closed: new Promise<boolean>((done) => socket.on('close', () => done(true))) }
    })
    const closed = await Promise.all(
      sockets.map(({ closed }) =>
        Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 1000))]),
      ),
    )
    expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(4)
    for (const { socket } of sockets) socket.destroy()
    const connections = (): Promise<number> =>
      new Promise((resolve) => server.server.getConnections((_error, count) => resolve(count)))
    await waitUntil(async () => (await connections()) === 0, 5000, 'the flood to be gone')
    // The server still answers once the flood is gone.
    const info = await fetch(`${server.url}/api/system.info`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    })
    expect(info.status).toBe(200)
  })
})

describe('malformed input', () => {
  it('ignores a foreign cookie with broken percent-encoding instead of failing cookie auth', async () => {
    const { server } = await start()
    const login = await fetch(`${server.loginUrl}`, { redirect: 'manual' })
    const session = login.headers.get('set-cookie')!.split(';')[0]!
    const response = await fetch(`${server.url}/api/system.info`, {
      method: 'POST',
      headers: { cookie: `other_app=50%; ${session}; broken=%E0%A4%A`, 'content-type': 'application/json' },
      body: '{}',
    })
    expect(response.status).toBe(200)
  })

  it('answers 400 to malformed percent-encoding in paths', async () => {
    const { server } = await start()
    const method = await raw(
      server,
      `POST /api/%E0%A4%A HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
      { waitMs: 3000 },
    )
    expect(statusOf(method.response)).toBe(400)
    const file = await raw(server, 'GET /%c0%ae HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', { waitMs: 3000 })
    expect(statusOf(file.response)).toBe(400)
  })

  it('answers 413 to a gateway body over the limit (draining it), not a dropped connection', async () => {
    const { server } = await start()
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'a'.repeat(2 * 1024 * 1024) }] }),
    })
    expect(response.status).toBe(413)
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/limit/)
  })

  it('does not read a body sent with a GET of a static file', async () => {
    const { server } = await start()
    const result = await raw(server, 'GET /index.html HTTP/1.1\r\nhost: x\r\ncontent-length: 104857600\r\n\r\n', {
      body: Buffer.alloc(64 * 1024),
      waitMs: 3000,
    })
    expect(statusOf(result.response)).toBe(400)
    expect(result.closedAfterMs).not.toBeNull()
  })
})

describe('sessions', () => {
  it('expire after the idle time', async () => {
    const { server } = await start({ sessionIdleMs: 300 })
    const login = await fetch(server.loginUrl, { redirect: 'manual' })
    const session = login.headers.get('set-cookie')!.split(';')[0]!
    const ask = () =>
      fetch(`${server.url}/api/system.info`, {
        method: 'POST',
        headers: { cookie: session, 'content-type': 'application/json' },
        body: '{}',
      })
    expect((await ask()).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect((await ask()).status).toBe(200) // use keeps it alive
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect((await ask()).status).toBe(401)
  })
})
