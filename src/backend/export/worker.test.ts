// The exported edge worker in a real edge runtime: workerd (through miniflare) serves a bundle that the export job
// wrote, and must render exactly what the backend's preview renders, byte for byte, and answer cache hits by the key
// the gateway computes. Two ways to reach the bundle are tested: the Workers static-assets binding (what the
// exported wrangler.toml deploys) and an origin URL served by a real HTTP server on 127.0.0.1.
import { cpSync, createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize } from 'node:path'
import fc from 'fast-check'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job, PreviewResult, TemplateFamily, TemplateVariant } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../backend'
import { cacheableFrom } from '../cache/service'
import { bundleEdgeWorker, generatedModuleText, GENERATED_MODULE } from './edge-worker/build'
import { cacheableFromBody } from './edge-worker/openai-request'

const familyText = readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8')
const VARIANTS: Record<string, { template: string; weight?: number }[]> = {
  'locale=en,tone=friendly': [
    { template: 'Hey {{name}}! Your {{product}} is on its way{{#date}} (arriving {{date}}){{/date}}.' },
    { template: 'Good news, {{name}}: "{{product}}" left the shop today.', weight: 2 },
  ],
  'locale=en,tone=formal': [
    {
      template:
        'Dear {{name}}, your order of {{product}} has been dispatched.{{^date}} We will confirm delivery soon.{{/date}}',
    },
    { template: 'Dear {{name}}, we have shipped {{product}}{{#date}}; expect it {{date}}{{/date}}.' },
  ],
  'locale=ko,tone=friendly': [{ template: '{{name}}님! 주문하신 {{product}}이(가) 출발했어요 🚚' }],
  'locale=ko,tone=formal': [{ template: '{{name}} 고객님, 주문하신 {{product}} 상품이 발송되었습니다.' }],
}
const QUESTION = 'How do I reset my password?'

let backend: Backend
let familyId = 0
let bundleDir = ''
let assetsWorker: Miniflare
let originWorker: Miniflare
let origin: Server
let passwordKey = ''

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  return backend.runner.waitFor(job.id)
}

function serveFolder(root: string): Promise<Server> {
  const server = createServer((request, response) => {
    const file = normalize(join(root, decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname)))
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404).end()
      return
    }
    response.writeHead(200, { 'content-type': 'application/json' })
    createReadStream(file).pipe(response)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

function workerFor(dir: string, bindings: Record<string, string>, withAssets: boolean): Miniflare {
  return new Miniflare({
    modules: true,
    script: readFileSync(join(dir, 'public', 'worker.js'), 'utf8'),
    compatibilityDate: '2025-01-01',
    bindings,
    ...(withAssets
      ? {
          assets: {
            directory: join(dir, 'public'),
            binding: 'ASSETS',
            routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
          },
        }
      : {}),
  })
}

beforeAll(async () => {
  backend = Backend.open({ home: suiteTempDir('larder-edge-'), validateOutput: true }).start()
  const { family } = await call<{ family: TemplateFamily }>('templates.import', { text: familyText })
  familyId = family.id
  for (const [segmentKey, variants] of Object.entries(VARIANTS)) {
    for (const variant of variants) {
      await call<TemplateVariant>('templates.variants.add', { familyId, segmentKey, ...variant })
    }
  }
  await call('templates.variants.approve', { familyId, all: true })
  await call('templates.publish', { familyId })

  const { namespace } = await call<{ namespace: { id: number } }>('cache.namespaces.save', { name: 'support' })
  const request = { model: 'tiny', messages: [{ role: 'user', content: QUESTION }], params: { temperature: 0 } }
  const created = await call<{ keyHash: string }>('cache.entries.create', {
    namespaceId: namespace.id,
    request,
    answer: 'Open Settings > Security and choose "Reset password".',
    state: 'approved',
  })
  passwordKey = created.keyHash
  await call('cache.entries.create', {
    namespaceId: namespace.id,
    request: { ...request, messages: [{ role: 'user', content: 'Is this a draft?' }] },
    answer: 'Drafts are never exported.',
    state: 'draft',
  })

  bundleDir = join(suiteTempDir('larder-edge-bundle-'), 'bundle')
  const exported = await runJob('export.cdn', { outDir: bundleDir, tenant: 'default' })
  expect(exported.status, exported.error ?? '').toBe('succeeded')
  origin = await serveFolder(join(bundleDir, 'public'))
  assetsWorker = workerFor(bundleDir, {}, true)
  originWorker = workerFor(
    bundleDir,
    { BUNDLE_URL: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/` },
    false,
  )
  await Promise.all([assetsWorker.ready, originWorker.ready])
}, 60_000)

afterAll(async () => {
  await Promise.all([assetsWorker?.dispose(), originWorker?.dispose()])
  await new Promise<void>((resolve) => (origin ? origin.close(() => resolve()) : resolve()))
  await backend?.close()
})

async function edge(path: string, init?: RequestInit, worker = assetsWorker): Promise<Response> {
  return (await worker.dispatchFetch(`http://edge.test${path}`, init as never)) as unknown as Response
}

describe('exported worker in workerd', () => {
  it('renders a personalised template from query data, with the variant in the headers', async () => {
    const query = new URLSearchParams({
      user: 'u-42',
      locale: 'en',
      tone: 'formal',
      name: 'Mina',
      product: 'Jasmine tea',
    })
    const response = await edge(`/v1/templates/order-shipped/render?${query}`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(response.headers.get('x-larder-segment')).toBe('locale=en,tone=formal')
    expect(response.headers.get('x-larder-family-version')).toBe('1')
    const text = await response.text()
    expect(text).toMatch(
      /^Dear Mina, (your order of Jasmine tea has been dispatched\. We will confirm delivery soon\.|we have shipped Jasmine tea\.)$/,
    )
    const preview = await call<PreviewResult>('templates.preview', {
      familyId,
      source: 'published',
      segment: { locale: 'en', tone: 'formal' },
      data: { name: 'Mina', product: 'Jasmine tea' },
      userId: 'u-42',
    })
    expect(text).toBe(preview.text)
    expect(response.headers.get('x-larder-variant')).toBe(String(preview.variantId))
  })

  it('falls back or answers 422 when required data is missing; never a sentence with a gap', async () => {
    const friendly = await edge('/v1/templates/order-shipped/render?tone=friendly&product=tea')
    expect(friendly.status).toBe(200)
    expect(friendly.headers.get('x-larder-variant')).toBe('fallback')
    expect(await friendly.text()).toBe('Your order is on its way.')
    const formal = await edge('/v1/templates/order-shipped/render', {
      method: 'POST',
      body: JSON.stringify({ user: 'u1', segment: { tone: 'formal' }, data: { name: '', product: 'tea' } }),
    })
    expect(formal.status).toBe(422)
    expect(await formal.json()).toMatchObject({
      error: {
        code: 'missing_slot_data',
        message: 'No value for the required slot "name". No fallback is configured for segment locale=en,tone=formal.',
      },
    })
    const badSegment = await edge('/v1/templates/order-shipped/render?locale=en&name=A&product=B')
    expect(badSegment.status).toBe(400)
    expect(await badSegment.json()).toMatchObject({ error: { code: 'bad_segment', dimension: 'tone' } })
    expect((await edge('/v1/templates/nope/render')).status).toBe(404)
  })

  it('agrees with the backend preview byte for byte on hundreds of inputs', async () => {
    const text = fc.oneof(
      fc.constantFrom('Mina', 'Zoë', '김민아', '<script>alert(1)</script>', `O'Brien & "Sons"`, 'a/b=c`d', '  '),
      fc.string({ maxLength: 12 }),
      fc.string({ unit: 'grapheme', maxLength: 6 }),
    )
    const cases = fc.sample(
      fc.record({
        user: fc.string({ maxLength: 8 }),
        locale: fc.constantFrom('en', 'ko', 'fr'),
        tone: fc.constantFrom('friendly', 'formal'),
        data: fc.record(
          { name: text, product: text, date: fc.oneof(text, fc.constant('Tuesday, March 3')) },
          { requiredKeys: [] },
        ),
      }),
      { numRuns: 250, seed: 5 },
    )
    let compared = 0
    for (const sample of cases) {
      const segment = { locale: sample.locale, tone: sample.tone }
      const response = await edge('/v1/templates/order-shipped/render?format=json', {
        method: 'POST',
        body: JSON.stringify({ user: sample.user, segment, data: sample.data }),
      })
      const preview = await call<PreviewResult>('templates.preview', {
        familyId,
        source: 'published',
        segment,
        data: sample.data,
        userId: sample.user,
      })
      expect(response.status).toBe(preview.status)
      const body = (await response.json()) as { text?: string; variantId?: number | null; error?: { code: string } }
      if (preview.ok) {
        expect(body.text).toBe(preview.text)
        expect(body.variantId).toBe(preview.variantId)
      } else {
        expect(body.error!.code).toBe(preview.code)
      }
      compared++
    }
    expect(compared).toBe(250)
  })

  it('answers a cache hit by the key the gateway computes, by request and by key hash', async () => {
    const lookup = await call<{ keyHash: string }>('cache.lookup', {
      namespaceId: 1,
      request: {
        model: 'tiny',
        messages: [{ role: 'user', content: `  ${QUESTION.replace(' ', '   ')} ` }],
        params: { temperature: 0 },
      },
    })
    expect(lookup.keyHash).toBe(passwordKey)
    const hit = await edge('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-larder-namespace': 'support' },
      body: JSON.stringify({
        model: 'tiny',
        messages: [{ role: 'user', content: `  ${QUESTION.replace(' ', '   ')} ` }],
        temperature: 0,
      }),
    })
    expect(hit.status).toBe(200)
    expect(hit.headers.get('x-larder-cache')).toBe('hit')
    expect(hit.headers.get('x-larder-key')).toBe(passwordKey)
    expect(await hit.json()).toMatchObject({
      object: 'chat.completion',
      model: 'tiny',
      choices: [{ message: { role: 'assistant', content: 'Open Settings > Security and choose "Reset password".' } }],
    })
    const byKey = await edge(`/v1/cache/default/support/${passwordKey}`)
    expect(await byKey.json()).toMatchObject({ keyHash: passwordKey, answer: expect.stringMatching(/^Open Settings/) })
    const streamed = await edge('/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'tiny',
        messages: [{ role: 'user', content: QUESTION }],
        temperature: 0,
        stream: true,
      }),
    })
    const events = await streamed.text()
    expect(events).toMatch(/"delta":\{"role":"assistant","content":"Open Settings > Security/)
    expect(events.endsWith('data: [DONE]\n\n')).toBe(true)
    expect(events).not.toMatch(/"usage"/)
    // stream_options.include_usage: one last chunk without choices, with the usage.
    const withUsage = await edge('/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify({
        model: 'tiny',
        messages: [{ role: 'user', content: QUESTION }],
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    })
    const blocks = (await withUsage.text()).split('\n\n').filter((block) => block.startsWith('data: {'))
    expect(JSON.parse(blocks.at(-1)!.slice(6))).toMatchObject({ choices: [], usage: { total_tokens: 0 } })
    // A draft entry was never exported; a different temperature is a different key.
    for (const body of [
      { model: 'tiny', messages: [{ role: 'user', content: 'Is this a draft?' }], temperature: 0 },
      { model: 'tiny', messages: [{ role: 'user', content: QUESTION }], temperature: 0.5 },
    ]) {
      const miss = await edge('/v1/chat/completions', { method: 'POST', body: JSON.stringify(body) })
      expect(miss.status).toBe(404)
      expect(miss.headers.get('x-larder-cache')).toBeNull()
      expect(await miss.json()).toMatchObject({ error: { code: 'cache_miss' } })
    }
    expect((await edge(`/v1/cache/default/support/${'0'.repeat(64)}`)).status).toBe(404)
  })

  it('reads the bundle from an origin URL too, and refuses an object whose bytes do not match its name', async () => {
    const health = await edge('/healthz', undefined, originWorker)
    expect(await health.json()).toEqual({ ok: true, bundleVersion: 1, created: expect.any(String) })
    const render = await edge(
      '/v1/templates/order-shipped/render?locale=ko&tone=formal&name=민아&product=녹차',
      undefined,
      originWorker,
    )
    expect(await render.text()).toBe('민아 고객님, 주문하신 녹차 상품이 발송되었습니다.')

    const tampered = join(tempDir('larder-edge-tampered-'), 'bundle')
    cpSync(bundleDir, tampered, { recursive: true })
    const manifest = JSON.parse(readFileSync(join(tampered, 'public', 'manifest.json'), 'utf8')) as {
      templates: Record<string, { object: string }>
    }
    const familyObject = join(tampered, 'public', 'objects', `${manifest.templates['order-shipped']!.object}.json`)
    writeFileSync(familyObject, readFileSync(familyObject, 'utf8').replace('"version":1', '"version":9'))
    const worker = workerFor(tampered, {}, true)
    try {
      const refused = await edge('/v1/templates/order-shipped/render?tone=formal&name=A&product=B', undefined, worker)
      expect(refused.status).toBe(502)
      expect(await refused.json()).toMatchObject({ error: { code: 'bundle_corrupt' } })
    } finally {
      await worker.dispose()
    }
  })
})

describe('cache misses at the edge', () => {
  it('go to UPSTREAM_URL when set, with the request unchanged', async () => {
    const received: { url: string; body: string; namespace: string | undefined }[] = []
    const upstream = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => (body += chunk.toString()))
      request.on('end', () => {
        received.push({ url: request.url ?? '', body, namespace: request.headers['x-larder-namespace'] as string })
        response.writeHead(200, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'generated live' } }] }))
      })
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    const worker = workerFor(
      bundleDir,
      { UPSTREAM_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` },
      true,
    )
    try {
      const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Something new?' }] })
      const miss = await edge(
        '/v1/chat/completions',
        { method: 'POST', headers: { 'x-larder-namespace': 'support' }, body },
        worker,
      )
      expect(miss.status).toBe(200)
      expect(miss.headers.get('x-larder-cache')).toBe('miss')
      expect(miss.headers.get('x-larder-key')).toMatch(/^[0-9a-f]{64}$/)
      expect(await miss.json()).toMatchObject({ choices: [{ message: { content: 'generated live' } }] })
      expect(received).toEqual([{ url: '/v1/chat/completions', body, namespace: 'support' }])
      // A hit never reaches the upstream.
      const hit = await edge(
        '/v1/chat/completions',
        {
          method: 'POST',
          headers: { 'x-larder-namespace': 'support' },
          body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: QUESTION }], temperature: 0 }),
        },
        worker,
      )
      expect(hit.headers.get('x-larder-cache')).toBe('hit')
      expect(received).toHaveLength(1)
      expect((await edge('/v1/templates/%E0%A4%A/render', undefined, worker)).status).toBe(400)
    } finally {
      await worker.dispose()
      await new Promise<void>((resolve) => upstream.close(() => resolve()))
    }
  })
})

describe('worker source', () => {
  it('is bundled from the current sources (run build.ts after changing the worker, renderer or cache key)', async () => {
    expect(readFileSync(GENERATED_MODULE, 'utf8')).toBe(await generatedModuleText(await bundleEdgeWorker()))
  })

  it('maps OpenAI bodies to cache keys exactly like the gateway', () => {
    const message = fc.record(
      {
        role: fc.constantFrom('system', 'user', 'assistant', 'tool'),
        content: fc.string(),
        tool_call_id: fc.string(),
        tool_calls: fc.constant([{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }]),
      },
      { requiredKeys: ['role', 'content'] },
    )
    const body = fc.record(
      {
        model: fc.constantFrom('tiny', 'gpt-x'),
        messages: fc.array(message, { minLength: 1, maxLength: 3 }),
        temperature: fc.oneof(fc.double({ noNaN: true }), fc.constant('0.2')),
        top_p: fc.double({ min: 0, max: 1, noNaN: true }),
        seed: fc.integer(),
        max_tokens: fc.integer({ min: 1 }),
        max_completion_tokens: fc.integer({ min: 1 }),
        stop: fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 })),
        response_format: fc.constant({ type: 'json_object' }),
        tools: fc.constant([{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }]),
        tool_choice: fc.constantFrom('auto', 'none', { type: 'function', function: { name: 'f' } }),
      },
      { requiredKeys: ['model', 'messages'], noNullPrototype: true },
    )
    fc.assert(
      fc.property(body, (raw) => {
        const { model, messages, ...params } = raw
        expect(cacheableFromBody(raw)).toEqual(cacheableFrom({ model, messages, params }))
      }),
      { numRuns: 500, seed: 9 },
    )
  })
})
