/**
 * Messages between the backend and the trainer worker process. The worker calls llama.cpp's training API; a native
 * abort (GGML_ASSERT, out of memory) ends only the worker, and the job fails with the reason.
 */
import type { DatasetExample, DatasetProblem } from '../data'
import type { LayerSelection } from '../layers'
import type { LrSchedule } from '../schedule'

export interface TrainRequest {
  /** The trainable (all-F32, untied) student, or the last checkpoint when resuming. */
  studentPath: string
  /** Where checkpoints go (one GGUF per epoch). */
  runDir: string
  examples: DatasetExample[]
  format: 'chat' | 'text'
  context: number
  batch: number
  threads: number
  gpuLayers: number
  epochs: number
  /** Epochs already done (resume): training continues with epoch `startEpoch + 1`. */
  startEpoch: number
  /** Optimizer steps already done (resume), so the learning-rate schedule continues where it was. */
  startStep: number
  schedule: LrSchedule
  weightDecay: number
  layers: LayerSelection
  seed: number
  shuffle: boolean
  /** Windows between training windows: `context` tokens apart (default) or fewer for overlapping windows. */
  stride?: number
  /** At most this many validation windows are scored per evaluation. */
  valWindowsMax: number
  /** Stop after this many optimizer steps in total (a bounded run); the last state is saved as a checkpoint. */
  maxSteps?: number | undefined
  /** How many held-out chat examples are scored on their answer tokens, and how many greedy samples are kept. */
  answerExamples: number
  samples: number
  /** Extra header entries for checkpoints (provenance). */
  provenance: Record<string, string>
  /**
   * `finetune`: lay the data out exactly as llama.cpp's examples/training/finetune does (all text as one token
   * stream with BOS, windows every context/2 tokens, the last `valSplit` of them for validation, in order), so the
   * training benchmark can compare the two on identical windows.
   */
  layout?: { kind: 'finetune'; valSplit: number } | undefined
}

export interface PreparedInfo {
  /** How chat examples were turned into text: a chat template llama.cpp knows, or the documented plain one. */
  formatting: string
  trainExamples: number
  valExamples: number
  trainTokens: number
  valTokens: number
  trainWindows: number
  valWindows: number
  skipped: DatasetProblem[]
  parameters: number
  trainableParameters: number
  trainedTensors: number
  stepsPerEpoch: number
  totalSteps: number
  libraries: string
}

export interface TrainPoint {
  step: number
  /** Fractional epoch (1.5 = half way through the second epoch). */
  epoch: number
  loss: number | null
  accuracy: number | null
  lr: number | null
  tokensPerSecond: number | null
  valLoss: number | null
  valAccuracy: number | null
  /** Teacher-forced accuracy and mean loss on the answer tokens of held-out chat examples only. */
  answerAccuracy: number | null
  answerLoss: number | null
}

/** A point with no measurement yet (every value null): the base that trainers fill in. */
export function emptyTrainPoint(step = 0, epoch = 0): TrainPoint {
  return {
    step,
    epoch,
    loss: null,
    accuracy: null,
    lr: null,
    tokensPerSecond: null,
    valLoss: null,
    valAccuracy: null,
    answerAccuracy: null,
    answerLoss: null,
  }
}

export interface CheckpointInfo {
  epoch: number
  step: number
  path: string
  bytes: number
  valLoss: number | null
}

export interface AnswerSample {
  line: number
  prompt: string
  expected: string
  answer: string
}

export interface EpochStats {
  epoch: number
  windows: number
  /** Mean training loss and accuracy over the epoch's windows. */
  loss: number
  accuracy: number
  valLoss: number | null
  valAccuracy: number | null
  /** Wall time of the epoch's training windows, with everything the binding does between them. */
  trainSeconds: number
}

export interface TrainOutcome {
  steps: number
  epochsDone: number
  stoppedEarly: boolean
  lastCheckpoint: CheckpointInfo
  final: TrainPoint
  baseline: TrainPoint
  samples: AnswerSample[]
  trainSeconds: number
  tokensTrained: number
  epochs: EpochStats[]
}

export type TrainerFailureCode = 'diverged' | 'data' | 'disk_full' | 'memory' | 'native' | 'unavailable' | 'student'

export type WorkerToParent =
  | { type: 'ready'; pid: number }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'prepared'; info: PreparedInfo }
  | { type: 'point'; point: TrainPoint }
  | { type: 'checkpoint'; checkpoint: CheckpointInfo }
  | { type: 'done'; outcome: TrainOutcome }
  | { type: 'failed'; code: TrainerFailureCode; message: string; step?: number }
  | { type: 'stopped' }

export type ParentToWorker = { type: 'train'; request: TrainRequest } | { type: 'stop' }
