// `larder export deploy|rollback|deployments` in process against a real S3 protocol server (s3rver on 127.0.0.1):
// the dry run prints the plan and writes nothing, a deploy then a rollback print what happened, and bad input exits
// with the right code and a clear message.
import { join } from 'node:path'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

let root = ''
let server: S3rver
let endpoint = ''

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(['--home', join(root, 'home'), ...args], {
    out: (text) => (out += text),
    err: (text) => (err += text),
    stdinIsTTY: false,
  })
  return { code, out, err }
}

beforeAll(async () => {
  root = suiteTempDir('larder-cli-deploy-')
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER'
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER'
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(root, 's3'),
    configureBuckets: [{ name: 'edge', configs: [] }],
  })
  endpoint = `http://127.0.0.1:${(await server.run()).port}`
})
afterAll(async () => {
  await server?.close()
})

describe('larder export deploy', () => {
  it('plans, deploys twice, lists deployments and rolls back', async () => {
    for (const name of ['one', 'two']) {
      if (name === 'two')
        expect((await larder(['cache', 'namespaces', 'set', 'support', '--create'])).code).toBe(EXIT.ok)
      const exported = await larder(['export', 'cdn', '--out', join(root, name), '--tenant', 'default', '--json'])
      expect(exported.code, exported.err).toBe(EXIT.ok)
    }
    const dry = await larder([
      'export',
      'deploy',
      join(root, 'one'),
      '--to',
      's3://edge/site',
      '--endpoint',
      endpoint,
      '--dry-run',
    ])
    expect(dry.code, dry.err).toBe(EXIT.ok)
    expect(dry.out).toMatch(
      /^Dry run: nothing written\.\nDeploy version 1 .* to s3:\/\/edge\/site; live now: nothing yet\./,
    )
    expect(dry.out).toMatch(/4\. write manifest.json \(version 1\): the switch/)
    const planJson = await larder([
      'export',
      'deploy',
      join(root, 'one'),
      '--to',
      's3://edge/site',
      '--endpoint',
      endpoint,
      '--dry-run',
      '--json',
    ])
    expect(JSON.parse(planJson.out)).toMatchObject({ live: null, bundleVersion: 1 })

    for (const name of ['one', 'two']) {
      const deployed = await larder([
        'export',
        'deploy',
        join(root, name),
        '--to',
        's3://edge/site',
        '--endpoint',
        endpoint,
        '--json',
      ])
      expect(deployed.code, deployed.err).toBe(EXIT.ok)
      expect(JSON.parse(deployed.out)).toMatchObject({ status: 'succeeded' })
    }
    const listed = await larder(['export', 'deployments'])
    expect(listed.out).toMatch(
      /^\* s3:\/\/edge\/site {2}v2 deploy .* by \S+@\S+ \+\d+ -\d+ objects\n {2}s3:\/\/edge\/site {2}v1 deploy/,
    )
    const rolled = await larder(['export', 'rollback', '--to', 's3://edge/site', '--endpoint', endpoint])
    expect(rolled.code, rolled.err).toBe(EXIT.ok)
    expect(rolled.out).toBe('s3://edge/site: version 1 is live again (was 2); 1 write.\n')
  }, 120_000)

  it('exits with a clear error for a missing bucket, a bad address or a missing bundle', async () => {
    const bundle = join(root, 'one')
    const missing = await larder(['export', 'deploy', bundle, '--to', 's3://nope-bucket/x', '--endpoint', endpoint])
    expect(missing.code).toBe(EXIT.notFound)
    expect(missing.err).toMatch(/bucket of s3:\/\/nope-bucket\/x does not exist/)
    const bad = await larder(['export', 'deploy', bundle, '--to', 'ftp://x', '--endpoint', endpoint])
    expect(bad.code).toBe(EXIT.usage)
    const none = await larder([
      'export',
      'deploy',
      join(root, 'nothing'),
      '--to',
      's3://edge/x',
      '--endpoint',
      endpoint,
    ])
    expect(none.code).toBe(EXIT.notFound)
    expect(none.err).toMatch(/has no manifest.json/)
  }, 60_000)
})
