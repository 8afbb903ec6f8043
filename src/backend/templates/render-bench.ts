/**
 * `larder bench render`: renders per second of Larder's renderer against mustache.js, Handlebars and hand-written
 * string concatenation (the ceiling) on the same templates and data in one run, the same renderer's throughput inside
 * workerd, and the exported worker's p50 latency in workerd for a template render and a cache hit. Numbers only, not
 * a test. Needs the dev dependencies (mustache, handlebars, esbuild, miniflare): run it from a checkout.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { compileTemplate, escapeHtml } from '../../shared/template-render/index'
import type { Miniflare } from 'miniflare'
import type { Backend } from '../backend'

interface BenchCase {
  name: string
  template: string
  /** The same output written by hand: what a renderer cannot beat. */
  byHand: (data: BenchRow) => string
}

interface BenchRow {
  name: string
  product: string
  date: string
}

const CASES: BenchCase[] = [
  {
    name: 'sentence',
    template: 'Hi {{name}}, your {{product}} ships {{date}}.',
    byHand: (d) => `Hi ${escapeHtml(d.name)}, your ${escapeHtml(d.product)} ships ${escapeHtml(d.date)}.`,
  },
  {
    name: 'sections',
    template:
      'Hi {{name}}, your {{product}} is on its way{{#date}} and arrives {{date}}{{/date}}.{{^date}} We will email the date.{{/date}}',
    byHand: (d) =>
      `Hi ${escapeHtml(d.name)}, your ${escapeHtml(d.product)} is on its way${d.date ? ` and arrives ${escapeHtml(d.date)}` : ''}.${d.date ? '' : ' We will email the date.'}`,
  },
]

function rows(count: number, htmlHeavy: boolean): BenchRow[] {
  return Array.from({ length: count }, (_, i) => ({
    name: htmlHeavy ? `<b>Mina & "Jo" #${i}</b>` : `Mina ${i}`,
    product: i % 3 === 0 ? 'Earl Grey, 250 g' : 'Jasmine tea',
    date: i % 4 === 0 ? '' : `March ${(i % 28) + 1}`,
  }))
}

function rendersPerSecond(render: (data: BenchRow) => string, data: BenchRow[], minMs: number): number {
  let sink = 0
  for (let i = 0; i < 50_000; i++) sink += render(data[i % data.length]!).length
  let iterations = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < minMs) {
    for (let i = 0; i < 20_000; i++) sink += render(data[(iterations + i) % data.length]!).length
    iterations += 20_000
    elapsed = performance.now() - started
  }
  if (sink < 0) throw new Error('unreachable: keeps the work from being optimised away')
  return (iterations * 1000) / elapsed
}

export interface NodeRenderRow {
  case: string
  data: 'plain' | 'html'
  larder: number
  mustacheJs: number
  handlebars: number
  byHand: number
  /** larder / mustache.js */
  speedup: number
}

export async function benchNodeRenderers(minMs = 400): Promise<NodeRenderRow[]> {
  const Mustache = (await import('mustache')).default
  const Handlebars = (await import('handlebars')).default
  const out: NodeRenderRow[] = []
  for (const benchCase of CASES) {
    for (const kind of ['plain', 'html'] as const) {
      const data = rows(1000, kind === 'html')
      const ours = compileTemplate(benchCase.template)
      Mustache.parse(benchCase.template)
      const handlebars = Handlebars.compile(benchCase.template)
      // All four must produce the same bytes, or the comparison means nothing.
      for (const row of data.slice(0, 50)) {
        const expected = benchCase.byHand(row)
        if (ours.render(row) !== expected || Mustache.render(benchCase.template, row) !== expected) {
          throw new Error(`${benchCase.name}: renderers disagree on ${JSON.stringify(row)}`)
        }
      }
      const larder = rendersPerSecond((row) => ours.render(row), data, minMs)
      const mustacheJs = rendersPerSecond((row) => Mustache.render(benchCase.template, row), data, minMs)
      out.push({
        case: benchCase.name,
        data: kind,
        larder,
        mustacheJs,
        handlebars: rendersPerSecond((row) => handlebars(row), data, minMs),
        byHand: rendersPerSecond(benchCase.byHand, data, minMs),
        speedup: larder / mustacheJs,
      })
    }
  }
  return out
}

function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!
}

export interface WorkerdBench {
  /** Renders per second of the same renderer inside workerd (the `sentence` case, plain data). */
  rendersPerSecond: number
  render: { p50Ms: number; p95Ms: number; requests: number }
  cacheHit: { p50Ms: number; p95Ms: number; requests: number }
}

/**
 * Inside workerd the clock does not advance while code runs (a Spectre defence), so throughput is timed from outside:
 * one request that renders N times, minus one that renders none.
 */
async function workerdThroughput(MiniflareClass: typeof Miniflare): Promise<number> {
  const esbuild = await import('esbuild')
  const renderer = fileURLToPath(new URL('../../shared/template-render/index.ts', import.meta.url))
  const entry = `import { compileTemplate } from ${JSON.stringify(renderer)}
export default { async fetch(request) {
  const { template, rows, iterations } = await request.json()
  const compiled = compileTemplate(template)
  let sink = 0
  for (let i = 0; i < iterations; i++) sink += compiled.render(rows[i % rows.length]).length
  return new Response(String(sink))
} }`
  const built = await esbuild.build({
    stdin: { contents: entry, loader: 'js', resolveDir: process.cwd() },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    logLevel: 'silent',
  })
  const worker = new MiniflareClass({
    modules: true,
    script: built.outputFiles[0]!.text,
    compatibilityDate: '2025-01-01',
  })
  try {
    const url = await worker.ready
    const time = async (iterations: number): Promise<number> => {
      const started = performance.now()
      const response = await fetch(url, {
        method: 'POST',
        body: JSON.stringify({ template: CASES[0]!.template, rows: rows(1000, false), iterations }),
      })
      await response.text()
      return performance.now() - started
    }
    await time(200_000)
    const iterations = 2_000_000
    const empty = Math.min(await time(0), await time(0))
    const full = Math.min(await time(iterations), await time(iterations))
    return (iterations * 1000) / Math.max(1, full - empty)
  } finally {
    await worker.dispose()
  }
}

async function latency(
  url: string,
  init: () => RequestInit,
  requests: number,
): Promise<{ p50Ms: number; p95Ms: number; requests: number }> {
  for (let i = 0; i < 200; i++) await (await fetch(url, init())).arrayBuffer()
  const times: number[] = []
  for (let i = 0; i < requests; i++) {
    const started = performance.now()
    const response = await fetch(url, init())
    await response.arrayBuffer()
    if (!response.ok) throw new Error(`${url} answered ${response.status}`)
    times.push(performance.now() - started)
  }
  return { p50Ms: percentile(times, 0.5), p95Ms: percentile(times, 0.95), requests }
}

/** Exports a small workspace (one published family, one approved cache entry) and times the worker on it. */
export async function benchWorkerd(openBackend: (home: string) => Backend, requests = 1000): Promise<WorkerdBench> {
  const miniflare = await import('miniflare')
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-'))
  const backend = openBackend(join(dir, 'home')).start()
  try {
    const call = <T>(method: string, input: unknown): Promise<T> => backend.call(method, input) as Promise<T>
    const { family } = await call<{ family: { id: number } }>('templates.import', {
      text: JSON.stringify({
        name: 'bench',
        prompt: 'unused',
        slots: [
          { name: 'name', required: true },
          { name: 'product', required: true },
          { name: 'date', required: false },
        ],
        segments: [{ name: 'locale', values: ['en', 'ko'] }],
      }),
    })
    for (const locale of ['en', 'ko']) {
      for (const template of [
        CASES[0]!.template.replace('{{date}}', '{{#date}}{{date}}{{/date}}'),
        CASES[1]!.template,
      ]) {
        await call('templates.variants.add', { familyId: family.id, segmentKey: `locale=${locale}`, template })
      }
    }
    await call('templates.variants.approve', { familyId: family.id, all: true })
    await call('templates.publish', { familyId: family.id })
    const { namespace } = await call<{ namespace: { id: number } }>('cache.namespaces.save', { name: 'bench' })
    const question = { model: 'tiny', messages: [{ role: 'user', content: 'How do I reset my password?' }] }
    await call('cache.entries.create', {
      namespaceId: namespace.id,
      request: { ...question, params: {} },
      answer: 'Open Settings, then Security.',
      state: 'approved',
    })
    const outDir = join(dir, 'bundle')
    const { job } = await call<{ job: { id: number } }>('export.cdn', { outDir })
    const finished = await backend.runner.waitFor(job.id)
    if (finished.status !== 'succeeded') throw new Error(`export failed: ${finished.error}`)
    const worker = new miniflare.Miniflare({
      modules: true,
      script: readFileSync(join(outDir, 'public', 'worker.js'), 'utf8'),
      compatibilityDate: '2025-01-01',
      assets: {
        directory: join(outDir, 'public'),
        binding: 'ASSETS',
        routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
      },
    })
    try {
      const base = await worker.ready
      const render = await latency(
        new URL('/v1/templates/bench/render?locale=en&name=Mina&product=Jasmine%20tea&date=March%203', base).toString(),
        () => ({}),
        requests,
      )
      const cacheHit = await latency(
        new URL('/v1/chat/completions', base).toString(),
        () => ({ method: 'POST', headers: { 'x-larder-namespace': 'bench' }, body: JSON.stringify(question) }),
        requests,
      )
      return { rendersPerSecond: await workerdThroughput(miniflare.Miniflare), render, cacheHit }
    } finally {
      await worker.dispose()
    }
  } finally {
    await backend.close()
    rmSync(dir, { recursive: true, force: true })
  }
}
