import { mkdtempSync, rmSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CacheEntry, CacheNamespace, Model } from '../../shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { Backend } from '../backend'
import { writeTinyLlamaGguf } from '../gguf/index'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { Gateway } from './gateway'

// OpenAI conformance (issue 14), checked with the official openai client and plain HTTP against the real gateway:
// real node-llama-cpp on a tiny GGUF model (random weights: its text is noise, but token counts, grammars, finish
// reasons and function-call shapes are real), a real OpenAI-compatible upstream on 127.0.0.1, real SQLite.
const root = mkdtempSync(join(tmpdir(), 'larder-conformance-'))
let backend: Backend
let server: RunningHttpServer
let upstream: FakeEndpoint
let slow: FakeEndpoint
let refusing: FakeEndpoint
let client: OpenAI
let secret = ''
let model: Model

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null }
}

async function entriesOf(namespace = 'default'): Promise<CacheEntry[]> {
  const ns = (await call<{ items: CacheNamespace[] }>('cache.namespaces.list')).items.find(
    (n) => n.name === namespace && n.tenant === 'acme',
  )!
  return (await call<{ items: CacheEntry[] }>('cache.entries.list', { namespaceId: ns.id, limit: 500 })).items
}

beforeAll(async () => {
  upstream = await startFakeEndpoint({ name: 'upstream' })
  slow = await startFakeEndpoint({ name: 'slow', delayMs: 300 })
  refusing = await startFakeEndpoint({ name: 'refusing', failWith: 400 })
  backend = Backend.open({ home: join(root, 'home'), models: { cpuOnly: true } }).start()
  const path = join(root, 'tiny.gguf')
  await writeTinyLlamaGguf(path, { seed: 21, contextLength: 1024 })
  model = await call<Model>('models.register', { path, name: 'tiny' })
  await call('models.load', { id: model.id, threads: 1, contextSize: 1024, sequences: 2 })
  await call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm', concurrency: 4 })
  await call('providers.save', { name: 'slow', baseUrl: slow.baseUrl, model: 'm', concurrency: 4 })
  await call('providers.save', { name: 'refusing', baseUrl: refusing.baseUrl, model: 'm', concurrency: 4 })
  server = await startHttpServer({
    backend,
    port: 0,
    token: 'tok',
    gateway: new Gateway(backend, { adminToken: 'tok' }),
  })
  secret = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })).secret
  client = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1`, maxRetries: 0 })
  // Stored answers are served at once, so the second identical request shows what the cache serves.
  await call('cache.namespaces.save', { tenant: 'acme', name: 'default', serveDrafts: true })
}, 120_000)

afterAll(async () => {
  await server.close()
  await backend.close()
  await Promise.all([upstream.close(), slow.close(), refusing.close()])
  rmSync(root, { recursive: true, force: true })
})

describe('OpenAI conformance', () => {
  it('embeddings honour encoding_format "base64", the openai client default (no silent corruption)', async () => {
    const plain = (await (await post('/v1/embeddings', { model: 'tiny', input: ['hello world'] })).json()) as {
      data: { embedding: number[] }[]
      usage: { prompt_tokens: number }
    }
    const floats = plain.data[0]!.embedding
    expect(floats.length).toBeGreaterThan(8)
    // The client asks for base64 and decodes little-endian float32s: the same vector, not garbage.
    const viaClient = await client.embeddings.create({ model: 'tiny', input: ['hello world'] })
    const decoded = viaClient.data[0]!.embedding
    expect(decoded).toHaveLength(floats.length)
    decoded.forEach((value, i) => expect(value).toBeCloseTo(floats[i]!, 5))
    expect(plain.usage.prompt_tokens).toBeGreaterThan(0)
    const raw = (await (
      await post('/v1/embeddings', { model: 'tiny', input: 'hello world', encoding_format: 'base64' })
    ).json()) as { data: { embedding: string }[] }
    expect(typeof raw.data[0]!.embedding).toBe('string')
    expect(Buffer.from(raw.data[0]!.embedding, 'base64').length).toBe(floats.length * 4)
    const bad = await post('/v1/embeddings', { model: 'tiny', input: 'x', encoding_format: 'hex' })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as ErrorBody).error.param).toBe('encoding_format')
  }, 60_000)

  it('usage counts real tokens: completion_tokens > 0 at max_tokens 1, prompt_tokens independent of max_tokens', async () => {
    const usages = []
    for (const max_tokens of [1, 4, 16]) {
      const chat = await client.chat.completions.create(
        { model: 'tiny', messages: [{ role: 'user', content: 'Count my tokens' }], max_tokens, temperature: 0 },
        { headers: { 'cache-control': 'no-cache, no-store' } },
      )
      usages.push(chat.usage!)
      expect(chat.usage!.completion_tokens).toBe(max_tokens)
    }
    expect(new Set(usages.map((u) => u.prompt_tokens)).size).toBe(1)
    expect(usages[0]!.prompt_tokens).toBeGreaterThan(0)
    const text = await client.completions.create(
      { model: 'tiny', prompt: 'Count my tokens', max_tokens: 1, temperature: 0 },
      { headers: { 'cache-control': 'no-cache, no-store' } },
    )
    expect(text.usage!.completion_tokens).toBe(1)
    // The same counts reach the Playground (models.generate), fixed once in the model worker.
    const played = await call<{ tokensIn: number; tokensOut: number }>('models.generate', {
      target: { model: model.id },
      messages: [{ role: 'user', content: 'Count my tokens' }],
      sampling: { maxTokens: 2, temperature: 0 },
    })
    expect(played).toMatchObject({ tokensIn: usages[0]!.prompt_tokens, tokensOut: 2 })
  }, 60_000)

  it('a cut-off answer keeps finish_reason "length" when served from the cache, streamed or not', async () => {
    const ask = () =>
      client.chat.completions
        .create({
          model: 'tiny',
          messages: [{ role: 'user', content: 'Tell me a long story' }],
          max_tokens: 3,
          temperature: 0,
        })
        .withResponse()
    const first = await ask()
    expect(first.response.headers.get('x-larder-cache')).toBe('miss')
    expect(first.data.choices[0]!.finish_reason).toBe('length')
    const entry = (await entriesOf()).find((e) => e.promptText === 'Tell me a long story')!
    expect(entry.finishReason).toBe('length')
    const hit = await ask()
    expect(hit.response.headers.get('x-larder-cache')).toBe('hit-exact')
    expect(hit.data.choices[0]!.finish_reason).toBe('length')
    const stream = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Tell me a long story' }],
      max_tokens: 3,
      temperature: 0,
      stream: true,
    })
    const finishes = []
    for await (const chunk of stream) if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason)
    expect(finishes).toEqual(['length'])
  }, 60_000)

  it('honours stream_options.include_usage with a last usage chunk, for a miss and for a hit', async () => {
    for (const expected of ['miss', 'hit-exact']) {
      const { data, response } = await client.chat.completions
        .create({
          model: 'tiny',
          messages: [{ role: 'user', content: 'Usage, please' }],
          max_tokens: 5,
          temperature: 0,
          stream: true,
          stream_options: { include_usage: true },
        })
        .withResponse()
      expect(response.headers.get('x-larder-cache')).toBe(expected)
      const chunks = []
      for await (const chunk of data) chunks.push(chunk)
      const last = chunks.at(-1)!
      expect(last.choices).toEqual([])
      expect(last.usage).toMatchObject({ completion_tokens: 5 })
      expect(last.usage!.prompt_tokens).toBeGreaterThan(0)
      expect(chunks.slice(0, -1).every((chunk) => !chunk.usage)).toBe(true)
    }
    // Without the option, no usage chunk.
    const plain = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Usage, please' }],
      max_tokens: 5,
      temperature: 0,
      stream: true,
    })
    for await (const chunk of plain) expect(chunk.usage ?? null).toBeNull()
  }, 60_000)

  it('response_format json_schema constrains a local model (grammar) and is part of the key', async () => {
    const schema = {
      type: 'object',
      properties: { label: { enum: ['yes', 'no'] } },
      required: ['label'],
      additionalProperties: false,
    }
    const ask = () =>
      client.chat.completions
        .create({
          model: 'tiny',
          messages: [{ role: 'user', content: 'Is it shipped?' }],
          max_tokens: 64,
          temperature: 0,
          response_format: { type: 'json_schema', json_schema: { name: 'verdict', schema, strict: true } },
        })
        .withResponse()
    const first = await ask()
    expect(first.response.headers.get('x-larder-cache')).toBe('miss')
    const parsed = JSON.parse(first.data.choices[0]!.message.content!) as { label: string }
    expect(['yes', 'no']).toContain(parsed.label)
    expect(first.data.choices[0]!.finish_reason).toBe('stop')
    expect((await ask()).response.headers.get('x-larder-cache')).toBe('hit-exact')
    // The same conversation without response_format is another request.
    const free = await client.chat.completions
      .create({
        model: 'tiny',
        messages: [{ role: 'user', content: 'Is it shipped?' }],
        max_tokens: 64,
        temperature: 0,
      })
      .withResponse()
    expect(free.response.headers.get('x-larder-cache')).toBe('miss')
    // Passed through to an OpenAI-compatible provider as the client sent it.
    const before = upstream.requests.length
    await client.chat.completions.create({
      model: 'upstream',
      messages: [{ role: 'user', content: 'JSON please' }],
      response_format: { type: 'json_object' },
    })
    expect(upstream.requests[before]!.response_format).toEqual({ type: 'json_object' })
  }, 60_000)

  it('tools pass through to providers; tool calls are answered, cached as tool calls, never served to a plain request', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'weather',
          description: 'The weather in a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
    ]
    const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }]
    const plain = await client.chat.completions.create({ model: 'upstream', messages }).withResponse()
    expect(plain.response.headers.get('x-larder-cache')).toBe('miss')
    expect(plain.data.choices[0]!.message.content).toBe('upstream says: Weather in Paris?')
    const withTools = await client.chat.completions.create({ model: 'upstream', messages, tools }).withResponse()
    expect(withTools.response.headers.get('x-larder-cache')).toBe('miss')
    const choice = withTools.data.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.content).toBeNull()
    expect(choice.message.tool_calls).toEqual([
      { id: 'call_fake1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
    ])
    expect(upstream.requests.at(-1)!.tools).toEqual(tools)
    // Served again from the cache as the same tool call, streamed too.
    const again = await client.chat.completions.create({ model: 'upstream', messages, tools }).withResponse()
    expect(again.response.headers.get('x-larder-cache')).toBe('hit-exact')
    expect(again.data.choices[0]!.message.tool_calls).toEqual(choice.message.tool_calls)
    const stream = await client.chat.completions.create({ model: 'upstream', messages, tools, stream: true })
    const calls: unknown[] = []
    let finish = ''
    for await (const chunk of stream) {
      calls.push(...(chunk.choices[0]?.delta.tool_calls ?? []))
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    expect(finish).toBe('tool_calls')
    expect(calls).toMatchObject([{ index: 0, id: 'call_fake1', function: { name: 'weather' } }])
    // The next turn (the tool's result) is a request of its own, passed through with the call and the result.
    const next = await client.chat.completions.create({
      model: 'upstream',
      messages: [
        ...messages,
        { role: 'assistant', content: null, tool_calls: choice.message.tool_calls! },
        { role: 'tool', tool_call_id: 'call_fake1', content: 'Sunny, 21 C' },
      ],
      tools,
      tool_choice: 'none',
    })
    expect(next.choices[0]!.message.content).toBe('upstream says: Sunny, 21 C')
    expect(upstream.requests.at(-1)!.messages).toMatchObject([
      { role: 'user' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_fake1' }] },
      { role: 'tool', tool_call_id: 'call_fake1', content: 'Sunny, 21 C' },
    ])
  })

  it('tools on a local model: a forced tool_choice returns a call whose arguments follow its schema', async () => {
    const tools = [
      {
        type: 'function' as const,
        function: {
          name: 'set_priority',
          description: 'Set the ticket priority',
          parameters: {
            type: 'object',
            properties: { level: { enum: ['low', 'high'] } },
            required: ['level'],
            additionalProperties: false,
          },
        },
      },
    ]
    const response = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'This is urgent!' }],
      tools,
      tool_choice: { type: 'function', function: { name: 'set_priority' } },
      max_tokens: 64,
      temperature: 0,
    })
    const choice = response.choices[0]!
    expect(choice.finish_reason).toBe('tool_calls')
    expect(choice.message.tool_calls).toHaveLength(1)
    const toolCall = choice.message.tool_calls![0]! as { id: string; function: { name: string; arguments: string } }
    expect(toolCall.function.name).toBe('set_priority')
    expect(toolCall.id).toMatch(/^call_/)
    expect(['low', 'high']).toContain((JSON.parse(toolCall.function.arguments) as { level: string }).level)
    // "required" with one tool forces the same; "none" answers in text.
    const none = await client.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'This is urgent!' }],
      tools,
      tool_choice: 'none',
      max_tokens: 4,
      temperature: 0,
    })
    expect(none.choices[0]!.message.tool_calls ?? []).toEqual([])
    expect(none.choices[0]!.finish_reason).toBe('length')
    // "auto" offers the tools through node-llama-cpp's function calling; the model decides (this one answers).
    const auto = await post('/v1/chat/completions', {
      model: 'tiny',
      messages: [{ role: 'user', content: 'This is urgent!' }],
      tools,
      max_tokens: 4,
      temperature: 0,
    })
    expect(auto.status).toBe(200)
    const autoBody = (await auto.json()) as { choices: { finish_reason: string }[] }
    expect(['length', 'stop', 'tool_calls']).toContain(autoBody.choices[0]!.finish_reason)
  }, 60_000)

  it('a conversation ending with an assistant message is continued (local) or passed on, never a 5xx', async () => {
    const prefill = await post('/v1/chat/completions', {
      model: 'tiny',
      messages: [
        { role: 'user', content: 'Say hello' },
        { role: 'assistant', content: 'Hello' },
      ],
      max_tokens: 3,
      temperature: 0,
    })
    expect(prefill.status).toBe(200)
    const body = (await prefill.json()) as {
      choices: { finish_reason: string }[]
      usage: { completion_tokens: number }
    }
    expect(body.usage.completion_tokens).toBe(3)
    // An upstream that refuses the request (4xx) is the request's fault: 400, which clients do not retry.
    const refused = await post('/v1/chat/completions', {
      model: 'refusing',
      messages: [
        { role: 'user', content: 'Say hello' },
        { role: 'assistant', content: 'Hello' },
      ],
    })
    expect(refused.status).toBe(400)
    expect(((await refused.json()) as ErrorBody).error.type).toBe('invalid_request_error')
  }, 60_000)

  it('a pipeline refuses what it cannot do with a 400 that says so: tools, response_format, a prefill', async () => {
    const { items } = await call<{ items: { key: string; definition: Record<string, unknown> }[] }>(
      'pipelines.starters',
    )
    const starter = items.find((s) => s.key === 'draft-judge-revise')!.definition
    await call('pipelines.save', { definition: { ...starter, name: 'helpdesk' }, tenant: 'acme' })
    const user = { role: 'user', content: 'Where is my parcel?' }
    const cases: [Record<string, unknown>, string][] = [
      [{ messages: [user], tools: [{ type: 'function', function: { name: 'track' } }] }, 'tools'],
      [{ messages: [user], response_format: { type: 'json_object' } }, 'response_format'],
      [{ messages: [user, { role: 'assistant', content: 'Your parcel' }] }, 'messages'],
    ]
    for (const [body, param] of cases) {
      const response = await post('/v1/chat/completions', { model: 'pipeline:helpdesk', ...body })
      expect(response.status, param).toBe(400)
      const error = ((await response.json()) as ErrorBody).error
      expect(error).toMatchObject({ type: 'invalid_request_error', param })
      expect(error.message).toMatch(/pipeline/)
    }
  })

  it("GET /v1/models/{id} returns the model, or a 404 in OpenAI's shape", async () => {
    const found = await client.models.retrieve('tiny')
    expect(found).toMatchObject({ id: 'tiny', object: 'model', owned_by: 'larder' })
    const missing = await fetch(`${server.url}/v1/models/nope`, { headers: { authorization: `Bearer ${secret}` } })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({
      error: {
        message: expect.stringContaining('nope') as string,
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    })
    await expect(client.models.retrieve('nope')).rejects.toMatchObject({ status: 404, code: 'model_not_found' })
  })

  it('/v1/responses: text in and out, the cache shared with chat, and the Responses event stream', async () => {
    const first = await client.responses
      .create({ model: 'upstream', input: 'Where is my parcel?', instructions: 'Be brief.' })
      .withResponse()
    expect(first.response.headers.get('x-larder-cache')).toBe('miss')
    expect(first.data.object).toBe('response')
    expect(first.data.status).toBe('completed')
    expect(first.data.output_text).toBe('upstream says: Where is my parcel?')
    expect(first.data.usage).toMatchObject({ input_tokens: 19, output_tokens: 34, total_tokens: 53 })
    const second = await client.responses
      .create({ model: 'upstream', input: 'Where is my parcel?', instructions: 'Be brief.' })
      .withResponse()
    expect(second.response.headers.get('x-larder-cache')).toBe('hit-exact')
    expect(second.data.output_text).toBe(first.data.output_text)
    // Keyed as the equivalent chat request: the chat API is served the same entry.
    const chat = await client.chat.completions
      .create({
        model: 'upstream',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Where is my parcel?' },
        ],
      })
      .withResponse()
    expect(chat.response.headers.get('x-larder-cache')).toBe('hit-exact')

    for (const expected of ['miss', 'hit-exact']) {
      const { data: stream, response } = await client.responses
        .create({ model: 'upstream', input: [{ role: 'user', content: 'Stream the answer' }], stream: true })
        .withResponse()
      expect(response.headers.get('x-larder-cache')).toBe(expected)
      const types: string[] = []
      let text = ''
      let completed: OpenAI.Responses.Response | undefined
      for await (const event of stream) {
        types.push(event.type)
        if (event.type === 'response.output_text.delta') text += event.delta
        if (event.type === 'response.completed') completed = event.response
      }
      expect(types[0]).toBe('response.created')
      expect(types).toContain('response.output_item.added')
      expect(types).toContain('response.output_text.done')
      expect(types.at(-1)).toBe('response.completed')
      expect(text).toBe('upstream says: Stream the answer')
      expect(completed!.output_text ?? completed!.output[0]).toBeTruthy()
    }
    // A cut-off answer is an incomplete response.
    const cut = await client.responses.create({
      model: 'tiny',
      input: 'A long story',
      max_output_tokens: 2,
      temperature: 0,
    })
    expect(cut.status).toBe('incomplete')
    expect(cut.incomplete_details).toEqual({ reason: 'max_output_tokens' })
    const refused = await post('/v1/responses', { model: 'upstream', input: 'x', tools: [{ type: 'web_search' }] })
    expect(refused.status).toBe(400)
    expect(((await refused.json()) as ErrorBody).error.param).toBe('tools')
  }, 60_000)

  it("refuses invalid parameters with a 400 in OpenAI's error shape that names the field", async () => {
    const base = { model: 'upstream', messages: [{ role: 'user', content: 'hi' }] }
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, temperature: 'hot' }, 'temperature'],
      [{ ...base, temperature: 3 }, 'temperature'],
      [{ ...base, top_p: 1.5 }, 'top_p'],
      [{ ...base, max_tokens: 0 }, 'max_tokens'],
      [{ ...base, n: 2 }, 'n'],
      [{ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
      [{ ...base, presence_penalty: 5 }, 'presence_penalty'],
      [{ ...base, stream: 'yes' }, 'stream'],
      [{ ...base, messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
      [
        { ...base, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] },
        'messages[0].content[0].type',
      ],
      [{ ...base, messages: [{ role: 'tool', content: 'result' }] }, 'messages[0].tool_call_id'],
      [{ ...base, messages: [] }, 'messages'],
      [{ ...base, response_format: { type: 'xml' } }, 'response_format.type'],
      [{ ...base, tool_choice: 'required' }, 'tool_choice'],
      [{ model: 'upstream' }, 'messages'],
    ]
    for (const [body, param] of cases) {
      const response = await post('/v1/chat/completions', body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      const error = ((await response.json()) as ErrorBody).error
      expect(error.type).toBe('invalid_request_error')
      expect(error.param, JSON.stringify(body)).toBe(param)
      expect(error.code === null || typeof error.code === 'string').toBe(true)
      expect(error.message.length).toBeGreaterThan(0)
    }
    const notJson = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: '{"model":',
    })
    expect(((await notJson.json()) as ErrorBody).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'invalid_json',
      param: null,
    })
    const anonymous = await fetch(`${server.url}/v1/models`)
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as ErrorBody).error).toMatchObject({
      type: 'authentication_error',
      code: 'invalid_api_key',
      param: null,
    })
    // The client maps them to its typed errors.
    await expect(
      client.chat.completions.create({ model: 'upstream', messages: [{ role: 'user', content: 'x' }], temperature: 9 }),
    ).rejects.toMatchObject({ status: 400, param: 'temperature' })
  })

  it('two identical misses arriving together generate once', async () => {
    const before = slow.handled
    const ask = () =>
      post('/v1/chat/completions', {
        model: 'slow',
        messages: [{ role: 'user', content: 'Only once, please' }],
        temperature: 0,
      })
    const [a, b] = await Promise.all([ask(), ask()])
    expect(slow.handled - before).toBe(1)
    const answers = await Promise.all(
      [a, b].map(
        async (r) => ((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content,
      ),
    )
    expect(answers).toEqual(['slow says: Only once, please', 'slow says: Only once, please'])
    expect([a, b].map((r) => r.headers.get('x-larder-cache'))).toEqual(['miss', 'miss'])
    expect([a, b].map((r) => r.headers.get('x-larder-coalesced')).sort()).toEqual(['1', null].sort())
    // A streamed twin joins the same generation and still receives the whole answer.
    const before2 = slow.handled
    const streamed = await Promise.all([
      post('/v1/chat/completions', { model: 'slow', messages: [{ role: 'user', content: 'Twins' }], stream: true }),
      post('/v1/chat/completions', { model: 'slow', messages: [{ role: 'user', content: 'Twins' }] }),
    ])
    expect(slow.handled - before2).toBe(1)
    const text = await streamed[0].text()
    const content = text
      .split('\n\n')
      .filter((block) => block.startsWith('data: {'))
      .map(
        (block) =>
          (JSON.parse(block.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ??
          '',
      )
      .join('')
    expect(content).toBe('slow says: Twins')
    // Other tenants never share a generation.
    const other = (await call<{ secret: string }>('gateway.keys.create', { tenant: 'globex' })).secret
    const before3 = slow.handled
    await Promise.all([
      post('/v1/chat/completions', { model: 'slow', messages: [{ role: 'user', content: 'Mine' }] }),
      post(
        '/v1/chat/completions',
        { model: 'slow', messages: [{ role: 'user', content: 'Mine' }] },
        { authorization: `Bearer ${other}` },
      ),
    ])
    expect(slow.handled - before3).toBe(2)
  })

  it('answers an oversized body with 413 instead of dropping the connection', async () => {
    const body = JSON.stringify({
      model: 'upstream',
      messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }],
    })
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(`${server.url}/v1/chat/completions`)
      const outgoing = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume()
          resolve(response.statusCode ?? 0)
        },
      )
      outgoing.on('error', reject)
      outgoing.write(body)
      outgoing.end()
    })
    expect(status).toBe(413)
  })
})
