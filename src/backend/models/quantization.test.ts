import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import type { Job, MethodOutput, Model } from '../../shared/contract'
import { Backend } from '../backend'
import { metadataString, readGgufFile, writeGgufImatrix, writeTinyLlamaGguf } from '../gguf/index'
import { syntheticImatrix } from '../gguf/test-support'
import type { SweepResult } from './quantization'

// Real backend, real node-llama-cpp in the model worker, on models the test writes: a 64-wide one (every
// k-quant falls back) and a 256-wide one (k-quants apply).
const root = mkdtempSync(join(tmpdir(), 'larder-quantization-api-'))
const fixtures = join(root, 'fixtures')
let backend: Backend
let tiny: Model
let wide: Model
let imatrixPath = ''

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  return backend.runner.waitFor(job.id)
}

beforeAll(async () => {
  mkdirSync(fixtures, { recursive: true })
  await writeTinyLlamaGguf(join(fixtures, 'tiny.gguf'), { seed: 21 })
  await writeTinyLlamaGguf(join(fixtures, 'wide.gguf'), { seed: 22, embeddingLength: 256, feedForwardLength: 512 })
  imatrixPath = join(fixtures, 'wide.imatrix.gguf')
  await writeGgufImatrix(imatrixPath, syntheticImatrix(await readGgufFile(join(fixtures, 'wide.gguf')), 3))
  await writeGgufImatrix(
    join(fixtures, 'tiny.imatrix.gguf'),
    syntheticImatrix(await readGgufFile(join(fixtures, 'tiny.gguf')), 3),
  )
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true, models: { cpuOnly: true } }).start()
  tiny = await call<Model>('models.register', { path: join(fixtures, 'tiny.gguf') })
  wide = await call<Model>('models.register', { path: join(fixtures, 'wide.gguf') })
}, 60_000)

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

describe('gguf.plan', () => {
  it('gives every file type its size, bits per weight and fallbacks for this model, from the header', async () => {
    const plan = await call<MethodOutput<'gguf.plan'>>('gguf.plan', { id: wide.id })
    expect(plan.items.map((item) => item.type)).toEqual([
      'Q8_0', 'Q6_K', 'Q5_K_M', 'Q5_K_S', 'Q5_1', 'Q5_0', 'Q4_K_M', 'Q4_K_S', 'Q4_1', 'Q4_0', 'Q3_K_L', 'Q3_K_M', 'Q3_K_S', 'Q2_K', 'Q2_K_S', 'F16',
    ]) // prettier-ignore
    const byType = Object.fromEntries(plan.items.map((item) => [item.type, item]))
    expect(byType.Q8_0?.bitsPerWeight).toBeCloseTo(8.5, 1)
    expect(byType.Q4_K_M?.bitsPerWeight).toBeGreaterThan(byType.Q4_K_S?.bitsPerWeight ?? 0)
    expect(byType.Q3_K_M?.bitsPerWeight).toBeLessThan(byType.Q4_K_S?.bitsPerWeight ?? 0)
    expect(byType.Q4_K_M?.fallbacks).toBe(0)
    expect(byType.Q4_K_M?.tensorTypeCounts).toEqual({ Q4_K: 13, Q6_K: 3, F32: 5 })
    expect(byType.Q2_K_S?.requiresImatrix).toBe(true)
    expect(byType.Q2_K?.requiresImatrix).toBe(false)
    const tinyPlan = await call<MethodOutput<'gguf.plan'>>('gguf.plan', { id: tiny.id })
    expect(tinyPlan.items.find((item) => item.type === 'Q4_K_M')?.fallbacks).toBe(15)
  })
})

describe('gguf.quantize with k-quants', () => {
  it(
    'quantizes to Q4_K_M with an importance matrix, records what it used, and the result generates',
    { timeout: workBudget({ loads: 3, megabytes: 4, tokens: 300 }) },
    async () => {
      const job = await runJob('gguf.quantize', { id: wide.id, type: 'Q4_K_M', imatrixPath, evaluate: true })
      expect(job.error).toBeNull()
      const result = job.result as {
        modelId: number
        bitsPerWeight: number
        imatrix: { entries: number; tensorsWithoutData: string[] }
        quality: { meanKlDivergence: number; top1Agreement: number }
        warnings: string[]
      }
      expect(result.bitsPerWeight).toBeGreaterThan(4.5)
      expect(result.imatrix.tensorsWithoutData).toEqual(['token_embd.weight'])
      expect(result.quality.meanKlDivergence).toBeLessThan(0.1)
      const model = await call<Model>('models.get', { id: result.modelId })
      expect(model).toMatchObject({ fileType: 'MOSTLY_Q4_K_M', source: 'quantized', name: 'wide-Q4_K_M' })
      const file = await readGgufFile(model.path)
      expect(metadataString(file.metadata, 'quantize.imatrix.file')).toBe('wide.imatrix.gguf')
      await call('models.load', { id: model.id, threads: 1, contextSize: 64 })
      const out = await call<{ tokensOut: number }>('models.generate', {
        target: { model: model.id },
        prompt: 'Hi',
        sampling: { maxTokens: 4, temperature: 0 },
      })
      expect(out.tokensOut).toBeGreaterThan(0)
      await call('models.unload', { id: model.id })
    },
  )

  it('refuses bad input with a 4xx before any job starts', async () => {
    const before = (await call<{ total: number }>('jobs.list', { kind: 'gguf.quantize' })).total
    await expect(
      call('gguf.quantize', { id: wide.id, type: 'Q4_K_M', imatrixPath: join(fixtures, 'nope.imatrix') }),
    ).rejects.toMatchObject({ code: 'not_found', path: ['imatrixPath'] })
    await expect(
      call('gguf.quantize', { id: wide.id, type: 'Q4_K_M', imatrixPath: join(fixtures, 'tiny.imatrix.gguf') }),
    ).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/"output.weight".*another model/) })
    const cut = join(fixtures, 'cut.dat')
    writeFileSync(cut, Buffer.from([5, 0, 0, 0, 3, 0, 0, 0, 97]))
    await expect(call('gguf.quantize', { id: wide.id, type: 'Q4_K_M', imatrixPath: cut })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/cut.dat is truncated/),
    })
    await expect(call('gguf.quantize', { id: wide.id, type: 'Q2_K_S' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/Q2_K_S needs an importance matrix/),
    })
    await expect(
      call('gguf.quantize', { id: tiny.id, type: 'Q4_K_M', outputTensorType: 'Q6_K' }),
    ).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/multiple of 256/) })
    expect((await call<{ total: number }>('jobs.list', { kind: 'gguf.quantize' })).total).toBe(before)
  })

  it('re-quantizes an already-quantized model only when allowed, warning about compounding error', async () => {
    const q8 = await runJob('gguf.quantize', { id: tiny.id, type: 'Q8_0', evaluate: false })
    const q8Id = (q8.result as { modelId: number }).modelId
    await expect(call('gguf.quantize', { id: q8Id, type: 'Q4_K_M', evaluate: false })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/already Q8_0/),
    })
    const again = await runJob('gguf.quantize', { id: q8Id, type: 'Q4_K_M', evaluate: false, allowRequantize: true })
    expect(again.status).toBe('succeeded')
    expect((again.result as { warnings: string[] }).warnings[0]).toMatch(/errors compound/)
  })
})

describe('gguf.sweep: the quality report across types', () => {
  it('measures Q8_0 / Q6_K / Q5_K_M / Q4_K_M / Q3_K_M of one model against the original', async () => {
    const types = ['Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_K_M', 'Q3_K_M']
    const job = await runJob('gguf.sweep', { id: wide.id, types, maxPositions: 64 })
    expect(job.error).toBeNull()
    const result = job.result as SweepResult
    expect(result.rows.map((row) => row.type)).toEqual(types)
    const sizes = result.rows.map((row) => row.sizeBytes)
    expect([...sizes].sort((a, b) => b - a)).toEqual(sizes)
    const q8 = result.rows[0]!
    const q3 = result.rows[4]!
    expect(q8.meanKlDivergence).toBeLessThan(q3.meanKlDivergence)
    expect(q8.top1Agreement).toBeGreaterThanOrEqual(q3.top1Agreement)
    expect(result.original.perplexity).toBeGreaterThan(1)
    for (const row of result.rows) expect(row.positions).toBe(64)
    // The quantized files were temporary: nothing new in the library.
    const { items } = await call<{ items: Model[] }>('models.list')
    expect(items.some((model) => model.name.includes('sweep'))).toBe(false)
  }, 120_000)
})
