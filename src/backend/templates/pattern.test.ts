// Slot patterns (issue 14): an invalid pattern is a clear 400 when the family is saved, not a 500; a pattern that
// backtracks catastrophically in a JavaScript RegExp, `(a+)+b`, runs in linear time (RE2 semantics) in the backend's
// preview and in the exported worker in workerd (anonymous callers reach it).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job, PreviewResult, TemplateFamily } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'

const EVIL = '(a+)+b'
/** 2^40 backtracking steps for a JavaScript RegExp; RE2 is linear. */
const HOSTILE = `${'a'.repeat(40)}c`

let backend: Backend
let root = ''

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function definition(pattern: string, name = 'code-reminder') {
  return {
    formatVersion: 1,
    name,
    purpose: 'Remind a user of a code.',
    prompt: 'Write short reminders.',
    slots: [{ name: 'code', type: 'text', required: true, pattern, examples: [] }],
    segments: [{ name: 'locale', values: ['en'], default: 'en' }],
    variantsPerSegment: 1,
    fallbacks: [],
  }
}

beforeAll(() => {
  root = suiteTempDir('larder-pattern-')
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true }).start()
})

afterAll(async () => {
  await backend?.close()
})

describe('slot patterns', () => {
  it('refuses an invalid pattern, or one RE2 cannot run, with a clear 400 naming the field', async () => {
    for (const pattern of ['(', '(?=a)b', '(a)\\1']) {
      await expect(call('templates.create', { definition: definition(pattern) }), pattern).rejects.toMatchObject({
        code: 'invalid_input',
        path: ['definition', 'slots', 0, 'pattern'],
        message: expect.stringMatching(/not a valid pattern \(RE2 syntax/),
      })
    }
  })

  it('matches in linear time in the backend preview and in the exported worker', async () => {
    const family = await call<TemplateFamily>('templates.create', { definition: definition(EVIL) })
    await call('templates.variants.add', { familyId: family.id, segmentKey: 'locale=en', template: 'Code {{code}}.' })
    await call('templates.variants.approve', { familyId: family.id, all: true })
    await call('templates.publish', { familyId: family.id })
    let started = performance.now()
    const preview = await call<PreviewResult>('templates.preview', { familyId: family.id, data: { code: HOSTILE } })
    expect(performance.now() - started).toBeLessThan(2000)
    expect(preview).toMatchObject({ ok: false })
    const ok = await call<PreviewResult>('templates.preview', { familyId: family.id, data: { code: 'aaab' } })
    expect(ok).toMatchObject({ ok: true, text: 'Code aaab.' })

    const outDir = join(root, 'bundle')
    const { job } = await call<{ job: Job }>('export.cdn', { outDir })
    expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
    const worker = new Miniflare({
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
      await worker.ready
      started = performance.now()
      const hostile = (await worker.dispatchFetch(
        `http://edge.test/v1/templates/code-reminder/render?code=${HOSTILE}`,
      )) as unknown as Response
      expect(performance.now() - started).toBeLessThan(2000)
      expect(hostile.status).toBe(422)
      const fine = (await worker.dispatchFetch(
        'http://edge.test/v1/templates/code-reminder/render?code=aab',
      )) as unknown as Response
      expect(await fine.text()).toBe('Code aab.')
    } finally {
      await worker.dispose()
    }
  }, 60_000)
})
