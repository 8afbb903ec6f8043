import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { tempDir, waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'
import { defaultMigrationsDir, loadMigrations } from '../db/migrations'
import { PortInUseError, startHttpServer, type RunningHttpServer } from './http-server'

const LATEST = loadMigrations(defaultMigrationsDir()).length
const running: { server: RunningHttpServer; backend: Backend }[] = []

afterEach(async () => {
  for (const { server, backend } of running.splice(0)) {
    await server.close()
    await backend.close()
  }
})

async function start(options: { rendererDir?: string; maxBodyBytes?: number } = {}) {
  const backend = Backend.open({ home: tempDir(), validateOutput: true }).start()
  const server = await startHttpServer({ backend, port: 0, token: 'test-token-123', ...options })
  running.push({ server, backend })
  return { server, backend }
}

function call(server: RunningHttpServer, method: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test-token-123', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

describe('HTTP transport', () => {
  it('binds to 127.0.0.1 by default and answers a valid call', async () => {
    const { server } = await start()
    expect(server.host).toBe('127.0.0.1')
    const response = await call(server, 'system.info', {})
    expect(response.status).toBe(200)
    const body = (await response.json()) as { ok: boolean; result: { schemaVersion: number } }
    expect(body.ok).toBe(true)
    expect(body.result.schemaVersion).toBe(LATEST)
  })

  it('requires the token', async () => {
    const { server } = await start()
    for (const headers of [
      { authorization: '' },
      { authorization: 'Bearer wrong' },
      { authorization: 'Basic dGVzdA==' },
    ]) {
      const response = await call(server, 'system.info', {}, headers)
      expect(response.status).toBe(401)
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
    }
    expect((await fetch(`${server.url}/api/events`)).status).toBe(401)
  })

  it('rejects requests from other origins', async () => {
    const { server } = await start()
    const response = await call(server, 'system.info', {}, { origin: 'http://evil.example' })
    expect(response.status).toBe(403)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('forbidden')
    expect((await call(server, 'system.info', {}, { origin: server.url })).status).toBe(200)
  })

  it('answers unknown methods, bad JSON, wrong content type and invalid input with structured errors', async () => {
    const { server } = await start()
    const unknown = await call(server, 'nope.nothing', {})
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_method')

    const broken = await call(server, 'jobs.list', '{"limit": ')
    expect(broken.status).toBe(400)
    expect(((await broken.json()) as { error: { message: string } }).error.message).toMatch(/not valid JSON/)

    const text = await call(server, 'jobs.list', '{}', { 'content-type': 'text/plain' })
    expect(text.status).toBe(400)

    const invalid = await call(server, 'jobs.list', { limit: 100000, status: ['running'] })
    expect(invalid.status).toBe(400)
    const error = ((await invalid.json()) as { error: { code: string; path: unknown[]; message: string } }).error
    expect(error.code).toBe('invalid_input')
    expect(error.path).toEqual(['limit'])
    expect(error.message).toMatch(/Invalid input at "limit"/)

    const extra = await call(server, 'system.info', { surprise: true })
    expect(extra.status).toBe(400)

    const missing = await call(server, 'jobs.get', { id: 4242 })
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found')
  })

  it('refuses bodies over the size limit', async () => {
    const { server } = await start({ maxBodyBytes: 1024 })
    const response = await call(server, 'settings.update', { theme: 'dark', padding: 'x'.repeat(5000) })
    expect(response.status).toBe(413)
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('payload_too_large')
    // Also when the body arrives in chunks without a declared length.
    const chunked = await fetch(`${server.url}/api/settings.update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-token-123' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(JSON.stringify({ theme: 'dark', padding: 'y'.repeat(5000) })))
          controller.close()
        },
      }),
      duplex: 'half',
    } as RequestInit)
    expect(chunked.status).toBe(413)
    // The server is still fine afterwards.
    expect((await call(server, 'settings.get', {})).status).toBe(200)
  })

  it('streams contract events over SSE', async () => {
    const { server } = await start()
    const controller = new AbortController()
    const response = await fetch(`${server.url}/api/events`, {
      headers: { authorization: 'Bearer test-token-123' },
      signal: controller.signal,
    })
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/)
    const reader = response.body!.getReader()
    let text = ''
    const collecting = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        text += new TextDecoder().decode(value)
      }
    })().catch(() => undefined)
    await call(server, 'backup.create', {})
    await waitUntil(() => /"status":"succeeded"/.test(text), 5000, 'a succeeded job.updated event')
    expect(text).toMatch(/event: job.updated\ndata: \{/)
    expect(text).toMatch(/event: job.log\ndata: \{/)
    controller.abort()
    await collecting
  })

  it('trades the link token for an HttpOnly session cookie', async () => {
    const { server } = await start()
    const wrong = await fetch(`${server.url}/?token=nope`, { redirect: 'manual' })
    expect(wrong.status).toBe(401)
    const login = await fetch(server.loginUrl, { redirect: 'manual' })
    expect(login.status).toBe(303)
    expect(login.headers.get('location')).toBe('/')
    const cookie = login.headers.get('set-cookie')!
    expect(cookie).toMatch(/HttpOnly; SameSite=Strict/)
    const session = cookie.split(';')[0]!
    const response = await call(server, 'system.info', {}, { authorization: '', cookie: session })
    expect(response.status).toBe(200)
    const forged = await call(
      server,
      'system.info',
      {},
      { authorization: '', cookie: session.replace(/=.*/, '=forged') },
    )
    expect(forged.status).toBe(401)
  })

  it('serves the console with a strict CSP and never files outside it', async () => {
    const dir = tempDir()
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Larder</title>')
    writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)')
    const { server } = await start({ rendererDir: dir })
    const index = await fetch(`${server.url}/`)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self'/)
    expect(await index.text()).toMatch(/<title>Larder/)
    expect((await fetch(`${server.url}/assets/app.js`)).headers.get('content-type')).toMatch(/javascript/)
    expect(await (await fetch(`${server.url}/jobs`)).text()).toMatch(/<title>Larder/)
    expect((await fetch(`${server.url}/assets/missing.js`)).status).toBe(404)
    const traversal = await fetch(`${server.url}/..%2f..%2f..%2fetc%2fpasswd`)
    expect(await traversal.text()).not.toMatch(/root:/)
  })

  it('says clearly when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    const backend = Backend.open({ home: tempDir() })
    await expect(startHttpServer({ backend, port })).rejects.toBeInstanceOf(PortInUseError)
    await expect(startHttpServer({ backend, port })).rejects.toThrowError(
      new RegExp(`Port ${port} on 127.0.0.1 is already in use`),
    )
    await backend.close()
    blocker.close()
  })
})
