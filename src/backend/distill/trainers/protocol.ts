/**
 * The external trainer's progress protocol (docs/distillation.md, "External trainers"): one JSON object per stdout
 * line, `{"step": 12, "loss": 1.93, "eval_loss": 2.01, "lr": 0.0003, "tokens_per_second": 812, "epoch": 0.4}`
 * (every field but `step` optional; `total_steps` once known), and LLaMA-Factory's `trainer_log.jsonl`
 * (`current_steps`, `total_steps`, `loss`, `eval_loss`, `lr`, `epoch`). Any other line is a log line.
 * Also: the command template (`{dataset}`, `{eval}`, `{base}`, `{out}`, `{workdir}`) split into argv without a shell.
 */
import type { TrainPoint } from '../trainer'

export const PLACEHOLDERS = ['dataset', 'eval', 'base', 'out', 'workdir', 'epochs', 'batch', 'seed'] as const
export type Placeholder = (typeof PLACEHOLDERS)[number]

export interface ProgressLine {
  /** Null for a line that only announces `total_steps`. */
  point: TrainPoint | null
  totalSteps: number | null
}

const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null)

/** A protocol line or a LLaMA-Factory trainer_log line as a point; null for anything else (a log line). */
export function parseProgress(line: string): ProgressLine | null {
  const trimmed = line.trim()
  if (!trimmed.startsWith('{')) return null
  let value: Record<string, unknown>
  try {
    const parsed = JSON.parse(trimmed) as unknown
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null
    value = parsed as Record<string, unknown>
  } catch {
    return null
  }
  const step = num(value.step) ?? num(value.current_steps)
  const totalSteps = num(value.total_steps)
  if (step === null && totalSteps !== null) return { point: null, totalSteps }
  if (step === null || step < 0) return null
  return {
    totalSteps,
    point: {
      step: Math.round(step),
      epoch: num(value.epoch) ?? 0,
      loss: num(value.loss),
      accuracy: null,
      lr: num(value.lr) ?? num(value.learning_rate),
      tokensPerSecond: num(value.tokens_per_second) ?? num(value['tokens/s']),
      valLoss: num(value.eval_loss),
      valAccuracy: null,
      answerAccuracy: null,
      answerLoss: null,
    },
  }
}

/** Splits a command template like a POSIX shell would split words (quotes and backslashes), without running one. */
export function splitCommand(template: string): string[] {
  const words: string[] = []
  let current = ''
  let inWord = false
  let quote: '"' | "'" | null = null
  for (let i = 0; i < template.length; i++) {
    const char = template[i]!
    if (quote) {
      if (char === quote) quote = null
      else if (char === '\\' && quote === '"' && i + 1 < template.length) current += template[++i]
      else current += char
    } else if (char === '"' || char === "'") {
      quote = char
      inWord = true
    } else if (char === '\\' && i + 1 < template.length) {
      current += template[++i]
      inWord = true
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current)
      current = ''
      inWord = false
    } else {
      current += char
      inWord = true
    }
  }
  if (quote) throw new Error(`The command has an unclosed ${quote} quote.`)
  if (inWord) words.push(current)
  return words
}

/** The argv of a template with its placeholders filled in (each value stays one argument, whatever it holds). */
export function fillCommand(template: string, values: Record<Placeholder, string>): string[] {
  const words = splitCommand(template)
  if (words.length === 0) throw new Error('The command is empty.')
  return words.map((word) =>
    word.replace(/\{([a-z]+)\}/g, (match, name: string) =>
      (PLACEHOLDERS as readonly string[]).includes(name) ? values[name as Placeholder] : match,
    ),
  )
}

/** Checks a template before a job exists: it splits, names a program, and uses only known placeholders. */
export function checkCommand(template: string): string | null {
  let words: string[]
  try {
    words = splitCommand(template)
  } catch (error) {
    return (error as Error).message
  }
  if (words.length === 0) return 'The command is empty.'
  for (const match of template.matchAll(/\{([a-z_]+)\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(match[1]!)) {
      return `Unknown placeholder {${match[1]}}; use ${PLACEHOLDERS.map((name) => `{${name}}`).join(', ')}.`
    }
  }
  if (!template.includes('{out}')) return 'The command must write the trained model to {out}.'
  return null
}
