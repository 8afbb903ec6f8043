import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import type { Job, Model, PipelineRun } from '../../shared/contract'
import type { PipelineDefinition } from '../../shared/pipeline-definition'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { Backend } from '../backend'
import { Gateway } from '../gateway/gateway'
import { writeTinyLlamaGguf } from '../gguf/index'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'

// A real tiny GGUF model drafts (node-llama-cpp in the worker); a real OpenAI-compatible server on 127.0.0.1 judges
// (its answers are deterministic, so the loop's behaviour can be checked).
const root = mkdtempSync(join(tmpdir(), 'larder-pipelines-'))
let backend: Backend
let judgeServer: FakeEndpoint
let server: RunningHttpServer
let tinyId = 0
let judgeId = 0

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function withTargets(definition: PipelineDefinition, name: string): PipelineDefinition {
  return {
    ...definition,
    name,
    nodes: definition.nodes.map((node) =>
      node.id === 'draft'
        ? {
            ...node,
            config: { ...node.config, target: { model: tinyId }, sampling: { maxTokens: 12, temperature: 0 } },
          }
        : node.id === 'review'
          ? { ...node, config: { ...node.config, target: { provider: judgeId } } }
          : node,
    ),
  }
}

beforeAll(
  async () => {
    judgeServer = await startFakeEndpoint({ name: 'judge', judgeScore: 9 })
    backend = Backend.open({
      home: join(root, 'home'),
      validateOutput: true,
      models: { cpuOnly: true },
      runner: { heartbeatMs: 50 },
    }).start()
    const path = join(root, 'tiny.gguf')
    await writeTinyLlamaGguf(path, { seed: 12 })
    tinyId = (await call<Model>('models.register', { path, name: 'tiny' })).id
    await call('models.load', { id: tinyId, threads: 1, contextSize: 256, sequences: 2 })
    judgeId = (
      await call<{ id: number }>('providers.save', { name: 'judge', baseUrl: judgeServer.baseUrl, model: 'j' })
    ).id
    server = await startHttpServer({
      backend,
      port: 0,
      token: 'tok',
      gateway: new Gateway(backend, { adminToken: 'tok' }),
    })
  },
  workBudget({ loads: 1, processes: 2 }),
)

afterAll(async () => {
  await server.close()
  await backend.close()
  await judgeServer.close()
  rmSync(root, { recursive: true, force: true })
})

describe('pipelines', () => {
  it(
    'saves a starter with versions, runs it as a job, and records the trace and ledger',
    { timeout: workBudget({ tokens: 120 }) },
    async () => {
      const { items: starters } = await call<{ items: { key: string; definition: PipelineDefinition }[] }>(
        'pipelines.starters',
      )
      const starter = starters.find((s) => s.key === 'draft-judge-revise')!.definition
      const unset = await call<{ pipeline: { id: number }; problems: { message: string }[] }>('pipelines.save', {
        definition: starter,
      })
      expect(unset.problems.map((p) => p.message)).toEqual(
        expect.arrayContaining(['draft: choose the model it runs on.']),
      )
      await expect(
        call('pipelines.run', { id: unset.pipeline.id, input: 'hi' }).then((r) =>
          backend.runner.waitFor((r as { job: Job }).job.id),
        ),
      ).resolves.toMatchObject({
        status: 'failed',
      })

      const saved = await call<{ pipeline: { id: number }; version: number; problems: unknown[] }>('pipelines.save', {
        id: unset.pipeline.id,
        definition: withTargets(starter, 'support-reply'),
        note: 'pick models',
      })
      expect(saved.version).toBe(2)
      expect(saved.problems).toEqual([])
      const { job } = await call<{ job: Job }>('pipelines.run', { id: saved.pipeline.id, input: 'Where is order 42?' })
      const done = await backend.runner.waitFor(job.id)
      expect(done.status).toBe('succeeded')
      const run = await call<PipelineRun>('pipelines.runs.get', { runId: (done.result as { runId: number }).runId })
      expect(run.trace.path).toEqual(['input', 'draft', 'review', 'output'])
      const draft = run.trace.nodes.draft!
      expect(draft.calls[0]).toMatchObject({ model: 'tiny', role: 'generate' })
      expect(draft.calls[0]!.tokensOut).toBeGreaterThan(0)
      // The prompt's tokens are counted (the model worker's token meter), not 0.
      expect(draft.calls[0]!.tokensIn).toBeGreaterThan(0)
      // The trace records the prompt actually sent: the starter's templates rendered with the run's input.
      expect(draft.calls[0]!.prompt).toEqual({
        messages: [
          { role: 'system', content: 'You are a helpful support agent.' },
          { role: 'user', content: 'Reply to the customer:\nWhere is order 42?' },
        ],
      })
      const judged = run.trace.nodes.review!.calls[0]!.prompt!.messages!
      expect(judged.at(-1)!.content).toContain(`Text:\n${String(draft.outputs.out)}`)
      expect(run.trace.nodes.review!.iterations[0]).toMatchObject({
        iteration: 1,
        score: 9,
        reason: 'judge reviewed it',
      })
      expect(run.output).toBe(draft.outputs.out)
      expect(run.tokensOut).toBe(draft.calls[0]!.tokensOut + run.trace.nodes.review!.calls[0]!.tokensOut)

      expect(run.tokensIn).toBe(draft.calls[0]!.tokensIn + run.trace.nodes.review!.calls[0]!.tokensIn)
      const ledger = await call<{
        byModel: { model: string; calls: number; tokensIn: number }[]
        byNode: { nodeId: string }[]
      }>('pipelines.ledger', { id: saved.pipeline.id })
      expect(ledger.byModel.map((m) => m.model).sort()).toEqual(['judge', 'tiny'])
      expect(ledger.byModel.find((m) => m.model === 'tiny')!.tokensIn).toBe(draft.calls[0]!.tokensIn)
      expect(ledger.byNode.map((n) => n.nodeId).sort()).toEqual(['draft', 'review'])
    },
  )

  it(
    "constrains a local judge's answer to an integer score from 0 to 10 (the model's grammar)",
    { timeout: workBudget({ tokens: 3 * 900 }) },
    async () => {
      const definition: PipelineDefinition = {
        format: 'larder.pipeline',
        version: 1,
        name: 'local-judge',
        description: '',
        maxTokensPerRun: 50_000,
        nodes: [
          { id: 'input', type: 'input', position: { x: 0, y: 0 }, config: {} },
          {
            id: 'check',
            type: 'judge',
            position: { x: 200, y: 0 },
            config: {
              target: { model: tinyId },
              rubric: 'Is it polite?',
              threshold: 0,
              sampling: { maxTokens: 64, temperature: 1 },
            },
          },
          { id: 'output', type: 'output', position: { x: 400, y: 0 }, config: {} },
        ],
        edges: [
          { id: 'a', source: 'input', sourcePort: 'out', target: 'check', targetPort: 'in' },
          { id: 'b', source: 'check', sourcePort: 'pass', target: 'output', targetPort: 'in' },
        ],
      }
      const { pipeline } = await call<{ pipeline: { id: number } }>('pipelines.save', { definition })
      // Random weights at temperature 1: without the grammar the answers would be noise; with it, a valid score (and
      // the judge gets the tokens its bounded answer needs, whatever the node's max_tokens).
      for (const input of ['Thanks a lot!', 'Go away.', 'Where is my order?']) {
        const { job } = await call<{ job: Job }>('pipelines.run', { id: pipeline.id, input })
        const done = await backend.runner.waitFor(job.id)
        expect(done.status, done.error ?? '').toBe('succeeded')
        const run = await call<PipelineRun>('pipelines.runs.get', { runId: (done.result as { runId: number }).runId })
        const score = run.trace.nodes.check!.outputs.score as number
        expect(Number.isInteger(score) && score >= 0 && score <= 10, String(score)).toBe(true)
      }
    },
  )

  it('diffs and restores versions', async () => {
    const { items } = await call<{ items: { id: number; name: string; currentVersion: number }[] }>('pipelines.list')
    const pipeline = items.find((p) => p.name === 'support-reply')!
    const diff = await call<{
      nodes: { changed: { id: string; changes: { path: string }[] }[] }
      settings: { path: string }[]
    }>('pipelines.diff', {
      id: pipeline.id,
      from: 1,
      to: 2,
    })
    expect(diff.nodes.changed.map((n) => n.id).sort()).toEqual(['draft', 'review'])
    expect(diff.nodes.changed.find((n) => n.id === 'draft')!.changes.map((c) => c.path)).toContain(
      'config.target.model',
    )
    expect(diff.settings.map((s) => s.path)).toEqual(['name'])
    const restored = await call<{ version: number }>('pipelines.restore', { id: pipeline.id, version: 1 })
    expect(restored.version).toBe(3)
    const current = await call<{ problems: unknown[] }>('pipelines.get', { id: pipeline.id })
    expect(current.problems.length).toBeGreaterThan(0)
    await call('pipelines.restore', { id: pipeline.id, version: 2 })
  })

  it('exports and imports the documented format, refusing other versions and shapes clearly', async () => {
    const { items } = await call<{ items: { id: number; name: string }[] }>('pipelines.list')
    const { definition } = await call<{ definition: PipelineDefinition }>('pipelines.export', {
      id: items.find((p) => p.name === 'support-reply')!.id,
    })
    const imported = await call<{ pipeline: { name: string } }>('pipelines.import', {
      definition: JSON.stringify({ ...definition, name: 'imported-reply' }),
    })
    expect(imported.pipeline.name).toBe('imported-reply')
    // Models and providers are referenced by name; the ids are only a cache.
    const targets = (nodes: PipelineDefinition['nodes']) =>
      Object.fromEntries(nodes.filter((n) => n.config.target).map((n) => [n.id, n.config.target]))
    expect(targets(definition.nodes)).toEqual({
      draft: { model: tinyId, name: 'tiny' },
      review: { provider: judgeId, name: 'judge' },
    })
    // A file from another workspace, where the same models had other ids: resolved by name here.
    const elsewhere = {
      ...definition,
      name: 'from-elsewhere',
      nodes: definition.nodes.map((n) =>
        n.id === 'draft'
          ? { ...n, config: { ...n.config, target: { model: 9999, name: 'tiny' } } }
          : n.id === 'review'
            ? { ...n, config: { ...n.config, target: { provider: 777, name: 'judge' } } }
            : n,
      ),
    }
    const moved = await call<{ pipeline: { id: number }; problems: unknown[] }>('pipelines.import', {
      definition: elsewhere,
    })
    expect(moved.problems).toEqual([])
    const stored = await call<{ definition: PipelineDefinition }>('pipelines.get', { id: moved.pipeline.id })
    expect(targets(stored.definition.nodes)).toEqual(targets(definition.nodes))
    // A name this workspace does not know is a problem (never the file's id, which may be another model here).
    const unknown = await call<{ pipeline: { id: number }; problems: { message: string }[] }>('pipelines.import', {
      definition: {
        ...definition,
        name: 'unknown-model',
        nodes: definition.nodes.map((n) =>
          n.id === 'draft' ? { ...n, config: { ...n.config, target: { model: tinyId, name: 'big-model' } } } : n,
        ),
      },
    })
    expect(unknown.problems.map((p) => p.message)).toEqual([
      'draft: there is no model named "big-model" in this workspace; register it or choose another.',
    ])
    await expect(call('pipelines.run', { id: unknown.pipeline.id, input: 'x' })).resolves.toBeDefined()
    // An older file with ids only still imports, and gets the names.
    const old = await call<{ pipeline: { id: number }; problems: unknown[] }>('pipelines.import', {
      definition: {
        ...definition,
        name: 'ids-only',
        nodes: definition.nodes.map((n) =>
          n.config.target
            ? { ...n, config: { ...n.config, target: n.id === 'draft' ? { model: tinyId } : { provider: judgeId } } }
            : n,
        ),
      },
    })
    expect(old.problems).toEqual([])
    const named = await call<{ definition: PipelineDefinition }>('pipelines.export', { id: old.pipeline.id })
    expect(targets(named.definition.nodes)).toEqual(targets(definition.nodes))
    await expect(call('pipelines.import', { definition: { ...definition, version: 2 } })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/format version 2; this Larder reads version 1/),
    })
    await expect(
      call('pipelines.import', { definition: { ...definition, nodes: [{ id: '1bad', type: 'llm' }] } }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/Invalid pipeline at "nodes.0.id"/),
    })
    await expect(call('pipelines.import', { definition: '{"format": "larder.pipeline", ' })).rejects.toMatchObject({
      message: expect.stringMatching(/not valid JSON/),
    })
    await expect(call('pipelines.import', { definition: { hello: 'world' } })).rejects.toMatchObject({
      message: expect.stringMatching(/not a Larder pipeline/),
    })
  })

  it(
    'answers through the gateway as pipeline:<name>, cached like any model',
    { timeout: workBudget({ tokens: 60 }) },
    async () => {
      const key = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'default' })).secret
      const models = (await (
        await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })
      ).json()) as { data: { id: string }[] }
      expect(models.data.map((m) => m.id)).toContain('pipeline:support-reply')
      const ask = () =>
        fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'pipeline:support-reply',
            messages: [{ role: 'user', content: 'Where is order 7?' }],
          }),
        })
      const first = await ask()
      expect(first.status).toBe(200)
      expect(first.headers.get('x-larder-cache')).toBe('miss')
      const body = (await first.json()) as {
        choices: { message: { content: string } }[]
        usage: { completion_tokens: number }
      }
      expect(body.usage.completion_tokens).toBeGreaterThan(0)
      const { items } = await call<{ items: { source: string }[] }>('pipelines.runs', {})
      expect(items[0]!.source).toBe('gateway')
    },
  )
})
