// The Templates area through the API (backend.call, as every transport does), on a real workspace with SQLite and a
// real OpenAI-compatible HTTP server on 127.0.0.1 that writes scripted variants.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type {
  GenerationRun,
  Job,
  PreviewResult,
  TemplateFamily,
  TemplateFamilySummary,
  TemplateVariant,
  VersionDiff,
} from '../../shared/contract'
import {
  startTemplateWriter,
  type TemplateWriter,
  type WriterRequest,
} from '../../../test/fixtures/template-writer-server'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'

const familyFile = join(import.meta.dirname, '../../../test/data/templates/order-shipped.json')
const familyText = readFileSync(familyFile, 'utf8')

/** Segment "locale: en, tone: formal" -> a scripted answer per variant number. */
function script(request: WriterRequest): { template: string } | { raw: string } {
  const korean = request.segment.includes('locale: ko')
  const friendly = request.segment.includes('tone: friendly')
  const tag = `[${request.segment}]`
  const first = `${tag} Hi {{name}}, your {{product}} is on its way{{#date}} and arrives {{date}}{{/date}}.`
  if (request.variantNumber === 1) return { template: first }
  if (request.variantNumber === 2) {
    return korean
      ? { template: first.replace('Hi', 'Hi!') }
      : { template: `${tag} Good news, {{name}}: we sent your {{product}} today.` }
  }
  if (friendly) return { template: `${tag} Your {{product}} shipped!` }
  return korean
    ? { raw: 'Sorry, I cannot help with that.' }
    : { template: `${tag} We guarantee {{name}} gets {{product}}.` }
}

let backend: Backend
let writer: TemplateWriter
let familyId = 0

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function variants(states?: string[]): Promise<TemplateVariant[]> {
  return (
    await call<{ items: TemplateVariant[] }>('templates.variants.list', { familyId, ...(states ? { states } : {}) })
  ).items
}

beforeAll(async () => {
  writer = await startTemplateWriter(script)
  backend = Backend.open({ home: suiteTempDir('larder-templates-'), validateOutput: true }).start()
  await call('providers.save', { name: 'template-writer', baseUrl: writer.baseUrl, model: 'writer', concurrency: 4 })
})

afterAll(async () => {
  await backend.close()
  await writer.close()
})

describe('family import', () => {
  it('says where a file is not JSON', async () => {
    await expect(call('templates.import', { text: '{\n  "name": "x",\n  "slots": [,]\n}' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: 'The family file is not valid JSON at line 3, column 13 (near ""slots": [,]").',
    })
  })

  it('reports schema problems with the field path', async () => {
    const family = JSON.parse(familyText) as { slots: { name: string }[]; fallbacks: { template: string }[] }
    family.slots[1]!.name = 'name'
    family.fallbacks[1]!.template = 'Hi {{customer}}'
    const error = await call('templates.import', { text: JSON.stringify(family) }).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'invalid_input',
      path: ['slots', 1, 'name'],
      message:
        'The family file is not valid at "slots.1.name": "name" is already slot 0; slot names must be unique (and 1 more problem)',
    })
    expect((error as { issues: { path: unknown[]; message: string }[] }).issues[1]).toEqual({
      path: ['fallbacks', 1, 'template'],
      message: '{{customer}} is not a slot of this family (slots: name, name, date).',
    })
    const typo = JSON.parse(familyText) as Record<string, unknown>
    typo.variantsPerSegmnt = 2
    await expect(call('templates.import', { text: JSON.stringify(typo) })).rejects.toMatchObject({
      message: expect.stringMatching(/Unrecognized key.*variantsPerSegmnt/),
    })
  })

  it('imports the documented example, then refuses a second import unless replacing', async () => {
    const { family, created } = await call<{ family: TemplateFamily; created: boolean }>('templates.import', {
      text: familyText,
    })
    familyId = family.id
    expect(created).toBe(true)
    expect(family).toMatchObject({
      name: 'order-shipped',
      revision: 1,
      segmentCount: 4,
      slotCount: 3,
      publishedVersion: null,
    })
    expect(family.segments.map((s) => [s.key, s.missing, s.hasFallback])).toEqual([
      ['locale=en,tone=friendly', 3, true],
      ['locale=en,tone=formal', 3, false],
      ['locale=ko,tone=friendly', 3, true],
      ['locale=ko,tone=formal', 3, true],
    ])
    await expect(call('templates.import', { text: familyText })).rejects.toMatchObject({ code: 'conflict' })
    const replaced = await call<{ family: TemplateFamily; created: boolean }>('templates.import', {
      text: familyText,
      replace: true,
    })
    expect(replaced).toMatchObject({ created: false, family: { id: familyId, revision: 2 } })
    const { items } = await call<{ items: TemplateFamilySummary[] }>('templates.list')
    expect(items.map((f) => f.name)).toEqual(['order-shipped'])
  })

  it('refuses stale edits and renames', async () => {
    const family = await call<TemplateFamily>('templates.get', { id: familyId })
    await expect(
      call('templates.update', { id: familyId, definition: family.definition, expectedRevision: 1 }),
    ).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/changed since you opened it/) })
    await expect(
      call('templates.update', { id: familyId, definition: { ...family.definition, name: 'renamed' } }),
    ).rejects.toMatchObject({ code: 'invalid_input', path: ['definition', 'name'] })
  })
})

describe('generation', () => {
  it('asks before a very large grid', async () => {
    const big = JSON.parse(familyText) as Record<string, unknown>
    big.name = 'big-grid'
    big.segments = [
      { name: 'locale', values: Array.from({ length: 20 }, (_, i) => `l${i}`) },
      { name: 'tone', values: Array.from({ length: 10 }, (_, i) => `t${i}`) },
    ]
    big.fallbacks = []
    const { family } = await call<{ family: TemplateFamily }>('templates.import', { text: JSON.stringify(big) })
    expect(await call('templates.plan', { familyId: family.id })).toEqual({
      segments: 200,
      calls: 600,
      needsConfirmation: true,
      maxOutputTokens: 72_000,
    })
    await expect(call('templates.generate', { familyId: family.id })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/600 generation calls \(200 segments, up to 72,000 output tokens\)\. Confirm/),
    })
    await call('templates.remove', { id: family.id })
  })

  it('generates every segment with batching and progress, keeping rejected answers with their reasons', async () => {
    const progress: number[] = []
    const unsubscribe = backend.events.subscribe((name, payload) => {
      const job = payload as Job
      if (name === 'job.updated' && job.kind === 'templates.generate' && job.progress !== null)
        progress.push(job.progress)
    })
    const { job, plan } = await call<{ job: Job; plan: { calls: number } }>('templates.generate', { familyId })
    expect(plan.calls).toBe(12)
    const finished = await backend.runner.waitFor(job.id)
    unsubscribe()
    expect(finished.error).toBeNull()
    expect(finished.result).toMatchObject({ calls: 12, accepted: 6, rejected: 6, segments: 4 })
    expect(progress.at(-1)).toBe(1)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    expect(writer.requests).toHaveLength(12)
    expect(new Set(writer.requests.map((r) => r.seed)).size).toBe(12)

    const rejected = await variants(['rejected'])
    expect(rejected.map((v) => v.rejection![0]!.code).sort()).toEqual([
      'banned_phrase',
      'invalid_output',
      'missing_required_slot',
      'missing_required_slot',
      'near_duplicate',
      'near_duplicate',
    ])
    const invalid = rejected.find((v) => v.rejection![0]!.code === 'invalid_output')!
    expect(invalid.rawOutput).toBe('Sorry, I cannot help with that.')
    expect(rejected.find((v) => v.rejection![0]!.code === 'missing_required_slot')!.rejection![0]!.message).toBe(
      'The required slot {{name}} does not appear.',
    )
    const drafts = await variants(['draft'])
    expect(drafts).toHaveLength(6)
    expect(drafts.every((v) => v.problems.length === 0 && v.origin === 'generated' && v.tokensOut! > 0)).toBe(true)

    const { items } = await call<{ items: GenerationRun[] }>('templates.runs.list', { familyId })
    expect(items[0]).toMatchObject({ status: 'succeeded', plannedCalls: 12, target: 'provider template-writer' })
    expect(items[0]!.segments).toHaveLength(4)
    for (const segment of items[0]!.segments) {
      expect(segment.requested).toBe(3)
      expect(segment.tokensOut).toBeGreaterThan(0)
      expect(segment.generationMs).toBeGreaterThan(0)
      expect(segment.wallMs).toBeGreaterThan(0)
    }
    const family = await call<TemplateFamily>('templates.get', { id: familyId })
    expect(family.segments.map((s) => s.missing)).toEqual([1, 1, 2, 2])
    expect(family.segments[0]!.lastGeneration).toMatchObject({ requested: 3, accepted: 2 })
  })

  it('stops at once when the provider fails every call, saying why', async () => {
    const broken = await startTemplateWriter(() => ({ status: 400 }))
    const provider = await call<{ id: number }>('providers.save', {
      name: 'broken-writer',
      baseUrl: broken.baseUrl,
      model: 'w',
      concurrency: 1,
    })
    const { job } = await call<{ job: Job }>('templates.generate', { familyId, target: { provider: provider.id } })
    const finished = await backend.runner.waitFor(job.id)
    await broken.close()
    expect(finished.status).toBe('failed')
    expect(finished.error).toMatch(/^Stopped: the first 3 calls failed\. Last error: .*answered 400/)
    expect(broken.requests.length).toBe(3)
    // Failed calls are the job's error, not rejected variants.
    expect((await variants(['rejected'])).filter((v) => v.rejection![0]!.code === 'generation_failed')).toEqual([])
    const logs = await call<{ items: { level: string; message: string }[] }>('jobs.logs', { id: job.id })
    expect(
      logs.items.filter((line) => line.level === 'error' && /failed: .*answered 400/.test(line.message)),
    ).toHaveLength(3)
    const { items } = await call<{ items: GenerationRun[] }>('templates.runs.list', { familyId })
    expect(items[0]).toMatchObject({ status: 'failed', target: 'provider broken-writer' })
  })

  it('fails the job when some model calls fail, keeping the answers received and no rejected stand-ins', async () => {
    const family = JSON.parse(familyText) as Record<string, unknown>
    const { family: imported } = await call<{ family: TemplateFamily }>('templates.import', {
      text: JSON.stringify({ ...family, name: 'flaky-family', variantsPerSegment: 2 }),
    })
    // The second variant of every segment fails (after the first ones succeeded: no early stop).
    const flaky = await startTemplateWriter((request) =>
      request.variantNumber === 2 ? { status: 503 } : script(request),
    )
    const provider = await call<{ id: number }>('providers.save', {
      name: 'flaky-writer',
      baseUrl: flaky.baseUrl,
      model: 'w',
      concurrency: 1,
    })
    try {
      const { job } = await call<{ job: Job }>('templates.generate', {
        familyId: imported.id,
        target: { provider: provider.id },
      })
      const finished = await backend.runner.waitFor(job.id)
      expect(finished.status).toBe('failed')
      expect(finished.error).toMatch(
        /^4 of 8 model calls failed \(last error: .*503.*\)\. The 4 answers received are saved/,
      )
      const saved = await call<{ items: TemplateVariant[] }>('templates.variants.list', { familyId: imported.id })
      expect(saved.items).toHaveLength(4)
      expect(saved.items.every((variant) => variant.rejection?.[0]?.code !== 'generation_failed')).toBe(true)
    } finally {
      await flaky.close()
    }
  })

  it('fills only what is missing on the next run, with new seeds', async () => {
    const before = writer.requests.length
    const { job, plan } = await call<{ job: Job; plan: { calls: number } }>('templates.generate', { familyId })
    expect(plan.calls).toBe(6)
    expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
    const seeds = new Set(writer.requests.slice(0, before).map((r) => r.seed))
    expect(writer.requests.slice(before).every((r) => !seeds.has(r.seed))).toBe(true)
  })
})

describe('review, preview and publishing', () => {
  it('approves only drafts without problems, rejects with a reason, edits with checks', async () => {
    const drafts = await variants(['draft'])
    const [first, second] = drafts
    await expect(
      call('templates.variants.update', { id: first!.id, template: 'Hi {{nmae}}, {{product}}' }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/not a slot.*Did you mean \{\{name\}\}/),
    })
    const edited = await call<TemplateVariant>('templates.variants.update', {
      id: first!.id,
      template: 'Hello {{{name}}}, your {{product}} left our shop today.',
    })
    expect(edited).toMatchObject({
      origin: 'edited',
      state: 'draft',
      template: 'Hello {{name}}, your {{product}} left our shop today.',
    })
    await call('templates.variants.reject', { familyId, ids: [second!.id], reason: 'Too pushy.' })
    expect(
      (
        await call<{ items: TemplateVariant[] }>('templates.variants.list', { familyId, states: ['rejected'] })
      ).items.find((v) => v.id === second!.id)!.rejection,
    ).toEqual([{ code: 'operator', message: 'Too pushy.' }])
    const approved = await call<{ approved: number; skipped: unknown[] }>('templates.variants.approve', {
      familyId,
      all: true,
    })
    expect(approved.approved).toBe(drafts.length - 1)
    const invalid = (await variants(['rejected'])).find((v) => v.rejection![0]!.code === 'missing_required_slot')!
    const skipped = await call<{ approved: number; skipped: { id: number; reason: string }[] }>(
      'templates.variants.approve',
      { familyId, ids: [invalid.id, 999_999] },
    )
    expect(skipped.approved).toBe(0)
    expect(skipped.skipped).toEqual([
      { id: invalid.id, reason: 'The required slot {{name}} does not appear.' },
      { id: 999_999, reason: 'no such variant' },
    ])
    await expect(call('templates.variants.reject', { familyId, ids: [999_999] })).rejects.toMatchObject({
      code: 'not_found',
    })
  })

  it('previews exactly as the edge renders: chosen variant, fallbacks, 422, unsaved text', async () => {
    const preview = (input: Record<string, unknown>): Promise<PreviewResult> =>
      call<PreviewResult>('templates.preview', { familyId, ...input })
    const filled = await preview({
      segment: { tone: 'formal' },
      data: { name: 'Mina & Jo', product: 'Jasmine tea' },
      userId: 'u1',
    })
    expect(filled).toMatchObject({ ok: true, status: 200, segmentKey: 'locale=en,tone=formal', fallback: false })
    expect(filled.text).toMatch(/Mina &amp; Jo/)
    expect(filled.text).not.toMatch(/\{\{/)
    expect(
      (
        await preview({
          segment: { tone: 'formal' },
          data: { name: 'Mina & Jo', product: 'Jasmine tea' },
          userId: 'u1',
        })
      ).variantId,
    ).toBe(filled.variantId)
    expect(await preview({ segment: { tone: 'friendly' }, data: { product: 'tea' } })).toMatchObject({
      ok: true,
      fallback: true,
      text: 'Your order is on its way.',
    })
    expect(await preview({ segment: { locale: 'ko', tone: 'formal' }, data: { name: 'Mina' } })).toMatchObject({
      fallback: true,
      text: 'Mina님, 주문하신 상품이 발송되었습니다.',
    })
    expect(await preview({ segment: { tone: 'formal' }, data: { product: 'tea' } })).toMatchObject({
      ok: false,
      status: 422,
      code: 'missing_slot_data',
      text: null,
    })
    await expect(preview({ segment: {} })).rejects.toMatchObject({ code: 'invalid_input', path: ['segment', 'tone'] })
    const unsaved = await preview({
      segment: { tone: 'formal' },
      template: 'Yo {{name}} ({{product}})',
      data: { name: 'A', product: 'B' },
    })
    expect(unsaved).toMatchObject({ ok: true, text: 'Yo A (B)', variantId: null, templateProblems: [] })
    const broken = await preview({ segment: { tone: 'formal' }, template: 'Yo {{nme}}', data: { name: 'A' } })
    expect(broken.templateProblems.map((p) => p.code)).toEqual([
      'unknown_slot',
      'missing_required_slot',
      'missing_required_slot',
    ])
  })

  it('publishes snapshots, refuses no-op and unserveable versions, and diffs versions', async () => {
    const family = await call<TemplateFamily>('templates.get', { id: familyId })
    const stripped = { ...family.definition, fallbacks: [] }
    const noFallbacks = await call<TemplateFamily>('templates.update', { id: familyId, definition: stripped })
    const formal = await call<{ items: TemplateVariant[] }>('templates.variants.list', {
      familyId,
      segmentKey: 'locale=ko,tone=formal',
      states: ['approved'],
    })
    await call('templates.variants.reopen', { familyId, ids: formal.items.map((v) => v.id) })
    await expect(call('templates.publish', { familyId })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/1 segment has no approved variant and no fallback: locale=ko,tone=formal/),
    })
    await call('templates.update', {
      id: familyId,
      definition: family.definition,
      expectedRevision: noFallbacks.revision,
    })
    const v1 = await call<{ version: number; variantCount: number }>('templates.publish', { familyId, note: 'first' })
    expect(v1).toMatchObject({ version: 1, note: 'first' })
    await expect(call('templates.publish', { familyId })).rejects.toMatchObject({
      message: 'Nothing changed since version 1; there is nothing to publish.',
    })
    await call('templates.variants.approve', { familyId, ids: formal.items.map((v) => v.id) })
    const changedVariant = (await variants(['approved']))[0]!
    await call('templates.variants.update', { id: changedVariant.id, weight: 3 })
    const v2 = await call<{ version: number; variantCount: number }>('templates.publish', { familyId })
    expect(v2.version).toBe(2)
    expect(v2.variantCount).toBe(v1.variantCount + formal.items.length)
    const diff = await call<VersionDiff>('templates.versions.diff', { familyId, from: 1, to: 2 })
    expect(diff.summary).toMatchObject({ added: formal.items.length, removed: 0, changed: 1 })
    expect(
      diff.segments
        .find((s) => s.segmentKey === 'locale=ko,tone=formal')!
        .added.map((v) => v.id)
        .sort(),
    ).toEqual(formal.items.map((v) => v.id).sort())
    expect(diff.definitionChanges).toEqual([])
    const working = await call<VersionDiff>('templates.versions.diff', { familyId, from: 2, to: 'working' })
    expect(working.summary).toMatchObject({ added: 0, removed: 0, changed: 0 })
    const versions = await call<{ items: { version: number }[] }>('templates.versions.list', { familyId })
    expect(versions.items.map((v) => v.version)).toEqual([2, 1])
    const snapshot = await call<{ variants: unknown[] }>('templates.versions.get', { familyId, version: 1 })
    expect(snapshot.variants).toHaveLength(v1.variantCount)
    // The published version stays what the edge serves while the working set changes.
    const published = await call<PreviewResult>('templates.preview', {
      familyId,
      source: 'published',
      segment: { tone: 'formal' },
      data: { name: 'Mina', product: 'tea' },
      userId: 'u9',
    })
    expect(published).toMatchObject({ ok: true, version: 2 })
  })
})
