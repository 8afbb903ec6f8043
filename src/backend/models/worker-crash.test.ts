// Crash reasons from the model worker (issue 14): a worker abort while loading is a clear error, like one during
// generation (not a 500 "internal"), and the reason is taken from the crashing call's own output, not from an earlier
// file's error still in the stderr tail. Real node-llama-cpp in a real worker process.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Model } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'
import { rewriteGguf } from '../gguf/test-support'
import { tinyByteVocabulary, writeTinyLlamaGguf } from '../gguf/tiny-model'
import { gguf } from '../gguf/types'
import type { ModelHost } from './model-host'
import { ModelHost as Host } from './model-host'

const cpu = { gpu: false as const, gpuLayers: 0, contextSize: 128, sequences: 1, threads: 1 }
let dir = ''
let base = ''

beforeAll(async () => {
  dir = suiteTempDir('larder-worker-crash-')
  base = join(dir, 'tiny.gguf')
  await writeTinyLlamaGguf(base, { seed: 9 })
})

describe('model worker crash reasons', () => {
  const host = new Host()
  afterAll(() => host.stop())

  it("names the crashing file's own error, not the previous file's", async () => {
    // Refused by llama.cpp with an error on stderr (these bypass Larder's validation on purpose: ModelHost directly).
    const badRope = join(dir, 'rope3.gguf')
    await rewriteGguf(base, badRope, { set: [['llama.rope.dimension_count', gguf.uint32(3)]] })
    await expect(host.load('rope3', badRope, cpu)).rejects.toThrow(/invalid n_rot: 3/)
    // Aborts the worker (duplicate tokens trip an assertion in llama-vocab.cpp).
    const tokens = [...tinyByteVocabulary().tokens]
    tokens[10] = tokens[11]!
    const duplicate = join(dir, 'duplicate.gguf')
    await rewriteGguf(base, duplicate, { set: [['tokenizer.ggml.tokens', gguf.stringArray(tokens)]] })
    const failure = await host.load('duplicate', duplicate, cpu).then(
      () => new Error('loaded'),
      (error: Error) => error,
    )
    expect(failure.message).toMatch(/^Loading the model stopped because llama\.cpp aborted the model worker/)
    expect(failure.message).not.toMatch(/n_rot/)
    // The next call starts a fresh worker that still works.
    await expect(host.load('tiny', base, cpu)).resolves.toMatchObject({ threads: 1 })
  }, 120_000)
})

describe('a worker abort while loading, through the API', () => {
  let backend: Backend
  afterAll(() => backend?.close())

  it('is a clear error, not a 500', async () => {
    backend = Backend.open({ home: join(dir, 'home'), validateOutput: true, models: { cpuOnly: true } })
    const model = (await backend.call('models.register', { path: base, name: 'tiny' })) as Model
    const host = (backend.models as unknown as { host: ModelHost }).host
    const pending = (host as unknown as { pending: Map<number, unknown> }).pending
    const loading = backend.call('models.load', { id: model.id, threads: 1, contextSize: 128 }).then(
      () => new Error('loaded'),
      (error: Error) => error,
    )
    // Abort the worker while the load is in flight, as llama.cpp's GGML_ASSERT would.
    await waitUntil(() => pending.size > 0 && host.workerPid !== undefined, 60_000, 'the load to be sent')
    process.kill(host.workerPid!, 'SIGABRT')
    const failure = (await loading) as Error & { code?: string }
    expect(failure.code).toBe('invalid_input')
    expect(failure.message).toMatch(/^tiny could not be loaded: Loading the model stopped because llama\.cpp aborted/)
    // And the backend goes on: the model loads on the next try.
    const loaded = (await backend.call('models.load', { id: model.id, threads: 1, contextSize: 128 })) as Model
    expect(loaded.loaded).not.toBeNull()
  }, 120_000)
})
