// `larder distill datasets import|list|show|review|export` and `larder distill teach|judge` in process against a
// real workspace, with a real OpenAI-compatible teacher on 127.0.0.1 (test/fixtures/openai-server).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { tempDir } from '../../../test/helpers'
import { Backend } from '../../backend/backend'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

const endpoints: FakeEndpoint[] = []
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close()
})

describe('larder distill datasets', () => {
  it('imports with line numbers, teaches, reviews, refuses an empty export, and exports a frozen version', async () => {
    const home = tempDir()
    const at = ['--home', home]
    const teacher = await startFakeEndpoint({ name: 'teacher' })
    endpoints.push(teacher)
    const backend = Backend.open({ home })
    await backend.call('providers.save', { name: 'teacher', baseUrl: teacher.baseUrl, model: 'm', concurrency: 2 })
    await backend.close()
    const file = join(home, 'prompts.jsonl')
    writeFileSync(
      file,
      [
        JSON.stringify({ messages: [{ role: 'user', content: 'First question about shipping' }] }),
        'not json',
        JSON.stringify({ instruction: 'Second question about refunds' }),
      ].join('\n'),
    )
    const imported = await larder(['distill', 'datasets', 'import', 'support', file, ...at])
    expect(imported.code).toBe(EXIT.ok)
    expect(imported.out).toMatch(/2 added/)
    expect(imported.out).toMatch(/Line 2 is not valid JSON/)

    const empty = await larder(['distill', 'datasets', 'export', 'support', '--freeze', ...at])
    expect(empty.code).not.toBe(EXIT.ok)
    expect(empty.err).toMatch(/no approved example/)

    const taught = await larder(['distill', 'teach', 'support', '--teacher', 'teacher', '--top-logprobs', '0', ...at])
    expect(taught.code).toBe(EXIT.ok)
    const reviewed = await larder(['distill', 'datasets', 'review', 'support', '--approve-pending', ...at])
    expect(reviewed.out).toMatch(/^2 approved/)
    const out = join(home, 'train.jsonl')
    const exported = await larder(['distill', 'datasets', 'export', 'support', '--freeze', '--out', out, ...at])
    expect(exported.code).toBe(EXIT.ok)
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { messages: { role: string }[] })
    expect(lines).toHaveLength(2)
    expect(lines.every((line) => line.messages.at(-1)!.role === 'assistant')).toBe(true)
    const shown = await larder(['distill', 'datasets', 'show', 'support', '--json', ...at])
    const parsed = JSON.parse(shown.out) as {
      dataset: { counts: { approved: number } }
      versions: { version: number }[]
    }
    expect(parsed.dataset.counts.approved).toBe(2)
    expect(parsed.versions.map((v) => v.version)).toEqual([1])
    const listed = await larder(['distill', 'datasets', 'list', ...at])
    expect(listed.out).toMatch(/^support \(#1/)

    // `distill train` takes the frozen version instead of a file.
    const train = ['distill', 'train', '--student', 'new', '--threads', '1', ...at]
    const both = await larder([...train, '--dataset', 'support', '--data', out])
    expect(both.code).toBe(EXIT.usage)
    expect(both.err).toMatch(/either --data <file> or --dataset <name>/)
    const noVersion = await larder([...train, '--dataset', 'support', '--dataset-version', '7'])
    expect(noVersion.err).toMatch(/support has no version 7 yet/)
    const trained = await larder([...train, '--dataset', 'support', '--max-steps', '2', '--out', 'from-v1', '--json'])
    expect(trained.err).toBe('')
    expect(trained.code).toBe(EXIT.ok)
    const runs = JSON.parse((await larder(['distill', 'runs', '--json', ...at])).out) as {
      items: { name: string; status: string; datasetVersionId?: number | null }[]
    }
    expect(runs.items[0]).toMatchObject({ name: 'from-v1', status: 'succeeded' })
    // `distill eval --dataset` reads the version's eval split; two examples leave it empty, which is said plainly.
    const evaluated = await larder(['distill', 'eval', '--dataset', 'support', '--student', 'from-v1', ...at])
    expect(evaluated.code).not.toBe(EXIT.ok)
    expect(evaluated.err).toMatch(/Version 1 of support has no eval examples to export/)
  })
})
