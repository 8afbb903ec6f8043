/**
 * Measures a model's prompt-processing and generation speed for several numbers of parallel sequences (the batch
 * sizes batched generation uses), in the model worker, so the numbers match what jobs will see.
 */
import type { ModelHost } from './model-host'

export interface BenchOptions {
  sequences: number[]
  threads: number
  contextSize: number
  promptTokens: number
  generateTokens: number
  gpu: 'auto' | false
  onStep?: (message: string) => void
}

export interface BenchRow {
  sequences: number
  threads: number
  /** Prompt tokens evaluated per second, all sequences together. */
  promptTokensPerSecond: number
  /** Generated tokens per second, all sequences together. */
  generationTokensPerSecond: number
  /** Generated tokens per second seen by one request. */
  perSequenceTokensPerSecond: number
}

export async function benchModel(host: ModelHost, path: string, options: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const handle = `bench:${path}`
  // A prompt of about the requested length: distinct words so the tokenizer cannot merge them away.
  const prompt = Array.from({ length: options.promptTokens }, (_, i) => `w${i}`).join(' ')
  try {
    for (const sequences of options.sequences) {
      options.onStep?.(`loading with ${sequences} sequence(s), ${options.threads} thread(s)`)
      await host.load(handle, path, {
        gpu: options.gpu,
        gpuLayers: options.gpu === false ? 0 : 'auto',
        contextSize: options.contextSize,
        sequences,
        threads: options.threads,
      })
      // Warm-up, so one-time setup is not counted.
      await host.generate(handle, { prompt: 'warm up', maxTokens: 2, temperature: 0, stream: false })

      const promptStart = performance.now()
      const prompted = await Promise.all(
        Array.from({ length: sequences }, (_, i) =>
          host.generate(handle, { prompt: `${i} ${prompt}`, maxTokens: 1, temperature: 0, stream: false }),
        ),
      )
      const promptSeconds = (performance.now() - promptStart) / 1000
      const promptTokens = prompted.reduce((sum, r) => sum + r.tokensIn, 0)

      const genStart = performance.now()
      const generated = await Promise.all(
        Array.from({ length: sequences }, (_, i) =>
          host.generate(handle, {
            prompt: `${i}`,
            maxTokens: options.generateTokens,
            temperature: 0.8,
            seed: i + 1,
            stream: false,
          }),
        ),
      )
      const genSeconds = (performance.now() - genStart) / 1000
      const genTokens = generated.reduce((sum, r) => sum + r.tokensOut, 0)
      const perSequence =
        generated.reduce((sum, r) => sum + (r.tokensOut * 1000) / Math.max(1, r.durationMs), 0) / sequences
      rows.push({
        sequences,
        threads: options.threads,
        promptTokensPerSecond: promptTokens / promptSeconds,
        generationTokensPerSecond: genTokens / genSeconds,
        perSequenceTokensPerSecond: perSequence,
      })
    }
  } finally {
    await host.unload(handle).catch(() => undefined)
  }
  return rows
}
