// `larder templates ...` and `larder export cdn` in process, against a real workspace, a real HTTP model server, a
// tiny real GGUF model, and the exported worker in workerd at the end: the whole lifecycle from the command line.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import { startTemplateWriter, type TemplateWriter } from '../../../test/fixtures/template-writer-server'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../../backend/backend'
import { writeTinyLlamaGguf } from '../../backend/gguf/index'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

const familyFile = join(import.meta.dirname, '../../../test/data/templates/order-shipped.json')

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

let writer: TemplateWriter
let root = ''
let home = ''

beforeAll(async () => {
  const phrasings = [
    'Dear {{name}}, your {{product}} has shipped.',
    '{{name}}, good news: we sent {{product}} today!',
    'Your parcel with {{product}} left our warehouse, {{name}}.',
  ]
  writer = await startTemplateWriter((request) => ({
    template: `(${request.segment}) ${phrasings[(request.variantNumber - 1) % 3]}`,
  }))
  root = suiteTempDir('larder-cli-templates-')
  home = join(root, 'home')
  const setup = Backend.open({ home })
  await setup.call('providers.save', { name: 'template-writer', baseUrl: writer.baseUrl, model: 'w', concurrency: 4 })
  await setup.close()
})

afterAll(async () => {
  await writer.close()
})

describe('larder templates and export (CLI)', () => {
  it('has --help on every command', async () => {
    for (const command of [
      ['templates'],
      ...[
        'import',
        'list',
        'show',
        'generate',
        'variants',
        'approve',
        'reject',
        'publish',
        'versions',
        'diff',
        'render',
      ].map((name) => ['templates', name]),
      ['export'],
      ['export', 'cdn'],
      ['bench', 'render'],
    ]) {
      const { code, out } = await larder([...command, '--help'])
      expect(code, command.join(' ')).toBe(EXIT.ok)
      expect(out).toMatch(/Usage: larder/)
    }
  })

  it('imports, generates, reviews, publishes, renders and exports; the worker serves the result', async () => {
    const at = ['--home', home]
    expect((await larder([...at, 'templates', 'import', familyFile])).out).toMatch(
      /Imported order-shipped: 3 slots, 4 segments, 3 variants wanted per segment/,
    )
    const badFile = await larder([...at, 'templates', 'import', join(root, 'missing.json')])
    expect(badFile.code).toBe(EXIT.notFound)
    expect((await larder([...at, 'templates', 'import', familyFile])).code).toBe(EXIT.conflict)

    const generated = await larder([...at, 'templates', 'generate', 'order-shipped', '--json'])
    expect(generated.code, generated.err).toBe(EXIT.ok)
    expect(JSON.parse(generated.out)).toMatchObject({ status: 'succeeded', result: { calls: 12, accepted: 12 } })
    expect((await larder([...at, 'templates', 'list'])).out).toMatch(/order-shipped\s+4\s+12\s+0\s+0\s+-/)

    const variants = JSON.parse((await larder([...at, 'templates', 'variants', 'order-shipped', '--json'])).out) as {
      items: { id: number }[]
    }
    const rejected = await larder([
      ...at,
      'templates',
      'reject',
      'order-shipped',
      '--ids',
      String(variants.items[0]!.id),
      '--reason',
      'stiff',
    ])
    expect(rejected.out).toBe('Rejected 1 variant.\n')
    expect((await larder([...at, 'templates', 'approve', 'order-shipped'])).code).toBe(EXIT.usage)
    expect((await larder([...at, 'templates', 'approve', 'order-shipped', '--all'])).out).toBe(
      'Approved 11 variants.\n',
    )
    expect((await larder([...at, 'templates', 'publish', 'order-shipped', '--note', 'launch'])).out).toMatch(
      /^Published order-shipped v1: 11 variants/,
    )
    expect((await larder([...at, 'templates', 'publish', 'order-shipped'])).code).toBe(EXIT.conflict)
    expect((await larder([...at, 'templates', 'versions', 'order-shipped'])).out).toMatch(
      /^v1 .* 11 variants {2}launch/,
    )
    expect((await larder([...at, 'templates', 'diff', 'order-shipped', '1'])).out).toMatch(/v1 -> working: 0 added/)

    const render = [
      ...at,
      'templates',
      'render',
      'order-shipped',
      '--segment',
      'locale=en,tone=formal',
      '--user',
      'u1',
      '--published',
    ]
    const rendered = await larder([...render, '--data', '{"name": "Mina", "product": "Jasmine tea"}'])
    expect(rendered.code).toBe(EXIT.ok)
    expect(rendered.out).toMatch(/^\(locale: en, tone: formal\) .*Mina.*Jasmine tea/)
    const missing = await larder([...render, '--data', '{"product": "Jasmine tea"}'])
    expect(missing.code).toBe(EXIT.failed)
    expect(missing.err).toMatch(/^422: No value for the required slot "name"\. No fallback is configured/)
    expect((await larder([...render, '--data', '{name: Mina}'])).code).toBe(EXIT.usage)
    expect((await larder([...at, 'templates', 'render', 'nope'])).code).toBe(EXIT.notFound)

    const bundle = join(root, 'bundle')
    const exported = await larder([...at, 'export', 'cdn', '--out', bundle, '--tar', join(root, 'bundle.tar.gz')])
    expect(exported.code, exported.err).toBe(EXIT.ok)
    expect(existsSync(join(root, 'bundle.tar.gz'))).toBe(true)
    expect((await larder([...at, 'export', 'cdn', '--out', bundle])).code).toBe(EXIT.conflict)
    const next = await larder([
      ...at,
      'export',
      'cdn',
      '--out',
      join(root, 'bundle-2'),
      '--since',
      join(bundle, 'public', 'manifest.json'),
      '--json',
    ])
    expect(JSON.parse(next.out)).toMatchObject({
      status: 'succeeded',
      result: { incremental: true, counts: { written: 0, deleted: 0 } },
    })

    const worker = new Miniflare({
      modules: true,
      script: readFileSync(join(bundle, 'public', 'worker.js'), 'utf8'),
      compatibilityDate: '2025-01-01',
      assets: {
        directory: join(bundle, 'public'),
        binding: 'ASSETS',
        routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
      },
    })
    try {
      const response = await worker.dispatchFetch(
        'http://edge.test/v1/templates/order-shipped/render?user=u1&tone=formal&name=Mina&product=Jasmine%20tea',
      )
      expect(await response.text()).toBe(rendered.out.trimEnd())
    } finally {
      await worker.dispose()
    }
  })

  it(
    'generates on a local model with --model, loading it in this process',
    { timeout: workBudget({ loads: 1, processes: 2, tokens: 1600 }) },
    async () => {
      const modelPath = join(root, 'tiny.gguf')
      await writeTinyLlamaGguf(modelPath, { seed: 7 })
      const at = ['--home', join(root, 'home-local')]
      expect((await larder([...at, 'models', 'add', modelPath, '--name', 'tiny'])).code).toBe(EXIT.ok)
      const family = JSON.parse(readFileSync(familyFile, 'utf8')) as Record<string, unknown>
      const file = join(root, 'one-each.json')
      const { writeFileSync } = await import('node:fs')
      writeFileSync(file, JSON.stringify({ ...family, variantsPerSegment: 1, generation: { maxTokens: 400 } }))
      expect((await larder([...at, 'templates', 'import', file])).code).toBe(EXIT.ok)
      const noTarget = await larder([...at, 'templates', 'generate', 'order-shipped'])
      expect(noTarget.code).toBe(EXIT.usage)
      expect(noTarget.err).toMatch(/names no model or provider \(generation\.target\); choose one/)
      const generated = await larder([
        ...at,
        'templates',
        'generate',
        'order-shipped',
        '--model',
        'tiny',
        '--threads',
        '1',
        '--json',
      ])
      expect(generated.code, generated.err).toBe(EXIT.ok)
      expect(JSON.parse(generated.out)).toMatchObject({ status: 'succeeded', result: { calls: 4, segments: 4 } })
      expect((await larder([...at, 'templates', 'generate', 'order-shipped', '--model', 'nope'])).code).toBe(
        EXIT.notFound,
      )
    },
  )
})
