/**
 * A `distill.train` job whose trainer is an OpenAI-compatible fine-tuning API: the run's data (split as the local
 * trainers split it) is written as OpenAI chat JSONL, `OpenAiApiTrainer` trains it at the provider's endpoint, and
 * the fine-tuned model is registered as a new provider (same endpoint and key, model = `fine_tuned_model`) that the
 * run records. Resumable: the remote job's id is the job's checkpoint, so a restarted Larder follows the same job.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type z } from 'zod'
import type { DistillRun, Hyperparameters, RunResult, TrainPointView } from '../../shared/contract'
import { apiTrainerSchema } from '../../shared/contract/distill'
import { ApiError } from '../../shared/errors'
import type { EventBus } from '../events'
import type { JobContext } from '../jobs/runner'
import { ModelsRepository, type StoredProvider } from '../models/repository'
import type { Workspace } from '../workspace/workspace'
import type { ParsedDataset } from './data'
import { DistillRepository } from './repository'
import { emptyTrainPoint } from './worker/protocol'
import { OpenAiApiTrainer, RemoteTrainingError, type RemoteOutcome } from './trainers/openai-api'

export type ApiTrainerSpec = z.output<typeof apiTrainerSchema>
export const apiTrainerParams = apiTrainerSchema

/** Larder's default learning rate: a multiplier is sent only when the run's rate differs from it. */
const DEFAULT_LR = 3e-4

interface RemoteState {
  remoteJobId?: string
}

export function sourceProvider(workspace: Workspace, providerId: number): StoredProvider {
  const provider = new ModelsRepository(workspace.db).getProvider(providerId)
  if (!provider) {
    throw new ApiError({
      code: 'invalid_input',
      message: `Provider ${providerId} does not exist.`,
      path: ['trainer', 'api', 'providerId'],
    })
  }
  return provider
}

/** Checks a run for the API trainer before its job exists: chat data only, no local quantization. */
export function checkApiRun(
  workspace: Workspace,
  spec: ApiTrainerSpec,
  dataset: ParsedDataset,
  quantize: string | null,
): string {
  const provider = sourceProvider(workspace, spec.providerId)
  if (dataset.format !== 'chat') {
    throw new ApiError({
      code: 'invalid_input',
      message: 'A fine-tuning API trains on chat data (OpenAI chat JSONL); this file is plain text.',
      path: ['data'],
    })
  }
  if (quantize) {
    throw new ApiError({
      code: 'invalid_input',
      message: 'A fine-tuning API makes a remote model; there is no local file to quantize.',
      path: ['quantize'],
    })
  }
  return `${spec.model ?? provider.model} at ${provider.name}`
}

function writeSplit(dataset: ParsedDataset, split: 'train' | 'val', path: string): number {
  const lines = dataset.examples
    .filter((example) => example.split === split && example.kind === 'chat')
    .map((example) => JSON.stringify({ messages: 'messages' in example ? example.messages : [] }))
  if (lines.length > 0) writeFileSync(path, `${lines.join('\n')}\n`)
  return lines.length
}

export class RemoteRun {
  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly queuePoint: (runId: number, point: TrainPointView) => void,
  ) {}

  private get repo(): DistillRepository {
    return new DistillRepository(this.workspace.db)
  }

  async run(
    run: DistillRun,
    spec: ApiTrainerSpec,
    dataset: ParsedDataset,
    runDir: string,
    context: JobContext<unknown>,
  ): Promise<RunResult> {
    const provider = sourceProvider(this.workspace, spec.providerId)
    const hyper = run.hyperparameters as Hyperparameters
    const model = spec.model ?? provider.model
    const state = { ...((context.checkpoint as RemoteState | null) ?? {}) }
    const trainFile = join(runDir, 'train.jsonl')
    const evalFile = join(runDir, 'eval.jsonl')
    const trainCount = writeSplit(dataset, 'train', trainFile)
    const evalCount = writeSplit(dataset, 'val', evalFile)
    context.log('info', `Training ${model} at ${provider.baseUrl}: ${trainCount} training, ${evalCount} eval examples.`)
    const trainer = new OpenAiApiTrainer({ baseUrl: provider.baseUrl, apiKey: provider.apiKey }, spec.pollMs)
    const started = Date.now()
    const outcome = await trainer.train(
      {
        trainFile,
        evalFile: evalCount > 0 ? evalFile : undefined,
        model,
        suffix: spec.suffix,
        epochs: hyper.epochs,
        learningRateMultiplier: hyper.lr !== DEFAULT_LR ? hyper.lr / DEFAULT_LR : undefined,
        seed: hyper.seed,
        maxSteps: hyper.maxSteps,
        resumeJobId: state.remoteJobId,
      },
      {
        log: (level, message) => context.log(level, message),
        created: (jobId) => {
          state.remoteJobId = jobId
          context.saveCheckpoint(state)
        },
        status: (_status, fraction, message) => context.progress(fraction, message),
        point: (point) => this.queuePoint(run.id, point),
        checkpoint: (checkpoint) => {
          this.repo.addCheckpoint(run.id, {
            epoch: 0,
            step: checkpoint.step,
            path: checkpoint.model,
            bytes: 0,
            valLoss: checkpoint.valLoss,
          })
          context.log('info', `Remote checkpoint at step ${checkpoint.step}: ${checkpoint.model}`)
          this.events.emit('distill.changed', { runId: run.id })
        },
      },
      context.signal,
    )
    return this.finish(run, provider, model, { ...outcome, seconds: (Date.now() - started) / 1000 }, context)
  }

  /** Registers the fine-tuned model as a provider on the same endpoint and key, and records it on the run. */
  private finish(
    run: DistillRun,
    source: StoredProvider,
    baseModel: string,
    outcome: RemoteOutcome & { seconds: number },
    context: JobContext<unknown>,
  ): RunResult {
    const models = new ModelsRepository(this.workspace.db)
    const taken = new Set(models.listProviders().map((provider) => provider.name))
    let name = run.name
    for (let suffix = 2; taken.has(name); suffix++) name = `${run.name}-${suffix}`
    const provider = models.saveProvider({
      name,
      baseUrl: source.baseUrl,
      apiKey: source.apiKey ?? undefined,
      model: outcome.fineTunedModel,
      concurrency: source.concurrency,
    })!
    const final = outcome.last ?? emptyTrainPoint(outcome.steps)
    const result: RunResult = {
      modelId: null,
      modelName: outcome.fineTunedModel,
      path: '',
      steps: outcome.steps,
      epochsDone: (run.hyperparameters as Hyperparameters).epochs,
      stoppedEarly: false,
      trainSeconds: outcome.seconds,
      tokensTrained: outcome.trainedTokens ?? 0,
      baseline: emptyTrainPoint(0),
      final,
      samples: [],
      quantized: null,
      remote: { providerId: provider.id, model: outcome.fineTunedModel, jobId: outcome.jobId, baseModel },
    }
    this.repo.setResult(run.id, result)
    context.log(
      'info',
      `Trained ${outcome.fineTunedModel} (remote job ${outcome.jobId}); provider "${name}" serves it.`,
    )
    return result
  }
}

export { RemoteTrainingError }
