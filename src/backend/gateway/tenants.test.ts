// Tenant boundaries on the gateway (issue 14): a key runs only its tenant's pipelines, a pipeline runs with the
// caller's tenant and its cache nodes cannot reach another tenant's namespace, /v1/models lists only the caller's
// pipelines, and the admin token's x-larder-tenant is validated like every other tenant name. Real HTTP on
// 127.0.0.1, real SQLite, a real OpenAI-compatible upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CacheEntry, CacheNamespace } from '../../shared/contract'
import type { PipelineDefinition } from '../../shared/pipeline-definition'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { Gateway } from './gateway'

let backend: Backend
let server: RunningHttpServer
let upstream: FakeEndpoint
let upstreamId = 0
let keyAcme = ''
let keyGlobex = ''
let acmeNs: CacheNamespace
let globexNs: CacheNamespace
const SECRET = 'globex secret: the vault code is 4711'

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function cachedPipeline(name: string, namespaceId: number): PipelineDefinition {
  return {
    format: 'larder.pipeline',
    version: 1,
    name,
    description: '',
    maxTokensPerRun: 50_000,
    nodes: [
      { id: 'input', type: 'input', position: { x: 0, y: 0 }, config: {} },
      { id: 'lookup', type: 'cache-lookup', position: { x: 0, y: 0 }, config: { namespaceId, model: 'pipeline' } },
      {
        id: 'generate',
        type: 'llm',
        position: { x: 0, y: 0 },
        config: { target: { provider: upstreamId }, prompt: '{{in}}' },
      },
      { id: 'store', type: 'cache-store', position: { x: 0, y: 0 }, config: { namespaceId, model: 'pipeline' } },
      { id: 'merge', type: 'merge', position: { x: 0, y: 0 }, config: { mode: 'first' } },
      { id: 'output', type: 'output', position: { x: 0, y: 0 }, config: {} },
    ],
    edges: [
      { id: 'e1', source: 'input', sourcePort: 'out', target: 'lookup', targetPort: 'in' },
      { id: 'e2', source: 'lookup', sourcePort: 'hit', target: 'merge', targetPort: 'in' },
      { id: 'e3', source: 'lookup', sourcePort: 'miss', target: 'generate', targetPort: 'in' },
      { id: 'e4', source: 'generate', sourcePort: 'out', target: 'store', targetPort: 'in' },
      { id: 'e5', source: 'store', sourcePort: 'out', target: 'merge', targetPort: 'in' },
      { id: 'e6', source: 'merge', sourcePort: 'out', target: 'output', targetPort: 'in' },
    ],
  }
}

function run(model: string, content: string, key: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  })
}

async function entries(namespaceId: number): Promise<CacheEntry[]> {
  return (await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId, limit: 500 })).items
}

beforeAll(async () => {
  upstream = await startFakeEndpoint({ name: 'upstream' })
  backend = Backend.open({ home: suiteTempDir('larder-tenants-'), validateOutput: true }).start()
  upstreamId = (
    await call<{ id: number }>('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
  ).id
  keyAcme = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })).secret
  keyGlobex = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'globex' })).secret
  acmeNs = (await call<{ namespace: CacheNamespace }>('cache.namespaces.save', { tenant: 'acme', name: 'bot' }))
    .namespace
  globexNs = (await call<{ namespace: CacheNamespace }>('cache.namespaces.save', { tenant: 'globex', name: 'bot' }))
    .namespace
  await call('cache.entries.create', {
    namespaceId: globexNs.id,
    request: { model: 'pipeline', messages: [{ role: 'user', content: 'vault code?' }] },
    answer: SECRET,
    state: 'approved',
  })
  await call('pipelines.save', { tenant: 'acme', definition: cachedPipeline('acme-bot', acmeNs.id) })
  await call('pipelines.save', { tenant: 'globex', definition: cachedPipeline('globex-bot', globexNs.id) })
  // Owned by acme but pointing at globex's namespace: what an operator's slip (or an import) could produce.
  await call('pipelines.save', { tenant: 'acme', definition: cachedPipeline('acme-leaky', globexNs.id) })
  server = await startHttpServer({
    backend,
    port: 0,
    token: 'console-token',
    gateway: new Gateway(backend, { adminToken: 'console-token' }),
  })
}, 60_000)

afterAll(async () => {
  await server?.close()
  await backend?.close()
  await upstream?.close()
})

describe('tenant boundaries on the gateway', () => {
  it('a key runs only pipelines its tenant owns', async () => {
    const own = await run('pipeline:acme-bot', 'hello', keyAcme)
    expect(own.status).toBe(200)
    const foreign = await run('pipeline:globex-bot', 'vault code?', keyAcme)
    expect(foreign.status).toBe(404)
    expect(await foreign.text()).not.toContain('4711')
    // The owner can run it and reads its own namespace.
    const owner = await run('pipeline:globex-bot', 'vault code?', keyGlobex)
    expect(owner.status).toBe(200)
    expect(JSON.stringify(await owner.json())).toContain('4711')
  })

  it("a pipeline's cache nodes never read or write another tenant's namespace", async () => {
    const before = await entries(globexNs.id)
    const read = await run('pipeline:acme-leaky', 'vault code?', keyAcme)
    expect(read.status).toBe(400)
    expect(await read.text()).not.toContain('4711')
    const write = await run('pipeline:acme-leaky', 'plant this answer', keyAcme)
    expect(write.status).toBe(400)
    expect(await entries(globexNs.id)).toEqual(before)
    // The console shows why the pipeline cannot run.
    const { items } = await call<{ items: { id: number; name: string }[] }>('pipelines.list')
    const leaky = items.find((p) => p.name === 'acme-leaky')!
    const { problems } = await call<{ problems: { message: string }[] }>('pipelines.get', { id: leaky.id })
    expect(problems.map((p) => p.message).join(' ')).toMatch(/another tenant/)
  })

  it("runs a pipeline with the caller's tenant (its writes land in the caller's namespace)", async () => {
    const response = await run('pipeline:acme-bot', 'what are your hours?', keyAcme)
    expect(response.status).toBe(200)
    const stored = await entries(acmeNs.id)
    expect(stored.map((e) => e.promptText).join('\n')).toContain('what are your hours?')
    expect((await entries(globexNs.id)).map((e) => e.promptText).join('\n')).not.toContain('what are your hours?')
  })

  it("/v1/models lists only the caller's pipelines", async () => {
    const list = async (key: string, headers: Record<string, string> = {}): Promise<string[]> => {
      const response = await fetch(`${server.url}/v1/models`, {
        headers: { authorization: `Bearer ${key}`, ...headers },
      })
      return ((await response.json()) as { data: { id: string }[] }).data.map((m) => m.id)
    }
    const acme = await list(keyAcme)
    expect(acme).toEqual(expect.arrayContaining(['pipeline:acme-bot', 'pipeline:acme-leaky', 'upstream']))
    expect(acme).not.toContain('pipeline:globex-bot')
    const globex = await list(keyGlobex)
    expect(globex).toContain('pipeline:globex-bot')
    expect(globex.filter((id) => id.startsWith('pipeline:acme'))).toEqual([])
    expect(await list('console-token', { 'x-larder-tenant': 'globex' })).not.toContain('pipeline:acme-bot')
    // GET /v1/models/{id} answers from the same per-tenant list.
    const one = (key: string, id: string): Promise<Response> =>
      fetch(`${server.url}/v1/models/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${key}` } })
    expect((await one(keyGlobex, 'pipeline:globex-bot')).status).toBe(200)
    expect((await one(keyAcme, 'pipeline:globex-bot')).status).toBe(404)
  })

  it('validates the tenant the admin token names, like every other tenant name', async () => {
    for (const tenant of ['../../etc', 'a/b', ' ', 'x'.repeat(200)]) {
      const response = await run('upstream', 'hi', 'console-token', { 'x-larder-tenant': tenant })
      expect(response.status, tenant).toBe(400)
    }
    const { items } = await call<{ items: CacheNamespace[] }>('cache.namespaces.list')
    expect(items.map((n) => n.tenant).filter((t) => !/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(t))).toEqual([])
    // A valid name still works.
    expect((await run('upstream', 'hi', 'console-token', { 'x-larder-tenant': 'acme' })).status).toBe(200)
  })

  it('the admin token must match exactly (a prefix or a longer secret is refused)', async () => {
    for (const secret of ['console-toke', 'console-token-', 'Console-token']) {
      expect((await run('upstream', 'hi', secret)).status, secret).toBe(401)
    }
  })
})
