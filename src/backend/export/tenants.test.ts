// Tenant boundaries in the CDN export and the exported worker (issue 14): a bundle carries one named tenant's cache,
// `namespaces: ["default"]` never picks up other tenants' "default", and the worker in workerd serves only the tenant
// its deployment is bound to, whatever x-larder-tenant or ?tenant= say; /healthz enumerates nothing; nosniff.
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'
import type { BundleManifest } from './edge-worker/bundle-format'

const SECRET = 'globex vault code 4711'
let backend: Backend
let root = ''
let acmeBundle = ''

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>('export.cdn', input)
  return backend.runner.waitFor(job.id)
}

const question = (content: string) => ({ model: 'tiny', messages: [{ role: 'user', content }], params: {} })

function workerFor(dir: string, bindings: Record<string, string> = {}): Miniflare {
  return new Miniflare({
    modules: true,
    script: readFileSync(join(dir, 'public', 'worker.js'), 'utf8'),
    compatibilityDate: '2025-01-01',
    bindings,
    assets: {
      directory: join(dir, 'public'),
      binding: 'ASSETS',
      routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
    },
  })
}

async function ask(worker: Miniflare, content: string, path = '/v1/chat/completions', headers = {}) {
  const response = (await worker.dispatchFetch(`http://edge.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-larder-namespace': 'default', ...headers },
    body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content }] }),
  })) as unknown as Response
  return { status: response.status, text: await response.text(), headers: response.headers }
}

beforeAll(async () => {
  root = suiteTempDir('larder-export-tenants-')
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true }).start()
  for (const tenant of ['acme', 'globex']) {
    const { namespace } = await call<{ namespace: { id: number } }>('cache.namespaces.save', {
      tenant,
      name: 'default',
    })
    await call('cache.entries.create', {
      namespaceId: namespace.id,
      request: question('vault code?'),
      answer: tenant === 'globex' ? SECRET : 'acme has no vault',
      state: 'approved',
    })
  }
  // A tenant name that the pre-fix admin-token path could create; it must never ride along in another export.
  const now = new Date().toISOString()
  const odd = backend.workspace.db
    .prepare(
      `INSERT INTO cache_namespaces (tenant, name, normalization, guards, created_at, updated_at) VALUES ('../../etc', 'default', '{}', '{}', ?, ?)`,
    )
    .run(now, now).lastInsertRowid
  await call('cache.entries.create', {
    namespaceId: Number(odd),
    request: question('etc?'),
    answer: 'ETC TENANT ANSWER',
    state: 'approved',
  })
  acmeBundle = join(root, 'acme')
  const job = await runJob({ outDir: acmeBundle, tenant: 'acme', namespaces: ['default'] })
  expect(job.status, job.error ?? '').toBe('succeeded')
}, 60_000)

afterAll(async () => {
  await backend?.close()
})

describe('per-tenant CDN export', () => {
  it('refuses a cache export that does not name its tenant', async () => {
    await expect(call('export.cdn', { outDir: join(root, 'nameless'), namespaces: ['default'] })).rejects.toMatchObject(
      { code: 'invalid_input', path: ['tenant'] },
    )
    // Without a tenant and without namespaces, the bundle carries templates only.
    const job = await runJob({ outDir: join(root, 'templates-only') })
    expect(job.status).toBe('succeeded')
    const manifest = JSON.parse(
      readFileSync(join(root, 'templates-only', 'public', 'manifest.json'), 'utf8'),
    ) as BundleManifest
    expect(manifest.cache).toEqual({})
    expect(manifest.tenant).toBeNull()
  })

  it('exports only the named tenant (its "default", never the others\')', () => {
    const manifest = JSON.parse(readFileSync(join(acmeBundle, 'public', 'manifest.json'), 'utf8')) as BundleManifest
    expect(manifest.tenant).toBe('acme')
    expect(Object.keys(manifest.cache)).toEqual(['acme/default'])
    const objects = manifest.objects.map((hash) =>
      readFileSync(join(acmeBundle, 'public', 'objects', `${hash}.json`), 'utf8'),
    )
    expect(objects.join('\n')).not.toMatch(/4711|ETC TENANT/)
    expect(readFileSync(join(acmeBundle, 'wrangler.toml'), 'utf8')).toMatch(/^LARDER_TENANT = "acme"$/m)
  })

  it('plans per tenant', async () => {
    const plan = await call<{ namespaces: { tenant: string; name: string }[] }>('export.plan', {
      tenant: 'globex',
      namespaces: ['default'],
    })
    expect(plan.namespaces).toEqual([expect.objectContaining({ tenant: 'globex', name: 'default', entries: 1 })])
  })
})

describe('the exported worker serves only the tenant it is bound to', () => {
  let worker: Miniflare
  let mixed: Miniflare
  let wrongBinding: Miniflare

  beforeAll(async () => {
    worker = workerFor(acmeBundle, { LARDER_TENANT: 'acme' })
    // A bundle that somehow carries another tenant (an old multi-tenant bundle, a hand-edited manifest): the worker
    // still serves only its bound tenant.
    const mixedDir = join(root, 'mixed')
    cpSync(acmeBundle, mixedDir, { recursive: true })
    const manifest = JSON.parse(readFileSync(join(mixedDir, 'public', 'manifest.json'), 'utf8')) as BundleManifest
    manifest.cache['globex/default'] = { ...manifest.cache['acme/default']!, tenant: 'globex' }
    writeFileSync(join(mixedDir, 'public', 'manifest.json'), JSON.stringify(manifest))
    mixed = workerFor(mixedDir, { LARDER_TENANT: 'acme' })
    wrongBinding = workerFor(acmeBundle, { LARDER_TENANT: 'globex' })
    await Promise.all([worker.ready, mixed.ready, wrongBinding.ready])
  }, 60_000)

  afterAll(async () => {
    await Promise.all([worker?.dispose(), mixed?.dispose(), wrongBinding?.dispose()])
  })

  it("ignores x-larder-tenant and ?tenant= (the caller cannot pick another tenant's cache)", async () => {
    const own = await ask(worker, 'vault code?')
    expect(own.status).toBe(200)
    expect(own.text).toContain('acme has no vault')
    for (const [path, headers] of [
      ['/v1/chat/completions', { 'x-larder-tenant': 'globex' }],
      ['/v1/chat/completions?tenant=globex', {}],
      ['/v1/chat/completions?tenant=..%2F..%2Fetc', {}],
    ] as const) {
      for (const target of [worker, mixed]) {
        const answer = await ask(target, 'vault code?', path, headers)
        expect(answer.text).not.toMatch(/4711|ETC TENANT/)
        expect(answer.text).toContain('acme has no vault')
      }
    }
    const byKey = (await mixed.dispatchFetch(
      `http://edge.test/v1/cache/globex/default/${'0'.repeat(64)}`,
    )) as unknown as Response
    expect(byKey.status).toBe(404)
  })

  it('refuses to serve a bundle of another tenant than the one configured', async () => {
    const refused = await ask(wrongBinding, 'vault code?')
    expect(refused.status).toBe(503)
    expect(refused.text).toMatch(/bound to tenant/)
    expect(refused.text).not.toContain('acme has no vault')
  })

  it('/healthz does not enumerate tenants or namespaces, and every answer carries nosniff', async () => {
    const health = (await worker.dispatchFetch('http://edge.test/healthz')) as unknown as Response
    const text = await health.text()
    expect(health.status).toBe(200)
    expect(text).not.toMatch(/acme|globex|default/)
    expect(health.headers.get('x-content-type-options')).toBe('nosniff')
    const render = (await worker.dispatchFetch('http://edge.test/v1/templates/none/render')) as unknown as Response
    expect(render.headers.get('x-content-type-options')).toBe('nosniff')
    expect((await ask(worker, 'vault code?')).headers.get('x-content-type-options')).toBe('nosniff')
  })
})
