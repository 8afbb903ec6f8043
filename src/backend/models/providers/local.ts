/** A provider backed by a model loaded in the model worker (node-llama-cpp). */
import type { ModelHost } from '../model-host'
import { validateRequest, type GenerateRequest, type GenerateResult, type Provider } from './types'

export class LocalProvider implements Provider {
  readonly kind = 'local' as const

  constructor(
    readonly id: string,
    private readonly host: ModelHost,
    private readonly handle: string,
  ) {}

  async generate(request: GenerateRequest): Promise<GenerateResult> {
    validateRequest(request)
    const { signal, onText, topLogprobs: _topLogprobs, ...rest } = request
    const result = await this.host.generate(this.handle, { ...rest, stream: onText !== undefined }, onText, signal)
    return { ...result, providerId: this.id }
  }

  embed(texts: string[]): Promise<number[][]> {
    return this.host.embed(this.handle, texts)
  }

  tokenize(text: string): Promise<number[]> {
    return this.host.tokenize(this.handle, text)
  }

  async countTokens(text: string): Promise<number> {
    return (await this.tokenize(text)).length
  }
}
