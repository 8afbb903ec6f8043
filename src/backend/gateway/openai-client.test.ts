import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import type { CacheNamespace, Model } from '../../shared/contract'
import { Backend } from '../backend'
import { writeTinyLlamaGguf } from '../gguf/index'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { Gateway } from './gateway'

// The official openai client against the real gateway; a tiny GGUF model generates and embeds through
// node-llama-cpp (real embeddings, random weights: the threshold is set for them).
const root = mkdtempSync(join(tmpdir(), 'larder-openai-'))
let backend: Backend
let server: RunningHttpServer
let client: OpenAI
let model: Model

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

beforeAll(
  async () => {
    backend = Backend.open({ home: join(root, 'home'), models: { cpuOnly: true } }).start()
    const path = join(root, 'tiny.gguf')
    await writeTinyLlamaGguf(path, { seed: 21 })
    model = await call<Model>('models.register', { path, name: 'tiny' })
    await call('models.load', { id: model.id, threads: 1, contextSize: 256, sequences: 2 })
    server = await startHttpServer({
      backend,
      port: 0,
      token: 'tok',
      gateway: new Gateway(backend, { adminToken: 'tok' }),
    })
    const { secret } = await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })
    client = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1`, maxRetries: 0 })
  },
  workBudget({ loads: 1, processes: 2 }),
)

afterAll(async () => {
  await server.close()
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

describe('gateway with the official openai client', () => {
  it(
    'gets a miss then an exact hit for the same request, non-streamed and streamed',
    { timeout: workBudget({ tokens: 100 }) },
    async () => {
      const ns = (await call<{ items: CacheNamespace[] }>('cache.namespaces.list')).items
      expect(ns).toEqual([])
      const ask = () =>
        client.chat.completions
          .create({
            model: 'tiny',
            messages: [{ role: 'user', content: 'Where is my parcel?' }],
            max_tokens: 8,
            temperature: 0,
          })
          .withResponse()
      const first = await ask()
      expect(first.response.headers.get('x-larder-cache')).toBe('miss')
      const answer = first.data.choices[0]!.message.content
      expect(first.data.usage!.completion_tokens).toBeGreaterThan(0)
      // Serve drafts in this namespace so the stored answer is served at once.
      const namespace = (await call<{ items: CacheNamespace[] }>('cache.namespaces.list')).items[0]!
      await call('cache.namespaces.save', { id: namespace.id, tenant: 'acme', name: 'default', serveDrafts: true })
      const second = await ask()
      expect(second.response.headers.get('x-larder-cache')).toBe('hit-exact')
      expect(second.data.choices[0]!.message.content).toBe(answer)

      const stream = await client.chat.completions
        .create({
          model: 'tiny',
          messages: [{ role: 'user', content: 'Where is my parcel?' }],
          max_tokens: 8,
          temperature: 0,
          stream: true,
        })
        .withResponse()
      expect(stream.response.headers.get('x-larder-cache')).toBe('hit-exact')
      let streamed = ''
      for await (const chunk of stream.data) streamed += chunk.choices[0]?.delta.content ?? ''
      expect(streamed).toBe(answer)

      const live = await client.chat.completions
        .create({
          model: 'tiny',
          messages: [{ role: 'user', content: 'Something new' }],
          max_tokens: 6,
          temperature: 0,
          stream: true,
        })
        .withResponse()
      expect(live.response.headers.get('x-larder-cache')).toBe('miss')
      let text = ''
      for await (const chunk of live.data) text += chunk.choices[0]?.delta.content ?? ''
      expect(text.length).toBeGreaterThan(0)
    },
  )

  it('lists models, embeds, and reports errors the client understands', async () => {
    const models = await client.models.list()
    expect(models.data.map((m) => m.id)).toContain('tiny')
    const embedding = await client.embeddings.create({ model: 'tiny', input: ['hello', 'world'] })
    expect(embedding.data).toHaveLength(2)
    expect(embedding.data[0]!.embedding.length).toBeGreaterThan(8)
    await expect(
      client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toMatchObject({ status: 404 })
    const wrongKey = new OpenAI({ apiKey: 'lk_wrong', baseURL: `${server.url}/v1`, maxRetries: 0 })
    await expect(wrongKey.models.list()).rejects.toMatchObject({ status: 401 })
  })

  it(
    'answers a near-duplicate semantically with model embeddings, while the negation guard refuses a negated one',
    { timeout: workBudget({ tokens: 40 }) },
    async () => {
      const { namespace } = await call<{ namespace: CacheNamespace }>('cache.namespaces.save', {
        tenant: 'acme',
        name: 'semantic',
        semanticEnabled: true,
        embedder: { model: model.id },
        similarityThreshold: 0.8,
        serveDrafts: true,
      })
      const headers = { 'x-larder-namespace': 'semantic' }
      const ask = (content: string) =>
        client.chat.completions
          .create({ model: 'tiny', messages: [{ role: 'user', content }], max_tokens: 6, temperature: 0 }, { headers })
          .withResponse()
      expect(
        (await ask('How do I enable two factor login on my account?')).response.headers.get('x-larder-cache'),
      ).toBe('miss')
      const near = await ask('How do I enable two factor login on my account ?')
      expect(near.response.headers.get('x-larder-cache')).toBe('hit-semantic')
      expect(Number(near.response.headers.get('x-larder-similarity'))).toBeGreaterThanOrEqual(0.8)
      // The negated request embeds close to the cached one too, but must not get its answer.
      const lookup = await call<{ hitKind: string; refusedBy: string | null }>('cache.lookup', {
        namespaceId: namespace.id,
        request: {
          model: 'tiny',
          messages: [{ role: 'user', content: 'How do I disable two factor login on my account?' }],
          params: { temperature: 0, max_tokens: 6 },
        },
      })
      expect(lookup).toMatchObject({ hitKind: 'miss', refusedBy: 'negation' })
      expect(
        (await ask('How do I disable two factor login on my account?')).response.headers.get('x-larder-cache'),
      ).toBe('miss')
    },
  )
})
