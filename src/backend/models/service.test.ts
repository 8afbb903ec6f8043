import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'
import type { Job, Model } from '../../shared/contract'
import { Backend } from '../backend'
import { gguf, writeGgufFile, writeTinyLlamaGguf } from '../gguf/index'

// Real node-llama-cpp (in the model worker) on tiny models the test writes; real HTTP servers on 127.0.0.1.
const root = mkdtempSync(join(tmpdir(), 'larder-models-api-'))
const fixtures = join(root, 'fixtures')
let backend: Backend
let tinyPath = ''

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function runJob(method: string, input: unknown): Promise<Job> {
  const { job } = await call<{ job: Job }>(method, input)
  return backend.runner.waitFor(job.id)
}

beforeAll(async () => {
  mkdirSync(fixtures, { recursive: true })
  tinyPath = join(fixtures, 'tiny-f32.gguf')
  await writeTinyLlamaGguf(tinyPath, { seed: 5, name: 'Tiny Test' })
  backend = Backend.open({ home: join(root, 'home'), validateOutput: true, models: { cpuOnly: true } }).start()
})

afterAll(async () => {
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

describe('model library', () => {
  it('registers a GGUF file from its header without loading weights', async () => {
    const model = await call<Model>('models.register', { path: tinyPath })
    expect(model).toMatchObject({
      name: 'tiny-f32',
      source: 'file',
      architecture: 'llama',
      contextLength: 256,
      fileType: 'ALL_F32',
      loaded: null,
      problems: [],
      summary: { tokenizerModel: 'llama', hasChatTemplate: false },
    })
    expect(model.parameterCount).toBeGreaterThan(10_000)
    expect(model.sizeBytes).toBe(statSync(tinyPath).size)
    // Registering the same file again updates it rather than duplicating it.
    expect((await call<Model>('models.register', { path: tinyPath })).id).toBe(model.id)
  })

  it('refuses a file that is not GGUF with a clear error', async () => {
    const bad = join(fixtures, 'notes.gguf')
    writeFileSync(bad, 'these are my notes, not a model')
    await expect(call('models.register', { path: bad })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/notes\.gguf is not a usable GGUF model/),
    })
    await expect(call('models.register', { path: join(fixtures, 'nope.gguf') })).rejects.toMatchObject({
      code: 'not_found',
    })
  })

  it('records a header that would abort llama.cpp and refuses to load it, without crashing anything', async () => {
    const broken = join(fixtures, 'no-ffn.gguf')
    await writeGgufFile(broken, {
      metadata: [
        ['general.architecture', gguf.string('llama')],
        ['llama.context_length', gguf.uint32(64)],
        ['llama.embedding_length', gguf.uint32(8)],
        ['llama.block_count', gguf.uint32(1)],
        ['tokenizer.ggml.model', gguf.string('llama')],
        ['tokenizer.ggml.tokens', gguf.stringArray(['<unk>', '<s>', '</s>'])],
      ],
      tensors: [],
    })
    const model = await call<Model>('models.register', { path: broken })
    expect(model.problems.some((p) => p.severity === 'error' && /feed_forward_length/.test(p.message))).toBe(true)
    await expect(call('models.load', { id: model.id })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/cannot be loaded safely.*feed_forward_length/),
    })
    await call('models.unregister', { id: model.id })
  })

  it('picks up files copied into the library folder (air-gapped installs)', async () => {
    const { libraryDir } = await call<{ libraryDir: string }>('models.list')
    copyFileSync(tinyPath, join(libraryDir, 'copied.gguf'))
    const { items } = await call<{ items: Model[] }>('models.list')
    const copied = items.find((m) => m.path === join(libraryDir, 'copied.gguf'))
    expect(copied).toMatchObject({ source: 'library' })
    const removed = await call<{ deletedFile: boolean }>('models.unregister', { id: copied!.id, deleteFile: true })
    expect(removed.deletedFile).toBe(true)
    expect(existsSync(join(libraryDir, 'copied.gguf'))).toBe(false)
  })
})

describe('loading and generating', () => {
  it(
    'loads on the CPU, generates with streaming events, and unloads',
    { timeout: workBudget({ loads: 1, processes: 1, tokens: 16 }) },
    async () => {
      const { items } = await call<{ items: Model[] }>('models.list')
      const tiny = items.find((m) => m.path === tinyPath)!
      await expect(call('models.generate', { target: { model: tiny.id }, prompt: 'x' })).rejects.toMatchObject({
        code: 'conflict',
        message: expect.stringMatching(/not loaded/),
      })
      const loaded = await call<Model>('models.load', { id: tiny.id, threads: 1, contextSize: 128 })
      expect(loaded.loaded).toMatchObject({ gpuLayers: 0, threads: 1, contextSize: 128 })
      const streamed: string[] = []
      let done = false
      const unsubscribe = backend.events.subscribe((name, payload) => {
        if (name !== 'stream.token') return
        const token = payload as { streamId: string; text: string; done: boolean }
        if (token.streamId !== 's1') return
        if (token.done) done = true
        else streamed.push(token.text)
      })
      const result = await call<{ text: string; tokensOut: number; tokensPerSecond: number }>('models.generate', {
        target: { model: tiny.id },
        prompt: 'Once upon a time',
        sampling: { maxTokens: 16, temperature: 0.7, seed: 1 },
        streamId: 's1',
      })
      unsubscribe()
      expect(result.tokensOut).toBeGreaterThan(0)
      expect(result.tokensPerSecond).toBeGreaterThan(0)
      expect(streamed.join('')).toBe(result.text)
      expect(done).toBe(true)
      await expect(call('models.generate', { target: { model: tiny.id } })).rejects.toMatchObject({
        code: 'invalid_input',
      })
      expect((await call<Model>('models.unload', { id: tiny.id })).loaded).toBeNull()
    },
  )
})

describe('token counts', () => {
  it(
    'counts the prompt of every turn of a conversation (the Playground), the same each time it is asked',
    { timeout: workBudget({ loads: 1, tokens: 64 }) },
    async () => {
      const { items } = await call<{ items: Model[] }>('models.list')
      const tiny = items.find((m) => m.path === tinyPath)!
      await call('models.load', { id: tiny.id, threads: 1, contextSize: 512 })
      type Result = { text: string; tokensIn: number; tokensOut: number }
      const ask = (messages: { role: string; content: string }[]) =>
        call<Result>('models.generate', {
          target: { model: tiny.id },
          messages,
          sampling: { maxTokens: 8, temperature: 0 },
        })
      const first = await ask([{ role: 'user', content: 'Hello there' }])
      expect(first.tokensIn).toBeGreaterThan(0)
      const history = [
        { role: 'user', content: 'Hello there' },
        { role: 'assistant', content: first.text },
        { role: 'user', content: 'And again' },
      ]
      const second = await ask(history)
      // Turn two sends the whole conversation: more prompt tokens than turn one, never 0.
      expect(second.tokensIn).toBeGreaterThan(first.tokensIn)
      expect((await ask(history)).tokensIn).toBe(second.tokensIn)
      await call('models.unload', { id: tiny.id })
    },
  )
})

describe('stopping and testing', () => {
  it(
    'stops a streamed generation on request, returning what was generated so far',
    { timeout: workBudget({ loads: 1, tokens: 200 }) },
    async () => {
      const { items } = await call<{ items: Model[] }>('models.list')
      const tiny = items.find((m) => m.path === tinyPath)!
      await call('models.load', { id: tiny.id, threads: 1, contextSize: 256 })
      let pieces = 0
      const unsubscribe = backend.events.subscribe((name, payload) => {
        if (
          name === 'stream.token' &&
          (payload as { streamId: string }).streamId === 'stop-me' &&
          (payload as { text: string }).text
        ) {
          pieces++
          if (pieces === 3) void call('models.stop', { streamId: 'stop-me' })
        }
      })
      const result = await call<{ finishReason: string; tokensOut: number }>('models.generate', {
        target: { model: tiny.id },
        prompt: 'Tell a long story',
        sampling: { maxTokens: 200, temperature: 0.9, seed: 3 },
        streamId: 'stop-me',
      })
      unsubscribe()
      expect(result.finishReason).toBe('aborted')
      expect(result.tokensOut).toBeLessThan(200)
      expect((await call<{ stopped: boolean }>('models.stop', { streamId: 'stop-me' })).stopped).toBe(false)
      await call('models.unload', { id: tiny.id })
    },
  )

  it('tests a provider connection', async () => {
    const { startFakeEndpoint } = await import('../../../test/fixtures/openai-server')
    const upstream = await startFakeEndpoint({ name: 'probe' })
    try {
      const ok = await call<{ id: number }>('providers.save', { name: 'probe', baseUrl: upstream.baseUrl, model: 'm' })
      expect(await call('providers.test', { id: ok.id })).toMatchObject({
        ok: true,
        message: expect.stringMatching(/Answered in \d+ ms/),
      })
      const down = await call<{ id: number }>('providers.save', {
        name: 'down',
        baseUrl: 'http://127.0.0.1:9/v1',
        model: 'm',
      })
      expect(await call('providers.test', { id: down.id })).toMatchObject({
        ok: false,
        message: expect.stringMatching(/cannot reach/),
      })
    } finally {
      await upstream.close()
    }
  })
})

describe('quantization job', () => {
  it(
    'quantizes to Q8_0 with progress, registers the result, and the result generates',
    { timeout: workBudget({ loads: 3, megabytes: 2, tokens: 200 }) },
    async () => {
      const { items } = await call<{ items: Model[] }>('models.list')
      const tiny = items.find((m) => m.path === tinyPath)!
      const progress: number[] = []
      const unsubscribe = backend.events.subscribe((name, payload) => {
        if (name === 'job.updated' && (payload as Job).kind === 'gguf.quantize' && (payload as Job).progress !== null) {
          progress.push((payload as Job).progress!)
        }
      })
      const job = await runJob('gguf.quantize', { id: tiny.id, type: 'Q8_0' })
      unsubscribe()
      expect(job.status).toBe('succeeded')
      const result = job.result as {
        modelId: number
        ratio: number
        quantizedTensors: number
        quality: { meanKlDivergence: number; top1Agreement: number } | null
      }
      expect(result.ratio).toBeLessThan(0.5)
      expect(result.quality!.meanKlDivergence).toBeLessThan(0.01)
      expect(result.quality!.top1Agreement).toBeGreaterThan(0.5)
      expect(result.quantizedTensors).toBeGreaterThan(0)
      expect(progress.at(-1)).toBe(1)
      const quantized = await call<Model>('models.get', { id: result.modelId })
      expect(quantized).toMatchObject({ source: 'quantized', fileType: 'MOSTLY_Q8_0', name: 'tiny-f32-Q8_0' })
      // The report stays on the quantized model (the drawer and the table read it), not only in the job's result.
      expect(quantized.quality).toMatchObject({
        meanKlDivergence: result.quality!.meanKlDivergence,
        top1Agreement: result.quality!.top1Agreement,
        originalModel: { id: tiny.id, name: tiny.name },
        text: 'sample',
      })
      expect(quantized.quality!.fileSizes!.quantized).toBe(quantized.sizeBytes)
      expect((await call<Model>('models.get', { id: tiny.id })).quality).toBeNull()
      await call('models.load', { id: quantized.id, threads: 1, contextSize: 64 })
      const out = await call<{ tokensOut: number }>('models.generate', {
        target: { model: quantized.id },
        prompt: 'Hi',
        sampling: { maxTokens: 4, temperature: 0 },
      })
      expect(out.tokensOut).toBeGreaterThan(0)
      await call('models.unload', { id: quantized.id })
      const again = await runJob('gguf.quantize', { id: tiny.id, type: 'Q8_0' })
      expect(again.status).toBe('failed')
      expect(again.error).toMatch(/already exists/)
    },
  )
})

describe('downloads', () => {
  let server: Server
  let endpoint = ''

  beforeAll(async () => {
    // A Hugging Face-shaped file server on 127.0.0.1 (with Range support, as the downloader resumes).
    server = createServer((request, response) => {
      if (!request.url?.startsWith('/acme/tiny/resolve/main/tiny-f32.gguf')) {
        response.writeHead(404)
        response.end()
        return
      }
      const size = statSync(tinyPath).size
      const range = /bytes=(\d+)-(\d*)/.exec(request.headers.range ?? '')
      const start = range ? Number(range[1]) : 0
      const end = range && range[2] ? Number(range[2]) : size - 1
      response.writeHead(range ? 206 : 200, {
        'content-length': end - start + 1,
        'accept-ranges': 'bytes',
        'content-type': 'application/octet-stream',
        ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      })
      if (request.method === 'HEAD') response.end()
      else createReadStream(tinyPath, { start, end }).pipe(response)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  })

  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )

  it('pulls an hf: URI into the library with progress and registers it', async () => {
    process.env.LARDER_HF_ENDPOINT = endpoint
    try {
      const job = await runJob('models.pull', { uri: 'hf:acme/tiny/tiny-f32.gguf', name: 'pulled-tiny' })
      expect(job.error).toBeNull()
      expect(job.status).toBe('succeeded')
      const model = await call<Model>('models.get', { id: (job.result as { modelId: number }).modelId })
      expect(model).toMatchObject({ name: 'pulled-tiny', source: 'download', sourceUri: 'hf:acme/tiny/tiny-f32.gguf' })
      expect(model.sizeBytes).toBe(statSync(tinyPath).size)
    } finally {
      delete process.env.LARDER_HF_ENDPOINT
    }
  })

  it('fails fast with a clear message when offline', async () => {
    const blocker = createTcpServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    await new Promise((resolve) => blocker.close(resolve))
    process.env.LARDER_HF_ENDPOINT = `http://127.0.0.1:${port}/`
    try {
      const started = Date.now()
      const job = await runJob('models.pull', { uri: 'hf:acme/tiny/tiny-f32.gguf', name: 'offline-tiny' })
      expect(job.status).toBe('failed')
      expect(job.error).toMatch(/Cannot reach the download server \(offline\?\).*copy the \.gguf file into/)
      expect(Date.now() - started).toBeLessThan(15_000)
    } finally {
      delete process.env.LARDER_HF_ENDPOINT
    }
  })
})

describe('quality report', () => {
  it(
    'compares a quantized model with its original as a job',
    { timeout: workBudget({ loads: 2, tokens: 128 }) },
    async () => {
      const { items } = await call<{ items: Model[] }>('models.list')
      const original = items.find((m) => m.path === tinyPath)!
      const quantized = items.find((m) => m.name === 'tiny-f32-Q8_0')!
      const job = await runJob('gguf.compare', { originalId: original.id, quantizedId: quantized.id, maxPositions: 64 })
      expect(job.status).toBe('succeeded')
      const report = job.result as {
        positions: number
        meanKlDivergence: number
        top1Agreement: number
        original: { perplexity: number; sizeBytes: number }
        quantized: { perplexity: number; sizeBytes: number }
      }
      expect(report.positions).toBe(64)
      expect(report.meanKlDivergence).toBeGreaterThanOrEqual(0)
      // Q8_0 of a small random model stays very close to the original.
      expect(report.meanKlDivergence).toBeLessThan(0.01)
      expect(report.top1Agreement).toBeGreaterThan(0.5)
      expect(report.original.perplexity).toBeGreaterThan(1)
      expect(Math.abs(report.quantized.perplexity / report.original.perplexity - 1)).toBeLessThan(0.05)
      expect(report.quantized.sizeBytes).toBeLessThan(report.original.sizeBytes)
      // The fuller comparison replaces the report kept on the quantized model.
      expect((await call<Model>('models.get', { id: quantized.id })).quality).toMatchObject({
        positions: 64,
        meanKlDivergence: report.meanKlDivergence,
        originalModel: { name: original.name },
      })
    },
  )
})

describe('model file hashes', () => {
  it('hashes a registered model in the background and records it', async () => {
    const { createHash } = await import('node:crypto')
    const { readFileSync } = await import('node:fs')
    const { items } = await call<{ items: Model[] }>('models.list')
    const tiny = items.find((m) => m.path === tinyPath)!
    const expected = createHash('sha256').update(readFileSync(tinyPath)).digest('hex')
    for (let i = 0; i < 100 && (await call<Model>('models.get', { id: tiny.id })).sha256 === null; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect((await call<Model>('models.get', { id: tiny.id })).sha256).toBe(expected)
  })
})
