import { chmodSync, existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { spawnCli, waitForOutput } from '../../test/cli-process'
import { tempDir, workBudget } from '../../test/helpers'
import { defaultMigrationsDir, loadMigrations } from '../backend/db/migrations'
import { readGgufFile, writeGgufImatrix, writeTinyLlamaGguf } from '../backend/gguf/index'
import { writeTinyLoraGguf } from '../backend/gguf/lora'
import { syntheticImatrix } from '../backend/gguf/test-support'
import { EXIT } from './exit-codes'

const LATEST = loadMigrations(defaultMigrationsDir()).length
import { runCli } from './main'

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

describe('larder CLI (in process)', () => {
  it('has --help on every command', async () => {
    for (const command of [
      [],
      ['serve'],
      ['db'],
      ['db', 'status'],
      ['db', 'migrate'],
      ['jobs'],
      ['jobs', 'list'],
      ['jobs', 'show'],
      ['jobs', 'cancel'],
      ['backup'],
      ['restore'],
    ]) {
      const { code, out } = await larder([...command, '--help'])
      expect(code, command.join(' ')).toBe(EXIT.ok)
      expect(out).toMatch(/Usage: larder/)
    }
  })

  it('exits 2 on unknown commands and bad arguments', async () => {
    expect((await larder(['frobnicate'])).code).toBe(EXIT.usage)
    const bad = await larder(['jobs', 'show', 'abc'])
    expect(bad.code).toBe(EXIT.usage)
    expect(bad.err).toMatch(/must be a positive whole number/)
  })

  it('migrates, backs up, lists, shows and restores', async () => {
    const home = tempDir()
    const status = await larder(['--home', home, 'db', 'status', '--json'])
    expect(status.code).toBe(EXIT.ok)
    expect(JSON.parse(status.out)).toMatchObject({ current: 0, latest: LATEST })
    expect((await larder(['--home', home, 'db', 'migrate'])).out).toMatch(
      new RegExp(`Migrated from schema version 0 to ${LATEST}`),
    )
    expect((await larder(['--home', home, 'db', 'migrate'])).out).toMatch(/Already up to date/)

    const target = join(tempDir(), 'cli-backup.db')
    const backup = await larder(['--home', home, 'backup', target, '--json'])
    expect(backup.code).toBe(EXIT.ok)
    expect(JSON.parse(backup.out)).toMatchObject({ status: 'succeeded', result: { path: target, integrity: 'ok' } })
    expect(existsSync(target)).toBe(true)

    const list = await larder(['--home', home, 'jobs', 'list'])
    expect(list.out).toMatch(/1 {2}succeeded +100%.*Back up workspace to cli-backup\.db/)
    const show = await larder(['--home', home, 'jobs', 'show', '1'])
    expect(show.out).toMatch(/Backup verified/)
    expect((await larder(['--home', home, 'jobs', 'show', '77'])).code).toBe(EXIT.notFound)
    expect((await larder(['--home', home, 'jobs', 'cancel', '1'])).code).toBe(EXIT.conflict)

    const refused = await larder(['--home', home, 'restore', target])
    expect(refused.code).toBe(EXIT.usage)
    expect(refused.err).toMatch(/pass --yes/)
    const restored = await larder(['--home', home, 'restore', target, '--yes'])
    expect(restored.code).toBe(EXIT.ok)
    expect(restored.out).toMatch(/succeeded/)
  })

  it('exits 3 with a clear message for a corrupt or newer database', async () => {
    const corrupt = tempDir()
    writeFileSync(join(corrupt, 'larder.db'), 'not sqlite '.repeat(1000))
    const result = await larder(['--home', corrupt, 'jobs', 'list'])
    expect(result.code).toBe(EXIT.workspace)
    expect(result.err).toMatch(/damaged or is not a Larder database/)

    const newer = tempDir()
    expect((await larder(['--home', newer, 'db', 'migrate'])).code).toBe(EXIT.ok)
    const db = new Database(join(newer, 'larder.db'))
    db.prepare(`INSERT INTO schema_migrations VALUES (999, 'future', 'x', '2031-01-01')`).run()
    db.close()
    const refused = await larder(['--home', newer, 'jobs', 'list'])
    expect(refused.code).toBe(EXIT.workspace)
    expect(refused.err).toMatch(/migrated by a newer Larder \(schema version 999/)
  })
})

describe('larder serve (real process)', () => {
  it('prints the login URL, serves the API, and stops cleanly on Ctrl-C', async () => {
    const home = tempDir()
    const serve = spawnCli(['serve', '--home', home, '--port', '0'])
    const match = await waitForOutput(
      () => serve.output().out,
      /Open the console: (http:\/\/127\.0\.0\.1:\d+)\/\?token=(\S+)/,
    )
    const [, url, token] = match
    const response = await fetch(`${url}/api/settings.update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${decodeURIComponent(token!)}` },
      body: JSON.stringify({ theme: 'dark' }),
    })
    expect(response.status).toBe(200)
    serve.child.kill('SIGINT')
    expect(await serve.exit).toBe(0)
    expect(serve.output().out).toMatch(/Stopped cleanly/)
    // The WAL was checkpointed into larder.db and removed: one self-contained file, the write included.
    expect(existsSync(join(home, 'larder.db-wal'))).toBe(false)
    const db = new Database(join(home, 'larder.db'), { readonly: true })
    expect(db.prepare(`SELECT value FROM settings WHERE key = 'theme'`).pluck().get()).toBe('"dark"')
    db.close()
  })

  it('exits 5 when the port is taken', async () => {
    const first = spawnCli(['serve', '--home', tempDir(), '--port', '0'])
    const [, port] = await waitForOutput(() => first.output().out, /127\.0\.0\.1:(\d+)/)
    const second = spawnCli(['serve', '--home', tempDir(), '--port', port!])
    expect(await second.exit).toBe(EXIT.conflict)
    expect(second.output().err).toMatch(new RegExp(`Port ${port} on 127.0.0.1 is already in use`))
    first.child.kill('SIGINT')
    await first.exit
  })

  it.skipIf(process.getuid?.() !== 0)(
    'exits 3 when the workspace folder is not writable (run as an unprivileged user)',
    async () => {
      // Root may write anywhere, so the check runs the CLI as "nobody" against a folder only root may write.
      const parent = tempDir()
      chmodSync(parent, 0o755)
      const result = spawnCli(['jobs', 'list', '--home', join(parent, 'workspace')], { uid: 65534, gid: 65534 })
      expect(await result.exit).toBe(EXIT.workspace)
      expect(result.output().err).toMatch(/workspace folder .* is not writable \(EACCES\)/)
    },
  )
})

describe('larder pipelines (in process)', () => {
  it('imports a pipeline file, lists it, runs it with a trace, and refuses a broken file', async () => {
    const { startFakeEndpoint } = await import('../../test/fixtures/openai-server')
    const upstream = await startFakeEndpoint({ name: 'helper', judgeScore: 9 })
    try {
      const home = tempDir()
      const { Backend } = await import('../backend/backend')
      const backend = Backend.open({ home })
      const provider = (await backend.call('providers.save', {
        name: 'helper',
        baseUrl: upstream.baseUrl,
        model: 'm',
      })) as { id: number }
      await backend.close()
      const file = join(tempDir(), 'reply.json')
      writeFileSync(
        file,
        JSON.stringify({
          format: 'larder.pipeline',
          version: 1,
          name: 'reply',
          nodes: [
            { id: 'input', type: 'input' },
            { id: 'draft', type: 'llm', config: { target: { provider: provider.id }, prompt: 'Answer: {{input}}' } },
            { id: 'check', type: 'judge', config: { target: { provider: provider.id }, rubric: 'Is it helpful?' } },
            { id: 'output', type: 'output' },
          ],
          edges: [
            { id: 'a', source: 'input', target: 'draft' },
            { id: 'b', source: 'draft', target: 'check' },
            { id: 'c', source: 'check', sourcePort: 'pass', target: 'output' },
          ],
        }),
      )
      expect((await larder(['--home', home, 'pipelines', 'import', file])).out).toMatch(
        /Imported reply \(tenant default\) as version 1/,
      )
      expect((await larder(['--home', home, 'pipelines', 'list'])).out).toMatch(/reply +v1 +4 nodes/)
      const run = await larder(['--home', home, 'pipelines', 'run', 'reply', '--input', '"Where is my order?"'])
      expect(run.code).toBe(EXIT.ok)
      expect(run.out).toMatch(/helper says: Answer: Where is my order\?/)
      expect(run.out).toMatch(/check +succeeded/)
      // With --json, stdout is the run as JSON and nothing else; the run is recorded as the CLI's.
      const json = await larder(['--home', home, 'pipelines', 'run', 'reply', '--input', 'Hi', '--json'])
      expect(json.code).toBe(EXIT.ok)
      const parsed = JSON.parse(json.out) as { source: string; status: string; output: string }
      expect(parsed).toMatchObject({ source: 'cli', status: 'succeeded' })
      expect(json.err).toMatch(/Job \d+ succeeded\./)
      writeFileSync(file, '{"format": "larder.pipeline", "version": 9, "name": "x", "nodes": [], "edges": []}')
      const refused = await larder(['--home', home, 'pipelines', 'import', file])
      expect(refused.code).toBe(EXIT.usage)
      expect(refused.err).toMatch(/format version 9/)
    } finally {
      await upstream.close()
    }
  })
})

describe('larder gguf and models (in process)', () => {
  it("quantizes to k-quant mixtures with an imatrix and llama-quantize's flags, and plans every type", async () => {
    const dir = tempDir()
    const wide = join(dir, 'wide.gguf')
    await writeTinyLlamaGguf(wide, { embeddingLength: 256, feedForwardLength: 512 })
    await writeGgufImatrix(join(dir, 'wide.imatrix'), syntheticImatrix(await readGgufFile(wide), 1))
    const quantized = await larder([
      'gguf', 'quantize', wide, join(dir, 'q4km.gguf'), '--type', 'q4_k', '--imatrix', join(dir, 'wide.imatrix'),
      '--token-embedding-type', 'q6_k', '--json',
    ]) // prettier-ignore
    expect(quantized.code, quantized.err).toBe(EXIT.ok)
    const summary = JSON.parse(quantized.out)
    expect(summary).toMatchObject({ fileType: 'MOSTLY_Q4_K_M', tensorTypes: { Q4_K: 12, Q6_K: 4, F32: 5 } })
    expect(summary.imatrix.tensorsWithoutData).toEqual(['token_embd.weight'])
    const plan = await larder(['gguf', 'plan', wide])
    expect(plan.out).toMatch(/Q4_K_M +[\d.]+ [kKM]i?B +4\.\d\d/)
    expect(plan.out).toMatch(/Q2_K_S .*needs --imatrix/)
    const tiny = join(dir, 'tiny.gguf')
    await writeTinyLlamaGguf(tiny)
    const fallback = await larder(['gguf', 'quantize', tiny, join(dir, 'tiny-q4km.gguf'), '--type', 'Q4_K_M'])
    expect(fallback.code).toBe(EXIT.ok)
    expect(fallback.err).toMatch(/warning: 15 of 21 tensors have rows no k-quant block fits/)
    const needs = await larder(['gguf', 'quantize', wide, join(dir, 'q2ks.gguf'), '--type', 'Q2_K_S'])
    expect(needs.code).toBe(EXIT.usage)
    expect(needs.err).toMatch(/needs an importance matrix/)
  })

  it(
    'writes a tiny model and quantizes it file to file in any case of type name',
    { timeout: workBudget({ megabytes: 4 }) },
    async () => {
      const dir = tempDir()
      const home = tempDir()
      expect((await larder(['gguf', 'tiny', '--out', join(dir, 'tiny.gguf'), '--seed', '3'])).out).toMatch(
        /Wrote .*tiny\.gguf \(F32, seed 3\)/,
      )
      const quantized = await larder([
        'gguf',
        'quantize',
        join(dir, 'tiny.gguf'),
        join(dir, 'tiny-q4.gguf'),
        '--type',
        'q4_0',
        '--json',
      ])
      expect(quantized.code).toBe(EXIT.ok)
      expect(JSON.parse(quantized.out)).toMatchObject({ fileType: 'MOSTLY_Q4_0', quantizedTensors: 16 })
      expect(
        (await larder(['gguf', 'quantize', join(dir, 'tiny.gguf'), join(dir, 'x.gguf'), '--type', 'q7_k'])).code,
      ).toBe(EXIT.usage)
      const again = await larder(['gguf', 'quantize', join(dir, 'tiny-q4.gguf'), join(dir, 'y.gguf'), '--type', 'q8_0'])
      expect(again.code).not.toBe(EXIT.ok)
      expect(again.err).toMatch(/already Q4_0.*--allow-requantize/)
      const inspect = await larder(['gguf', 'inspect', join(dir, 'tiny-q4.gguf')])
      expect(inspect.out).toMatch(/file type: MOSTLY_Q4_0/)
      expect((await larder(['--home', home, 'models', 'add', join(dir, 'tiny-q4.gguf')])).out).toMatch(
        /Registered tiny-q4/,
      )
      // A LoRA adapter registers on a library model with --base, and only so.
      const adapter = join(dir, 'adapter.gguf')
      await writeTinyLoraGguf(adapter)
      const alone = await larder(['--home', home, 'models', 'add', adapter])
      expect(alone.code).not.toBe(EXIT.ok)
      expect(alone.err).toMatch(/adapter/i)
      const noBase = await larder(['--home', home, 'models', 'add', adapter, '--base', 'no-such-model'])
      expect(noBase.code).toBe(EXIT.notFound)
      await larder(['--home', home, 'models', 'add', join(dir, 'tiny.gguf')])
      const added = await larder(['--home', home, 'models', 'add', adapter, '--base', 'tiny'])
      expect(added.code).toBe(EXIT.ok)
      expect(added.out).toMatch(/Registered adapter .*LoRA on tiny\)/)
    },
  )

  const GENERATED_TYPES = ['q8_0', 'q5_1', 'q5_0', 'q4_1', 'q4_0', 'f16']
  // One model load in a fresh worker per type, and six tokens from each.
  it(
    'loads and generates from every file type the CLI quantizes to',
    {
      timeout: workBudget({
        loads: GENERATED_TYPES.length + 2,
        processes: GENERATED_TYPES.length + 1,
        tokens: 36,
        megabytes: 4,
      }),
    },
    async () => {
      const dir = tempDir()
      const home = tempDir()
      expect((await larder(['gguf', 'tiny', '--out', join(dir, 'tiny.gguf'), '--seed', '3'])).code).toBe(EXIT.ok)
      // Every supported type, made by the CLI from the tiny model, loads and generates through the CLI.
      for (const type of GENERATED_TYPES) {
        const file = join(dir, `tiny-${type}.gguf`)
        expect((await larder(['gguf', 'quantize', join(dir, 'tiny.gguf'), file, '--type', type])).code).toBe(EXIT.ok)
        await larder(['--home', home, 'models', 'add', file])
        const args = ['--home', home, 'models', 'generate', `tiny-${type}`, '--prompt', 'Hi', '--max-tokens', '6']
        const generated = await larder([...args, '--threads', '1', '--cpu', '--json'])
        expect(generated.code, type).toBe(EXIT.ok)
        expect(JSON.parse(generated.out).tokensOut, type).toBeGreaterThan(0)
      }
      // The comparison explains its verdict in words.
      const compared = await larder([
        'gguf',
        'compare',
        join(dir, 'tiny.gguf'),
        join(dir, 'tiny-q8_0.gguf'),
        '--max-tokens',
        '32',
        '--threads',
        '1',
      ])
      expect(compared.code).toBe(EXIT.ok)
      expect(compared.out).toMatch(/Verdict: (practically lossless|small loss|noticeable loss|large loss)\./)
      expect(compared.out).toMatch(/- Top-1 agreement .*%/)
      expect(compared.out).toMatch(/- Only 32 positions were scored/)
    },
  )
})
