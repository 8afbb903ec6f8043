/**
 * Promotion to a pipeline node and to a template family, on a real backend: real SQLite, two real tiny GGUF models
 * in node-llama-cpp (a "base" and a "student"; promotion needs no training, so the student is a tiny model of another
 * seed), the real pipeline engine and the real generation job, and a real OpenAI-compatible template writer on
 * 127.0.0.1 as a provider. A promoted node's next run calls the student (the trace names it); a rollback puts the
 * previous model back (also when there was none). A real evaluation (the student against its own twin as teacher,
 * so its KL is 0) gives a gate that passes for the student and fails for the base model.
 */
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type {
  CacheNamespace,
  GenerationRun,
  Job,
  Model,
  PipelineRun,
  Promotion,
  TemplateFamily,
} from '../../../shared/contract'
import type { PipelineDefinition } from '../../../shared/pipeline-definition'
import { workBudget } from '../../../../test/helpers'
import { evaluate } from '../../../../test/fixtures/distill'
import { suiteTempDir } from '../../../../test/fixtures/suite-dir'
import { startTemplateWriter, type TemplateWriter } from '../../../../test/fixtures/template-writer-server'
import { Backend } from '../../backend'
import { writeTinyLlamaGguf } from '../../gguf/index'
import { toChatJsonl, triageExamples } from '../synthetic'

let backend: Backend
let writer: TemplateWriter
let dir = ''
const ids = { base: 0, student: 0, writer: 0 }

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function replyPipeline(name: string, draftTarget: unknown): PipelineDefinition {
  return {
    format: 'larder.pipeline',
    version: 1,
    name,
    description: '',
    maxTokensPerRun: 50_000,
    nodes: [
      { id: 'input', type: 'input', position: { x: 0, y: 0 }, config: {} },
      {
        id: 'draft',
        type: 'llm',
        position: { x: 200, y: 0 },
        config: { target: draftTarget, prompt: 'Reply: {{input}}', sampling: { maxTokens: 4, temperature: 0 } },
      },
      { id: 'output', type: 'output', position: { x: 400, y: 0 }, config: {} },
    ],
    edges: [
      { id: 'e1', source: 'input', sourcePort: 'out', target: 'draft', targetPort: 'in' },
      { id: 'e2', source: 'draft', sourcePort: 'out', target: 'output', targetPort: 'in' },
    ],
  } as PipelineDefinition
}

/** Runs the pipeline once and returns the model its draft node called. */
async function draftModelOfRun(pipelineId: number): Promise<string> {
  const { job } = await call<{ job: Job }>('pipelines.run', { id: pipelineId, input: 'Where is order 42?' })
  const done = await backend.runner.waitFor(job.id)
  expect(done.error).toBeNull()
  const run = await call<PipelineRun>('pipelines.runs.get', { runId: (done.result as { runId: number }).runId })
  return run.trace.nodes.draft!.calls[0]!.model
}

const draftTarget = async (pipelineId: number): Promise<unknown> =>
  (await call<{ definition: PipelineDefinition }>('pipelines.get', { id: pipelineId })).definition.nodes.find(
    (node) => node.id === 'draft',
  )!.config.target

beforeAll(
  async () => {
    dir = suiteTempDir('larder-promotion-')
    writer = await startTemplateWriter(() => ({ template: 'Hi {{name}}, your {{product}} shipped.' }))
    backend = Backend.open({
      home: join(dir, 'home'),
      validateOutput: true,
      models: { cpuOnly: true },
      runner: { heartbeatMs: 50 },
    }).start()
    for (const [name, seed] of [
      ['base', 12],
      ['student', 13],
    ] as const) {
      const path = join(dir, `${name}.gguf`)
      await writeTinyLlamaGguf(path, { seed })
      ids[name] = (await call<Model>('models.register', { path, name })).id
      // The family's prompt is ~800 of these byte-level tokens.
      await call('models.load', { id: ids[name], threads: 1, contextSize: 1024, sequences: 1 })
    }
    ids.writer = (
      await call<{ id: number }>('providers.save', { name: 'template-writer', baseUrl: writer.baseUrl, model: 'w' })
    ).id
  },
  workBudget({ loads: 2, processes: 1 }),
)

afterAll(async () => {
  await backend.close()
  await writer.close()
})

describe('promotion to a pipeline node', () => {
  it(
    'switches the node to the student (the next run calls it), refuses what it cannot switch, rolls back in order',
    { timeout: workBudget({ tokens: 4 * 4 }) },
    async () => {
      // Another tenant's pipeline: promotion is an operator action, the target only has to exist.
      const saved = await call<{ pipeline: { id: number } }>('pipelines.save', {
        definition: replyPipeline('reply', { model: ids.base }),
        tenant: 'acme',
      })
      const pipelineId = saved.pipeline.id
      expect(await draftModelOfRun(pipelineId)).toBe('base')

      const promote = (nodeId: string, extra: Record<string, unknown> = {}) =>
        call<Promotion>('distill.promote', {
          target: { pipelineId, nodeId },
          modelId: ids.student,
          actor: 'alice',
          ...extra,
        })
      await expect(promote('output', { override: 'try' })).rejects.toMatchObject({
        code: 'invalid_input',
        message: expect.stringMatching(/^Node "output" of pipeline reply \(type output\) calls no model/),
        path: ['target', 'nodeId'],
      })
      await expect(promote('nope', { override: 'try' })).rejects.toMatchObject({
        code: 'not_found',
        message: 'Node "nope" of pipeline reply does not exist.',
      })
      await expect(promote('draft')).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(/gate did not pass \(no evaluation report was given\)/),
      })
      const first = await promote('draft', { override: 'canary on the draft node' })
      expect(first).toMatchObject({
        targetLabel: 'pipeline reply node draft',
        modelId: ids.student,
        modelName: 'student',
        providerId: null,
        gatePassed: null,
        override: 'canary on the draft node',
        previous: { target: { model: ids.base, name: 'base' } },
        actor: 'alice',
      })
      const versions = await call<{ items: { version: number; note: string | null }[] }>('pipelines.versions', {
        id: pipelineId,
      })
      expect(versions.items[0]).toMatchObject({ version: 2, note: 'promoted model student (by alice)' })
      expect(await draftModelOfRun(pipelineId)).toBe('student')

      // A newer promotion on the same node must be rolled back first.
      const second = await call<Promotion>('distill.promote', {
        target: { nodeId: 'draft', pipelineId },
        providerId: ids.writer,
        override: 'try the endpoint',
      })
      expect(second).toMatchObject({ modelId: null, providerId: ids.writer, providerName: 'template-writer' })
      expect(await draftTarget(pipelineId)).toEqual({ provider: ids.writer, name: 'template-writer' })
      await expect(call('distill.rollback', { id: first.id })).rejects.toMatchObject({
        code: 'conflict',
        message: `Promotion ${second.id} is newer on pipeline reply node draft; roll that back first.`,
      })
      await call('distill.rollback', { id: second.id })
      const rolled = await call<Promotion>('distill.rollback', { id: first.id, actor: 'bob' })
      expect(rolled).toMatchObject({ rolledBackBy: 'bob' })
      expect(await draftTarget(pipelineId)).toEqual({ model: ids.base, name: 'base' })
      expect(await draftModelOfRun(pipelineId)).toBe('base')
      expect((await call<{ pipeline: { tenant: string } }>('pipelines.get', { id: pipelineId })).pipeline.tenant).toBe(
        'acme',
      )
    },
  )

  it('restores a node that had no model, and says so when the pipeline is gone', async () => {
    const { pipeline } = await call<{ pipeline: { id: number } }>('pipelines.save', {
      definition: replyPipeline('unset', null),
    })
    const promotion = await call<Promotion>('distill.promote', {
      target: { pipelineId: pipeline.id, nodeId: 'draft' },
      modelId: ids.student,
      override: 'first model for it',
    })
    expect(promotion.previous).toEqual({ target: null })
    expect(await draftTarget(pipeline.id)).toEqual({ model: ids.student, name: 'student' })
    await call('distill.rollback', { id: promotion.id })
    expect(await draftTarget(pipeline.id)).toBeNull()

    const again = await call<Promotion>('distill.promote', {
      target: { pipelineId: pipeline.id, nodeId: 'draft' },
      modelId: ids.student,
      override: 'again',
    })
    await call('pipelines.remove', { id: pipeline.id })
    await expect(call('distill.rollback', { id: again.id })).rejects.toMatchObject({
      code: 'not_found',
      message: `Pipeline ${pipeline.id} no longer exists, so there is nothing to restore.`,
    })
    await expect(
      call('distill.promote', {
        target: { pipelineId: 999, nodeId: 'draft' },
        modelId: ids.student,
        override: 'any reason',
      }),
    ).rejects.toMatchObject({ code: 'not_found', message: 'Pipeline 999 does not exist.' })
  })
})

describe('promotion to a template family', () => {
  it(
    "switches the family's generation target to the student (the next generation uses it) and rolls back",
    { timeout: workBudget({ tokens: 2 * 1000 }) },
    async () => {
      const { family } = await call<{ family: TemplateFamily }>('templates.import', {
        text: JSON.stringify({
          name: 'shipped',
          prompt: 'Tell a customer that their order has shipped.',
          slots: [
            { name: 'name', type: 'text', required: true, maxLength: 40 },
            { name: 'product', type: 'text', required: true, maxLength: 60 },
          ],
          variantsPerSegment: 1,
          generation: { target: { provider: 'template-writer' }, maxTokens: 16, constraint: 'json-schema' },
        }),
      })
      const generate = async (): Promise<GenerationRun> => {
        const { job } = await call<{ job: Job }>('templates.generate', { familyId: family.id, mode: 'add' })
        await backend.runner.waitFor(job.id)
        return (await call<{ items: GenerationRun[] }>('templates.runs.list', { familyId: family.id })).items[0]!
      }
      const promotion = await call<Promotion>('distill.promote', {
        target: { familyId: family.id },
        modelId: ids.student,
        override: 'student writes the shipped family',
      })
      expect(promotion).toMatchObject({
        targetLabel: 'family shipped',
        previous: { target: { provider: 'template-writer' } },
      })
      const promoted = await call<TemplateFamily>('templates.get', { id: family.id })
      expect(promoted.definition.generation.target).toEqual({ model: 'student' })
      expect(promoted.revision).toBeGreaterThan(family.revision)
      const before = writer.requests.length
      expect((await generate()).target).toBe('model student')
      expect(writer.requests.length).toBe(before)

      await call('distill.rollback', { id: promotion.id })
      const restored = await call<TemplateFamily>('templates.get', { id: family.id })
      expect(restored.definition.generation.target).toEqual({ provider: 'template-writer' })
      expect((await generate()).target).toBe('provider template-writer')
      expect(writer.requests.length).toBe(before + 1)
    },
  )

  it('restores a family that named no target, and refuses a missing family', async () => {
    const { family } = await call<{ family: TemplateFamily }>('templates.import', {
      text: JSON.stringify({
        name: 'untargeted',
        prompt: 'Say hello.',
        slots: [{ name: 'name', type: 'text', required: true }],
      }),
    })
    const promotion = await call<Promotion>('distill.promote', {
      target: { familyId: family.id },
      providerId: ids.writer,
      override: 'remote fine-tune writes it',
    })
    expect(promotion).toMatchObject({ providerName: 'template-writer', modelName: null, previous: { target: null } })
    expect((await call<TemplateFamily>('templates.get', { id: family.id })).definition.generation.target).toEqual({
      provider: 'template-writer',
    })
    await call('distill.rollback', { id: promotion.id })
    const restored = await call<TemplateFamily>('templates.get', { id: family.id })
    expect('target' in restored.definition.generation).toBe(false)
    await expect(
      call('distill.promote', { target: { familyId: 4242 }, modelId: ids.student, override: 'nope' }),
    ).rejects.toMatchObject({ code: 'not_found', message: 'Template family 4242 does not exist.' })
  })
})

describe('the gate decides a promotion', () => {
  it(
    'promotes a student whose verdict passed, refuses one that failed or was not measured, and asks for one student',
    { timeout: workBudget({ loads: 3, tokens: 3 * 2 * 4 }) },
    async () => {
      const data = join(dir, 'eval.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(2, 5)))
      // The teacher is the student's twin (the same weights): the student's KL is 0, the base model's is not.
      const twinPath = join(dir, 'twin.gguf')
      copyFileSync(join(dir, 'student.gguf'), twinPath)
      const twin = (await call<Model>('models.register', { path: twinPath, name: 'twin' })).id
      const evaluation = await evaluate(backend, {
        data,
        teacher: { model: twin },
        students: [{ modelId: ids.student }, { modelId: ids.base }],
        maxTokens: 4,
        contextSize: 256,
        gate: { maxKl: 0.001 },
      })
      const verdict = (id: number) => evaluation.report!.verdicts.find((v) => v.key === `model:${id}`)!
      expect(verdict(ids.student).passed).toBe(true)
      expect(verdict(ids.base).passed).toBe(false)

      const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', { name: 'support' })
      const target = { namespaceId: namespace.id }
      await expect(
        call('distill.promote', { target, modelId: ids.base, evaluationId: evaluation.id }),
      ).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/gate did not pass \(Mean KL/) })
      await expect(
        call('distill.promote', { target, providerId: ids.writer, evaluationId: evaluation.id }),
      ).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(`did not measure provider ${ids.writer}`),
      })
      await expect(
        call('distill.promote', { target, modelId: ids.student, providerId: ids.writer }),
      ).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/exactly one of modelId/) })
      const passed = await call<Promotion>('distill.promote', {
        target,
        modelId: ids.student,
        evaluationId: evaluation.id,
      })
      expect(passed).toMatchObject({ gatePassed: true, override: null, targetLabel: 'namespace default/support' })
      const servedBy = async () =>
        (await call<{ items: CacheNamespace[] }>('cache.namespaces.list', {})).items.find((n) => n.id === namespace.id)!
          .generationTarget
      expect(await servedBy()).toEqual({ model: ids.student })
      // A provider student on the same namespace, over the model: rollbacks go newest first.
      const remote = await call<Promotion>('distill.promote', { target, providerId: ids.writer, override: 'remote ft' })
      expect(await servedBy()).toEqual({ provider: ids.writer })
      await expect(call('distill.rollback', { id: passed.id })).rejects.toMatchObject({ code: 'conflict' })
      await call('distill.rollback', { id: remote.id })
      expect(await servedBy()).toEqual({ model: ids.student })
      await call('distill.rollback', { id: passed.id })
      expect(await servedBy()).toBeNull()
    },
  )
})
