// `larder gguf tiny` sizes and `larder distill train/runs` in process, against a real workspace and the real trainer.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import { readGgufFile } from '../../backend/gguf/index'
import { toChatJsonl, triageExamples } from '../../backend/distill/synthetic'
import { EXIT } from '../exit-codes'
import { runCli } from '../main'

async function larder(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(args, { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
  return { code, out, err }
}

describe('larder distill (CLI)', () => {
  it(
    'sizes a student with gguf tiny, trains it with distill train, and lists the run',
    async () => {
      const dir = tempDir()
      const home = join(dir, 'home')
      const student = join(dir, 'student.gguf')
      const made = await larder([
        'gguf',
        'tiny',
        '--out',
        student,
        '--dims',
        '32',
        '--layers',
        '2',
        '--heads',
        '2',
        '--ff',
        '64',
        '--context',
        '512',
        '--untied-output',
      ])
      expect(made.code).toBe(EXIT.ok)
      const file = await readGgufFile(student)
      expect(file.tensors.find((tensor) => tensor.name === 'output.weight')!.dims).toEqual([32, 260])
      expect(file.tensors.filter((tensor) => tensor.name.endsWith('attn_q.weight'))).toHaveLength(2)

      const data = join(dir, 'triage.jsonl')
      writeFileSync(data, `${toChatJsonl(triageExamples(120))}not json\n`)
      const trained = await larder([
        '--home',
        home,
        'distill',
        'train',
        '--student',
        student,
        '--data',
        data,
        '--epochs',
        '1',
        '--max-steps',
        '12',
        '--layers',
        'last:1',
        '--lr',
        '1e-3',
        '--threads',
        '1',
        '--out',
        'cli-student',
      ])
      expect(trained.err).not.toMatch(/failed/)
      expect(trained.code).toBe(EXIT.ok)
      expect(trained.out).toMatch(/Trained cli-student in 12 steps/)
      expect(trained.out).toMatch(/validation loss +\d\.\d{3} -> \d\.\d{3}/)

      const runs = await larder(['--home', home, 'distill', 'runs'])
      expect(runs.out).toMatch(/^ +1 {2}succeeded {2}cli-student/m)
      const json = JSON.parse((await larder(['--home', home, 'distill', 'runs', '--json'])).out) as {
        items: Array<{ prepared: { trainedTensors: number; skipped: unknown[] }; hyperparameters: { layers: unknown } }>
      }
      // Only the last block (9 tensors) and the output head (norm and projection) trained.
      expect(json.items[0]!.prepared.trainedTensors).toBe(11)
      expect(json.items[0]!.hyperparameters.layers).toEqual({ last: 1 })
    },
    5 * 60_000,
  )

  it('refuses bad arguments and bad input with a clear message and exit code', async () => {
    const dir = tempDir()
    const home = join(dir, 'home')
    const missing = await larder([
      '--home',
      home,
      'distill',
      'train',
      '--student',
      'new',
      '--data',
      join(dir, 'nope.jsonl'),
    ])
    expect(missing.code).toBe(EXIT.usage)
    expect(missing.err).toMatch(/No dataset file/)
    const layers = await larder([
      '--home',
      home,
      'distill',
      'train',
      '--student',
      'new',
      '--data',
      'x',
      '--layers',
      'first:2',
    ])
    expect(layers.code).toBe(EXIT.usage)
    expect(layers.err).toMatch(/--layers takes "all" or "last:N"/)
    const student = await larder(['--home', home, 'distill', 'train', '--student', 'no-such-model', '--data', 'x'])
    expect(student.code).toBe(EXIT.notFound)
    expect(student.err).toMatch(/No model named "no-such-model"/)
    const heads = await larder(['gguf', 'tiny', '--out', join(dir, 'x.gguf'), '--dims', '30', '--heads', '4'])
    expect(heads.code).toBe(EXIT.usage)
    expect(heads.err).toMatch(/must split into 4 heads of an even size/)
  })
})
