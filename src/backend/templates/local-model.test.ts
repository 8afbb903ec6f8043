// Generation on a real model: node-llama-cpp in the model worker, on a tiny random GGUF model this test writes
// (CPU, one thread). Its words are gibberish, so this checks what the constraint and the validation guarantee, not
// the prose: with the grammar every answer holds each required slot exactly once; with a plain JSON schema the
// model leaves slots out, and those answers are rejected with the reason kept.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import type { Job, PreviewResult, TemplateFamily, TemplateVariant } from '../../shared/contract'
import { analyzeTemplate, checkVariant } from '../../shared/template-render/index'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { Backend } from '../backend'
import { writeTinyLlamaGguf } from '../gguf/index'

let backend: Backend
const definition = JSON.parse(
  readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8'),
) as Record<string, unknown>

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function generate(
  name: string,
  constraint: 'auto' | 'json-schema',
): Promise<{ job: Job; family: TemplateFamily }> {
  const { family } = await call<{ family: TemplateFamily }>('templates.import', {
    text: JSON.stringify({
      ...definition,
      name,
      variantsPerSegment: 2,
      constraints: { maxLength: 90, banned: ['guarantee'] },
      generation: { target: { model: 'tiny' }, maxTokens: 400, temperature: 0.9, constraint },
      fallbacks: [{ when: {}, template: 'Your order has shipped.' }],
    }),
  })
  const { job } = await call<{ job: Job }>('templates.generate', { familyId: family.id })
  return { job: await backend.runner.waitFor(job.id), family }
}

async function variantsOf(familyId: number): Promise<TemplateVariant[]> {
  return (await call<{ items: TemplateVariant[] }>('templates.variants.list', { familyId })).items
}

beforeAll(
  async () => {
    const dir = suiteTempDir('larder-templates-llama-')
    const modelPath = join(dir, 'tiny.gguf')
    await writeTinyLlamaGguf(modelPath, { seed: 7 })
    backend = Backend.open({ home: join(dir, 'home'), validateOutput: true, models: { cpuOnly: true } }).start()
    const model = await call<{ id: number }>('models.register', { path: modelPath, name: 'tiny' })
    // The prompt is ~800 of this model's byte-level tokens, so each of the 4 sequences needs room for it.
    await call('models.load', { id: model.id, threads: 1, contextSize: 1024, sequences: 4 })
  },
  workBudget({ loads: 1, processes: 1 }),
)

afterAll(async () => {
  await backend.close()
})

describe('generation with node-llama-cpp', () => {
  it(
    'with the GBNF grammar, every answer holds each required slot once; validation still rejects what is too long',
    { timeout: workBudget({ tokens: 8 * 1000 }) },
    async () => {
      const { job, family } = await generate('tiny-grammar', 'auto')
      expect(job.status).toBe('succeeded')
      const result = job.result as {
        calls: number
        accepted: number
        rejected: number
        tokensOut: number
        tokensPerSecond: number
      }
      expect(result.calls).toBe(8)
      expect(result.tokensOut).toBeGreaterThan(0)
      expect(result.tokensPerSecond).toBeGreaterThan(0)
      console.info(
        `tiny model, grammar: ${result.tokensPerSecond.toFixed(0)} tokens/s, ${result.accepted} accepted of 8`,
      )
      const variants = await variantsOf(family.id)
      expect(variants).toHaveLength(8)
      for (const variant of variants) {
        const template = (JSON.parse(variant.rawOutput!) as { template: string }).template
        expect(analyzeTemplate(template, family.definition.slots, 'variant').usage).toEqual({ name: 1, product: 1 })
        // The stored verdict is the validator's verdict on the stored text.
        const problems = checkVariant(variant.template, family.definition.slots, family.definition.constraints).problems
        if (variant.state === 'draft') expect(problems).toEqual([])
        // Random weights also emit byte tokens that are not UTF-8: those answers carry U+FFFD and are rejected.
        else
          expect(variant.rejection!.every((p) => ['too_long', 'near_duplicate', 'broken_text'].includes(p.code))).toBe(
            true,
          )
      }
      // The operator's fix for broken text: edit out U+FFFD, and the variant is a clean draft again.
      const broken = variants.find(
        (variant) => variant.state === 'rejected' && variant.rejection!.every((p) => p.code === 'broken_text'),
      )
      if (broken) {
        const fixed = await call<TemplateVariant>('templates.variants.update', {
          id: broken.id,
          template: broken.template.replaceAll('\uFFFD', '?'),
        })
        expect(fixed).toMatchObject({ state: 'draft', problems: [] })
      }
      expect(result.accepted + (broken ? 1 : 0)).toBeGreaterThan(0)

      // The accepted gibberish goes through review, publishing and the edge renderer like any other variant.
      await call('templates.variants.approve', { familyId: family.id, all: true })
      await call('templates.publish', { familyId: family.id })
      const preview = await call<PreviewResult>('templates.preview', {
        familyId: family.id,
        source: 'published',
        segment: { locale: 'en', tone: 'formal' },
        data: { name: 'Mina', product: 'Jasmine tea' },
        userId: 'u1',
      })
      expect(preview.ok).toBe(true)
      if (preview.fallback) expect(preview.text).toBe('Your order has shipped.')
      else expect(preview.text).toMatch(/Mina[\s\S]*Jasmine tea|Jasmine tea[\s\S]*Mina/)
    },
  )

  it(
    'with only a JSON schema the tiny model leaves slots out, and those answers are rejected with the reason kept',
    { timeout: workBudget({ tokens: 8 * 1000 }) },
    async () => {
      const { job, family } = await generate('tiny-json', 'json-schema')
      expect(job.status).toBe('succeeded')
      const variants = await variantsOf(family.id)
      expect(variants).toHaveLength(8)
      const codes = variants.flatMap((variant) => variant.rejection?.map((p) => p.code) ?? [])
      expect(codes).toContain('missing_required_slot')
      for (const variant of variants) {
        const truncated = variant.rejection?.some((p) => p.code === 'truncated_output') ?? false
        // Constrained decoding: a finished answer is always the JSON object that was asked for.
        if (!truncated) expect(typeof (JSON.parse(variant.rawOutput!) as { template: unknown }).template).toBe('string')
        if (variant.state === 'draft')
          expect(
            checkVariant(variant.template, family.definition.slots, family.definition.constraints).problems,
          ).toEqual([])
      }
      const missing = variants.find((v) => v.rejection?.some((p) => p.code === 'missing_required_slot'))!
      expect(missing.rejection!.map((p) => p.message)).toContain('The required slot {{name}} does not appear.')
    },
  )
})
