/**
 * The gateway's distillation fields over real HTTP: `logprobs`/`top_logprobs` on chat and completions from a local
 * model (real node-llama-cpp on a tiny GGUF this test writes), in OpenAI's response shapes; a clear 400 where they
 * cannot be given; and `store: true` + `metadata` marking the request log row, which a dataset's request-log source
 * then selects.
 */
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Dataset, Model } from '../../shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../../test/fixtures/openai-server'
import { tempDir, waitUntil, workBudget } from '../../../test/helpers'
import { Backend } from '../backend'
import { writeTinyLlamaGguf } from '../gguf/index'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { tokenPieces } from './dataset-material'
import { Gateway } from './gateway'

let backend: Backend
let server: RunningHttpServer
let upstream: FakeEndpoint
let key = ''

function post(path: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${server.url}/v1/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

beforeAll(
  async () => {
    const home = tempDir()
    upstream = await startFakeEndpoint({ name: 'upstream' })
    backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
    const path = join(home, 'tiny.gguf')
    await writeTinyLlamaGguf(path, { seed: 11 })
    const model = (await backend.call('models.register', { path, name: 'tiny' })) as Model
    await backend.call('models.load', { id: model.id, threads: 1, gpu: 'cpu', contextSize: 256 })
    await backend.call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm', concurrency: 2 })
    key = ((await backend.call('gateway.keys.create', { tenant: 'default' })) as { secret: string }).secret
    server = await startHttpServer({
      backend,
      port: 0,
      token: 'console-token',
      gateway: new Gateway(backend, { adminToken: 'console-token', timeoutMs: 60_000 }),
    })
  },
  workBudget({ loads: 1, processes: 1 }),
)

afterAll(async () => {
  await server.close()
  await backend.close()
  await upstream.close()
})

/** The JSON bodies of an event stream's `data:` lines, up to `[DONE]`. */
async function eventsOf(response: Response): Promise<unknown[]> {
  const text = await response.text()
  expect(text.trim().endsWith('data: [DONE]')).toBe(true)
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: {'))
    .map((block) => JSON.parse(block.slice(6)) as unknown)
}

interface ChatLogprob {
  token: string
  logprob: number
  bytes: number[]
  top_logprobs: { token: string; logprob: number; bytes: number[] }[]
}

describe('tokenPieces (a streamed answer cut at its tokens)', () => {
  const tokens = (...texts: string[]) => texts.map((token) => ({ token, logprob: -1, top: [], tailMass: 0 }))
  it('gives each token its own text, and always joins back to the answer', () => {
    expect(tokenPieces('Hello world', tokens('Hello', ' wor', 'ld'))).toEqual(['Hello', ' wor', 'ld'])
    // Half of a UTF-8 character decodes as U+FFFD, which is not in the answer: the rest goes with that token.
    const pieces = tokenPieces('a\u00e9b', tokens('a', '\ufffd', '\ufffd', 'b'))
    expect(pieces).toEqual(['a', '\u00e9b', '', ''])
    expect(pieces.join('')).toBe('a\u00e9b')
  })
})

describe('gateway log-probs', () => {
  it(
    'answers chat with logprobs/top_logprobs from a local model, in OpenAI shape',
    async () => {
      const response = await post('chat/completions', {
        model: 'tiny',
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 6,
        temperature: 0,
        logprobs: true,
        top_logprobs: 3,
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-larder-cache')).toBe('bypass')
      const body = (await response.json()) as {
        choices: { message: { content: string }; logprobs: { content: ChatLogprob[] } }[]
      }
      const content = body.choices[0]!.logprobs.content
      expect(content.length).toBeGreaterThan(0)
      for (const token of content) {
        expect(token.top_logprobs).toHaveLength(3)
        expect(token.logprob).toBeLessThanOrEqual(0)
        expect(token.bytes).toEqual([...Buffer.from(token.token, 'utf8')])
        expect(token.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(token.top_logprobs[2]!.logprob)
      }
      // Without logprobs the same request has none (and goes through the cache as usual).
      const plain = await post('chat/completions', {
        model: 'tiny',
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 6,
      })
      const plainBody = (await plain.json()) as { choices: Record<string, unknown>[] }
      expect(plainBody.choices[0]!.logprobs).toBeUndefined()
    },
    workBudget({ tokens: 50 }),
  )

  it(
    'answers legacy completions with logprobs: N (tokens, token_logprobs, top_logprobs, text_offset)',
    async () => {
      const response = await post('completions', { model: 'tiny', prompt: 'Once upon', max_tokens: 5, logprobs: 2 })
      expect(response.status).toBe(200)
      const body = (await response.json()) as {
        choices: {
          logprobs: {
            tokens: string[]
            token_logprobs: number[]
            top_logprobs: Record<string, number>[]
            text_offset: number[]
          }
        }[]
      }
      const logprobs = body.choices[0]!.logprobs
      expect(logprobs.tokens.length).toBeGreaterThan(0)
      expect(logprobs.token_logprobs).toHaveLength(logprobs.tokens.length)
      expect(logprobs.text_offset[0]).toBe(0)
      for (const top of logprobs.top_logprobs) expect(Object.keys(top).length).toBeLessThanOrEqual(2)
    },
    workBudget({ tokens: 50 }),
  )

  it('refuses logprobs where they cannot be given, with a 400 naming the parameter', async () => {
    const remote = await post('chat/completions', {
      model: 'upstream',
      messages: [{ role: 'user', content: 'x' }],
      logprobs: true,
    })
    expect(remote.status).toBe(400)
    const error = ((await remote.json()) as { error: { param: string; code: string; message: string } }).error
    expect(error).toMatchObject({ param: 'logprobs', code: 'unsupported_parameter' })
    expect(error.message).toMatch(/local models only/)
    const streamed = await post('chat/completions', {
      model: 'upstream',
      messages: [{ role: 'user', content: 'x' }],
      logprobs: true,
      stream: true,
    })
    expect(streamed.status).toBe(400)
    expect(((await streamed.json()) as { error: { param: string } }).error.param).toBe('logprobs')
    const legacy = await post('completions', { model: 'upstream', prompt: 'x', logprobs: 1, stream: true })
    expect(legacy.status).toBe(400)
    expect(((await legacy.json()) as { error: { param: string } }).error.param).toBe('logprobs')
  })

  it(
    'streams chat log-probs chunk by chunk, the same numbers as the non-streamed answer (greedy)',
    async () => {
      const body = {
        model: 'tiny',
        messages: [{ role: 'user', content: 'Tell me a story' }],
        max_tokens: 8,
        temperature: 0,
        seed: 3,
        logprobs: true,
        top_logprobs: 4,
      }
      const whole = (await (await post('chat/completions', body)).json()) as {
        choices: { message: { content: string }; logprobs: { content: ChatLogprob[] } }[]
      }
      const response = await post('chat/completions', { ...body, stream: true })
      expect(response.status).toBe(200)
      expect(response.headers.get('x-larder-cache')).toBe('bypass')
      const chunks = (await eventsOf(response)) as {
        choices: { delta: { content?: string }; logprobs?: { content: ChatLogprob[]; refusal: null } }[]
      }[]
      const withLogprobs = chunks.filter((chunk) => chunk.choices[0]?.logprobs)
      // One token per content chunk, as OpenAI streams them.
      for (const chunk of withLogprobs) expect(chunk.choices[0]!.logprobs!.content).toHaveLength(1)
      const streamedEntries = withLogprobs.flatMap((chunk) => chunk.choices[0]!.logprobs!.content)
      const expected = whole.choices[0]!.logprobs.content
      expect(expected.length).toBeGreaterThan(1)
      expect(streamedEntries).toEqual(expected)
      const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')
      expect(text).toBe(whole.choices[0]!.message.content)
    },
    workBudget({ tokens: 50 }),
  )

  it(
    'streams legacy completion log-probs per chunk (tokens, token_logprobs, top_logprobs, text_offset)',
    async () => {
      const body = { model: 'tiny', prompt: 'Once upon a', max_tokens: 6, temperature: 0, logprobs: 3 }
      type Legacy = {
        tokens: string[]
        token_logprobs: number[]
        top_logprobs: Record<string, number>[]
        text_offset: number[]
      }
      const whole = (await (await post('completions', body)).json()) as {
        choices: { text: string; logprobs: Legacy }[]
      }
      const chunks = (await eventsOf(await post('completions', { ...body, stream: true }))) as {
        choices: { text: string; logprobs: Legacy | null }[]
      }[]
      const parts = chunks.flatMap((chunk) => chunk.choices).filter((choice) => choice.logprobs)
      const joined: Legacy = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] }
      for (const part of parts) {
        expect(part.logprobs!.tokens).toHaveLength(1)
        for (const field of Object.keys(joined) as (keyof Legacy)[])
          (joined[field] as unknown[]).push(...part.logprobs![field])
      }
      const expected = whole.choices[0]!.logprobs
      expect(expected.tokens.length).toBeGreaterThan(1)
      expect(joined).toEqual(expected)
      expect(parts.map((part) => part.text).join('')).toBe(whole.choices[0]!.text)
    },
    workBudget({ tokens: 50 }),
  )
})

describe('gateway log-probs on the Responses API (official openai client)', () => {
  const client = (): OpenAI => new OpenAI({ apiKey: key, baseURL: `${server.url}/v1`, maxRetries: 0 })
  const request = {
    model: 'tiny',
    input: 'Tell me a story',
    max_output_tokens: 6,
    temperature: 0,
    include: ['message.output_text.logprobs' as const],
    top_logprobs: 2,
  }

  it(
    'gives output_text logprobs in OpenAI shape, the same numbers as chat, and streams them on each delta',
    async () => {
      const whole = await client().responses.create(request)
      const first = whole.output[0]
      const part = first?.type === 'message' ? first.content[0] : undefined
      if (part?.type !== 'output_text') throw new Error('no output_text part')
      expect(whole.top_logprobs).toBe(2)
      const logprobs = part.logprobs!
      expect(logprobs.length).toBeGreaterThan(0)
      for (const entry of logprobs) {
        expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')])
        expect(entry.top_logprobs).toHaveLength(2)
      }
      // The Responses request generates as the equivalent chat request: the same tokens, the same numbers.
      const chat = (await (
        await post('chat/completions', {
          model: 'tiny',
          messages: [{ role: 'user', content: 'Tell me a story' }],
          max_tokens: 6,
          temperature: 0,
          logprobs: true,
          top_logprobs: 2,
        })
      ).json()) as { choices: { logprobs: { content: ChatLogprob[] } }[] }
      expect(logprobs).toEqual(chat.choices[0]!.logprobs.content)

      const deltas: { token: string; logprob: number; top_logprobs?: unknown[] }[] = []
      let text = ''
      let done: unknown[] = []
      let completed: OpenAI.Responses.Response | undefined
      for await (const event of await client().responses.create({ ...request, stream: true })) {
        if (event.type === 'response.output_text.delta') {
          expect(event.logprobs).toHaveLength(1)
          deltas.push(...event.logprobs)
          text += event.delta
        }
        if (event.type === 'response.output_text.done') done = event.logprobs
        // Six tokens usually stop the answer at max_output_tokens: response.incomplete ends the stream then.
        if (event.type === 'response.completed' || event.type === 'response.incomplete') completed = event.response
      }
      const withoutBytes = logprobs.map((entry) => ({
        token: entry.token,
        logprob: entry.logprob,
        top_logprobs: entry.top_logprobs.map((top) => ({ token: top.token, logprob: top.logprob })),
      }))
      expect(deltas).toEqual(withoutBytes)
      expect(done).toEqual(withoutBytes)
      expect(text).toBe(part.text)
      const completedPart = completed?.output[0]?.type === 'message' ? completed.output[0].content[0] : undefined
      expect(completedPart).toMatchObject({ type: 'output_text', text: part.text, logprobs })

      // Without the include there are none.
      const plain = await client().responses.create({ ...request, include: [] })
      const plainFirst = plain.output[0]
      const plainPart = plainFirst?.type === 'message' ? plainFirst.content[0] : undefined
      expect(plainPart && 'logprobs' in plainPart ? plainPart.logprobs : undefined).toBeUndefined()
    },
    workBudget({ tokens: 80 }),
  )

  it('refuses them from a model that is not local, with a 400 naming include', async () => {
    const error = await client()
      .responses.create({ ...request, model: 'upstream' })
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(OpenAI.BadRequestError)
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('include')
  })
})

describe('gateway store: true', () => {
  it('marks stored requests with their metadata, and a dataset selects only those', async () => {
    const ask = (content: string, extra: Record<string, unknown>) =>
      post('chat/completions', { model: 'upstream', messages: [{ role: 'user', content }], ...extra })
    expect(
      (await ask('Where is order 1?', { store: true, metadata: { purpose: 'distill', team: 'support' } })).status,
    ).toBe(200)
    expect((await ask('Where is order 2?', { store: true })).status).toBe(200)
    expect((await ask('Where is order 3?', {})).status).toBe(200)
    const bad = await ask('Where is order 4?', { store: true, metadata: { count: 3 } })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe('metadata.count')
    const db = backend.workspace.db
    const rows = db
      .prepare(`SELECT prompt_text AS prompt, metadata FROM request_log WHERE stored = 1 ORDER BY id`)
      .all() as { prompt: string; metadata: string | null }[]
    expect(rows.map((row) => row.metadata)).toEqual(['{"purpose":"distill","team":"support"}', null])
    const namespaceId = db.prepare(`SELECT id FROM cache_namespaces WHERE name = 'default'`).pluck().get() as number
    // The unstored request reaches the log too (written behind).
    await waitUntil(
      () =>
        (db
          .prepare('SELECT count(*) FROM request_log WHERE stored = 0 AND hit_kind != ?')
          .pluck()
          .get('error') as number) >= 1,
    )
    const dataset = (await backend.call('distill.datasets.create', { name: 'stored' })) as Dataset
    const summary = (await backend.call('distill.datasets.addSource', {
      datasetId: dataset.id,
      source: { kind: 'request-log', namespaceId, mode: 'all', storedOnly: true, metadata: { purpose: 'distill' } },
    })) as { added: number }
    expect(summary.added).toBe(1)
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id })) as {
      items: { prompt: { content: string }[] }[]
    }
    expect(items[0]!.prompt[0]!.content).toBe('Where is order 1?')
  })
})
