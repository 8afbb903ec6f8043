/**
 * Quantization in the Models area: what each file type gives for a model (`gguf.plan`, header only), the
 * `gguf.quantize` job (one type, the result registered in the library, quality measured), and the
 * `gguf.sweep` job (several types of one model measured against the original: the quality report).
 *
 * Options are llama-quantize's (quantizeOptionsSchema). Everything that can be checked before a job starts
 * (the imatrix file, its fit to the model, types that need one, re-quantization) is checked when the call is
 * made, so bad input gets a 4xx answer rather than a failed job.
 */
import { mkdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import {
  QUANTIZATION_TYPES,
  quantizeOptionsSchema,
  type MethodOutput,
  type ParsedInput,
  type QuantizationType,
} from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { qualityVerdict, VERDICT_WORDS } from '../../shared/quality-verdict'
import {
  imatrixLabelFor,
  isGgufError,
  matchImportanceMatrix,
  planQuantization,
  quantizeGgufFile,
  readGgufFile,
  readImportanceMatrix,
  summarizePlan,
  type ImportanceMatrix,
  type QuantizeFileResult,
} from '../gguf/index'
import type { JobContext, JobKind } from '../jobs/runner'
import { defaultThreads } from './model-host'
import { SAMPLE_EVALUATION_TEXT } from './sample-text'
import type { ModelsService } from './service'
import type { CompareResult } from './worker/compare'
import { message } from '../../shared/messages'

export const QUANTIZE_JOB = 'gguf.quantize'
export const SWEEP_JOB = 'gguf.sweep'

export type QuantizeOptions = z.output<typeof quantizeOptionsSchema>

/** A GgufError (bad file, bad options) as the API's 4xx error. */
function asInvalidInput(error: unknown, path: string[] = []): never {
  if (isGgufError(error)) throw new ApiError({ code: 'invalid_input', message: error.message, path })
  throw error
}

async function loadImatrix(path: string | undefined): Promise<ImportanceMatrix | undefined> {
  if (!path) return undefined
  try {
    return await readImportanceMatrix(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ApiError({ code: 'not_found', message: `No importance matrix at ${path}.`, path: ['imatrixPath'] })
    }
    return asInvalidInput(error, ['imatrixPath'])
  }
}

function fileOptions(type: QuantizationType, options: QuantizeOptions, imatrix: ImportanceMatrix | undefined) {
  return {
    fileType: type,
    pure: options.pure,
    leaveOutputTensor: options.leaveOutputTensor,
    allowRequantize: options.allowRequantize,
    ...(options.outputTensorType && { outputTensorType: options.outputTensorType }),
    ...(options.tokenEmbeddingType && { tokenEmbeddingType: options.tokenEmbeddingType }),
    ...(imatrix && options.imatrixPath && { imatrix, imatrixLabel: imatrixLabelFor(options.imatrixPath) }),
  }
}

const jobParams = quantizeOptionsSchema.extend({ id: z.int() })

/** What a quantization reports to whoever runs it (a job, or the distillation job for its student's copy). */
export interface QuantizeSteps {
  signal: AbortSignal
  progress: (fraction: number, message: string) => void
  log: (level: 'info' | 'warn', message: string) => void
}

function stepsOf(context: JobContext<unknown>): QuantizeSteps {
  return {
    signal: context.signal,
    progress: (fraction, message) => context.progress(fraction, message),
    log: (level, message) => context.log(level, message),
  }
}

export class QuantizationJobs {
  constructor(private readonly models: ModelsService) {}

  /** Sizes and bits per weight of every file type for a model, from its header. */
  async plan(input: ParsedInput<'gguf.plan'>): Promise<MethodOutput<'gguf.plan'>> {
    const model = this.models.fullModel(input.id)
    const file = await readGgufFile(model.path).catch((error: unknown) => asInvalidInput(error))
    const items = QUANTIZATION_TYPES.map((type) => {
      try {
        const plans = planQuantization(file, type, {
          ...fileOptions(type, { ...input, imatrixPath: undefined }, undefined),
        })
        const summary = summarizePlan(file, type, plans)
        return {
          type,
          bytes: summary.targetBytes,
          bitsPerWeight: summary.bitsPerWeight,
          fallbacks: summary.fallbacks,
          requiresImatrix: summary.requiresImatrix,
          tensorTypeCounts: summary.tensorTypeCounts,
          problem: null,
        }
      } catch (error) {
        if (!isGgufError(error)) throw error
        return {
          type,
          bytes: 0,
          bitsPerWeight: 0,
          fallbacks: 0,
          requiresImatrix: false,
          tensorTypeCounts: {},
          problem: error.message,
        }
      }
    })
    const sourceBytes = file.tensors.reduce((sum, tensor) => sum + tensor.byteSize, 0)
    return { sourceBytes, parameterCount: model.parameterCount ?? 0, items }
  }

  /** Everything a quantization can be refused for, checked before its job is queued. */
  async check(id: number, types: readonly QuantizationType[], options: QuantizeOptions): Promise<void> {
    const model = this.models.fullModel(id)
    const imatrix = await loadImatrix(options.imatrixPath)
    const file = await readGgufFile(model.path).catch((error: unknown) => asInvalidInput(error))
    for (const type of types) {
      try {
        const plans = planQuantization(file, type, { ...fileOptions(type, options, imatrix), hasImatrix: !!imatrix })
        matchImportanceMatrix(imatrix, plans, type)
      } catch (error) {
        asInvalidInput(error, ['type'])
      }
    }
  }

  private async quantizeTo(
    params: { id: number } & QuantizeOptions,
    type: QuantizationType,
    destination: string,
    steps: QuantizeSteps,
    progress: (fraction: number, message: string) => void,
  ): Promise<QuantizeFileResult> {
    const source = this.models.get(params.id)
    const imatrix = await loadImatrix(params.imatrixPath)
    const result = await quantizeGgufFile(source.path, destination, {
      ...fileOptions(type, params, imatrix),
      signal: steps.signal,
      onProgress: (step) =>
        progress(
          step.bytesTotal > 0 ? step.bytesDone / step.bytesTotal : 0,
          `${type}: ${step.tensorsDone} of ${step.tensorCount} tensors${step.currentTensor ? ` (${step.currentTensor})` : ''}`,
        ),
    })
    for (const warning of result.warnings) steps.log('warn', warning)
    return result
  }

  private measure(
    originalPath: string,
    quantizedPath: string,
    maxPositions: number,
    text: string,
    progress: (fraction: number, message: string) => void,
  ): Promise<CompareResult> {
    return this.models.host.compare(
      {
        originalPath,
        quantizedPath,
        text,
        maxPositions,
        contextSize: Math.min(4096, maxPositions + 16),
        threads: defaultThreads(),
      },
      (done, total) => progress(done / total, `Scoring ${done} of ${total} tokens`),
    )
  }

  quantizeJob(): JobKind<z.output<typeof quantizeJobParams>> {
    return {
      kind: QUANTIZE_JOB,
      params: quantizeJobParams,
      resumable: true,
      title: (params) => message('job.quantize', { model: this.models.nameOf(params.id), type: params.type }),
      run: (context) =>
        this.quantizeModel(context.params, {
          signal: context.signal,
          progress: (fraction, message) => context.progress(fraction, message),
          log: (level, message) => context.log(level, message),
        }),
    }
  }

  /**
   * Quantizes a registered model into the library and registers the result, then (unless `evaluate` is false)
   * measures its quality against the original. The `gguf.quantize` job and the distillation job both use it.
   */
  async quantizeModel(params: z.output<typeof quantizeJobParams>, steps: QuantizeSteps) {
    const source = this.models.get(params.id)
    const name = params.name ?? `${source.name}-${params.type}`
    if (this.models.nameTaken(name)) throw new Error(`A model named "${name}" already exists; choose another name.`)
    mkdirSync(this.models.libraryDir, { recursive: true })
    const destination = join(this.models.libraryDir, `${name}.gguf`)
    const partial = `${destination}.partial`
    const started = performance.now()
    const share = params.evaluate ? 0.8 : 1
    try {
      const result = await this.quantizeTo(params, params.type, partial, steps, (fraction, message) =>
        steps.progress(share * fraction, message),
      )
      renameSync(partial, destination)
      const model = await this.models.register(destination, {
        name,
        source: 'quantized',
        sourceUri: `quantized:${source.name}:${params.type}`,
      })
      const quantizedTensors = result.tensors.filter((tensor) => tensor.quantized).length
      steps.log(
        'info',
        `Wrote ${model.name}: ${result.destinationFileSize} bytes, ${result.bitsPerWeight.toFixed(2)} bits per weight.`,
      )
      let quality: CompareResult | null = null
      if (params.evaluate) {
        steps.progress(share, 'Measuring quality against the original')
        quality = await this.measure(source.path, destination, 256, SAMPLE_EVALUATION_TEXT, (fraction, message) =>
          steps.progress(share + (1 - share) * fraction, message),
        )
        steps.log(
          'info',
          `Quality: mean KL ${quality.meanKlDivergence.toFixed(5)}, top-1 agreement ${(quality.top1Agreement * 100).toFixed(1)}%, perplexity ${quality.original.perplexity.toFixed(3)} -> ${quality.quantized.perplexity.toFixed(3)}: ${VERDICT_WORDS[qualityVerdict(quality).level]}.`,
        )
        this.models.recordQuality(model.id, source, quality, {
          fileSizes: { original: result.sourceFileSize, quantized: result.destinationFileSize },
          text: 'sample',
        })
      }
      return {
        quality,
        modelId: model.id,
        name: model.name,
        path: destination,
        type: params.type,
        sourceBytes: result.sourceFileSize,
        outputBytes: result.destinationFileSize,
        ratio: result.destinationFileSize / result.sourceFileSize,
        bitsPerWeight: result.bitsPerWeight,
        quantizedTensors,
        keptTensors: result.tensors.length - quantizedTensors,
        fallbacks: result.fallbacks.map((plan) => ({
          name: plan.name,
          from: plan.fallback?.from,
          to: plan.targetType,
        })),
        imatrix: result.imatrix,
        warnings: result.warnings,
        seconds: (performance.now() - started) / 1000,
      }
    } finally {
      rmSync(partial, { force: true })
    }
  }

  sweepJob(): JobKind<z.output<typeof sweepJobParams>> {
    return {
      kind: SWEEP_JOB,
      params: sweepJobParams,
      resumable: true,
      title: (params) => message('job.sweep', { types: params.types.join(', '), model: this.models.nameOf(params.id) }),
      run: (context) => this.runSweep(context),
    }
  }

  private async runSweep(context: JobContext<z.output<typeof sweepJobParams>>): Promise<SweepResult> {
    const { params } = context
    const source = this.models.get(params.id)
    const saved = context.checkpoint as { rows?: SweepRow[]; original?: SweepResult['original'] } | undefined
    const rows: SweepRow[] = [...(saved?.rows ?? [])]
    const directory = join(this.models.libraryDir, `.sweep-${context.jobId}`)
    mkdirSync(directory, { recursive: true })
    const text = params.text ?? SAMPLE_EVALUATION_TEXT
    let original: SweepResult['original'] | null = saved?.original ?? null
    try {
      for (const [index, type] of params.types.entries()) {
        if (rows.some((row) => row.type === type)) continue
        const step = (fraction: number, message: string): void =>
          context.progress((index + fraction) / params.types.length, message)
        const path = join(directory, `${type}.gguf`)
        const result = await this.quantizeTo(params, type, path, stepsOf(context), (fraction, message) =>
          step(0.6 * fraction, message),
        )
        const quality = await this.measure(source.path, path, params.maxPositions, text, (fraction, message) =>
          step(0.6 + 0.4 * fraction, `${type}: ${message}`),
        )
        rmSync(path, { force: true })
        original = { perplexity: quality.original.perplexity, sizeBytes: result.sourceFileSize }
        rows.push({
          type,
          sizeBytes: result.destinationFileSize,
          bitsPerWeight: result.bitsPerWeight,
          fallbacks: result.fallbacks.length,
          meanKlDivergence: quality.meanKlDivergence,
          maxKlDivergence: quality.maxKlDivergence,
          top1Agreement: quality.top1Agreement,
          perplexity: quality.quantized.perplexity,
          tokensPerSecond: quality.quantized.tokensPerSecond,
          positions: quality.positions,
        })
        context.saveCheckpoint({ rows, original })
        context.log(
          'info',
          `${type}: ${result.bitsPerWeight.toFixed(2)} bits per weight, mean KL ${quality.meanKlDivergence.toFixed(5)}`,
        )
      }
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
    rows.sort((left, right) => params.types.indexOf(left.type) - params.types.indexOf(right.type))
    return {
      modelId: source.id,
      modelName: source.name,
      original: original ?? { perplexity: 0, sizeBytes: source.sizeBytes },
      imatrix: params.imatrixPath ? imatrixLabelFor(params.imatrixPath) : null,
      rows,
    }
  }
}

export const quantizeJobParams = jobParams.extend({
  type: z.enum(QUANTIZATION_TYPES),
  name: z.string().optional(),
  /** Measure the quality loss against the original on a sample text afterwards. */
  evaluate: z.boolean().default(true),
})

const sweepJobParams = jobParams.extend({
  types: z.array(z.enum(QUANTIZATION_TYPES)).min(1),
  text: z.string().optional(),
  maxPositions: z.int().min(8).default(256),
})

export interface SweepRow {
  type: QuantizationType
  sizeBytes: number
  bitsPerWeight: number
  fallbacks: number
  meanKlDivergence: number
  maxKlDivergence: number
  top1Agreement: number
  perplexity: number
  tokensPerSecond: number
  positions: number
}

export interface SweepResult {
  modelId: number
  modelName: string
  original: { perplexity: number; sizeBytes: number }
  imatrix: string | null
  rows: SweepRow[]
}
