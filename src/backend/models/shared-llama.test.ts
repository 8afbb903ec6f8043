// The model worker keeps one Llama instance per GPU setting: quantizing a loaded model runs the quality comparison
// (on the CPU) without replacing the instance the loaded model came from, so grammar-constrained generation on that
// model keeps working. Before, every template call after a quantize failed with "The given LlamaModel and
// LlamaGrammar must be from the same Llama instance". Real node-llama-cpp on a tiny model this test writes; the
// backend loads with the console's default GPU setting ("auto", which is the CPU on a machine without a GPU).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job, Model, TemplateFamily, TemplateVariant } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { workBudget } from '../../../test/helpers'
import { Backend } from '../backend'
import { writeTinyLlamaGguf } from '../gguf/index'

let backend: Backend
let model: Model

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  return backend.runner.waitFor(job.id)
}

beforeAll(
  async () => {
    const dir = suiteTempDir('larder-shared-llama-')
    const path = join(dir, 'tiny.gguf')
    await writeTinyLlamaGguf(path, { seed: 7 })
    backend = Backend.open({ home: join(dir, 'home'), validateOutput: true, models: { cpuOnly: false } }).start()
    model = await call<Model>('models.register', { path, name: 'tiny' })
    await call('models.load', { id: model.id, threads: 1, contextSize: 1024, sequences: 2 })
  },
  workBudget({ loads: 1, processes: 1 }),
)

afterAll(async () => {
  await backend.close()
})

describe('one Llama instance per GPU setting in the model worker', () => {
  it(
    'generates a template family with a grammar on a loaded model after quantizing it',
    { timeout: workBudget({ loads: 2, megabytes: 2, tokens: 4 * 1200 + 512 }) },
    async () => {
      const quantized = await runJob('gguf.quantize', { id: model.id, type: 'Q8_0' })
      expect(quantized.error).toBeNull()
      expect((quantized.result as { quality: unknown }).quality).not.toBeNull()
      expect((await call<Model>('models.get', { id: model.id })).loaded).not.toBeNull()
      const definition = JSON.parse(
        readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8'),
      ) as Record<string, unknown>
      const { family } = await call<{ family: TemplateFamily }>('templates.import', {
        text: JSON.stringify({
          ...definition,
          name: 'after-quantize',
          variantsPerSegment: 1,
          generation: { target: { model: 'tiny' }, maxTokens: 300, temperature: 0.9, constraint: 'grammar' },
        }),
      })
      const generated = await runJob('templates.generate', { familyId: family.id })
      expect(generated.error).toBeNull()
      expect(generated.status).toBe('succeeded')
      const { items } = await call<{ items: TemplateVariant[] }>('templates.variants.list', { familyId: family.id })
      expect(items).toHaveLength(4)
      expect(items.every((variant) => variant.rawOutput !== null && variant.tokensOut! > 0)).toBe(true)
    },
  )
})
