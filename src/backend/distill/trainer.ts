/**
 * The trainer interface. The built-in trainer (llama.cpp's training API in a worker process) is the first; an
 * external command (TRL, Axolotl, LLaMA-Factory speaking JSON-lines progress) and an OpenAI-compatible fine-tuning
 * API can implement the same interface: take a student and a dataset, report progress, honour the abort signal,
 * and hand back the trained student's file with its metrics.
 */
import type { DatasetExample } from './data'
import type { LayerSelection } from './layers'
import type { LrSchedule } from './schedule'
import type {
  CheckpointInfo,
  PreparedInfo,
  TrainerFailureCode,
  TrainOutcome,
  TrainPoint,
  TrainRequest,
} from './worker/protocol'

export type { CheckpointInfo, PreparedInfo, TrainOutcome, TrainPoint }

export interface TrainerJob {
  /** A trainable student (for the built-in trainer: all-F32 with an untied output), or a checkpoint to resume. */
  studentPath: string
  runDir: string
  examples: DatasetExample[]
  format: 'chat' | 'text'
  context: number
  batch: number
  threads: number
  gpuLayers: number
  epochs: number
  startEpoch: number
  startStep: number
  schedule: LrSchedule
  weightDecay: number
  layers: LayerSelection
  seed: number
  shuffle: boolean
  stride?: number
  maxSteps?: number | undefined
  valWindowsMax?: number
  answerExamples?: number
  samples?: number
  provenance: Record<string, string>
  layout?: TrainRequest['layout']
}

export interface TrainerCallbacks {
  log(level: 'info' | 'warn' | 'error', message: string): void
  prepared(info: PreparedInfo): void
  point(point: TrainPoint): void
  checkpoint(checkpoint: CheckpointInfo): void
}

export interface Trainer {
  readonly name: string
  train(job: TrainerJob, callbacks: TrainerCallbacks, signal: AbortSignal): Promise<TrainOutcome>
}

/** A training run that failed for a reason the operator can act on (the message says what to do). */
export class TrainerError extends Error {
  constructor(
    readonly code: TrainerFailureCode | 'crashed',
    message: string,
    readonly step?: number,
  ) {
    super(message)
    this.name = 'TrainerError'
  }
}
