import { createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { runBatch } from './batch'
import { OpenAiCompatibleProvider } from './providers/openai-compatible'

const endpoints: FakeEndpoint[] = []
afterEach(async () => {
  for (const endpoint of endpoints.splice(0)) await endpoint.close()
})

async function endpoint(name: string, options: { delayMs?: number; failWith?: number } = {}) {
  const started = await startFakeEndpoint({ name, ...options })
  endpoints.push(started)
  return {
    endpoint: started,
    provider: new OpenAiCompatibleProvider({ id: name, baseUrl: started.baseUrl, model: 'm' }),
  }
}

async function closedPortUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}/v1`
}

const prompts = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: `item ${i}`, maxTokens: 16 }))

describe('OpenAI-compatible provider', () => {
  it('completes, chats, streams, embeds and tokenizes against a real HTTP server', async () => {
    const { provider, endpoint: server } = await endpoint('alpha')
    const completion = await provider.generate({ prompt: 'hi', maxTokens: 8, temperature: 0, seed: 7 })
    expect(completion).toMatchObject({ text: 'alpha says: hi', tokensIn: 2, finishReason: 'stop', providerId: 'alpha' })
    expect(server.requests[0]).toMatchObject({ prompt: 'hi', max_tokens: 8, temperature: 0, seed: 7, model: 'm' })

    const pieces: string[] = []
    const chat = await provider.generate({
      messages: [{ role: 'user', content: 'hello there' }],
      maxTokens: 8,
      onText: (text) => pieces.push(text),
    })
    expect(chat.text).toBe('alpha says: hello there')
    expect(pieces.length).toBeGreaterThan(1)
    expect(pieces.join('')).toBe(chat.text)
    expect(chat.tokensOut).toBe(chat.text.length)

    await provider.generate({ prompt: 'x', maxTokens: 4, jsonSchema: { type: 'object' } })
    expect(server.requests.at(-1)).toMatchObject({ response_format: { type: 'json_schema' } })

    const vectors = await provider.embed(['order status', 'status of my order'])
    expect(vectors).toHaveLength(2)
    expect(vectors[0]).toHaveLength(64)
    expect(Math.hypot(...vectors[0]!)).toBeCloseTo(1, 6)
    expect(await provider.countTokens('abcd')).toBe(4)
  })

  it('classifies failures: unreachable and 5xx are retryable, 4xx is not', async () => {
    const down = new OpenAiCompatibleProvider({ id: 'down', baseUrl: await closedPortUrl(), model: 'm' })
    await expect(down.generate({ prompt: 'x', maxTokens: 1 })).rejects.toMatchObject({ retryable: true })
    const { provider: broken } = await endpoint('broken', { failWith: 503 })
    await expect(broken.generate({ prompt: 'x', maxTokens: 1 })).rejects.toMatchObject({ retryable: true, status: 503 })
    const { provider: picky } = await endpoint('picky', { failWith: 400 })
    await expect(picky.generate({ prompt: 'x', maxTokens: 1 })).rejects.toMatchObject({ retryable: false, status: 400 })
    await expect(picky.generate({ maxTokens: 1 })).rejects.toThrowError(/either a prompt or chat messages/)
  })
})

describe('runBatch fan-out', () => {
  it("spreads a batch over several servers within each one's concurrency limit, in input order", async () => {
    const a = await endpoint('a', { delayMs: 30 })
    const b = await endpoint('b', { delayMs: 30 })
    const progress: number[] = []
    const results = await runBatch(
      prompts(24),
      [
        { provider: a.provider, concurrency: 2 },
        { provider: b.provider, concurrency: 4 },
      ],
      { onItemDone: (_item, done) => progress.push(done) },
    )
    expect(results.map((r) => r.ok)).toEqual(new Array(24).fill(true))
    results.forEach((r, i) => expect(r.ok && r.result.text.endsWith(`item ${i}`)).toBe(true))
    expect(a.endpoint.maxConcurrent).toBeLessThanOrEqual(2)
    expect(b.endpoint.maxConcurrent).toBeLessThanOrEqual(4)
    expect(b.endpoint.maxConcurrent).toBeGreaterThan(1)
    expect(a.endpoint.handled + b.endpoint.handled).toBe(24)
    expect(a.endpoint.handled).toBeGreaterThan(0)
    expect(progress).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
  })

  it('retries failed requests on another provider and rests a failing one', async () => {
    const healthy = await endpoint('healthy', { delayMs: 5 })
    const failing = await endpoint('failing', { failWith: 500 })
    const down = new OpenAiCompatibleProvider({ id: 'down', baseUrl: await closedPortUrl(), model: 'm' })
    const results = await runBatch(
      prompts(12),
      [
        { provider: failing.provider, concurrency: 4 },
        { provider: down, concurrency: 4 },
        { provider: healthy.provider, concurrency: 1 },
      ],
      { restMs: 60_000 },
    )
    expect(results.every((r) => r.ok && r.result.providerId === 'healthy')).toBe(true)
    const retried = results.filter((r) => r.failures.length > 0)
    expect(retried.length).toBeGreaterThan(0)
    expect(retried[0]!.failures[0]!.error).toMatch(/failing.*500|down: cannot reach/)
    // After three failures in a row the failing server is rested instead of hammered.
    expect(failing.endpoint.handled).toBeLessThanOrEqual(4 + 3)
  })

  it('fails a request with a non-retryable error at once, and the others still finish', async () => {
    const picky = await endpoint('picky', { failWith: 422 })
    const results = await runBatch(prompts(3), [{ provider: picky.provider, concurrency: 3 }])
    expect(results.every((r) => !r.ok && r.failures.length === 1 && /422/.test(r.error))).toBe(true)
  })

  it('stops when cancelled', async () => {
    const slow = await endpoint('slow', { delayMs: 200 })
    const controller = new AbortController()
    const running = runBatch(prompts(10), [{ provider: slow.provider, concurrency: 2 }], { signal: controller.signal })
    setTimeout(() => controller.abort(new Error('cancelled by test')), 50)
    await expect(running).rejects.toThrowError(/cancelled by test/)
  })
})
