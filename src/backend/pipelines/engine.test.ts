import { describe, expect, it } from 'vitest'
import { PIPELINE_FORMAT, type PipelineDefinition } from '../../shared/pipeline-definition'
import type { GenerateRequest, GenerateResult, Provider } from '../models/providers/types'
import { PipelineValidationError, runPipeline, type EngineServices } from './engine'

/**
 * A scripted in-process provider: the engine's scheduling, branching and tracing are what is under test here, so
 * the model is replaced by a function of the request. (Real models run the same graphs in pipelines.test.ts.)
 */
class ScriptedProvider implements Provider {
  readonly kind = 'openai' as const
  calls: GenerateRequest[] = []
  constructor(
    readonly id: string,
    private readonly answer: (request: GenerateRequest, call: number) => string | Promise<string>,
    private readonly delayMs = 0,
  ) {}
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    this.calls.push(request)
    if (this.delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, this.delayMs)
        request.signal?.addEventListener('abort', () => {
          clearTimeout(timer)
          reject(request.signal!.reason as Error)
        })
      })
    }
    const text = await this.answer(request, this.calls.length)
    return { text, tokensIn: 10, tokensOut: 5, finishReason: 'stop', durationMs: this.delayMs, providerId: this.id }
  }
  embed(): Promise<number[][]> {
    throw new Error('not used')
  }
  tokenize(): Promise<number[]> {
    throw new Error('not used')
  }
  countTokens(): Promise<number> {
    throw new Error('not used')
  }
}

const lastUser = (request: GenerateRequest): string => request.messages?.at(-1)?.content ?? request.prompt ?? ''

function services(providers: Record<number, ScriptedProvider>, extra: Partial<EngineServices> = {}): EngineServices {
  return {
    provider: async (target) => {
      const id = target && 'model' in target ? target.model : 0
      const provider = providers[id]
      if (!provider) throw new Error(`no model ${id}`)
      return { provider, label: provider.id }
    },
    cacheLookup: async () => null,
    cacheStore: async () => undefined,
    templateFill: async () => '',
    ...extra,
  }
}

const pipeline = (
  nodes: PipelineDefinition['nodes'],
  edges: [string, string, string?, string?][],
  extra: Partial<PipelineDefinition> = {},
): PipelineDefinition => ({
  format: PIPELINE_FORMAT,
  version: 1,
  name: 'test',
  description: '',
  maxTokensPerRun: 50_000,
  nodes,
  edges: edges.map(([source, target, sourcePort, targetPort], i) => ({
    id: `e${i}`,
    source,
    target,
    sourcePort: sourcePort ?? 'out',
    targetPort: targetPort ?? 'in',
  })),
  ...extra,
})

const node = (id: string, type: PipelineDefinition['nodes'][number]['type'], config: Record<string, unknown> = {}) => ({
  id,
  type,
  position: { x: 0, y: 0 },
  config,
})

const draftJudgeRevise = pipeline(
  [
    node('input', 'input'),
    node('draft', 'llm', { target: { model: 1 }, prompt: 'Write a reply to: {{input}}' }),
    node('review', 'reflect', {
      target: { model: 2 },
      rubric: 'Polite and mentions the order number.',
      threshold: 7,
      maxIterations: 3,
    }),
    node('output', 'output'),
  ],
  [
    ['input', 'draft'],
    ['draft', 'review'],
    ['review', 'output'],
  ],
)

describe('pipeline engine', () => {
  it('runs draft -> judge -> revise until the judge passes, tracing every call', async () => {
    const drafter = new ScriptedProvider(
      'drafter',
      (request) => `Draft for "${lastUser(request).replace('Write a reply to: ', '')}"`,
    )
    let judged = 0
    const reviewer = new ScriptedProvider('reviewer', (request) => {
      if (request.jsonSchema) {
        judged++
        return JSON.stringify(
          judged < 2 ? { score: 3, reason: 'Mention the order number.' } : { score: 9, reason: 'Good.' },
        )
      }
      return 'Revised: your order 42 ships today.'
    })
    const result = await runPipeline(draftJudgeRevise, 'Where is order 42?', services({ 1: drafter, 2: reviewer }))
    expect(result.status).toBe('succeeded')
    expect(result.output).toBe('Revised: your order 42 ships today.')
    expect(result.trace.path).toEqual(['input', 'draft', 'review', 'output'])
    const review = result.trace.nodes.review!
    expect(review.iterations.map((i) => i.score)).toEqual([3, 9])
    expect(review.calls.map((c) => [c.role, c.iteration])).toEqual([
      ['judge', 1],
      ['revise', 1],
      ['judge', 2],
    ])
    expect(result.tokensIn).toBe(40)
    expect(result.tokensOut).toBe(20)
    expect(drafter.calls[0]!.messages![0]!.content).toBe('Write a reply to: Where is order 42?')
  })

  it('stops a loop that never passes at max iterations and says so', async () => {
    const drafter = new ScriptedProvider('drafter', () => 'meh')
    const reviewer = new ScriptedProvider('reviewer', (request) =>
      request.jsonSchema ? '{"score": 1, "reason": "bad"}' : 'still meh',
    )
    const result = await runPipeline(draftJudgeRevise, 'x', services({ 1: drafter, 2: reviewer }))
    expect(result.status).toBe('succeeded')
    expect(result.trace.nodes.review!.iterations).toHaveLength(3)
    expect(result.trace.nodes.review!.warning).toMatch(/Stopped after 3 iteration\(s\) without passing/)
  })

  it('reports a judge whose output cannot be parsed as a node error with its input', async () => {
    const drafter = new ScriptedProvider('drafter', () => 'a draft')
    const reviewer = new ScriptedProvider('reviewer', () => 'I think it is fine')
    const result = await runPipeline(draftJudgeRevise, 'x', services({ 1: drafter, 2: reviewer }))
    expect(result.status).toBe('failed')
    expect(result.failedNode).toBe('review')
    expect(result.error).toMatch(/review: The judge's answer is not JSON/)
    expect(result.trace.nodes.review!.inputs).toEqual({ draft: 'a draft' })
    // The node after the failure never ran, and says so (not "pending").
    expect(result.trace.nodes.output!.status).toBe('not-run')
  })

  it('asks the judge for an integer score from 0 to 10, and retries with another seed, not greedily', async () => {
    const drafter = new ScriptedProvider('drafter', () => 'a draft')
    const reviewer = new ScriptedProvider('reviewer', (_request, call) =>
      call === 1 ? '{"score": 7.000000000000000000000000001' : '{"score": 8, "reason": "fine"}',
    )
    const graph = pipeline(
      [
        node('input', 'input'),
        node('draft', 'llm', { target: { model: 1 }, prompt: '{{input}}' }),
        node('check', 'judge', {
          target: { model: 2 },
          rubric: 'Is it fine?',
          threshold: 5,
          retries: 1,
          sampling: { temperature: 0, seed: 3 },
        }),
        node('output', 'output'),
      ],
      [
        ['input', 'draft'],
        ['draft', 'check'],
        ['check', 'output', 'pass'],
      ],
    )
    const result = await runPipeline(graph, 'x', services({ 1: drafter, 2: reviewer }))
    expect(result.status).toBe('succeeded')
    expect(result.trace.nodes.check!.outputs.score).toBe(8)
    const schema = reviewer.calls[0]!.jsonSchema as { properties: { score: Record<string, unknown> } }
    expect(schema.properties.score).toMatchObject({ type: 'integer', minimum: 0, maximum: 10 })
    expect(schema.properties.score.enum).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(reviewer.calls.map((call) => [call.seed, call.temperature])).toEqual([
      [3, 0],
      [3 + 7919, 0.3],
    ])
    expect(result.trace.nodes.check!.calls.map((call) => call.attempt)).toEqual([undefined, 2])
  })

  it('routes by rules and runs only the branch taken', async () => {
    const billing = new ScriptedProvider('billing', () => 'billing answer')
    const tech = new ScriptedProvider('tech', () => 'tech answer')
    const definition = pipeline(
      [
        node('input', 'input'),
        node('route', 'router', {
          routes: [
            { label: 'billing', match: 'regex', value: 'invoice|refund' },
            { label: 'tech', match: 'contains', value: 'error' },
          ],
        }),
        node('billing', 'llm', { target: { model: 1 }, prompt: '{{in}}' }),
        node('tech', 'llm', { target: { model: 2 }, prompt: '{{in}}' }),
        node('merge', 'merge'),
        node('output', 'output'),
      ],
      [
        ['input', 'route'],
        ['route', 'billing', 'billing'],
        ['route', 'tech', 'tech'],
        ['billing', 'merge'],
        ['tech', 'merge'],
        ['merge', 'output'],
      ],
    )
    const result = await runPipeline(definition, 'I need a refund', services({ 1: billing, 2: tech }))
    expect(result.output).toBe('billing answer')
    expect(result.trace.nodes.tech!.status).toBe('skipped')
    expect(tech.calls).toHaveLength(0)
    expect(result.trace.path).toEqual(['input', 'route', 'billing', 'merge', 'output'])
  })

  it('runs independent branches concurrently', async () => {
    const slowA = new ScriptedProvider('a', () => 'A', 150)
    const slowB = new ScriptedProvider('b', () => 'B', 150)
    const definition = pipeline(
      [
        node('input', 'input'),
        node('a', 'llm', { target: { model: 1 }, prompt: '{{input}}' }),
        node('b', 'llm', { target: { model: 2 }, prompt: '{{input}}' }),
        node('merge', 'merge', { mode: 'concat', separator: '+' }),
        node('output', 'output'),
      ],
      [
        ['input', 'a'],
        ['input', 'b'],
        ['a', 'merge'],
        ['b', 'merge'],
        ['merge', 'output'],
      ],
    )
    const result = await runPipeline(definition, 'go', services({ 1: slowA, 2: slowB }))
    expect(result.output).toBe('A+B')
    // Sequential would take ~300 ms; concurrent branches take about one branch's time.
    expect(result.durationMs).toBeLessThan(280)
  })

  it('enforces the token budget, timeouts with retry, and cancellation', async () => {
    const chatty = new ScriptedProvider('chatty', () => 'words')
    const budget = await runPipeline(
      { ...draftJudgeRevise, maxTokensPerRun: 20 },
      'x',
      services({ 1: chatty, 2: new ScriptedProvider('r', () => '{"score": 0, "reason": "no"}') }),
    )
    expect(budget.status).toBe('failed')
    expect(budget.error).toMatch(/token budget/)

    let attempts = 0
    const flaky = new ScriptedProvider('flaky', () => {
      attempts++
      if (attempts === 1) throw new Error('connection reset')
      return 'ok'
    })
    const retried = pipeline(
      [
        node('input', 'input'),
        node('gen', 'llm', { target: { model: 1 }, prompt: '{{input}}', retries: 1 }),
        node('output', 'output'),
      ],
      [
        ['input', 'gen'],
        ['gen', 'output'],
      ],
    )
    const ok = await runPipeline(retried, 'x', services({ 1: flaky }))
    expect(ok.output).toBe('ok')
    expect(ok.trace.nodes.gen!.attempts).toBe(2)

    const slow = new ScriptedProvider('slow', () => 'late', 500)
    const timed = pipeline(
      [
        node('input', 'input'),
        node('gen', 'llm', { target: { model: 1 }, prompt: '{{input}}', timeoutMs: 100 }),
        node('output', 'output'),
      ],
      [
        ['input', 'gen'],
        ['gen', 'output'],
      ],
    )
    const timeout = await runPipeline(timed, 'x', services({ 1: slow }))
    expect(timeout.status).toBe('failed')
    expect(timeout.trace.nodes.gen!.error).toBe('Timed out after 100 ms.')

    const controller = new AbortController()
    setTimeout(() => controller.abort(new Error('stop')), 50)
    const cancelled = await runPipeline(
      retried,
      'x',
      services({ 1: new ScriptedProvider('slow', () => 'late', 500) }),
      { signal: controller.signal },
    )
    expect(cancelled.status).toBe('cancelled')
  })

  it('refuses invalid graphs with the problems listed', async () => {
    const bad = pipeline(
      [
        node('input', 'input'),
        node('a', 'llm', { target: { model: 1 }, prompt: 'Use {{ghost}} and {{b}}' }),
        node('b', 'llm', { target: { model: 1 }, prompt: '{{a}}' }),
        node('output', 'output'),
      ],
      [
        ['input', 'a'],
        ['a', 'b'],
        ['b', 'a'],
      ],
    )
    try {
      await runPipeline(bad, 'x', services({}))
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(PipelineValidationError)
      const messages = (error as PipelineValidationError).problems.map((p) => p.message).join('\n')
      expect(messages).toMatch(/Cycle/)
      expect(messages).toMatch(/\{\{ghost\}\}, but there is no node "ghost"/)
      expect(messages).toMatch(/output: input "in" is not connected/)
    }
  })
})
