import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import { writeTinyLlamaGguf } from '../gguf/index'
import { runBatch } from './batch'
import { ModelHost, defaultThreads } from './model-host'
import { LocalProvider } from './providers/local'

// Real node-llama-cpp in a real worker process, on a tiny model this test writes (no model can be downloaded).
const cpu = { gpu: false as const, gpuLayers: 0, contextSize: 128, sequences: 4, threads: 1 }

describe('model worker (node-llama-cpp)', () => {
  const host = new ModelHost()
  let modelPath = ''
  const dir = mkdtempSync(join(tmpdir(), 'larder-models-'))

  beforeAll(async () => {
    modelPath = join(dir, 'tiny.gguf')
    await writeTinyLlamaGguf(modelPath, { seed: 3 })
  })

  afterAll(async () => {
    await host.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it(
    'loads a model, generates deterministically with a seed, streams, and counts tokens',
    { timeout: workBudget({ loads: 1, processes: 1, tokens: 24 }) },
    async () => {
      const info = await host.load('tiny', modelPath, cpu)
      expect(info).toMatchObject({ sequences: 4, threads: 1, gpuLayers: 0 })
      const provider = new LocalProvider('local:tiny', host, 'tiny')
      const pieces: string[] = []
      const first = await provider.generate({
        prompt: 'Hello',
        maxTokens: 12,
        temperature: 0.8,
        seed: 11,
        onText: (text) => pieces.push(text),
      })
      expect(first.tokensOut).toBeGreaterThan(0)
      expect(first.tokensOut).toBeLessThanOrEqual(12)
      expect(first.tokensIn).toBe((await provider.tokenize('Hello')).length)
      expect(pieces.join('')).toBe(first.text)
      const again = await provider.generate({ prompt: 'Hello', maxTokens: 12, temperature: 0.8, seed: 11 })
      expect(again.text).toBe(first.text)
    },
  )

  it('runs a batch over parallel context sequences', { timeout: workBudget({ tokens: 64 }) }, async () => {
    const provider = new LocalProvider('local:tiny', host, 'tiny')
    const requests = Array.from({ length: 8 }, (_, i) => ({ prompt: `Item ${i}:`, maxTokens: 8, temperature: 0 }))
    const results = await runBatch(requests, [{ provider, concurrency: 4 }])
    expect(results.every((r) => r.ok && r.result.tokensOut > 0)).toBe(true)
  })

  it('constrains output to a JSON schema', { timeout: workBudget({ tokens: 40 }) }, async () => {
    const provider = new LocalProvider('local:tiny', host, 'tiny')
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string', enum: ['yes', 'no'] } },
      required: ['answer'],
    }
    const result = await provider.generate({ prompt: 'Answer:', maxTokens: 40, temperature: 0, jsonSchema: schema })
    expect(['yes', 'no']).toContain((JSON.parse(result.text) as { answer: string }).answer)
  })

  it(
    'survives the worker dying: calls in flight fail with the reason, the next load starts a new worker',
    { timeout: workBudget({ loads: 1, processes: 1 }) },
    async () => {
      const reasons: string[] = []
      host.onWorkerExit((exit) => reasons.push(exit.reason))
      const pid = host.workerPid!
      const provider = new LocalProvider('local:tiny', host, 'tiny')
      const inFlight = provider.generate({ prompt: 'long', maxTokens: 100000, temperature: 0 })
      process.kill(pid, 'SIGKILL')
      await expect(inFlight).rejects.toThrowError(/stopped by SIGKILL.*load again/)
      expect(reasons).toEqual(['the model worker was stopped by SIGKILL'])
      expect(host.loadedModels).toEqual([])
      await host.load('tiny', modelPath, cpu)
      expect(host.workerPid).not.toBe(pid)
    },
  )

  it('picks a thread default that never oversubscribes', () => {
    expect(defaultThreads(2)).toBe(1)
    expect(defaultThreads(1)).toBe(1)
    expect(defaultThreads(16)).toBe(8)
  })
})
