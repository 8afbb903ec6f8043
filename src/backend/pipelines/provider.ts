/** A pipeline seen as a model (`pipeline:<name>`), so the gateway and batch jobs can call it like any provider. */
import { ProviderError, type GenerateRequest, type GenerateResult, type Provider } from '../models/providers/types'
import type { PipelinesService } from './service'

export const PIPELINE_MODEL_PREFIX = 'pipeline:'

export class PipelineProvider implements Provider {
  readonly kind = 'local' as const
  readonly id: string

  constructor(
    private readonly pipelines: PipelinesService,
    private readonly pipelineId: number,
    name: string,
    /** The caller's tenant: the run is refused unless that tenant owns the pipeline. */
    private readonly tenant: string,
  ) {
    this.id = `${PIPELINE_MODEL_PREFIX}${name}`
  }

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    const users = request.messages?.filter((message) => message.role === 'user') ?? []
    const input = request.prompt ?? users.at(-1)?.content ?? ''
    const started = performance.now()
    const run = await this.pipelines.execute(this.pipelineId, input, {
      source: 'gateway',
      tenant: this.tenant,
      ...(request.signal ? { signal: request.signal } : {}),
    })
    if (run.status !== 'succeeded' || run.output === null) {
      throw new ProviderError(`${this.id} failed: ${run.error ?? 'no output'} (run ${run.id})`, false)
    }
    request.onText?.(run.output)
    return {
      text: run.output,
      tokensIn: run.tokensIn,
      tokensOut: run.tokensOut,
      finishReason: 'stop',
      durationMs: performance.now() - started,
      providerId: this.id,
    }
  }

  embed(): Promise<number[][]> {
    return Promise.reject(new ProviderError(`${this.id} is a pipeline; it cannot make embeddings.`, false))
  }

  tokenize(): Promise<number[]> {
    return Promise.reject(new ProviderError(`${this.id} is a pipeline; it has no tokenizer.`, false))
  }

  countTokens(): Promise<number> {
    return Promise.reject(new ProviderError(`${this.id} is a pipeline; it has no tokenizer.`, false))
  }
}
