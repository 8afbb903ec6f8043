/**
 * The model worker process: loads GGUF models with node-llama-cpp and serves generation, embeddings and
 * tokenization to the backend over the process IPC channel. It is the only process that touches llama.cpp.
 */
import type { Llama, LlamaContext, LlamaContextSequence, LlamaEmbeddingContext, LlamaModel } from 'node-llama-cpp'
import { BadRequestError, generateOn } from './generate'
import type {
  LoadedInfo,
  LoadOptions,
  WorkerGenerateRequest,
  WorkerGenerateResult,
  WorkerReply,
  WorkerRequest,
} from './protocol'
import type { TeacherLogprobsRequest } from './teacher-logprobs'

interface Loaded {
  model: LlamaModel
  context: LlamaContext
  free: LlamaContextSequence[]
  waiting: ((sequence: LlamaContextSequence) => void)[]
  embedding?: LlamaEmbeddingContext
  info: LoadedInfo
}

const send = (message: WorkerReply): void => {
  process.send?.(message)
}

/**
 * One Llama instance per GPU setting, kept for the worker's life. A model, its contexts and the grammars used with it
 * must all come from the same instance, so an instance is never replaced: a load with another GPU setting (or the
 * quality comparison, which runs on the CPU) gets its own, and generation uses the model's own (`model.llama`).
 */
const llamas = new Map<string, Promise<Llama>>()
let lastGpu: LoadOptions['gpu'] | undefined
const loaded = new Map<string, Loaded>()
const running = new Map<number, AbortController>()

async function getLlamaFor(gpu: LoadOptions['gpu']): Promise<Llama> {
  const key = String(gpu)
  let llama = llamas.get(key)
  if (!llama) {
    const { getLlama } = await import('node-llama-cpp')
    // Never compile or download llama.cpp at run time: offline installs rely on the prebuilt binaries.
    llama = getLlama({ gpu, build: 'never', skipDownload: true, logLevel: 'error' } as unknown as Parameters<
      typeof getLlama
    >[0])
    llamas.set(key, llama)
    llama.catch(() => llamas.delete(key))
  }
  return llama
}

/** An instance that exists already (the comparison loads its models with no GPU layers on any), else a CPU one. */
async function anyLlama(): Promise<Llama> {
  const existing = llamas.values().next().value
  return existing ?? getLlamaFor(false)
}

async function acquire(entry: Loaded): Promise<LlamaContextSequence> {
  const sequence = entry.free.pop()
  if (sequence) return sequence
  return new Promise((resolve) => entry.waiting.push(resolve))
}

function release(entry: Loaded, sequence: LlamaContextSequence): void {
  const next = entry.waiting.shift()
  if (next) next(sequence)
  else entry.free.push(sequence)
}

function entryFor(handle: string): Loaded {
  const entry = loaded.get(handle)
  if (!entry) throw new Error(`Model ${handle} is not loaded. Load it first.`)
  return entry
}

async function load(handle: string, path: string, options: LoadOptions): Promise<LoadedInfo> {
  const previous = loaded.get(handle)
  if (previous) await unload(handle)
  lastGpu = options.gpu
  const llama = await getLlamaFor(options.gpu)
  const model = await llama.loadModel({
    modelPath: path,
    gpuLayers: options.gpu === false ? 0 : options.gpuLayers === 'auto' ? 'auto' : options.gpuLayers,
  })
  const contextSize = Math.min(options.contextSize, model.trainContextSize)
  let context: LlamaContext
  try {
    context = await model.createContext({
      contextSize: contextSize * options.sequences,
      sequences: options.sequences,
      threads: options.threads,
      // A LoRA adapter applies to this context only; the base's weights stay as they are.
      ...(options.lora ? { lora: { adapters: [{ filePath: options.lora.path, scale: options.lora.scale }] } } : {}),
    })
  } catch (error) {
    await model.dispose()
    throw error
  }
  const free: LlamaContextSequence[] = []
  for (let i = 0; i < options.sequences; i++) free.push(context.getSequence())
  const info: LoadedInfo = {
    handle,
    gpuLayers: model.gpuLayers,
    contextSize,
    sequences: options.sequences,
    threads: options.threads,
    trainContextSize: model.trainContextSize,
    sizeBytes: model.size,
  }
  loaded.set(handle, { model, context, free, waiting: [], info })
  return info
}

async function unload(handle: string): Promise<void> {
  const entry = loaded.get(handle)
  if (!entry) return
  loaded.delete(handle)
  await entry.embedding?.dispose()
  await entry.context.dispose()
  await entry.model.dispose()
}

async function generate(id: number, handle: string, request: WorkerGenerateRequest): Promise<WorkerGenerateResult> {
  const entry = entryFor(handle)
  const controller = new AbortController()
  running.set(id, controller)
  const sequence = await acquire(entry)
  const started = performance.now()
  try {
    // The model's own instance: grammars made on another one are refused by llama.cpp's bindings.
    const llama = entry.model.llama
    const onText = request.stream ? (text: string) => send({ id, type: 'text', text }) : undefined
    const result = await generateOn(llama, sequence, request, controller.signal, onText)
    return { ...result, durationMs: performance.now() - started }
  } finally {
    running.delete(id)
    await sequence.clearHistory()
    release(entry, sequence)
  }
}

/** The teacher's top-k next-token log-probs on a given answer (teacher forcing), on one of the model's sequences. */
async function logprobs(handle: string, request: TeacherLogprobsRequest): Promise<unknown> {
  const entry = entryFor(handle)
  const sequence = await acquire(entry)
  try {
    const { teacherLogprobs } = await import('./teacher-logprobs')
    return await teacherLogprobs(entry.model, sequence, request)
  } finally {
    await sequence.clearHistory()
    release(entry, sequence)
  }
}

async function embed(handle: string, texts: string[]): Promise<number[][]> {
  const entry = entryFor(handle)
  entry.embedding ??= await entry.model.createEmbeddingContext({ threads: entry.info.threads })
  const vectors: number[][] = []
  for (const text of texts) vectors.push([...(await entry.embedding.getEmbeddingFor(text)).vector])
  return vectors
}

async function system(): Promise<unknown> {
  const llama = await getLlamaFor(lastGpu ?? 'auto')
  const vram = llama.gpu ? await llama.getVramState() : null
  return {
    gpu: llama.gpu,
    devices: llama.gpu ? await llama.getGpuDeviceNames() : [],
    vram: vram ? { total: vram.total, used: vram.used, free: vram.free } : null,
    cpuThreads: llama.cpuMathCores,
  }
}

async function handle(message: WorkerRequest): Promise<unknown> {
  switch (message.type) {
    case 'load':
      return load(message.handle, message.path, message.options)
    case 'unload':
      return unload(message.handle)
    case 'generate':
      return generate(message.id, message.handle, message.request)
    case 'embed':
      return embed(message.handle, message.texts)
    case 'tokenize':
      return entryFor(message.handle).model.tokenize(message.text)
    case 'system':
      return system()
    case 'compare': {
      const { compareModels } = await import('./compare')
      const llama = await anyLlama()
      return compareModels(llama, message.request, (done, total) =>
        send({ id: message.id, type: 'progress', done, total }),
      )
    }
    case 'logprobs':
      return logprobs(message.handle, message.request)
    case 'distillTokens': {
      const { evaluateTokens } = await import('../../distill/eval/token-metrics')
      return evaluateTokens(await anyLlama(), message.request, (done, total) =>
        send({ id: message.id, type: 'progress', done, total }),
      )
    }
    case 'usage':
      // maxRSS is in kilobytes on every platform Node.js runs on.
      return { maxRssBytes: process.resourceUsage().maxRSS * 1024 }
    case 'cancel':
      running.get(message.target)?.abort()
      return null
  }
}

process.on('message', (message: WorkerRequest) => {
  handle(message).then(
    (result) => send({ id: message.id, type: 'result', ok: true, result }),
    (error: unknown) =>
      send({
        id: message.id,
        type: 'result',
        ok: false,
        error: (error as Error).message ?? String(error),
        retryable: false,
        ...(error instanceof BadRequestError ? { status: error.status } : {}),
      }),
  )
})

process.on('disconnect', () => process.exit(0))
send({ type: 'ready', pid: process.pid })
