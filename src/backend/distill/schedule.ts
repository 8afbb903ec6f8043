/**
 * The learning rate at each optimizer step: linear warm-up from 0, then constant, cosine or linear decay to
 * `minLrRatio * lr`. llama.cpp asks for it before every optimizer step (the `get_opt_pars` callback), so the
 * schedule is exact per step. AdamW asserts a rate above zero, so the rate never reaches 0.
 */
export type LrScheduleKind = 'constant' | 'cosine' | 'linear'

export interface LrSchedule {
  lr: number
  kind: LrScheduleKind
  warmupSteps: number
  /** The final rate as a share of `lr` (cosine and linear). */
  minLrRatio: number
}

const SMALLEST_RATE = 1e-12

export function learningRateAt(step: number, totalSteps: number, schedule: LrSchedule): number {
  const { lr, warmupSteps } = schedule
  if (warmupSteps > 0 && step < warmupSteps) return Math.max(SMALLEST_RATE, (lr * (step + 1)) / (warmupSteps + 1))
  if (schedule.kind === 'constant') return lr
  const decaySteps = Math.max(1, totalSteps - warmupSteps)
  const progress = Math.min(1, Math.max(0, (step - warmupSteps) / decaySteps))
  const floor = lr * schedule.minLrRatio
  const shape = schedule.kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress
  return Math.max(SMALLEST_RATE, floor + (lr - floor) * shape)
}
