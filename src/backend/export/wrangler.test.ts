// The exported wrangler configuration, run by wrangler itself (npm devDependency, local mode, offline): `deploy
// --dry-run` reads exactly the bundle's public/ folder as assets (never wrangler's own .wrangler/ state), the R2
// configuration binds the bucket, and `wrangler dev` becomes ready, serves the bundle and stays up without reloading.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job, TemplateFamily } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'

const WRANGLER = resolve(import.meta.dirname, '../../../node_modules/wrangler/bin/wrangler.js')
const familyText = readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8')
const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1', NO_COLOR: '1' }

let bundle = ''
let dev: ChildProcess | undefined
let assetCount = 0

function readCount(output: string): number {
  const match = new RegExp(`Read (\\d+) files from the assets directory ${join(bundle, 'public')}`).exec(output)
  expect(match, output).not.toBeNull()
  return Number(match![1])
}

function wrangler(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], { cwd: bundle, env })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('close', (code) => done({ code, output }))
  })
}

function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => done(port))
    })
  })
}

beforeAll(async () => {
  const root = suiteTempDir('larder-wrangler-')
  const backend = Backend.open({ home: join(root, 'home') }).start()
  try {
    const { family } = (await backend.call('templates.import', { text: familyText })) as { family: TemplateFamily }
    for (const segment of family.segments) {
      await backend.call('templates.variants.add', {
        familyId: family.id,
        segmentKey: segment.key,
        template: 'Hello {{name}}, {{product}} shipped.',
      })
    }
    await backend.call('templates.variants.approve', { familyId: family.id, all: true })
    await backend.call('templates.publish', { familyId: family.id })
    bundle = join(root, 'bundle')
    const { job } = (await backend.call('export.cdn', { outDir: bundle })) as { job: Job }
    expect((await backend.runner.waitFor(job.id)).status).toBe('succeeded')
  } finally {
    await backend.close()
  }
}, 60_000)

afterAll(() => {
  if (dev?.pid && dev.exitCode === null) process.kill(-dev.pid, 'SIGTERM')
})

describe('the exported wrangler.toml, run by wrangler', () => {
  it('deploys (dry run) exactly public/ as assets, and the R2 config binds the bucket', async () => {
    const objects = readdirSync(join(bundle, 'public', 'objects')).length
    const assets = await wrangler(['deploy', '--dry-run'])
    expect(assets.code, assets.output).toBe(0)
    assetCount = readCount(assets.output)
    // The bundle's files (objects, manifest, worker; wrangler 4.86 counts one more of its own), nothing else.
    expect(assetCount - (objects + 2)).toBeGreaterThanOrEqual(0)
    expect(assetCount - (objects + 2)).toBeLessThanOrEqual(1)
    expect(assets.output).toMatch(/env\.ASSETS\s+Assets/)
    const r2 = await wrangler(['deploy', '--dry-run', '-c', 'wrangler.r2.toml'])
    expect(r2.code, r2.output).toBe(0)
    expect(r2.output).toMatch(/env\.BUNDLE \(larder-bundles\)\s+R2 Bucket/)
    expect(r2.output).toMatch(/env\.BUNDLE_PREFIX \("prod\/"\)/)
  }, 120_000)

  it('runs under wrangler dev: ready, serving the bundle, its state outside public/, no reload loop', async () => {
    const port = await freePort()
    let output = ''
    dev = spawn(process.execPath, [WRANGLER, 'dev', '--port', String(port), '--ip', '127.0.0.1'], {
      cwd: bundle,
      env,
      detached: true,
    })
    dev.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    dev.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    await waitUntil(() => output.includes('Ready on'), 90_000, 'wrangler dev to be ready')
    const base = `http://127.0.0.1:${port}`
    expect(await (await fetch(`${base}/healthz`)).json()).toMatchObject({ ok: true, bundleVersion: 1 })
    const render = await fetch(`${base}/v1/templates/order-shipped/render?tone=formal&name=Mina&product=tea`)
    expect(await render.text()).toBe('Hello Mina, tea shipped.')
    await new Promise((done) => setTimeout(done, 3000))
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    expect(output.match(/Ready on/g)?.length, output).toBe(1)
    expect(existsSync(join(bundle, '.wrangler'))).toBe(true)
    expect(existsSync(join(bundle, 'public', '.wrangler'))).toBe(false)
    process.kill(-dev.pid!, 'SIGTERM')
    // With wrangler's state now beside public/, a deploy still reads the same assets.
    expect(readCount((await wrangler(['deploy', '--dry-run'])).output)).toBe(assetCount)
  }, 180_000)
})
