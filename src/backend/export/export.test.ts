// The CDN export job on a real workspace: bundle layout, content addressing, what is (not) exported, incremental
// exports with a deletion list, the .tar.gz, and every refusal that keeps a bad export from leaving anything behind.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { extract } from 'tar'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CdnExport, Job, TemplateFamily, TemplateVariant } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../backend'
import type { BundleManifest } from './edge-worker/bundle-format'

const familyText = readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8')
const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex')

let backend: Backend
let familyId = 0
const namespaces: Record<string, number> = {}
const entries: Record<string, number> = {}
let root = ''

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  return backend.runner.waitFor(job.id)
}

async function addEntry(namespace: string, question: string, answer: string, state: string): Promise<void> {
  const entry = await call<{ id: number }>('cache.entries.create', {
    namespaceId: namespaces[namespace],
    request: { model: 'tiny', messages: [{ role: 'user', content: question }], params: {} },
    answer,
    state,
  })
  entries[question] = entry.id
}

function readManifest(dir: string): BundleManifest {
  return JSON.parse(readFileSync(join(dir, 'public', 'manifest.json'), 'utf8')) as BundleManifest
}

function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort()
}

beforeAll(async () => {
  root = suiteTempDir('larder-export-')
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true }).start()
  const { family } = await call<{ family: TemplateFamily }>('templates.import', { text: familyText })
  familyId = family.id
  for (const segment of family.segments) {
    await call<TemplateVariant>('templates.variants.add', {
      familyId,
      segmentKey: segment.key,
      template: `(${segment.key}) Hi {{name}}, your {{product}} shipped.`,
    })
  }
  await call('templates.variants.approve', { familyId, all: true })
  await call('templates.publish', { familyId })
  const draftOnly = JSON.parse(familyText) as Record<string, unknown>
  await call('templates.import', { text: JSON.stringify({ ...draftOnly, name: 'never-published' }) })
  for (const name of ['support', 'sales']) {
    namespaces[name] = (await call<{ namespace: { id: number } }>('cache.namespaces.save', { name })).namespace.id
  }
  await addEntry('support', 'reset password', 'Use Settings > Security.', 'approved')
  await addEntry('support', 'delete account', 'Write to support.', 'approved')
  await addEntry('support', 'secret draft', 'DRAFT ANSWER', 'draft')
  await addEntry('sales', 'pricing', 'See /pricing.', 'approved')
})

afterAll(async () => {
  await backend.close()
})

describe('CDN export', () => {
  let first = ''

  it('writes content-addressed objects, a manifest and the worker, and a matching .tar.gz', async () => {
    first = join(root, 'bundle-1')
    const tarPath = join(root, 'bundle-1.tar.gz')
    const progress: number[] = []
    const unsubscribe = backend.events.subscribe((name, payload) => {
      const job = payload as Job
      if (name === 'job.updated' && job.kind === 'export.cdn' && job.progress !== null) progress.push(job.progress)
    })
    const job = await runJob('export.cdn', { outDir: first, tarPath, tenant: 'default' })
    unsubscribe()
    expect(job.error).toBeNull()
    expect(progress.at(-1)).toBe(1)
    const manifest = readManifest(first)
    const workspaceId = backend.workspace.db.prepare('SELECT workspace_id FROM export_identity').pluck().get()
    expect(manifest).toMatchObject({
      format: 'larder-cdn-bundle',
      formatVersion: 2,
      version: 1,
      workspaceId,
      tenant: 'default',
      previousManifestHash: null,
      incremental: false,
      deleted: [],
      counts: { families: 1, variants: 4, segments: 4, namespaces: 2, cacheEntries: 3, deleted: 0 },
    })
    expect(Date.parse(manifest.created)).toBeGreaterThan(Date.now() - 60_000)
    // Every object's name is the sha256 of its bytes, and the manifest lists exactly the objects present.
    const objects = readdirSync(join(first, 'public', 'objects')).sort()
    for (const file of objects)
      expect(`${sha256(readFileSync(join(first, 'public', 'objects', file)))}.json`).toBe(file)
    expect(manifest.objects.map((hash) => `${hash}.json`)).toEqual(objects)
    expect(manifest.counts.objects).toBe(objects.length)
    expect(manifest.worker.sha256).toBe(sha256(readFileSync(join(first, 'public', 'worker.js'))))
    expect(filesIn(first).filter((file) => !file.startsWith('public/objects'))).toEqual([
      'README.md',
      'public/manifest.json',
      'public/worker.js',
      'wrangler.r2.toml',
      'wrangler.toml',
    ])
    // Only published templates and approved entries.
    expect(Object.keys(manifest.templates)).toEqual(['order-shipped'])
    expect(Object.keys(manifest.cache)).toEqual(['default/sales', 'default/support'])
    const everything = objects.map((file) => readFileSync(join(first, 'public', 'objects', file), 'utf8')).join('\n')
    expect(everything).not.toMatch(/DRAFT ANSWER|never-published/)
    expect(everything).toMatch(/Use Settings > Security\./)

    const unpacked = tempDir()
    await extract({ file: tarPath, cwd: unpacked })
    expect(filesIn(unpacked)).toEqual(filesIn(first))
    for (const file of filesIn(first))
      expect(readFileSync(join(unpacked, file)).equals(readFileSync(join(first, file)))).toBe(true)
    expect(readdirSync(root).filter((name) => name.includes('.partial'))).toEqual([])
  })

  it('filters by namespace and family', async () => {
    const dir = join(root, 'sales-only')
    const job = await runJob('export.cdn', {
      outDir: dir,
      tenant: 'default',
      namespaces: ['sales'],
      families: ['order-shipped'],
    })
    expect(job.status).toBe('succeeded')
    const manifest = readManifest(dir)
    expect(Object.keys(manifest.cache)).toEqual(['default/sales'])
    expect(manifest.filters).toEqual({ namespaces: ['sales'], families: ['order-shipped'] })
    expect(manifest.counts.cacheEntries).toBe(1)
    expect(manifest.previousManifestHash).toBe(sha256(readFileSync(join(first, 'public', 'manifest.json'))))
  })

  it('writes only what changed since a manifest, and lists what to delete', async () => {
    // Change things: a new variant in one segment (published as version 2), an entry approved, one rejected.
    const segmentKey = 'locale=en,tone=formal'
    const added = await call<TemplateVariant>('templates.variants.add', {
      familyId,
      segmentKey,
      template: 'Dear {{name}}, {{product}} is on its way.',
    })
    await call('templates.variants.approve', { familyId, ids: [added.id] })
    await call('templates.publish', { familyId })
    await call('cache.entries.update', { id: entries['secret draft'], state: 'approved' })
    await call('cache.entries.update', { id: entries['delete account'], state: 'rejected' })

    const before = readManifest(first)
    const dir = join(root, 'bundle-2')
    const job = await runJob('export.cdn', {
      outDir: dir,
      tenant: 'default',
      since: join(first, 'public', 'manifest.json'),
    })
    expect(job.error).toBeNull()
    const manifest = readManifest(dir)
    expect(manifest).toMatchObject({ incremental: true, version: 3 })
    expect(manifest.previousManifestHash).toBe(sha256(readFileSync(join(first, 'public', 'manifest.json'))))
    const written = readdirSync(join(dir, 'public', 'objects'))
      .map((file) => file.replace('.json', ''))
      .sort()
    const previous = new Set(before.objects)
    expect(written).toEqual(manifest.objects.filter((hash) => !previous.has(hash)))
    expect(manifest.counts.written).toBe(written.length)
    // Changed: the family object, one segment object, the support shard, the newly approved entry.
    expect(written).toHaveLength(4)
    expect(manifest.deleted).toEqual(before.objects.filter((hash) => !manifest.objects.includes(hash)).sort())
    // Gone: the old family object, the old segment object, the old shard, the rejected entry.
    expect(manifest.deleted).toHaveLength(4)
    // The first bundle plus this one hold every object the new manifest names.
    for (const hash of manifest.objects) {
      expect(
        existsSync(join(dir, 'public', 'objects', `${hash}.json`)) ||
          existsSync(join(first, 'public', 'objects', `${hash}.json`)),
      ).toBe(true)
    }
    const { items } = await call<{ items: CdnExport[] }>('export.list')
    expect(items.map((item) => item.sequence)).toEqual([3, 2, 1])
    expect(items[0]!.namespaces).toEqual(['default/sales', 'default/support'])
    // An incremental export continues the same tenant's deployment.
    await expect(
      call('export.cdn', { outDir: join(root, 'y'), since: join(first, 'public', 'manifest.json') }),
    ).rejects.toMatchObject({ code: 'invalid_input', path: ['since'] })
    expect(items[0]!.counts.deleted).toBe(4)
  })

  it('refuses bad targets and foreign manifests before writing anything', async () => {
    const full = join(root, 'full')
    mkdirSync(full)
    writeFileSync(join(full, 'old.txt'), 'keep me')
    await expect(call('export.cdn', { outDir: full })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/is not empty\. Export into a new or empty folder/),
    })
    const aFile = join(root, 'a-file')
    writeFileSync(aFile, 'x')
    await expect(call('export.cdn', { outDir: join(aFile, 'bundle') })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/is not writable \(E(NOTDIR|EXIST)\)/),
    })
    await expect(
      call('export.cdn', { outDir: join(root, 'x'), tarPath: join(root, 'x', 'b.tar.gz') }),
    ).rejects.toMatchObject({
      message: 'Write the .tar.gz outside the bundle folder.',
    })
    await expect(
      call('export.cdn', { outDir: join(root, 'x'), tenant: 'default', namespaces: ['nope'] }),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: 'No cache namespace named "nope" for tenant "default".',
    })
    await expect(call('export.cdn', { outDir: join(root, 'x'), families: ['never-published'] })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/not published/),
    })

    const other = Backend.open({ home: join(root, 'other-home') }).start()
    const otherBundle = join(root, 'other-bundle')
    const { job } = (await other.call('export.cdn', { outDir: otherBundle })) as { job: Job }
    expect((await other.runner.waitFor(job.id)).status).toBe('succeeded')
    await other.close()
    await expect(call('export.cdn', { outDir: join(root, 'x'), since: otherBundle })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/was written by another workspace .* export in full \(without --since\)/),
    })
    await expect(
      call('export.cdn', { outDir: join(root, 'x'), since: join(first, 'public', 'worker.js') }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/is not JSON, so it is not a Larder manifest/),
    })
    expect(existsSync(join(root, 'x'))).toBe(false)
  })

  it('fails cleanly when the folder fills up while the job waits: nothing half-written, nothing touched', async () => {
    const target = join(root, 'raced')
    const paused = Backend.open({ home: join(root, 'home') })
    const { job } = (await paused.call('export.cdn', { outDir: target, tarPath: join(root, 'raced.tar.gz') })) as {
      job: Job
    }
    mkdirSync(target)
    writeFileSync(join(target, 'someone-elses.txt'), 'mine')
    paused.start()
    const finished = await paused.runner.waitFor(job.id)
    await paused.close()
    expect(finished.status).toBe('failed')
    expect(finished.error).toMatch(/is not empty/)
    expect(readdirSync(target)).toEqual(['someone-elses.txt'])
    expect(existsSync(join(root, 'raced.tar.gz'))).toBe(false)
    expect(readdirSync(dirname(target)).filter((name) => name.includes('.partial'))).toEqual([])
  })
})
