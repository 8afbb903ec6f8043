/**
 * Batched generation on the tiny test model: total tokens/s with 1, 4 and 8 parallel sequences in one context,
 * measured in the model worker in one run, and the ratio of 8 sequences to 1.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeTinyLlamaGguf } from '../gguf/tiny-model'
import { benchModel, type BenchRow } from '../models/bench'
import { ModelHost } from '../models/model-host'

export async function benchBatch(
  options: { threads?: number; tokens?: number; gpu?: 'auto' | false; modelPath?: string } = {},
): Promise<{
  model: string
  rows: BenchRow[]
  ratio8to1: number
}> {
  const directory = await mkdtemp(join(tmpdir(), 'larder-batch-bench-'))
  const host = new ModelHost()
  try {
    const path = options.modelPath ?? join(directory, 'tiny.gguf')
    if (!options.modelPath) await writeTinyLlamaGguf(path, { seed: 1 })
    const rows = await benchModel(host, path, {
      sequences: [1, 4, 8],
      threads: options.threads ?? 1,
      contextSize: 256,
      promptTokens: 64,
      generateTokens: options.tokens ?? 96,
      gpu: options.gpu ?? false,
    })
    const one = rows.find((row) => row.sequences === 1)!.generationTokensPerSecond
    const eight = rows.find((row) => row.sequences === 8)!.generationTokensPerSecond
    return { model: options.modelPath ?? 'tiny test model', rows, ratio8to1: eight / one }
  } finally {
    await host.stop()
    await rm(directory, { recursive: true, force: true })
  }
}
