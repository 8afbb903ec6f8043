/**
 * Engine overhead benchmark: how much time the pipeline engine itself adds per node (scheduling, prompt rendering,
 * tracing), measured with providers that answer instantly in-process, and whether independent branches overlap,
 * measured with providers that sleep.
 */
import { PIPELINE_FORMAT, type PipelineDefinition } from '../../shared/pipeline-definition'
import type { GenerateRequest, GenerateResult, Provider } from '../models/providers/types'
import { runPipeline, type EngineServices } from '../pipelines/engine'

class InstantProvider implements Provider {
  readonly kind = 'local' as const
  constructor(
    readonly id: string,
    private readonly sleepMs = 0,
  ) {}
  async generate(request: GenerateRequest): Promise<GenerateResult> {
    if (this.sleepMs > 0) await new Promise((resolve) => setTimeout(resolve, this.sleepMs))
    const text = (request.messages?.at(-1)?.content ?? '').slice(0, 40)
    return { text, tokensIn: 8, tokensOut: 4, finishReason: 'stop', durationMs: this.sleepMs, providerId: this.id }
  }
  embed(): Promise<number[][]> {
    return Promise.resolve([])
  }
  tokenize(): Promise<number[]> {
    return Promise.resolve([])
  }
  countTokens(): Promise<number> {
    return Promise.resolve(0)
  }
}

function services(provider: Provider): EngineServices {
  return {
    provider: async () => ({ provider, label: provider.id }),
    cacheLookup: async () => null,
    cacheStore: async () => undefined,
    templateFill: async () => '',
  }
}

function chain(length: number): PipelineDefinition {
  const llms = Array.from({ length: length - 2 }, (_, i) => `step${i + 1}`)
  const ids = ['input', ...llms, 'output']
  return {
    format: PIPELINE_FORMAT,
    version: 1,
    name: `chain-${length}`,
    description: '',
    maxTokensPerRun: 10_000_000,
    nodes: ids.map((id, i) => ({
      id,
      type: i === 0 ? 'input' : i === ids.length - 1 ? 'output' : 'llm',
      position: { x: i * 100, y: 0 },
      config:
        i === 0 || i === ids.length - 1
          ? {}
          : { target: { model: 1 }, system: 'Be brief.', prompt: 'Continue: {{in}} (from {{input}})' },
    })),
    edges: ids
      .slice(1)
      .map((id, i) => ({ id: `e${i}`, source: ids[i]!, sourcePort: 'out', target: id, targetPort: 'in' })),
  }
}

function branches(count: number): PipelineDefinition {
  const branchIds = Array.from({ length: count }, (_, i) => `branch${i + 1}`)
  return {
    format: PIPELINE_FORMAT,
    version: 1,
    name: `branches-${count}`,
    description: '',
    maxTokensPerRun: 10_000_000,
    nodes: [
      { id: 'input', type: 'input', position: { x: 0, y: 0 }, config: {} },
      ...branchIds.map((id) => ({
        id,
        type: 'llm' as const,
        position: { x: 0, y: 0 },
        config: { target: { model: 1 }, prompt: '{{input}}' },
      })),
      { id: 'merge', type: 'merge', position: { x: 0, y: 0 }, config: { mode: 'concat' } },
      { id: 'output', type: 'output', position: { x: 0, y: 0 }, config: {} },
    ],
    edges: [
      ...branchIds.map((id, i) => ({ id: `in${i}`, source: 'input', sourcePort: 'out', target: id, targetPort: 'in' })),
      ...branchIds.map((id, i) => ({
        id: `out${i}`,
        source: id,
        sourcePort: 'out',
        target: 'merge',
        targetPort: 'in',
      })),
      { id: 'final', source: 'merge', sourcePort: 'out', target: 'output', targetPort: 'in' },
    ],
  }
}

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

export interface PipelineBenchResult {
  nodes: number
  runs: number
  overheadPerNodeMs: { mean: number; p50: number; p95: number }
  branches: { sleepMs: number; twoBranchMs: number; sequentialMs: number; ratio: number }
}

export async function benchPipelines(options: { runs?: number; sleepMs?: number } = {}): Promise<PipelineBenchResult> {
  const runs = options.runs ?? 300
  const sleepMs = options.sleepMs ?? 100
  const definition = chain(20)
  const instant = services(new InstantProvider('instant'))
  for (let i = 0; i < 30; i++) await runPipeline(definition, 'warm up', instant)
  const perNode: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    const result = await runPipeline(definition, `request ${i}`, instant)
    if (result.status !== 'succeeded') throw new Error(result.error ?? 'run failed')
    perNode.push((performance.now() - started) / definition.nodes.length)
  }
  perNode.sort((a, b) => a - b)
  const sleepy = services(new InstantProvider('sleepy', sleepMs))
  const timed = async (graph: PipelineDefinition): Promise<number> => {
    const started = performance.now()
    await runPipeline(graph, 'x', sleepy)
    return performance.now() - started
  }
  const twoBranchMs = await timed(branches(2))
  const sequentialMs = await timed(chain(4))
  return {
    nodes: definition.nodes.length,
    runs,
    overheadPerNodeMs: {
      mean: perNode.reduce((sum, value) => sum + value, 0) / perNode.length,
      p50: percentile(perNode, 0.5),
      p95: percentile(perNode, 0.95),
    },
    branches: { sleepMs, twoBranchMs, sequentialMs, ratio: twoBranchMs / sequentialMs },
  }
}
