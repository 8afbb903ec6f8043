// The exported worker in workerd (miniflare) reading its bundle from an R2 bucket binding (the layout
// `larder export deploy` writes under a prefix) and from a KV namespace; HTTP caching (immutable objects, ETag and
// 304 on the manifest, GET renders and cache entries), CORS preflights for configured origins, and a bundle format
// the worker does not understand refused with 503 saying which.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job, TemplateFamily } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'
import type { BundleManifest } from './edge-worker/bundle-format'

const familyText = readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8')
const QUESTION = 'How do I reset my password?'

let backend: Backend
let publicDir = ''
let manifest: BundleManifest
let keyHash = ''
let r2Worker: Miniflare
const workers: Miniflare[] = []

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

/** Every file under public/, as the keys `export deploy` writes (relative to the target prefix). */
function bundleFiles(): { key: string; bytes: Buffer }[] {
  return readdirSync(publicDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name)
      return { key: path.slice(publicDir.length + 1), bytes: readFileSync(path) }
    })
}

async function r2WorkerWith(prefix: string, files: { key: string; bytes: Buffer | string }[], vars = {}) {
  const worker = new Miniflare({
    modules: true,
    script: readFileSync(join(publicDir, 'worker.js'), 'utf8'),
    compatibilityDate: '2025-01-01',
    r2Buckets: ['BUNDLE'],
    bindings: { BUNDLE_PREFIX: prefix, ...vars },
  })
  workers.push(worker)
  // Text values: every bundle file is UTF-8 (a Node Buffer does not cross miniflare's proxy).
  const bucket = (await worker.getR2Bucket('BUNDLE')) as unknown as {
    put(key: string, value: string): Promise<unknown>
  }
  for (const file of files) await bucket.put(`${prefix}${file.key}`, file.bytes.toString())
  return worker
}

async function get(worker: Miniflare, path: string, init: RequestInit = {}): Promise<Response> {
  return (await worker.dispatchFetch(`http://edge.test${path}`, init as never)) as unknown as Response
}

beforeAll(async () => {
  const root = suiteTempDir('larder-edge-bindings-')
  backend = Backend.open({ home: join(root, 'home') }).start()
  const { family } = await call<{ family: TemplateFamily }>('templates.import', { text: familyText })
  for (const segment of family.segments) {
    await call('templates.variants.add', {
      familyId: family.id,
      segmentKey: segment.key,
      template: 'Hello {{name}}, {{product}} shipped.',
    })
  }
  await call('templates.variants.approve', { familyId: family.id, all: true })
  await call('templates.publish', { familyId: family.id })
  const { namespace } = await call<{ namespace: { id: number } }>('cache.namespaces.save', { name: 'support' })
  const created = await call<{ keyHash: string }>('cache.entries.create', {
    namespaceId: namespace.id,
    request: { model: 'tiny', messages: [{ role: 'user', content: QUESTION }], params: {} },
    answer: 'Open Settings > Security.',
    state: 'approved',
  })
  keyHash = created.keyHash
  const { job } = await call<{ job: Job }>('export.cdn', { outDir: join(root, 'bundle'), tenant: 'default' })
  expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
  publicDir = join(root, 'bundle', 'public')
  manifest = JSON.parse(readFileSync(join(publicDir, 'manifest.json'), 'utf8')) as BundleManifest
  r2Worker = await r2WorkerWith('prod/', bundleFiles(), { CORS_ORIGINS: 'https://app.example' })
}, 60_000)

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.dispose()))
  await backend?.close()
})

describe('the worker on an R2 bucket binding', () => {
  it('serves the bundle under its prefix: health, a render and a cache hit', async () => {
    expect(await (await get(r2Worker, '/healthz')).json()).toMatchObject({ ok: true, bundleVersion: 1 })
    const render = await get(r2Worker, '/v1/templates/order-shipped/render?tone=formal&name=Mina&product=tea')
    expect(render.status).toBe(200)
    expect(await render.text()).toBe('Hello Mina, tea shipped.')
    const hit = await get(r2Worker, '/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: QUESTION }] }),
    })
    expect(hit.headers.get('x-larder-cache')).toBe('hit')
  })

  it('marks content-addressed objects immutable and answers 304 to their ETag', async () => {
    const hash = manifest.objects[0]!
    const object = await get(r2Worker, `/objects/${hash}.json`)
    expect(object.status).toBe(200)
    expect(object.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(object.headers.get('etag')).toBe(`"${hash}"`)
    expect(await object.text()).toBe(readFileSync(join(publicDir, 'objects', `${hash}.json`), 'utf8'))
    const again = await get(r2Worker, `/objects/${hash}.json`, { headers: { 'if-none-match': `"${hash}"` } })
    expect(again.status).toBe(304)
    expect(await again.text()).toBe('')
    expect((await get(r2Worker, `/objects/${'0'.repeat(64)}.json`)).status).toBe(404)
  })

  it('gives the manifest, GET renders and cache entries a short TTL with an ETag, and 304s', async () => {
    const paths = [
      '/manifest.json',
      '/v1/templates/order-shipped/render?tone=friendly&name=Mina&product=tea',
      `/v1/cache/support/${keyHash}`,
    ]
    for (const path of paths) {
      const first = await get(r2Worker, path)
      expect(first.status, path).toBe(200)
      expect(first.headers.get('cache-control'), path).toMatch(/^(public|private), max-age=60$/)
      const etag = first.headers.get('etag')
      expect(etag, path).toMatch(/^"[0-9a-f]{64}"$/)
      const second = await get(r2Worker, path, { headers: { 'if-none-match': etag! } })
      expect(second.status, path).toBe(304)
      const other = await get(r2Worker, path, { headers: { 'if-none-match': '"something-else"' } })
      expect(other.status, path).toBe(200)
    }
    // Renders for other data differ, so their validators do.
    const mina = await get(r2Worker, '/v1/templates/order-shipped/render?tone=friendly&name=Mina&product=tea')
    const jun = await get(r2Worker, '/v1/templates/order-shipped/render?tone=friendly&name=Jun&product=tea')
    expect(mina.headers.get('etag')).not.toBe(jun.headers.get('etag'))
    // A POST render is never cached.
    const posted = await get(r2Worker, '/v1/templates/order-shipped/render', {
      method: 'POST',
      body: JSON.stringify({ segment: { tone: 'formal' }, data: { name: 'A', product: 'B' } }),
    })
    expect(posted.headers.get('cache-control')).toBe('private, no-store')
    expect(posted.headers.get('etag')).toBeNull()
  })

  it('answers CORS preflights for configured origins only', async () => {
    const preflight = (origin: string) =>
      get(r2Worker, '/v1/chat/completions', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      })
    const allowed = await preflight('https://app.example')
    expect(allowed.status).toBe(204)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(allowed.headers.get('access-control-allow-methods')).toMatch(/POST/)
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/x-larder-namespace/)
    const refused = await preflight('https://evil.example')
    expect(refused.status).toBe(403)
    expect(await refused.json()).toMatchObject({ error: { code: 'origin_not_allowed' } })
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()
    const simple = await get(r2Worker, '/healthz', { headers: { origin: 'https://app.example' } })
    expect(simple.headers.get('access-control-allow-origin')).toBe('https://app.example')
    expect(simple.headers.get('vary')).toMatch(/Origin/)
  })

  it('refuses a bundle format it does not understand with 503 saying which', async () => {
    const future = { ...manifest, formatVersion: 99 }
    const worker = await r2WorkerWith('future/', [{ key: 'manifest.json', bytes: JSON.stringify(future) }])
    for (const path of ['/healthz', '/v1/templates/order-shipped/render?tone=formal&name=A&product=B']) {
      const response = await get(worker, path)
      expect(response.status).toBe(503)
      const body = (await response.json()) as { error: { code: string; message: string } }
      expect(body.error.code).toBe('bundle_version_unsupported')
      expect(body.error.message).toMatch(/understands bundle format versions 1 to 2; .* is format version 99/)
    }
  })

  it('reads a bundle from a KV namespace too', async () => {
    const worker = new Miniflare({
      modules: true,
      script: readFileSync(join(publicDir, 'worker.js'), 'utf8'),
      compatibilityDate: '2025-01-01',
      kvNamespaces: ['BUNDLE_KV'],
    })
    workers.push(worker)
    const kv = (await worker.getKVNamespace('BUNDLE_KV')) as unknown as {
      put(key: string, value: string): Promise<unknown>
    }
    for (const file of bundleFiles()) await kv.put(file.key, file.bytes.toString())
    const render = await get(worker, '/v1/templates/order-shipped/render?tone=formal&name=Mina&product=tea')
    expect(await render.text()).toBe('Hello Mina, tea shipped.')
  })
})
