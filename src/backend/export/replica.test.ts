// `larder replica` as real processes on 127.0.0.1: a bundle served by a real HTTP origin, misses sent to an
// upstream (a real HTTP server standing in for the gateway, recording what it receives), the same answers as the
// edge worker (it is the worker's handler), and a restart while the bundle URL is down serving the last good copy and
// saying so in /healthz.
import { spawn, type ChildProcess } from 'node:child_process'
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job, TemplateFamily } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'

const repository = resolve(import.meta.dirname, '../../..')
const familyText = readFileSync(join(repository, 'test/data/templates/order-shipped.json'), 'utf8')
const QUESTION = 'How do I reset my password?'

let root = ''
let bundle = ''
let origin: Server
let originUrl = ''
let upstream: Server
let upstreamUrl = ''
const upstreamSaw: { path: string; body: string }[] = []
const children: ChildProcess[] = []

function listen(server: Server): Promise<string> {
  return new Promise((done) =>
    server.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  )
}

async function startReplica(args: string[]): Promise<{ url: string; out: () => string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/index.ts', '--home', join(root, 'home'), 'replica', '--port', '0', ...args],
    { cwd: repository, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.push(child)
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const deadline = Date.now() + 60_000
  for (;;) {
    const match = /serving \S+ at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
    if (match) return { url: match[1]!, out: () => out, child }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`replica did not start: ${out}`)
    await new Promise((done) => setTimeout(done, 50))
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((done) => child.once('exit', done))
  child.kill('SIGTERM')
  await exited
}

function ask(url: string, content: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-larder-namespace': 'support' },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content }] }),
  })
}

beforeAll(async () => {
  root = suiteTempDir('larder-replica-')
  const backend = Backend.open({ home: join(root, 'workspace') }).start()
  try {
    const call = (method: string, input: unknown) => backend.call(method, input)
    const { family } = (await call('templates.import', { text: familyText })) as { family: TemplateFamily }
    for (const segment of family.segments) {
      await call('templates.variants.add', {
        familyId: family.id,
        segmentKey: segment.key,
        template: 'Hello {{name}}, {{product}} shipped.',
      })
    }
    await call('templates.variants.approve', { familyId: family.id, all: true })
    await call('templates.publish', { familyId: family.id })
    const { namespace } = (await call('cache.namespaces.save', { name: 'support' })) as { namespace: { id: number } }
    await call('cache.entries.create', {
      namespaceId: namespace.id,
      request: { model: 'tiny', messages: [{ role: 'user', content: QUESTION }], params: {} },
      answer: 'Open Settings > Security.',
      state: 'approved',
    })
    bundle = join(root, 'bundle')
    const { job } = (await call('export.cdn', { outDir: bundle, tenant: 'default' })) as { job: Job }
    expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
  } finally {
    await backend.close()
  }
  const publicDir = join(bundle, 'public')
  origin = createServer((request, response) => {
    const file = normalize(join(publicDir, new URL(request.url ?? '/', 'http://x').pathname))
    if (!file.startsWith(publicDir) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end()
      return
    }
    createReadStream(file).pipe(response)
  })
  originUrl = await listen(origin)
  upstream = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk: Buffer) => (body += chunk.toString()))
    request.on('end', () => {
      upstreamSaw.push({ path: request.url ?? '', body })
      response.writeHead(200, { 'content-type': 'application/json', 'x-from': 'upstream' })
      response.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'generated upstream' } }] }))
    })
  })
  upstreamUrl = await listen(upstream)
}, 90_000)

afterAll(async () => {
  await Promise.all(children.map((child) => stop(child)))
  await new Promise((done) => origin?.close(done))
  await new Promise((done) => upstream?.close(done))
})

describe('larder replica', () => {
  it('serves a bundle from its URL with the edge worker, hits locally and misses upstream', async () => {
    const replica = await startReplica(['--bundle', `${originUrl}/`, '--upstream', `${upstreamUrl}/v1`])
    try {
      const health = (await (await fetch(`${replica.url}/healthz`)).json()) as Record<string, unknown>
      expect(health).toMatchObject({ ok: true, bundleVersion: 1, servingLastGoodCopy: false, lastError: null })
      const render = await fetch(`${replica.url}/v1/templates/order-shipped/render?tone=formal&name=Mina&product=tea`)
      expect(await render.text()).toBe('Hello Mina, tea shipped.')
      expect(render.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/)
      const hit = await ask(replica.url, QUESTION)
      expect(hit.headers.get('x-larder-cache')).toBe('hit')
      expect(((await hit.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(
        'Open Settings > Security.',
      )
      expect(upstreamSaw).toEqual([])
      const miss = await ask(replica.url, 'Something nobody asked before?')
      expect(miss.headers.get('x-larder-cache')).toBe('miss')
      expect(miss.headers.get('x-from')).toBe('upstream')
      expect(upstreamSaw).toHaveLength(1)
      expect(upstreamSaw[0]!.path).toBe('/v1/chat/completions')
      expect(JSON.parse(upstreamSaw[0]!.body)).toMatchObject({
        messages: [{ content: 'Something nobody asked before?' }],
      })
    } finally {
      await stop(replica.child)
    }
  }, 120_000)

  it('serves its last good copy when the bundle URL is unreachable at start, and says so', async () => {
    await new Promise((done) => origin.close(done))
    const replica = await startReplica(['--bundle', `${originUrl}/`, '--upstream', `${upstreamUrl}/v1`])
    try {
      expect(replica.out()).toMatch(/the last good copy: the bundle URL is unreachable/)
      const health = (await (await fetch(`${replica.url}/healthz`)).json()) as Record<string, unknown>
      expect(health).toMatchObject({ ok: true, bundleVersion: 1, servingLastGoodCopy: true })
      expect(health.lastError).toMatch(/Cannot read the bundle at .*serving the last good copy \(version 1\)/)
      const hit = await ask(replica.url, QUESTION)
      expect(hit.headers.get('x-larder-cache')).toBe('hit')
    } finally {
      await stop(replica.child)
    }
    // A replica with no copy at all is unhealthy (503), and says why.
    const empty = await startReplica(['--bundle', `${originUrl}/`, '--state', join(root, 'empty-state')])
    try {
      const response = await fetch(`${empty.url}/healthz`)
      expect(response.status).toBe(503)
      expect(((await response.json()) as { lastError: string }).lastError).toMatch(/no earlier copy to serve/)
    } finally {
      await stop(empty.child)
    }
  }, 120_000)

  it('serves a bundle folder directly', async () => {
    const replica = await startReplica(['--bundle', bundle])
    try {
      expect(await (await fetch(`${replica.url}/healthz`)).json()).toMatchObject({ ok: true, bundleVersion: 1 })
      const miss = await ask(replica.url, 'Not cached?')
      expect(miss.status).toBe(404)
      expect(await miss.json()).toMatchObject({ error: { code: 'cache_miss' } })
    } finally {
      await stop(replica.child)
    }
  }, 120_000)
})
