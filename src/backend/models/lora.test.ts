// LoRA adapters in the model library, with real components: adapters written by the project's GGUF writer (as
// llama.cpp's convert_lora_to_gguf.py lays them out), registered against a tiny base, applied by llama.cpp through
// node-llama-cpp in the model worker, and served through the real gateway on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Model } from '../../shared/contract'
import { workBudget } from '../../../test/helpers'
import { Backend } from '../backend'
import { Gateway } from '../gateway/gateway'
import { writeTinyLlamaGguf, writeTinyLoraGguf } from '../gguf/index'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'

const root = mkdtempSync(join(tmpdir(), 'larder-lora-'))
let backend: Backend
let server: RunningHttpServer
let base: Model

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function api(method: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer console-token' },
    body: JSON.stringify(body),
  })
}

/** Greedy, same seed: the same model gives the same text every time. */
async function answer(id: number): Promise<string> {
  await call('models.load', { id, threads: 1, contextSize: 128, gpu: 'cpu' })
  const result = await call<{ text: string }>('models.generate', {
    target: { model: id },
    prompt: 'The quick brown fox',
    sampling: { maxTokens: 24, temperature: 0, seed: 1 },
  })
  await call('models.unload', { id })
  return result.text
}

beforeAll(async () => {
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true, models: { cpuOnly: true } }).start()
  server = await startHttpServer({
    backend,
    port: 0,
    token: 'console-token',
    gateway: new Gateway(backend, { adminToken: 'console-token', concurrency: 1, maxQueued: 4, timeoutMs: 60_000 }),
  })
  await writeTinyLlamaGguf(join(root, 'base.gguf'), { seed: 3 })
  base = await call<Model>('models.register', { path: join(root, 'base.gguf'), name: 'tiny-base' })
})

afterAll(async () => {
  await server.close()
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

describe('LoRA adapters in the model library', () => {
  it('registers an adapter on its base and records what it is', async () => {
    await writeTinyLoraGguf(join(root, 'zero.gguf'), { seed: 'zero', rank: 4, alpha: 8 })
    const adapter = await call<Model>('models.register', { path: join(root, 'zero.gguf'), base: base.id })
    expect(adapter.baseModel).toEqual({ id: base.id, name: 'tiny-base' })
    expect(adapter.fileType).toBe('LoRA rank 4, alpha 8')
    expect(adapter.architecture).toBe('llama')
    // Two blocks, attn_q [64x64] and ffn_up [64x128]: (64*4 + 4*64) + (64*4 + 4*128) per block.
    expect(adapter.parameterCount).toBe(2 * (64 * 4 + 4 * 64 + (64 * 4 + 4 * 128)))
    expect(adapter.contextLength).toBe(base.contextLength)
    expect(adapter.summary).toMatchObject({ tokenizerModel: 'llama', vocabularySize: 260, embeddingLength: 64 })
    const listed = (await call<{ items: Model[] }>('models.list')).items
    expect(listed.find((m) => m.id === adapter.id)?.baseModel?.name).toBe('tiny-base')
    expect(listed.find((m) => m.id === base.id)?.baseModel).toBeNull()
  })

  it('refuses, with a 4xx naming the problem, adapters that do not fit, files that are no adapter, and no base', async () => {
    await writeTinyLoraGguf(join(root, 'narrow.gguf'), { embeddingLength: 32, feedForwardLength: 64 })
    const mismatch = await api('models.register', { path: join(root, 'narrow.gguf'), base: base.id })
    expect(mismatch.status).toBe(400)
    expect(((await mismatch.json()) as { error: { message: string } }).error.message).toMatch(
      /narrow\.gguf does not fit tiny-base: "blk\.0\.attn_q\.weight" is \[64, 64\] in the base model, but its lora_a is \[32, 4\]/,
    )
    await writeTinyLoraGguf(join(root, 'other-arch.gguf'), { architecture: 'qwen2' })
    await expect(call('models.register', { path: join(root, 'other-arch.gguf'), base: base.id })).rejects.toMatchObject(
      { code: 'invalid_input', message: expect.stringMatching(/architecture "qwen2" but the base model is "llama"/) },
    )
    await writeTinyLoraGguf(join(root, 'rank.gguf'), { targets: ['attn_missing'] })
    await expect(call('models.register', { path: join(root, 'rank.gguf'), base: base.id })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/the base model has no tensor "blk\.0\.attn_missing\.weight"/),
    })
    const notAdapter = await api('models.register', { path: join(root, 'base.gguf'), base: base.id })
    expect(notAdapter.status).toBe(400)
    expect(((await notAdapter.json()) as { error: { message: string } }).error.message).toMatch(
      /base\.gguf is not a LoRA adapter/,
    )
    const noBase = await api('models.register', { path: join(root, 'narrow.gguf') })
    expect(noBase.status).toBe(400)
    expect(((await noBase.json()) as { error: { message: string } }).error.message).toMatch(
      /is a LoRA adapter, not a model/,
    )
    expect((await api('models.register', { path: join(root, 'zero.gguf'), base: 999 })).status).toBe(404)
    const names = (await call<{ items: Model[] }>('models.list')).items.map((m) => m.name)
    expect(names.some((name) => /narrow|other-arch|rank/.test(name))).toBe(false)
  })

  it(
    'serves an adapter: zero lora_b answers as the base does, a trained one differently, and the gateway names it',
    async () => {
      await writeTinyLoraGguf(join(root, 'tuned.gguf'), { seed: 11, rank: 4, alpha: 16 })
      const tuned = await call<Model>('models.register', { path: join(root, 'tuned.gguf'), base: base.id })
      const zero = (await call<{ items: Model[] }>('models.list')).items.find((m) => m.name === 'zero')!
      const fromBase = await answer(base.id)
      expect(fromBase.length).toBeGreaterThan(0)
      expect(await answer(zero.id)).toBe(fromBase)
      const fromTuned = await answer(tuned.id)
      expect(fromTuned).not.toBe(fromBase)
      expect(await answer(tuned.id)).toBe(fromTuned)

      await call('models.load', { id: tuned.id, threads: 1, contextSize: 128, gpu: 'cpu' })
      const key = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })).secret
      const response = await fetch(`${server.url}/v1/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tuned', prompt: 'The quick brown fox', max_tokens: 24, temperature: 0 }),
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-larder-model')).toBe('tuned')
      const body = (await response.json()) as { choices: { text: string }[] }
      expect(body.choices[0]!.text).toBe(fromTuned)
    },
    workBudget({ loads: 6, tokens: 6 * 24 }),
  )

  it('refuses to quantize, plan or compare an adapter as if it were a model', async () => {
    const zero = (await call<{ items: Model[] }>('models.list')).items.find((m) => m.name === 'zero')!
    const refused = { code: 'invalid_input', message: expect.stringMatching(/zero is a LoRA adapter on tiny-base/) }
    await expect(call('gguf.quantize', { id: zero.id, type: 'Q8_0' })).rejects.toMatchObject(refused)
    await expect(call('gguf.plan', { id: zero.id })).rejects.toMatchObject(refused)
    await expect(call('gguf.compare', { originalId: base.id, quantizedId: zero.id })).rejects.toMatchObject(refused)
    const train = { student: { modelId: zero.id }, data: join(root, 'data.jsonl'), name: 'from-adapter' }
    await expect(call('distill.train', train)).rejects.toMatchObject({ ...refused, path: ['student', 'modelId'] })
  })

  it('keeps a base while adapters name it', async () => {
    await expect(call('models.unregister', { id: base.id })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/tiny-base is the base of the LoRA adapters/),
    })
    expect((await call<Model>('models.get', { id: base.id })).name).toBe('tiny-base')
  })
})
