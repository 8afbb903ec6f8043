/**
 * The Models area: the library of GGUF files (registered where they lie, or found in <home>/models, so an
 * air-gapped install only needs a file copied there), loading into the model worker, generation on local models
 * and OpenAI-compatible providers, downloads and quantization as jobs.
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, type Dirent } from 'node:fs'
import { cpus } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { z } from 'zod'
import type { LoadedModel, Model, MethodOutput, ModelQuality, ParsedInput } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { EventBus } from '../events'
import {
  checkModelFile,
  hasErrors,
  isAdapterFile,
  isGgufError,
  readGgufFile,
  summarizeGguf,
  validateLoraAdapter,
  type GgufFile,
  type GgufSummary,
  type ModelFileCheck,
} from '../gguf/index'
import type { JobKind } from '../jobs/runner'
import type { Workspace } from '../workspace/workspace'
import { ModelHost, defaultThreads } from './model-host'
import { LocalProvider } from './providers/local'
import { OpenAiCompatibleProvider } from './providers/openai-compatible'
import { ProviderError, type Provider } from './providers/types'
import { SAMPLE_EVALUATION_TEXT } from './sample-text'
import { ModelsRepository, type ModelRecord, type StoredModel } from './repository'
import type { CompareResult } from './worker/compare'
import type { TeacherLogprobsRequest, TeacherLogprobsResult } from './worker/teacher-logprobs'
import { message } from '../../shared/messages'

export const PULL_JOB = 'models.pull'
export const COMPARE_JOB = 'gguf.compare'
export const HASH_JOB = 'models.hash'

const handleFor = (id: number): string => `model:${id}`

function sanitizeName(raw: string): string {
  const cleaned = raw
    .replace(/\.gguf$/i, '')
    .replace(/[^A-Za-z0-9._:-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
  return cleaned.slice(0, 120) || 'model'
}

export interface ModelsServiceOptions {
  /** Force every load onto the CPU (tests, machines where GPU drivers misbehave); also LARDER_GPU=off. */
  cpuOnly?: boolean
  /** Mirror or proxy for Hugging Face downloads (also LARDER_HF_ENDPOINT). */
  huggingFaceEndpoint?: string
}

/** One model in a model worker of its own (ModelsService.loadIsolated). */
export interface IsolatedModel {
  provider: Provider
  baselineRssBytes: number
  peakRssBytes(): Promise<number>
  close(): Promise<void>
}

export class ModelsService {
  readonly host = new ModelHost()
  private readonly cpuOnly: boolean
  /** Called after a model is registered or its file changed (the backend queues the hash job). */
  onRegistered: ((model: Model) => void) | undefined

  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly options: ModelsServiceOptions = {},
  ) {
    this.cpuOnly = options.cpuOnly ?? process.env.LARDER_GPU === 'off'
    this.host.onWorkerExit((exit) => {
      this.events.emit('models.worker', { reason: exit.reason, lostModels: exit.lostModels })
      for (const handle of exit.lostModels) {
        const id = Number(handle.replace('model:', ''))
        if (Number.isInteger(id)) this.events.emit('models.changed', { id, removed: false })
      }
    })
  }

  private get repo(): ModelsRepository {
    return new ModelsRepository(this.workspace.db)
  }

  get libraryDir(): string {
    return this.workspace.paths.models
  }

  private withLoaded(model: StoredModel): Model {
    const info = this.host.loadedModels.find((loaded) => loaded.handle === handleFor(model.id))
    const loaded: LoadedModel | null = info
      ? {
          gpuLayers: info.gpuLayers,
          contextSize: info.contextSize,
          sequences: info.sequences,
          threads: info.threads,
          trainContextSize: info.trainContextSize,
          sizeBytes: info.sizeBytes,
        }
      : null
    return { ...model, loaded }
  }

  /** True when a model of this name is registered. */
  nameTaken(name: string): boolean {
    return this.repo.byName(name) !== undefined
  }

  private mustGet(id: number): StoredModel {
    const model = this.repo.get(id)
    if (!model) throw new ApiError({ code: 'not_found', message: `Model ${id} is not registered.`, path: ['id'] })
    return model
  }

  get(id: number): Model {
    return this.withLoaded(this.mustGet(id))
  }

  /** A full model (not a LoRA adapter), for the tools that read a model's own weights: quantize, plan, compare. */
  fullModel(id: number, path: (string | number)[] = ['id']): Model {
    const model = this.get(id)
    if (model.baseModel) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${model.name} is a LoRA adapter on ${model.baseModel.name}, not a full model; use ${model.baseModel.name} here.`,
        path,
      })
    }
    return model
  }

  /** The model's name for titles and messages; "#id" when it is not registered (any more). */
  nameOf(id: number): string {
    return this.repo.get(id)?.name ?? `#${id}`
  }

  /**
   * Reads the header (never the weights), validates it and records the model. A LoRA adapter file needs `base`, the
   * registered model it applies to, and is checked against that model's tensors before it is recorded.
   */
  async register(
    path: string,
    options: {
      name?: string | undefined
      source?: Model['source']
      sourceUri?: string | null
      base?: number | undefined
    } = {},
  ): Promise<Model> {
    const file = resolve(path)
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new ApiError({ code: 'not_found', message: `No file at ${file}.`, path: ['path'] })
    }
    const existing = this.repo.byPath(file)
    const parsed = await readHeader(file)
    const baseId = options.base ?? existing?.baseModel?.id
    const header =
      parsed && isAdapterFile(parsed)
        ? await this.adapterHeader(file, parsed, baseId)
        : this.modelHeader(file, await checkModelFile(file), options.base)
    const name = this.nameFor(file, existing, options.name)
    const stats = statSync(file)
    const model = this.repo.upsert({
      name,
      path: file,
      source: existing?.source ?? options.source ?? 'file',
      sourceUri: existing?.sourceUri ?? options.sourceUri ?? null,
      sizeBytes: stats.size,
      fileModifiedAt: stats.mtime.toISOString(),
      ...header,
    })
    this.events.emit('models.changed', { id: model.id, removed: false })
    const registered = this.withLoaded(model)
    if (registered.sha256 === null) this.onRegistered?.(registered)
    return registered
  }

  /** Operators recognise their files by name; general.name is often shared by every quantization of a model. */
  private nameFor(file: string, existing: StoredModel | undefined, wanted: string | undefined): string {
    if (existing) return existing.name
    const repo = this.repo
    let name = wanted ?? sanitizeName(basename(file))
    if (repo.byName(name) && wanted) {
      throw new ApiError({
        code: 'conflict',
        message: `A model named "${name}" is already registered.`,
        path: ['name'],
      })
    }
    for (let suffix = 2; repo.byName(name); suffix++) name = `${sanitizeName(basename(file))}-${suffix}`
    return name
  }

  private modelHeader(file: string, check: ModelFileCheck, base: number | undefined): HeaderRecord {
    if (!check.file) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${basename(file)} is not a usable GGUF model: ${check.problems.map((p) => p.message).join('; ')}`,
        path: ['path'],
      })
    }
    if (base !== undefined) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${basename(file)} is not a LoRA adapter (its general.type is not "adapter"); register a full model without a base.`,
        path: ['base'],
      })
    }
    const summary = summarizeGguf(check.file)
    return {
      architecture: summary.architecture ?? null,
      parameterCount: summary.parameterCount,
      contextLength: summary.contextLength ?? null,
      fileType: summary.fileType ?? null,
      summary: summaryRecord(summary),
      problems: check.problems.map(({ severity, code, message }) => ({ severity, code, message })),
      baseModelId: null,
    }
  }

  /** An adapter's record, after checking it against its base's tensors (llama.cpp would abort or refuse otherwise). */
  private async adapterHeader(file: string, adapter: GgufFile, baseId: number | undefined): Promise<HeaderRecord> {
    if (baseId === undefined) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${basename(file)} is a LoRA adapter, not a model: register it with the model it applies to (base).`,
        path: ['base'],
      })
    }
    const { base, problems, info } = await this.checkAdapter(file, adapter, baseId)
    const summary = summarizeGguf(adapter)
    return {
      architecture: info.architecture,
      parameterCount: info.parameterCount,
      contextLength: base.contextLength,
      fileType: `LoRA rank ${info.rank}${info.alpha === null ? '' : `, alpha ${info.alpha}`}`,
      // Tokenizer, chat template and shape are the base's: llama.cpp serves the adapter with them.
      summary: {
        ...base.summary,
        tensorTypeCounts: summary.tensorTypeCounts as Record<string, number>,
        parameterCountsByType: summary.parameterCountsByType as Record<string, number>,
        fileTypeSource: summary.fileTypeSource,
        ggufVersion: summary.version,
      },
      problems: problems.map(({ severity, code, message }) => ({ severity, code, message })),
      baseModelId: base.id,
    }
  }

  private async checkAdapter(file: string, adapter: GgufFile, baseId: number) {
    const base = this.repo.get(baseId)
    if (!base) throw new ApiError({ code: 'not_found', message: `Model ${baseId} is not registered.`, path: ['base'] })
    if (base.baseModel) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${base.name} is itself a LoRA adapter; an adapter applies to a full model.`,
        path: ['base'],
      })
    }
    const baseFile = await readHeader(base.path)
    if (!baseFile)
      throw new ApiError({ code: 'invalid_input', message: `${base.name} cannot be read.`, path: ['base'] })
    const { problems, info } = validateLoraAdapter(adapter, baseFile)
    if (!info) {
      const errors = problems.filter((p) => p.severity === 'error').map((p) => p.message)
      throw new ApiError({
        code: 'invalid_input',
        message: `${basename(file)} does not fit ${base.name}: ${errors.join('; ')}`,
        path: ['path'],
      })
    }
    return { base, problems, info }
  }

  /** Registers new or changed .gguf files in the folder (default: the library) and reports vanished ones. */
  async scan(dir = this.libraryDir): Promise<MethodOutput<'models.scan'>> {
    mkdirSync(this.libraryDir, { recursive: true })
    if (dir !== this.libraryDir) {
      if (!existsSync(dir))
        throw new ApiError({ code: 'not_found', message: `There is no folder at ${dir}.`, path: ['dir'] })
      if (!statSync(dir).isDirectory())
        throw new ApiError({
          code: 'invalid_input',
          message: `${dir} is a file; scan the folder that holds it, or register the file itself.`,
          path: ['dir'],
        })
    }
    const added: Model[] = []
    const updated: Model[] = []
    const files = listGgufFiles(dir)
    const repo = this.repo
    for (const file of files) {
      const known = repo.byPath(file)
      const stats = statSync(file)
      if (known && known.sizeBytes === stats.size && known.fileModifiedAt === stats.mtime.toISOString()) continue
      if (/\.partial$|\.ipull$/.test(file)) continue
      try {
        const model = await this.register(file, { source: 'library' })
        ;(known ? updated : added).push(model)
      } catch {
        // An unreadable file in the folder is not the operator's request; it shows up when registered by hand.
      }
    }
    const missing = repo
      .list()
      .filter((model) => !existsSync(model.path))
      .map((model) => model.name)
    return { added, updated, missing }
  }

  async list(): Promise<MethodOutput<'models.list'>> {
    await this.scan()
    return { items: this.repo.list().map((model) => this.withLoaded(model)), libraryDir: this.libraryDir }
  }

  async unregister(id: number, deleteFile: boolean): Promise<{ deletedFile: boolean }> {
    const model = this.mustGet(id)
    const adapters = this.repo.adaptersOf(id)
    if (adapters.length > 0) {
      throw new ApiError({
        code: 'conflict',
        message: `${model.name} is the base of the LoRA adapters ${adapters.map((a) => a.name).join(', ')}; remove them first.`,
        path: ['id'],
      })
    }
    await this.host.unload(handleFor(id)).catch(() => undefined)
    this.repo.remove(id)
    let deletedFile = false
    if (deleteFile && existsSync(model.path)) {
      rmSync(model.path)
      deletedFile = true
    }
    this.events.emit('models.changed', { id, removed: true })
    return { deletedFile }
  }

  /** Checks the files again, then loads the model (an adapter: its base, with the adapter) on `host`. */
  private async loadOn(host: ModelHost, model: StoredModel, input: ParsedInput<'models.load'>): Promise<void> {
    // Check again right before llama.cpp sees the files: some malformed headers abort the process.
    const { path, lora, contextLength } = await this.loadableFiles(model)
    const cpu = this.cpuOnly || input.gpu === 'cpu'
    try {
      await host.load(handleFor(model.id), path, {
        gpu: cpu ? false : 'auto',
        gpuLayers: cpu ? 0 : (input.gpuLayers ?? 'auto'),
        contextSize: input.contextSize ?? Math.min(4096, contextLength ?? 4096),
        ...(lora ? { lora } : {}),
        sequences: input.sequences ?? 1,
        threads: input.threads ?? defaultThreads(),
      })
    } catch (error) {
      // llama.cpp refused the file, or aborted the worker on it: the same clear error as during generation.
      if (error instanceof ProviderError) {
        throw new ApiError({
          code: error.retryable ? 'unavailable' : 'invalid_input',
          message: `${model.name} could not be loaded: ${error.message}`,
          path: ['id'],
        })
      }
      throw error
    }
  }

  async load(input: ParsedInput<'models.load'>): Promise<Model> {
    const model = this.mustGet(input.id)
    await this.loadOn(this.host, model, input)
    this.events.emit('models.changed', { id: model.id, removed: false })
    return this.get(model.id)
  }

  /**
   * A model loaded alone in a fresh model worker of its own (never the shared one), to measure it: `baselineRssBytes`
   * is that worker's peak RSS before the load (the Node.js runtime and the worker's code, llama.cpp not yet loaded);
   * `peakRssBytes()` its peak RSS so far (what loading and using this one model added). `close()` stops the worker.
   */
  async loadIsolated(input: ParsedInput<'models.load'>): Promise<IsolatedModel> {
    const model = this.mustGet(input.id)
    const host = new ModelHost()
    try {
      const baselineRssBytes = (await host.usage()).maxRssBytes
      await this.loadOn(host, model, input)
      return {
        provider: new LocalProvider(`local:${model.name}`, host, handleFor(model.id)),
        baselineRssBytes,
        peakRssBytes: async () => (await host.usage()).maxRssBytes,
        close: () => host.stop(),
      }
    } catch (error) {
      await host.stop()
      throw error
    }
  }

  /** The file llama.cpp loads (an adapter's base) and the adapter applied to its context, both checked now. */
  private async loadableFiles(model: StoredModel): Promise<{
    path: string
    lora?: { path: string; scale: number }
    contextLength: number | null
  }> {
    const base = model.baseModel ? this.mustGet(model.baseModel.id) : model
    for (const file of [model, base]) {
      if (!existsSync(file.path)) {
        throw new ApiError({ code: 'not_found', message: `The file of ${file.name} is gone: ${file.path}.` })
      }
    }
    const check = await checkModelFile(base.path)
    if (!check.file || hasErrors(check.problems)) {
      const errors = check.problems.filter((p) => p.severity === 'error').map((p) => p.message)
      throw new ApiError({
        code: 'invalid_input',
        message: `${base.name} cannot be loaded safely: ${errors.join('; ')}`,
        path: ['id'],
      })
    }
    if (base === model) return { path: model.path, contextLength: model.contextLength }
    const adapter = await readHeader(model.path)
    if (!adapter) throw new ApiError({ code: 'invalid_input', message: `${model.name} cannot be read.`, path: ['id'] })
    await this.checkAdapter(model.path, adapter, base.id)
    return { path: base.path, lora: { path: model.path, scale: 1 }, contextLength: base.contextLength }
  }

  async unload(id: number): Promise<Model> {
    this.mustGet(id)
    await this.host.unload(handleFor(id))
    this.events.emit('models.changed', { id, removed: false })
    return this.get(id)
  }

  async system(probeGpu: boolean): Promise<MethodOutput<'models.system'>> {
    const logicalCores = cpus().length
    const base = {
      workerRunning: this.host.workerPid !== undefined,
      defaultThreads: defaultThreads(logicalCores),
      logicalCores,
    }
    if (!probeGpu) return { ...base, gpu: null }
    if (this.cpuOnly) return { ...base, gpu: { type: false, devices: [], vram: null } }
    const info = await this.host.system()
    return { ...base, workerRunning: true, gpu: { type: info.gpu, devices: info.devices, vram: info.vram } }
  }

  /** The provider for a generation target: a loaded local model, or a configured endpoint. */
  providerFor(target: ParsedInput<'models.generate'>['target']): { provider: Provider; concurrency: number } {
    if ('model' in target) {
      const model = this.mustGet(target.model)
      const loaded = this.host.loadedModels.find((info) => info.handle === handleFor(model.id))
      if (!loaded) {
        throw ApiError.of('conflict', message('error.modelNotLoaded', { model: model.name }))
      }
      return {
        provider: new LocalProvider(`local:${model.name}`, this.host, handleFor(model.id)),
        concurrency: loaded.sequences,
      }
    }
    const config = this.repo.getProvider(target.provider)
    if (!config) throw new ApiError({ code: 'not_found', message: `Provider ${target.provider} does not exist.` })
    return {
      provider: new OpenAiCompatibleProvider({
        id: config.name,
        baseUrl: config.baseUrl,
        model: config.model,
        ...(config.apiKey ? { apiKey: config.apiKey } : {}),
      }),
      concurrency: config.concurrency,
    }
  }

  /** A loaded local model's top-k next-token log-probs on a given answer (teacher forcing in the worker). */
  teacherLogprobs(id: number, request: TeacherLogprobsRequest): Promise<TeacherLogprobsResult> {
    const model = this.mustGet(id)
    if (!this.host.loadedModels.some((info) => info.handle === handleFor(model.id))) {
      throw new ApiError({ code: 'conflict', message: `${model.name} is not loaded. Load it first.` })
    }
    return this.host.teacherLogprobs(handleFor(model.id), request)
  }

  private readonly generations = new Map<string, AbortController>()

  /** Stops a streamed generation started with this stream id (the Playground's Stop button). */
  stop(streamId: string): boolean {
    const controller = this.generations.get(streamId)
    controller?.abort(new Error('Stopped by the operator.'))
    return controller !== undefined
  }

  /** A one-token request to a provider: reachable, authorised, and how fast. */
  async testProvider(id: number): Promise<MethodOutput<'providers.test'>> {
    const { provider } = this.providerFor({ provider: id })
    const started = performance.now()
    try {
      const result = await provider.generate({
        messages: [{ role: 'user', content: 'Say OK.' }],
        maxTokens: 1,
        temperature: 0,
      })
      return {
        ok: true,
        latencyMs: performance.now() - started,
        message: `Answered in ${Math.round(performance.now() - started)} ms: "${result.text.slice(0, 40)}"`,
      }
    } catch (error) {
      return { ok: false, latencyMs: performance.now() - started, message: (error as Error).message }
    }
  }

  async generate(input: ParsedInput<'models.generate'>): Promise<MethodOutput<'models.generate'>> {
    const { provider } = this.providerFor(input.target)
    const streamId = input.streamId
    const controller = new AbortController()
    if (streamId) this.generations.set(streamId, controller)
    try {
      const result = await provider.generate({
        signal: controller.signal,
        ...input.sampling,
        ...(input.prompt !== undefined ? { prompt: input.prompt } : {}),
        ...(input.messages ? { messages: input.messages } : {}),
        ...(input.jsonSchema ? { jsonSchema: input.jsonSchema } : {}),
        ...(streamId
          ? { onText: (text: string) => this.events.emit('stream.token', { streamId, text, done: false }) }
          : {}),
      })
      const { toolCalls: _toolCalls, ...rest } = result
      return {
        ...rest,
        // No tools are offered here, so no call can end the answer.
        finishReason: result.finishReason === 'tool_calls' ? 'stop' : result.finishReason,
        tokensPerSecond: result.durationMs > 0 ? (result.tokensOut * 1000) / result.durationMs : 0,
      }
    } catch (error) {
      if (error instanceof ProviderError) {
        throw new ApiError({ code: error.retryable ? 'unavailable' : 'invalid_input', message: error.message })
      }
      throw error
    } finally {
      if (streamId) {
        this.generations.delete(streamId)
        this.events.emit('stream.token', { streamId, text: '', done: true })
      }
    }
  }

  pullJob(): JobKind<{ uri: string; name?: string | undefined }> {
    return {
      kind: PULL_JOB,
      params: z.object({ uri: z.string(), name: z.string().optional() }),
      // The downloader keeps the partial file; a resumed job continues where it stopped.
      resumable: true,
      title: (params) => message('job.download', { uri: params.uri }),
      run: async (context) => {
        const { uri, name } = context.params
        mkdirSync(this.libraryDir, { recursive: true })
        const { createModelDownloader } = await import('node-llama-cpp')
        const endpoint = this.options.huggingFaceEndpoint ?? process.env.LARDER_HF_ENDPOINT
        const isHf = uri.startsWith('hf:')
        if (!isHf && !/^https?:\/\//.test(uri)) throw new Error(`"${uri}" is neither an hf: URI nor an http(s) URL.`)
        context.progress(0, 'Connecting')
        // The downloader retries for a long time on a dead network; ask the server once first, so offline fails fast.
        await assertReachable(isHf ? (endpoint ?? 'https://huggingface.co/') : new URL(uri).origin, this.libraryDir)
        let downloader: Awaited<ReturnType<typeof createModelDownloader>>
        try {
          downloader = await createModelDownloader({
            ...(isHf ? { modelUri: uri } : { modelUrl: uri }),
            dirPath: this.libraryDir,
            skipExisting: true,
            deleteTempFileOnCancel: false,
            ...(endpoint ? { endpoints: { huggingFace: endpoint } } : {}),
            onProgress: ({ totalSize, downloadedSize }) => {
              context.progress(
                totalSize > 0 ? downloadedSize / totalSize : null,
                `${formatBytes(downloadedSize)} of ${formatBytes(totalSize)}`,
              )
            },
          })
        } catch (error) {
          throw new Error(offlineMessage(error, this.libraryDir), { cause: error })
        }
        const cancel = (): void => void downloader.cancel({ deleteTempFile: false })
        context.signal.addEventListener('abort', cancel)
        try {
          await downloader.download({ signal: context.signal } as never)
        } catch (error) {
          context.throwIfAborted()
          throw new Error(offlineMessage(error, this.libraryDir), { cause: error })
        } finally {
          context.signal.removeEventListener('abort', cancel)
        }
        context.throwIfAborted()
        const model = await this.register(downloader.entrypointFilePath, { name, source: 'download', sourceUri: uri })
        return { modelId: model.id, name: model.name, path: model.path, bytes: model.sizeBytes }
      },
    }
  }

  hashJob(): JobKind<{ id: number }> {
    return {
      kind: HASH_JOB,
      params: z.object({ id: z.int() }),
      resumable: true,
      title: (params) => message('job.hash', { model: this.nameOf(params.id) }),
      run: async (context) => {
        const model = this.repo.get(context.params.id)
        if (!model) return { skipped: 'the model was removed' }
        if (model.sha256) return { sha256: model.sha256 }
        const hash = createHash('sha256')
        let done = 0
        const stream = createReadStream(model.path, { highWaterMark: 4 * 1024 * 1024, signal: context.signal })
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          hash.update(chunk)
          done += chunk.length
          context.progress(
            done / Math.max(1, model.sizeBytes),
            `${formatBytes(done)} of ${formatBytes(model.sizeBytes)}`,
          )
        }
        const sha256 = hash.digest('hex')
        if (!this.repo.setHash(model.id, sha256, model.fileModifiedAt))
          return { skipped: 'the file changed while it was hashed' }
        this.events.emit('models.changed', { id: model.id, removed: false })
        return { sha256 }
      },
    }
  }

  compareJob(): JobKind<{ originalId: number; quantizedId: number; text?: string | undefined; maxPositions: number }> {
    return {
      kind: COMPARE_JOB,
      params: z.object({
        originalId: z.int(),
        quantizedId: z.int(),
        text: z.string().max(1_000_000).optional(),
        maxPositions: z.int().min(8).max(100_000).default(512),
      }),
      resumable: true,
      title: (params) =>
        message('job.compare', {
          quantized: this.nameOf(params.quantizedId),
          original: this.nameOf(params.originalId),
        }),
      run: async (context) => {
        const original = this.mustGet(context.params.originalId)
        const quantized = this.mustGet(context.params.quantizedId)
        const report = await this.host.compare(
          {
            originalPath: original.path,
            quantizedPath: quantized.path,
            text: context.params.text ?? SAMPLE_EVALUATION_TEXT,
            maxPositions: context.params.maxPositions,
            contextSize: Math.min(4096, context.params.maxPositions + 16),
            threads: defaultThreads(),
          },
          (done, total) => context.progress(done / total, `Scoring ${done} of ${total} tokens`),
        )
        this.recordQuality(quantized.id, original, report, {
          fileSizes: { original: original.sizeBytes, quantized: quantized.sizeBytes },
          text: context.params.text ? 'custom' : 'sample',
        })
        return { originalName: original.name, quantizedName: quantized.name, ...report }
      },
    }
  }

  /** Keeps a comparison's report on the quantized model, so it outlives the job (details drawer, models table). */
  recordQuality(
    modelId: number,
    original: { id: number; name: string },
    report: CompareResult,
    extra: Pick<ModelQuality, 'fileSizes' | 'text'>,
  ): void {
    const quality: ModelQuality = {
      ...report,
      originalModel: { id: original.id, name: original.name },
      ...extra,
      measuredAt: new Date().toISOString(),
    }
    if (this.repo.setQuality(modelId, quality)) this.events.emit('models.changed', { id: modelId, removed: false })
  }

  async close(): Promise<void> {
    await this.host.stop()
  }
}

type HeaderRecord = Pick<
  ModelRecord,
  'architecture' | 'parameterCount' | 'contextLength' | 'fileType' | 'summary' | 'problems' | 'baseModelId'
>

function summaryRecord(summary: GgufSummary): Model['summary'] {
  return {
    tensorTypeCounts: summary.tensorTypeCounts as Record<string, number>,
    parameterCountsByType: summary.parameterCountsByType as Record<string, number>,
    fileTypeSource: summary.fileTypeSource,
    tokenizerModel: summary.tokenizerModel ?? null,
    vocabularySize: summary.vocabularySize ?? null,
    hasChatTemplate: summary.hasChatTemplate,
    embeddingLength: summary.embeddingLength ?? null,
    blockCount: summary.blockCount ?? null,
    ggufVersion: summary.version,
  }
}

/** The parsed header, or undefined when the file is no GGUF at all (checkModelFile says why). */
async function readHeader(path: string): Promise<GgufFile | undefined> {
  try {
    return await readGgufFile(path)
  } catch (caught) {
    if (isGgufError(caught)) return undefined
    throw caught
  }
}

function listGgufFiles(dir: string, depth = 0): string[] {
  const found: string[] = []
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return found // An unreadable subfolder is skipped, like an unreadable file.
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    // Dot-folders are Larder's own scratch space (a type comparison's temporary files), never models to register.
    if (entry.isDirectory() && depth < 3 && !entry.name.startsWith('.')) found.push(...listGgufFiles(path, depth + 1))
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.gguf')) found.push(path)
  }
  return found.sort()
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  const exponent = Math.min(units.length - 1, Math.floor(Math.log(bytes) / Math.log(1024)))
  return `${(bytes / 1024 ** exponent).toFixed(exponent === 0 ? 0 : 1)} ${units[exponent]}`
}

async function assertReachable(url: string, libraryDir: string): Promise<void> {
  try {
    await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(10_000), redirect: 'manual' })
  } catch (error) {
    throw new Error(offlineMessage(error, libraryDir), { cause: error })
  }
}

function offlineMessage(error: unknown, libraryDir: string): string {
  const text =
    error instanceof Error ? `${error.message} ${(error.cause as Error | undefined)?.message ?? ''}` : String(error)
  if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|fetch failed|network|getaddrinfo|timeout|aborted/i.test(text)) {
    return `Cannot reach the download server (offline?): ${text.trim()}. On an offline machine, copy the .gguf file into ${libraryDir}; Larder picks it up.`
  }
  return `Download failed: ${text.trim()}`
}
