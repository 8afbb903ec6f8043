// Deploying CDN bundles to a real S3 protocol server (s3rver, on 127.0.0.1, started here) through the AWS SDK:
// the plan, the order of writes (objects, worker, archive, manifest last), incremental uploads, rollback in one write,
// deletes only after the grace period, an interrupted deploy that resumes in a new process' backend, and every
// refusal before any upload. s3rver checks access key ids but not v4 signatures, so "wrong credentials" here is an
// unknown access key id (a real store refuses a wrong secret the same way, with another error name).
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Deployment, DeployPlan, Job, MethodOutput } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'
import type { BundleManifest } from './edge-worker/bundle-format'
import { readLocalBundle } from './deploy'
import { S3Target } from './s3-target'

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')

let root = ''
let home = ''
let backend: Backend
let server: S3rver
let endpoint = ''
let namespaceId = 0
let exportsMade = 0
/** Every object written or deleted on the server, in order: "put key" / "delete key". */
const events: string[] = []

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function addEntries(from: number, count: number): Promise<void> {
  for (let index = from; index < from + count; index++) {
    await call('cache.entries.create', {
      namespaceId,
      request: { model: 'tiny', messages: [{ role: 'user', content: `Question number ${index}?` }], params: {} },
      answer: `Answer number ${index}.`,
      state: 'approved',
    })
  }
}

async function exportBundle(): Promise<{ dir: string; manifest: BundleManifest }> {
  const dir = join(root, `bundle-${++exportsMade}`)
  const { job } = await call<{ job: Job }>('export.cdn', { outDir: dir, tenant: 'default' })
  const done = await backend.runner.waitFor(job.id)
  expect(done.status, done.error ?? '').toBe('succeeded')
  return { dir, manifest: readLocalBundle(dir).manifest as unknown as BundleManifest }
}

async function deploy(
  bundleDir: string,
  to: string,
  extra: Record<string, unknown> = {},
): Promise<{ plan: DeployPlan; job: Job }> {
  const { plan, job } = await call<MethodOutput<'export.deploy'>>('export.deploy', {
    bundleDir,
    to,
    endpoint,
    ...extra,
  })
  const done = await backend.runner.waitFor(job!.id)
  expect(done.status, done.error ?? '').toBe('succeeded')
  return { plan, job: done }
}

function target(url: string, accessKeyId = 'S3RVER'): S3Target {
  return new S3Target({ url, endpoint, credentials: { accessKeyId, secretAccessKey: 'S3RVER' } })
}

async function liveManifest(url: string): Promise<BundleManifest | null> {
  const store = target(url)
  try {
    const bytes = await store.get('manifest.json')
    return bytes === null ? null : (JSON.parse(new TextDecoder().decode(bytes)) as BundleManifest)
  } finally {
    store.close()
  }
}

async function storedObjects(url: string): Promise<Set<string>> {
  const store = target(url)
  try {
    return new Set((await store.list('objects/')).map((item) => item.key.slice('objects/'.length, -'.json'.length)))
  } finally {
    store.close()
  }
}

beforeAll(async () => {
  root = suiteTempDir('larder-deploy-')
  home = join(root, 'home')
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER'
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER'
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(root, 's3'),
    configureBuckets: [{ name: 'edge', configs: [] }],
  })
  const address = await server.run()
  endpoint = `http://127.0.0.1:${address.port}`
  server.on('event', (event: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => {
    for (const record of event.Records) {
      events.push(`${record.eventName.startsWith('ObjectRemoved') ? 'delete' : 'put'} ${record.s3.object.key}`)
    }
  })
  backend = Backend.open({ home, validateOutput: true }).start()
  const { namespace } = await call<{ namespace: { id: number } }>('cache.namespaces.save', { name: 'support' })
  namespaceId = namespace.id
  await addEntries(0, 5)
}, 60_000)

afterAll(async () => {
  await backend?.close()
  await server?.close()
})

describe('export deploy to S3-compatible storage', () => {
  const url = 's3://edge/prod'
  let first: { dir: string; manifest: BundleManifest }
  let second: { dir: string; manifest: BundleManifest }

  it('prints the plan on a dry run and writes nothing', async () => {
    first = await exportBundle()
    const { plan, job } = await call<MethodOutput<'export.deploy'>>('export.deploy', {
      bundleDir: first.dir,
      to: url,
      endpoint,
      dryRun: true,
    })
    expect(job).toBeNull()
    expect(plan).toMatchObject({ live: null, objects: first.manifest.objects.length, present: 0, dropped: 0 })
    expect(plan.upload.objects).toBe(first.manifest.objects.length)
    expect(plan.steps[3]).toMatch(/write manifest.json \(version 1\): the switch/)
    expect(events).toEqual([])
  })

  it('uploads the objects, then the worker, then the manifest last, and verifies what it wrote', async () => {
    const { job } = await deploy(first.dir, url)
    const puts = events.filter((event) => event.startsWith('put prod/'))
    expect(puts.at(-1)).toBe('put prod/manifest.json')
    expect(puts.at(-2)).toMatch(/^put prod\/manifests\/[0-9a-f]{64}\.json$/)
    expect(puts.at(-3)).toBe('put prod/worker.js')
    expect(puts.slice(0, -3).every((event) => /^put prod\/objects\/[0-9a-f]{64}\.json$/.test(event))).toBe(true)
    expect(puts.length - 3).toBe(first.manifest.objects.length)
    expect(job.result).toMatchObject({ uploaded: first.manifest.objects.length, skipped: 0, deleted: 0 })
    expect((job.result as { verify: Deployment['verify'] }).verify).toMatchObject({
      manifestMatches: true,
      failures: [],
    })
    const live = await liveManifest(url)
    expect(live?.version).toBe(first.manifest.version)
    const store = target(url)
    const object = await store.get(`objects/${first.manifest.objects[0]}.json`)
    store.close()
    expect(sha256(object!)).toBe(first.manifest.objects[0])
  })

  it('uploads only what the target lacks on the next deploy, keeping dropped objects for the grace period', async () => {
    await addEntries(5, 3)
    second = await exportBundle()
    const had = new Set(first.manifest.objects)
    const added = second.manifest.objects.filter((hash) => !had.has(hash))
    const dropped = first.manifest.objects.filter((hash) => !second.manifest.objects.includes(hash))
    expect(added.length).toBeGreaterThan(0)
    expect(dropped.length).toBeGreaterThan(0) // the shard object changed
    const before = events.length
    const { plan, job } = await deploy(second.dir, url)
    expect(plan.upload.objects).toBe(added.length)
    expect(plan.present).toBe(second.manifest.objects.length - added.length)
    const objectPuts = events.slice(before).filter((event) => event.startsWith('put prod/objects/'))
    expect(objectPuts.sort()).toEqual(added.map((hash) => `put prod/objects/${hash}.json`).sort())
    expect(job.result).toMatchObject({ uploaded: added.length, deleted: 0 })
    const stored = await storedObjects(url)
    for (const hash of dropped) expect(stored.has(hash)).toBe(true)
    const { items } = await call<MethodOutput<'export.deployments'>>('export.deployments', { target: url })
    expect(items.map((item) => [item.version, item.live, item.action])).toEqual([
      [second.manifest.version, true, 'deploy'],
      [first.manifest.version, false, 'deploy'],
    ])
    expect(items[0]!.diff).toEqual({ added: added.length, removed: dropped.length })
    expect(items[0]!.deployedBy).toMatch(/@/)
  })

  it('rolls back with one write of manifest.json', async () => {
    const before = events.length
    const result = await call<MethodOutput<'export.rollback'>>('export.rollback', { to: url, endpoint })
    expect(result).toMatchObject({
      version: first.manifest.version,
      replacedVersion: second.manifest.version,
      writes: 1,
    })
    expect(events.slice(before)).toEqual(['put prod/manifest.json'])
    const live = await liveManifest(url)
    expect(live).toEqual(JSON.parse(readFileSync(join(first.dir, 'public', 'manifest.json'), 'utf8')))
    const { items } = await call<MethodOutput<'export.deployments'>>('export.deployments', { target: url })
    expect(items[0]).toMatchObject({ action: 'rollback', version: first.manifest.version, live: true })
    await expect(call('export.rollback', { to: url, endpoint, version: 99 })).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/keeps no manifest of version 99 \(kept: 2, 1\)/),
    })
  })

  it('deletes objects a replaced manifest named only once the grace period is over', async () => {
    // Version 2 again, with a 2 s grace: version 1's own objects stay while its readers may still be reading.
    const onlyFirst = first.manifest.objects.filter((hash) => !second.manifest.objects.includes(hash))
    const { job } = await deploy(second.dir, url, { graceSeconds: 2 })
    expect(job.result).toMatchObject({ uploaded: 0, deleted: 0 })
    let stored = await storedObjects(url)
    for (const hash of onlyFirst) expect(stored.has(hash)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 2500))
    const { plan } = await call<MethodOutput<'export.deploy'>>('export.deploy', {
      bundleDir: second.dir,
      to: url,
      endpoint,
      graceSeconds: 2,
      dryRun: true,
    })
    expect(plan).toMatchObject({ alreadyLive: true, dropped: onlyFirst.length, deletableNow: onlyFirst.length })
    const again = await deploy(second.dir, url, { graceSeconds: 2 })
    expect(again.job.result).toMatchObject({ deleted: onlyFirst.length })
    stored = await storedObjects(url)
    for (const hash of onlyFirst) expect(stored.has(hash)).toBe(false)
    for (const hash of second.manifest.objects) expect(stored.has(hash)).toBe(true)
    // Version 1 lost objects: rolling back to it is refused rather than making a manifest live that names them.
    await expect(call('export.rollback', { to: url, endpoint })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/deleted after the grace period; deploy that bundle again/),
    })
  })

  it('resumes an interrupted deploy; meanwhile the live manifest names only stored objects', async () => {
    await addEntries(100, 160)
    const big = await exportBundle()
    const { job } = await call<MethodOutput<'export.deploy'>>('export.deploy', {
      bundleDir: big.dir,
      to: url,
      endpoint,
    })
    const before = events.length
    await waitUntil(
      () => events.slice(before).filter((event) => event.startsWith('put prod/objects/')).length >= 20,
      60_000,
    )
    await backend.close() // the shutdown interrupts the job; a resumable kind goes back to the queue
    const uploadedBefore = events.slice(before).filter((event) => event.startsWith('put prod/objects/')).length
    expect(uploadedBefore).toBeLessThan(big.manifest.objects.length)
    const live = await liveManifest(url)
    expect(live?.version).toBe(second.manifest.version)
    const stored = await storedObjects(url)
    for (const hash of live!.objects) expect(stored.has(hash)).toBe(true)

    backend = Backend.open({ home, validateOutput: true }).start()
    const done = await backend.runner.waitFor(job!.id)
    expect(done.status, done.error ?? '').toBe('succeeded')
    expect(done.attempts).toBe(2)
    const result = done.result as { uploaded: number; skipped: number }
    expect(result.skipped).toBeGreaterThanOrEqual(uploadedBefore)
    expect(result.uploaded + result.skipped).toBe(big.manifest.objects.length)
    expect((await liveManifest(url))?.version).toBe(big.manifest.version)
    const after = await storedObjects(url)
    for (const hash of big.manifest.objects) expect(after.has(hash)).toBe(true)
  }, 120_000)
  it('resumes a deploy whose process was killed (SIGKILL) mid-upload', async () => {
    await addEntries(300, 160)
    const big = await exportBundle()
    const liveBefore = await liveManifest(url)
    await backend.close() // the killed process alone runs the job
    const before = events.length
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/index.ts',
        '--home',
        home,
        'export',
        'deploy',
        big.dir,
        '--to',
        url,
        '--endpoint',
        endpoint,
      ],
      { cwd: resolve(import.meta.dirname, '../../..'), stdio: 'ignore', env: process.env },
    )
    const exited = new Promise((done) => child.once('exit', done))
    const objectPuts = () => events.slice(before).filter((event) => event.startsWith('put prod/objects/')).length
    await waitUntil(() => objectPuts() >= 20 || child.exitCode !== null, 90_000)
    child.kill('SIGKILL')
    await exited
    const uploadedBefore = objectPuts()
    expect(uploadedBefore).toBeLessThan(big.manifest.objects.length)
    expect((await liveManifest(url))?.version).toBe(liveBefore?.version)
    const stored = await storedObjects(url)
    for (const hash of liveBefore!.objects) expect(stored.has(hash)).toBe(true)

    backend = Backend.open({ home, validateOutput: true }).start() // recovers the dead process' job
    const { items } = await call<{ items: Job[] }>('jobs.list', { kind: 'export.deploy' })
    const killed = items.find((job) => job.status !== 'succeeded')
    expect(killed, JSON.stringify(items.map((job) => [job.id, job.status]))).toBeDefined()
    const done = await backend.runner.waitFor(killed!.id)
    expect(done.status, done.error ?? '').toBe('succeeded')
    expect(done.attempts).toBe(2)
    expect((done.result as { skipped: number }).skipped).toBeGreaterThanOrEqual(uploadedBefore)
    expect((await liveManifest(url))?.version).toBe(big.manifest.version)
  }, 180_000)
})

describe('refusals before any upload', () => {
  it('refuses wrong credentials and a missing bucket with clear errors, writing nothing', async () => {
    const bundle = join(root, 'bundle-1')
    const before = events.length
    await call('export.targets.save', {
      name: 'wrong-keys',
      url: 's3://edge/other',
      endpoint,
      accessKeyId: 'NOT-A-KEY',
      secretAccessKey: 'nope',
    })
    await expect(call('export.deploy', { bundleDir: bundle, target: 'wrong-keys' })).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(/refused these credentials .*InvalidAccessKeyId/),
    })
    await expect(
      call('export.deploy', { bundleDir: bundle, to: 's3://no-such-bucket/x', endpoint }),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/bucket of s3:\/\/no-such-bucket\/x does not exist/),
    })
    await expect(call('export.deploy', { bundleDir: bundle, to: 'http://edge/x', endpoint })).rejects.toMatchObject({
      code: 'invalid_input',
    })
    await expect(call('export.deploy', { bundleDir: root, to: 's3://edge/x', endpoint })).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringMatching(/has no manifest.json/),
    })
    expect(events.slice(before)).toEqual([])
  })

  it('keeps a saved secret encrypted at rest and deploys with it', async () => {
    const saved = await call<{ hasSecret: boolean }>('export.targets.save', {
      name: 'staging',
      url: 's3://edge/staging',
      endpoint,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER-secret-value',
    })
    expect(saved.hasSecret).toBe(true)
    const { items } = await call<{ items: Record<string, unknown>[] }>('export.targets.list')
    expect(JSON.stringify(items)).not.toContain('S3RVER-secret-value')
    const raw = readFileSync(join(home, 'larder.db'))
    expect(raw.includes('S3RVER-secret-value')).toBe(false)
    const { job } = await call<MethodOutput<'export.deploy'>>('export.deploy', {
      bundleDir: join(root, 'bundle-1'),
      target: 'staging',
    })
    expect((await backend.runner.waitFor(job!.id)).status).toBe('succeeded')
    expect((await liveManifest('s3://edge/staging'))?.version).toBe(1)
  })

  it("refuses a target serving another workspace's bundle unless forced", async () => {
    const other = Backend.open({ home: join(root, 'other-home') }).start()
    const otherDir = join(root, 'other-bundle')
    const { job } = (await other.call('export.cdn', { outDir: otherDir })) as { job: Job }
    expect((await other.runner.waitFor(job.id)).status).toBe('succeeded')
    await other.close()
    const before = events.length
    await expect(call('export.deploy', { bundleDir: otherDir, to: 's3://edge/prod', endpoint })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/serves a bundle of another workspace .* pass --force/),
    })
    expect(events.slice(before)).toEqual([])
    await deploy(otherDir, 's3://edge/prod', { force: true })
    expect((await liveManifest('s3://edge/prod'))?.workspaceId).toBe(readLocalBundle(otherDir).manifest.workspaceId)
  })
})
