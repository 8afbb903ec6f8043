/**
 * Tenant-isolation campaign: many tenants with the same questions (so their cache keys collide), each with its own
 * answers, asked over every route: the gateway (exact and semantic hits, misses that write), pipelines run through the
 * gateway (own and foreign), /v1/models, the per-tenant CDN export and the exported worker in workerd. Every answer
 * carries its tenant's marker; seeing another tenant's marker is a cross-tenant read, an entry or log row landing in
 * another tenant's namespace is a cross-tenant write. Small N in CI (tenant-isolation.test.ts), large N by hand:
 *
 *   npm run campaign -- tenants --n 100 --workers 10
 */
import { readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import type { CacheNamespace, Job } from '../../src/shared/contract'
import type { PipelineDefinition } from '../../src/shared/pipeline-definition'
import { Backend } from '../../src/backend/backend'
import { Gateway } from '../../src/backend/gateway/gateway'
import { startHttpServer } from '../../src/backend/server/http-server'
import { startFakeEndpoint } from '../fixtures/openai-server'

export interface TenantIsolationOptions {
  tenants: number
  /** How many tenants' bundles are served by a real worker (each is a workerd process). */
  workers: number
  log?: (line: string) => void
}

export interface TenantIsolationResult {
  tenants: number
  requests: number
  exactHits: number
  semanticHits: number
  ownPipelineRuns: number
  foreignPipelinesRefused: number
  exports: number
  workerRequests: number
  crossTenantReads: number
  crossTenantWrites: number
  failures: string[]
  seconds: number
}

const QUESTION = 'How do I reset my password?'
const PARAPHRASE = 'how can I reset my password'
const tenantName = (i: number): string => `tenant-${String(i).padStart(3, '0')}`
const marker = (tenant: string): string => `[[${tenant}]]`
const MARKER = /\[\[(tenant-\d{3})\]\]/g

function pipelineFor(name: string, namespaceId: number, upstream: number): PipelineDefinition {
  const node = (id: string, type: string, config: Record<string, unknown> = {}) => ({
    id,
    type: type as PipelineDefinition['nodes'][number]['type'],
    position: { x: 0, y: 0 },
    config,
  })
  const edge = (id: string, source: string, sourcePort: string, target: string) => ({
    id,
    source,
    sourcePort,
    target,
    targetPort: 'in',
  })
  return {
    format: 'larder.pipeline',
    version: 1,
    name,
    description: '',
    maxTokensPerRun: 50_000,
    nodes: [
      node('input', 'input'),
      node('lookup', 'cache-lookup', { namespaceId, model: 'pipeline' }),
      node('generate', 'llm', { target: { provider: upstream }, prompt: '{{in}}' }),
      node('store', 'cache-store', { namespaceId, model: 'pipeline' }),
      node('merge', 'merge', { mode: 'first' }),
      node('output', 'output'),
    ],
    edges: [
      edge('e1', 'input', 'out', 'lookup'),
      edge('e2', 'lookup', 'hit', 'merge'),
      edge('e3', 'lookup', 'miss', 'generate'),
      edge('e4', 'generate', 'out', 'store'),
      edge('e5', 'store', 'out', 'merge'),
      edge('e6', 'merge', 'out', 'output'),
    ],
  }
}

export async function tenantIsolationCampaign(options: TenantIsolationOptions): Promise<TenantIsolationResult> {
  const started = performance.now()
  const log = options.log ?? (() => undefined)
  const root = mkdtempSync(join(tmpdir(), 'larder-campaign-tenants-'))
  const upstream = await startFakeEndpoint({ name: 'upstream' })
  const backend = Backend.open({ home: join(root, 'home') }).start()
  const result: TenantIsolationResult = {
    tenants: options.tenants,
    requests: 0,
    exactHits: 0,
    semanticHits: 0,
    ownPipelineRuns: 0,
    foreignPipelinesRefused: 0,
    exports: 0,
    workerRequests: 0,
    crossTenantReads: 0,
    crossTenantWrites: 0,
    failures: [],
    seconds: 0,
  }
  const fail = (message: string): void => {
    if (result.failures.length < 50) result.failures.push(message)
  }
  /** Counts markers of tenants other than `own` in a text the caller `own` received. */
  const checkRead = (own: string, text: string, route: string): void => {
    for (const match of text.matchAll(MARKER)) {
      if (match[1] !== own) {
        result.crossTenantReads++
        fail(`${route}: ${own} received ${match[1]}'s answer`)
      }
    }
  }
  const call = async <T>(method: string, input: unknown): Promise<T> => (await backend.call(method, input)) as T
  const server = await startHttpServer({
    backend,
    port: 0,
    token: 'campaign-admin',
    gateway: new Gateway(backend, { adminToken: 'campaign-admin', concurrency: 4, maxQueued: 512 }),
  })
  const workers: Miniflare[] = []
  try {
    const provider = (
      await call<{ id: number }>('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
    ).id
    const tenants: { name: string; key: string; exact: CacheNamespace; semantic: CacheNamespace }[] = []
    for (let i = 0; i < options.tenants; i++) {
      const name = tenantName(i)
      const key = (await call<{ secret: string }>('gateway.keys.create', { tenant: name })).secret
      const exact = (
        await call<{ namespace: CacheNamespace }>('cache.namespaces.save', { tenant: name, name: 'default' })
      ).namespace
      const semantic = (
        await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
          tenant: name,
          name: 'semantic',
          semanticEnabled: true,
          embedder: { provider },
          similarityThreshold: 0.7,
          storeAs: 'approved',
        })
      ).namespace
      for (const namespace of [exact, semantic]) {
        for (const model of ['upstream', 'pipeline']) {
          await call('cache.entries.create', {
            namespaceId: namespace.id,
            request: { model, messages: [{ role: 'user', content: QUESTION }], params: {} },
            answer: `Open Settings ${marker(name)}`,
            state: 'approved',
          })
        }
      }
      await call('pipelines.save', { tenant: name, definition: pipelineFor(`bot-${name}`, exact.id, provider) })
      tenants.push({ name, key, exact, semantic })
    }
    log(`${tenants.length} tenants set up`)

    const ask = async (key: string, model: string, content: string, namespace = 'default') => {
      result.requests++
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'x-larder-namespace': namespace,
        },
        body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
      })
      return { status: response.status, cache: response.headers.get('x-larder-cache'), text: await response.text() }
    }

    for (const [index, tenant] of tenants.entries()) {
      const exact = await ask(tenant.key, 'upstream', QUESTION)
      checkRead(tenant.name, exact.text, 'gateway exact')
      if (exact.cache === 'hit-exact' && exact.text.includes(marker(tenant.name))) result.exactHits++
      else fail(`gateway exact: ${tenant.name} got ${exact.status} ${exact.cache}`)
      const semantic = await ask(tenant.key, 'upstream', PARAPHRASE, 'semantic')
      checkRead(tenant.name, semantic.text, 'gateway semantic')
      if (semantic.cache === 'hit-semantic' && semantic.text.includes(marker(tenant.name))) result.semanticHits++
      else fail(`gateway semantic: ${tenant.name} got ${semantic.status} ${semantic.cache}`)
      // Misses write: each tenant's probe must land in its own namespaces only.
      await ask(tenant.key, 'upstream', `write probe from ${tenant.name}`)
      await ask(tenant.key, 'upstream', `semantic write probe from ${tenant.name}`, 'semantic')
      // The admin token acting as this tenant sees the same as its key.
      const admin = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer campaign-admin', 'x-larder-tenant': tenant.name },
        body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content: QUESTION }] }),
      })
      result.requests++
      checkRead(tenant.name, await admin.text(), 'gateway admin token')

      const own = await ask(tenant.key, `pipeline:bot-${tenant.name}`, QUESTION)
      checkRead(tenant.name, own.text, 'own pipeline')
      if (own.status === 200 && own.text.includes(marker(tenant.name))) result.ownPipelineRuns++
      else fail(`own pipeline: ${tenant.name} got ${own.status} ${own.text.slice(0, 200)}`)
      await ask(tenant.key, `pipeline:bot-${tenant.name}`, `pipeline write probe from ${tenant.name}`)
      for (let step = 1; step <= Math.min(5, tenants.length - 1); step++) {
        const other = tenants[(index + step) % tenants.length]!
        const foreign = await ask(tenant.key, `pipeline:bot-${other.name}`, QUESTION)
        checkRead(tenant.name, foreign.text, 'foreign pipeline')
        if (foreign.status === 404) result.foreignPipelinesRefused++
        else fail(`foreign pipeline: ${tenant.name} ran bot-${other.name} (${foreign.status})`)
      }
      const models = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${tenant.key}` } })
      result.requests++
      const ids = ((await models.json()) as { data: { id: string }[] }).data.map((model) => model.id)
      const foreignPipelines = ids.filter((id) => id.startsWith('pipeline:') && id !== `pipeline:bot-${tenant.name}`)
      if (foreignPipelines.length > 0) {
        result.crossTenantReads += foreignPipelines.length
        fail(`/v1/models: ${tenant.name} sees ${foreignPipelines.join(', ')}`)
      }
    }
    log(`gateway and pipelines: ${result.requests} requests`)

    // Writes: every entry and request-log row is in a namespace of the tenant that caused it.
    const db = backend.workspace.db
    backend.cache.flush()
    const entries = db
      .prepare(
        'SELECT n.tenant, e.prompt_text AS prompt, e.answer FROM cache_entries e JOIN cache_namespaces n ON n.id = e.namespace_id',
      )
      .all() as { tenant: string; prompt: string; answer: string }[]
    for (const entry of entries) {
      const from = /probe from (tenant-\d{3})/.exec(entry.prompt)?.[1]
      const answerOf = [...entry.answer.matchAll(MARKER)].map((match) => match[1])
      if ((from && from !== entry.tenant) || answerOf.some((owner) => owner !== entry.tenant)) {
        result.crossTenantWrites++
        fail(`write: an entry of ${from ?? answerOf.join(',')} is in ${entry.tenant}'s namespace`)
      }
    }
    // Per tenant: two gateway misses, and the pipeline probe twice (the gateway caches the pipeline's answer under
    // pipeline:<name>, the pipeline's cache-store node under "pipeline").
    const probes = entries.filter((entry) => /probe from/.test(entry.prompt)).length
    if (probes !== tenants.length * 4) fail(`writes: expected ${tenants.length * 4} probe entries, found ${probes}`)
    const misfiled = db
      .prepare(
        'SELECT count(*) FROM request_log r JOIN cache_namespaces n ON n.id = r.namespace_id WHERE r.tenant != n.tenant',
      )
      .pluck()
      .get() as number
    result.crossTenantWrites += misfiled
    if (misfiled > 0) fail(`request log: ${misfiled} rows logged under another tenant's namespace`)

    // Export per tenant, then the worker: bound to its tenant, whatever the caller asks for.
    for (const [index, tenant] of tenants.entries()) {
      const outDir = join(root, 'bundles', tenant.name)
      const { job } = await call<{ job: Job }>('export.cdn', { outDir, tenant: tenant.name })
      const done = await backend.runner.waitFor(job.id)
      if (done.status !== 'succeeded') {
        fail(`export ${tenant.name}: ${done.error}`)
        continue
      }
      result.exports++
      const manifest = JSON.parse(readFileSync(join(outDir, 'public', 'manifest.json'), 'utf8')) as {
        objects: string[]
      }
      for (const hash of manifest.objects)
        checkRead(tenant.name, readFileSync(join(outDir, 'public', 'objects', `${hash}.json`), 'utf8'), 'export')
      if (index >= options.workers) continue
      const worker = new Miniflare({
        modules: true,
        script: readFileSync(join(outDir, 'public', 'worker.js'), 'utf8'),
        compatibilityDate: '2025-01-01',
        bindings: { LARDER_TENANT: tenant.name },
        assets: {
          directory: join(outDir, 'public'),
          binding: 'ASSETS',
          routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
        },
      })
      workers.push(worker)
      await worker.ready
      const others = tenants.filter((other) => other !== tenant).slice(0, 10)
      for (const other of [tenant, ...others]) {
        for (const [path, headers] of [
          ['/v1/chat/completions', { 'x-larder-tenant': other.name }],
          [`/v1/chat/completions?tenant=${other.name}`, {}],
        ] as const) {
          result.workerRequests++
          const response = (await worker.dispatchFetch(`http://edge.test${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-larder-namespace': 'default', ...headers },
            body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content: QUESTION }] }),
          })) as unknown as Response
          const text = await response.text()
          checkRead(tenant.name, text, 'worker')
          if (!text.includes(marker(tenant.name)))
            fail(`worker ${tenant.name}: ${response.status} ${text.slice(0, 200)}`)
        }
      }
      await worker.dispose()
      workers.pop()
    }
    log(`exports: ${result.exports}, worker requests: ${result.workerRequests}`)
  } finally {
    await Promise.all(workers.map((worker) => worker.dispose()))
    await server.close()
    await backend.close()
    await upstream.close()
    rmSync(root, { recursive: true, force: true })
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10
  return result
}
