/**
 * One training run inside the trainer worker: load the student through llama.cpp, tokenize and window the data with
 * the student's own tokenizer, then train window by window with llama.cpp's optimizer (AdamW), scoring the validation
 * windows and held-out answers after every epoch and writing a checkpoint GGUF.
 *
 * Each window goes through `llama_opt_epoch` on a one-window dataset, so control comes back between steps: for the
 * loss of every step, a NaN check, a stop request, and a learning rate that llama.cpp asks for per optimizer step.
 */
import { cpus, freemem, totalmem } from 'node:os'
import { join } from 'node:path'
import { readGgufFile, type GgufFile } from '../../gguf/index'
import { formatPlain, type ChatExample, type ChatMessage, type DatasetProblem } from '../data'
import { isTrainable } from '../layers'
import { findLlamaLibraries, LibrariesUnavailableError } from '../native/bins'
import { LlamaNative, OPTIMIZER_ADAMW, type OptimizerParams } from '../native/llama'
import { learningRateAt } from '../schedule'
import { epochOrder, packWindows, sliceWindows, strideWindows, windowAt, type TokenWindows } from '../windows'
import { writeCheckpoint } from './checkpoint'
import { Decoder } from './decoder'
import type {
  AnswerSample,
  CheckpointInfo,
  EpochStats,
  PreparedInfo,
  TrainerFailureCode,
  TrainOutcome,
  TrainPoint,
  TrainRequest,
  WorkerToParent,
} from './protocol'
import { emptyTrainPoint } from './protocol'

type Pointer = unknown

export class TrainingFailure extends Error {
  constructor(
    readonly code: TrainerFailureCode,
    message: string,
    readonly step?: number,
  ) {
    super(message)
  }
}

export class StopRequested extends Error {}

export interface SessionHooks {
  send(message: WorkerToParent): void
  stopRequested(): boolean
}

interface Formatter {
  name: string
  format(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string
}

interface PreparedAnswer {
  example: ChatExample
  tokens: Int32Array
  answerStart: number
}

interface PreparedData {
  train: TokenWindows
  val: TokenWindows
  answers: PreparedAnswer[]
  skipped: DatasetProblem[]
  trainExamples: number
  valExamples: number
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function loadNative(gpu: boolean, log: (message: string) => void): LlamaNative {
  const errors: string[] = []
  for (const libraries of findLlamaLibraries({ gpu })) {
    try {
      const native = new LlamaNative(libraries)
      native.checkLayout()
      native.init()
      if (errors.length > 0) log(`Using ${libraries.packageName} (${errors.join('; ')}).`)
      return native
    } catch (error) {
      errors.push(`${libraries.packageName}: ${(error as Error).message}`)
    }
  }
  throw new LibrariesUnavailableError(`No llama.cpp build could be loaded: ${errors.join('; ')}`)
}

/** AdamW state and gradients are three more copies of the trained weights; activations come on top. */
function checkMemory(file: GgufFile, request: TrainRequest): void {
  const weights = file.tensors.reduce((sum, tensor) => sum + tensor.byteSize, 0)
  const estimate = weights * 4 + request.context * 1024 * 1024
  if (estimate > totalmem() * 0.9) {
    throw new TrainingFailure(
      'memory',
      `Training this student needs about ${(estimate / 2 ** 30).toFixed(1)} GiB (weights, gradients and AdamW state), more than this machine has (${(totalmem() / 2 ** 30).toFixed(1)} GiB). Train only the last blocks (--layers last:N) or pick a smaller student.`,
    )
  }
  if (estimate > freemem()) {
    throw new TrainingFailure(
      'memory',
      `Training this student needs about ${(estimate / 2 ** 30).toFixed(1)} GiB and only ${(freemem() / 2 ** 30).toFixed(1)} GiB are free. Close other programs or unload models, or train only the last blocks.`,
    )
  }
}

export class TrainingSession {
  private native!: LlamaNative
  private model: Pointer
  private context: Pointer
  private vocab: Pointer
  private file!: GgufFile
  private vocabularySize = 0
  private eos = 2
  private readonly trained = new Map<string, Pointer>()
  private optimizerStep: number
  private currentLr = 0
  private callbacks: Pointer[] = []
  private decoder: Decoder | undefined
  private results: Pointer[] = []
  private datasets: Pointer[] = []

  constructor(
    private readonly request: TrainRequest,
    private readonly hooks: SessionHooks,
  ) {
    this.optimizerStep = request.startStep
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.hooks.send({ type: 'log', level, message })
  }

  async run(): Promise<TrainOutcome> {
    const request = this.request
    this.file = await readGgufFile(request.studentPath)
    checkMemory(this.file, request)
    this.native = loadNative(request.gpuLayers > 0, (message) => this.log('info', message))
    this.model = this.native.loadModel(request.studentPath, request.gpuLayers)
    this.context = this.native.createContext(this.model, request)
    const actualContext = this.native.call<number>('llama_n_ctx', this.context)
    if (actualContext !== request.context) {
      throw new TrainingFailure(
        'data',
        `llama.cpp made a context of ${actualContext} tokens for the requested ${request.context}; use a multiple of 256.`,
      )
    }
    this.vocab = this.native.call('llama_model_get_vocab', this.model)
    this.vocabularySize = this.native.call<number>('llama_vocab_n_tokens', this.vocab)
    this.eos = this.native.call<number>('llama_vocab_eos', this.vocab)
    const formatter = this.formatter()
    const data = this.prepareData(formatter)
    this.warmUpThreads()
    this.initOptimizer()
    const stepsPerWindow = request.context / request.batch
    const plannedSteps = request.epochs * data.train.count * stepsPerWindow
    const totalSteps = Math.min(plannedSteps, request.maxSteps ?? Infinity)
    const trainableParameters = [...this.trained.values()].reduce<number>(
      (sum, tensor) => sum + this.native.call<number>('ggml_nbytes', tensor) / 4,
      0,
    )
    const info: PreparedInfo = {
      formatting: request.format === 'text' ? 'plain text' : formatter.name,
      trainExamples: data.trainExamples,
      valExamples: data.valExamples,
      trainTokens: data.train.streamTokens,
      valTokens: data.val.streamTokens,
      trainWindows: data.train.count,
      valWindows: data.val.count,
      skipped: data.skipped,
      parameters: this.file.tensors.reduce((sum, tensor) => sum + tensor.elementCount, 0),
      trainableParameters,
      trainedTensors: this.trained.size,
      stepsPerEpoch: data.train.count * stepsPerWindow,
      totalSteps,
      libraries: `${this.native.libraries.packageName} (${this.native.libraries.gpu || 'CPU'})`,
    }
    this.hooks.send({ type: 'prepared', info })
    this.decoder = new Decoder(this.native, this.context, this.vocabularySize, request.batch, request.context)
    return this.train(data, totalSteps)
  }

  private formatter(): Formatter {
    const template = this.native.call<string | null>('llama_model_chat_template', this.model, null)
    if (template && this.native.applyChatTemplate(template, [{ role: 'user', content: 'x' }], true) !== undefined) {
      return {
        name: 'the student’s chat template',
        format: (messages, addGenerationPrompt) =>
          this.native.applyChatTemplate(template, messages, addGenerationPrompt) ?? formatPlain(messages, false),
      }
    }
    if (template) this.log('warn', 'llama.cpp does not know the student’s chat template; using the plain template.')
    return { name: 'the plain template (System:/User:/Assistant: lines)', format: formatPlain }
  }

  private tokenize(text: string): Int32Array {
    const tokens = this.native.tokenize(this.vocab, text, true)
    const withEos = new Int32Array(tokens.length + 1)
    withEos.set(tokens)
    withEos[tokens.length] = this.eos
    return withEos
  }

  /** llama.cpp finetune's layout (see TrainRequest.layout), for the benchmark. */
  private finetuneLayout(valSplit: number): PreparedData {
    const { request } = this
    const text = request.examples.map((example) => (example.kind === 'text' ? example.text : '')).join('')
    const stream = this.native.tokenize(this.vocab, text, true)
    const all = strideWindows(stream, request.context, request.context / 2)
    // idata_split = ndata * (1.0f - val_split), in float as finetune.cpp computes it.
    const split = Math.floor(Math.fround(all.count * Math.fround(1 - Math.fround(valSplit))))
    return {
      train: sliceWindows(all, 0, split),
      val: sliceWindows(all, split, all.count),
      answers: [],
      skipped: [],
      trainExamples: 1,
      valExamples: 0,
    }
  }

  private prepareData(formatter: Formatter): PreparedData {
    const { request } = this
    if (request.layout?.kind === 'finetune') return this.finetuneLayout(request.layout.valSplit)
    const train: Int32Array[] = []
    const val: Int32Array[] = []
    const answers: PreparedAnswer[] = []
    const skipped: DatasetProblem[] = []
    let tooLong = 0
    let shortest = Infinity
    for (const example of request.examples) {
      let tokens: Int32Array
      if (example.kind === 'text') {
        tokens = this.tokenize(example.text)
      } else {
        const last = example.messages.map((message) => message.role).lastIndexOf('assistant')
        const conversation = example.messages.slice(0, last + 1)
        tokens = this.tokenize(formatter.format(conversation, false))
        shortest = Math.min(shortest, tokens.length)
        if (tokens.length > request.context + 1) {
          tooLong++
          skipped.push({
            line: example.line,
            message: `Line ${example.line} is ${tokens.length} tokens, longer than the context of ${request.context}; it was left out.`,
          })
          continue
        }
        if (example.split === 'val' && answers.length < request.answerExamples) {
          const prompt = this.native.tokenize(this.vocab, formatter.format(conversation.slice(0, -1), true), true)
          let answerStart = 0
          while (answerStart < prompt.length && prompt[answerStart] === tokens[answerStart]) answerStart++
          answers.push({ example, tokens, answerStart })
        }
      }
      ;(example.split === 'val' ? val : train).push(tokens)
    }
    if (train.length === 0) {
      throw new TrainingFailure(
        'data',
        tooLong > 0
          ? `The context of ${request.context} tokens is too small for any training example (the shortest is ${shortest} tokens). Raise the context (a multiple of 256) or shorten the examples.`
          : 'No training examples are left after the validation split; add more examples.',
      )
    }
    const stride = request.stride ?? request.context
    return {
      train: packWindows(train, request.context, stride),
      val: packWindows(val, request.context, request.context),
      answers,
      skipped,
      trainExamples: train.length,
      valExamples: val.length,
    }
  }

  /** Without one decode first, ggml's optimizer graph runs on its default of 4 threads, whatever was asked. */
  private warmUpThreads(): void {
    const bos = this.native.call<number>('llama_vocab_bos', this.vocab)
    const decoder = new Decoder(this.native, this.context, this.vocabularySize, 1, this.request.context)
    decoder.greedy(Int32Array.of(bos >= 0 ? bos : 0), 0, -1)
    decoder.free()
  }

  private initOptimizer(): void {
    const { request } = this
    const blockCount = this.native.call<number>('llama_model_n_layer', this.model)
    const filter = this.native.registerParamFilter((tensor) => {
      const name = this.native.call<string>('ggml_get_name', tensor)
      const keep = isTrainable(name, request.layers, blockCount)
      if (keep) this.trained.set(name, tensor)
      return keep
    })
    const defaults = this.native.defaultOptimizerParams()
    const totalPlanned = () => this.totalStepsForSchedule
    const parameters = this.native.registerOptimizerParams((): OptimizerParams => {
      const lr = learningRateAt(this.optimizerStep, totalPlanned(), request.schedule)
      this.optimizerStep++
      this.currentLr = lr
      return {
        adamw: { ...defaults.adamw, alpha: lr, wd: request.weightDecay },
        sgd: { alpha: lr, wd: request.weightDecay },
      }
    })
    this.callbacks.push(filter, parameters)
    this.native.call('llama_opt_init', this.context, this.model, {
      n_ctx_train: 0,
      param_filter: filter,
      param_filter_ud: null,
      get_opt_pars: parameters,
      get_opt_pars_ud: null,
      optimizer_type: OPTIMIZER_ADAMW,
    })
    if (this.trained.size === 0) {
      throw new TrainingFailure('student', 'No tensor of the student can train (only F32 tensors train).')
    }
  }

  private totalStepsForSchedule = 1

  private newResult(): Pointer {
    const result = this.native.call<Pointer>('ggml_opt_result_init')
    this.results.push(result)
    return result
  }

  private fillDataset(target: { data: Pointer; labels: Pointer }, windows: TokenWindows, indices: number[]): void {
    const width = windows.context
    const inputs = new Int32Array(indices.length * width)
    const labels = new Int32Array(indices.length * width)
    indices.forEach((windowIndex, slot) => {
      const window = windowAt(windows, windowIndex)
      inputs.set(window.inputs, slot * width)
      labels.set(window.labels, slot * width)
    })
    this.native.call('ggml_backend_tensor_set', target.data, inputs, 0, inputs.byteLength)
    this.native.call('ggml_backend_tensor_set', target.labels, labels, 0, labels.byteLength)
  }

  private evaluate(data: PreparedData, valSet: { dataset: Pointer } | undefined): Partial<TrainPoint> {
    const scores: Partial<TrainPoint> = { valLoss: null, valAccuracy: null, answerAccuracy: null, answerLoss: null }
    if (valSet) {
      const result = this.newResult()
      this.native.call('llama_opt_epoch', this.context, valSet.dataset, null, result, 0, null, null)
      const numbers = this.native.resultNumbers(result)
      scores.valLoss = numbers.loss
      scores.valAccuracy = numbers.accuracy
    }
    if (data.answers.length > 0 && this.decoder) {
      let correct = 0
      let total = 0
      let lossSum = 0
      for (const answer of data.answers) {
        const score = this.decoder.scoreAnswer(answer.tokens, answer.answerStart)
        correct += score.correct
        total += score.total
        lossSum += score.lossSum
      }
      if (total > 0) {
        scores.answerAccuracy = correct / total
        scores.answerLoss = lossSum / total
      }
    }
    return scores
  }

  private samples(data: PreparedData): AnswerSample[] {
    if (!this.decoder) return []
    return data.answers.slice(0, this.request.samples).map((answer) => {
      const prompt = answer.tokens.subarray(0, answer.answerStart)
      const expectedTokens = answer.tokens.subarray(answer.answerStart, answer.tokens.length - 1)
      const produced = this.decoder!.greedy(prompt, Math.min(256, expectedTokens.length * 2 + 8), this.eos)
      const messages = answer.example.messages
      const lastUser = [...messages].reverse().find((message) => message.role === 'user')
      return {
        line: answer.example.line,
        prompt: lastUser?.content ?? '',
        expected: messages.filter((message) => message.role === 'assistant').at(-1)?.content ?? '',
        answer: this.native.detokenize(this.vocab, produced),
      }
    })
  }

  private async checkpoint(epoch: number, valLoss: number | null): Promise<CheckpointInfo> {
    const name = `checkpoint-${String(Math.floor(epoch * 1000) / 1000).replace('.', '_')}.gguf`
    const path = join(this.request.runDir, name)
    const bytes = await writeCheckpoint(
      {
        path: this.request.studentPath,
        file: this.file,
        trained: (tensorName) => {
          const tensor = this.trained.get(tensorName)
          if (!tensor) return undefined
          const size = this.native.call<number>('ggml_nbytes', tensor)
          const out = new Uint8Array(size)
          this.native.call('ggml_backend_tensor_get', tensor, out, 0, size)
          return out
        },
      },
      path,
      { ...this.request.provenance, epoch: String(epoch), step: String(this.optimizerStep) },
    )
    const info: CheckpointInfo = { epoch, step: this.optimizerStep, path, bytes, valLoss }
    this.hooks.send({ type: 'checkpoint', checkpoint: info })
    return info
  }

  private maybeInjectFault(): void {
    // Tests prove a native abort fails the job and spares the backend: a second llama_opt_init trips a real
    // GGML_ASSERT inside llama.cpp (nothing else here can).
    const fault = process.env.LARDER_TRAINER_FAULT
    const match = fault ? /^abort@(\d+)$/.exec(fault) : null
    if (match && this.optimizerStep >= Number(match[1])) {
      this.native.call('llama_opt_init', this.context, this.model, {
        n_ctx_train: 0,
        param_filter: null,
        param_filter_ud: null,
        get_opt_pars: null,
        get_opt_pars_ud: null,
        optimizer_type: OPTIMIZER_ADAMW,
      })
    }
  }

  private async train(data: PreparedData, totalSteps: number): Promise<TrainOutcome> {
    const { request } = this
    this.totalStepsForSchedule = Math.max(1, totalSteps)
    const one = this.native.newDataset(request.context, 1)
    this.datasets.push(one.dataset)
    const valCount = Math.min(data.val.count, request.valWindowsMax)
    let valSet: ReturnType<LlamaNative['newDataset']> | undefined
    if (valCount > 0) {
      valSet = this.native.newDataset(request.context, valCount)
      this.datasets.push(valSet.dataset)
      this.fillDataset(valSet, data.val, [...Array(valCount).keys()])
    }
    const emptyPoint = emptyTrainPoint(this.optimizerStep, request.startEpoch)
    const baseline: TrainPoint = { ...emptyPoint, ...this.evaluate(data, valSet) }
    if (request.startStep === 0) this.hooks.send({ type: 'point', point: baseline })
    const trainResult = this.newResult()
    let last: TrainPoint = baseline
    let lastCheckpoint: CheckpointInfo | undefined
    let stoppedEarly = false
    let tokensTrained = 0
    let trainSeconds = 0
    const epochs: EpochStats[] = []
    let epoch = request.startEpoch
    for (; epoch < request.epochs && !stoppedEarly; epoch++) {
      const order = epochOrder(data.train.count, request.seed, epoch, request.shuffle)
      let done = 0
      let lossSum = 0
      let correct = 0
      let seen = 0
      const epochStarted = performance.now()
      for (const windowIndex of order) {
        if (request.maxSteps !== undefined && this.optimizerStep >= request.maxSteps) {
          stoppedEarly = true
          break
        }
        if (this.hooks.stopRequested()) throw new StopRequested()
        this.maybeInjectFault()
        this.fillDataset(one, data.train, [windowIndex])
        this.native.call('ggml_opt_result_reset', trainResult)
        const started = performance.now()
        this.native.call('llama_opt_epoch', this.context, one.dataset, trainResult, null, 1, null, null)
        const seconds = (performance.now() - started) / 1000
        trainSeconds += seconds
        tokensTrained += request.context
        done++
        const numbers = this.native.resultNumbers(trainResult)
        lossSum += numbers.loss
        correct += numbers.accuracy * numbers.count
        seen += numbers.count
        if (!Number.isFinite(numbers.loss)) {
          throw new TrainingFailure(
            'diverged',
            `Training diverged at step ${this.optimizerStep} (epoch ${epoch + 1}): the loss became ${numbers.loss}. ` +
              `Lower the learning rate (it was ${this.currentLr.toPrecision(3)}; try ${(request.schedule.lr / 3).toPrecision(2)}), ` +
              'add warm-up steps, or check the data for very long or repeated lines. The last checkpoint is kept.',
            this.optimizerStep,
          )
        }
        last = {
          ...emptyPoint,
          step: this.optimizerStep,
          epoch: epoch + done / order.length,
          loss: numbers.loss,
          accuracy: numbers.accuracy,
          lr: this.currentLr,
          tokensPerSecond: request.context / Math.max(seconds, 1e-9),
        }
        this.hooks.send({ type: 'point', point: last })
        await yieldToEventLoop()
      }
      if (done === 0) break
      const epochWall = (performance.now() - epochStarted) / 1000
      const epochReached = done === order.length ? epoch + 1 : epoch + done / order.length
      const scores = this.evaluate(data, valSet)
      epochs.push({
        epoch: epochReached,
        windows: done,
        loss: lossSum / done,
        accuracy: seen > 0 ? correct / seen : 0,
        valLoss: scores.valLoss ?? null,
        valAccuracy: scores.valAccuracy ?? null,
        trainSeconds: epochWall,
      })
      last = { ...last, epoch: epochReached, ...scores }
      this.hooks.send({ type: 'point', point: { ...emptyPoint, step: last.step, epoch: epochReached, ...scores } })
      lastCheckpoint = await this.checkpoint(epochReached, last.valLoss)
      if (done < order.length) break
    }
    if (!lastCheckpoint) lastCheckpoint = await this.checkpoint(request.startEpoch, baseline.valLoss)
    return {
      steps: this.optimizerStep,
      epochsDone: lastCheckpoint.epoch,
      stoppedEarly,
      lastCheckpoint,
      final: last,
      baseline,
      samples: this.samples(data),
      trainSeconds,
      tokensTrained,
      epochs,
    }
  }

  close(): void {
    if (!this.native) return
    this.decoder?.free()
    for (const result of this.results) this.native.call('ggml_opt_result_free', result)
    for (const dataset of this.datasets) this.native.call('ggml_opt_dataset_free', dataset)
    if (this.context) this.native.call('llama_free', this.context)
    if (this.model) this.native.call('llama_model_free', this.model)
    for (const callback of this.callbacks) this.native.unregister(callback)
  }
}

export function defaultTrainerThreads(): number {
  return Math.max(1, Math.floor(cpus().length / 2))
}
