/**
 * Task metrics of a student's answers against the teacher's (the reference), chosen per dataset:
 * exact match, JSON field F1 and schema-valid rate (extraction), accuracy and macro-F1 (classification and routing),
 * ROUGE-L (summaries). ROUGE-L is the LCS F-measure over lower-cased word tokens, as the rouge-score package
 * computes it without stemming; no maintained npm library implements it, so it is here with its tests.
 */
import { z } from 'zod'

export type TaskMetricName = 'exact' | 'json' | 'classification' | 'rouge'

export interface TaskScores {
  /** The headline task score in [0, 1] (what the gate checks). */
  score: number
  exactMatch: number
  jsonFieldF1: number | null
  schemaValidRate: number | null
  accuracy: number | null
  macroF1: number | null
  rougeL: number | null
}

export function normalise(text: string): string {
  return text.trim().replace(/\s+/g, ' ')
}

function parseJson(text: string): unknown {
  const trimmed = text.trim()
  try {
    return JSON.parse(trimmed)
  } catch {
    const start = trimmed.indexOf('{')
    const end = trimmed.lastIndexOf('}')
    if (start < 0 || end <= start) return undefined
    try {
      return JSON.parse(trimmed.slice(start, end + 1))
    } catch {
      return undefined
    }
  }
}

/** Leaf fields as `path=value` strings, so nested objects compare field by field. */
function fields(value: unknown, prefix = ''): string[] {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) =>
      fields(inner, prefix ? `${prefix}.${key}` : key),
    )
  }
  return [`${prefix}=${JSON.stringify(value)}`]
}

/** F1 of the student's JSON leaf fields against the reference's (0 when the answer is not JSON). */
export function jsonFieldF1(reference: string, answer: string): number {
  const expected = parseJson(reference)
  const actual = parseJson(answer)
  if (expected === undefined) return normalise(reference) === normalise(answer) ? 1 : 0
  if (actual === undefined) return 0
  const want = new Set(fields(expected))
  const got = new Set(fields(actual))
  const common = [...got].filter((field) => want.has(field)).length
  if (want.size === 0 && got.size === 0) return 1
  if (common === 0) return 0
  const precision = common / got.size
  const recall = common / want.size
  return (2 * precision * recall) / (precision + recall)
}

function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0)
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  let previous = new Array<number>(b.length + 1).fill(0)
  for (const word of a) {
    const current = new Array<number>(b.length + 1).fill(0)
    for (let j = 1; j <= b.length; j++) {
      current[j] = word === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!)
    }
    previous = current
  }
  return previous[b.length]!
}

/** ROUGE-L F-measure of `answer` against `reference`. */
export function rougeL(reference: string, answer: string): number {
  const ref = words(reference)
  const hyp = words(answer)
  if (ref.length === 0 || hyp.length === 0) return ref.length === hyp.length ? 1 : 0
  const lcs = lcsLength(ref, hyp)
  if (lcs === 0) return 0
  const precision = lcs / hyp.length
  const recall = lcs / ref.length
  return (2 * precision * recall) / (precision + recall)
}

/** Macro-averaged F1 over the labels the reference uses (answers are labels after normalising). */
export function macroF1(references: readonly string[], answers: readonly string[]): number {
  const labels = [...new Set(references.map(normalise))]
  if (labels.length === 0) return 0
  const f1s = labels.map((label) => {
    let tp = 0
    let fp = 0
    let fn = 0
    references.forEach((reference, index) => {
      const want = normalise(reference) === label
      const got = normalise(answers[index] ?? '') === label
      if (want && got) tp++
      else if (got) fp++
      else if (want) fn++
    })
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn)
  })
  return f1s.reduce((sum, value) => sum + value, 0) / f1s.length
}

const mean = (values: readonly number[]): number =>
  values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length

export function schemaValidRate(answers: readonly string[], schema: Record<string, unknown>): number {
  const validator = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0])
  return mean(answers.map((answer) => (validator.safeParse(parseJson(answer)).success ? 1 : 0)))
}

/** Every task metric the chosen one needs, plus exact match, for one contestant's answers. */
export function scoreTask(
  metric: TaskMetricName,
  references: readonly string[],
  answers: readonly string[],
  schema?: Record<string, unknown>,
): TaskScores {
  const exactMatch = mean(references.map((reference, i) => (normalise(reference) === normalise(answers[i]!) ? 1 : 0)))
  const scores: TaskScores = {
    score: exactMatch,
    exactMatch,
    jsonFieldF1: null,
    schemaValidRate: null,
    accuracy: null,
    macroF1: null,
    rougeL: null,
  }
  if (metric === 'json') {
    scores.jsonFieldF1 = mean(references.map((reference, i) => jsonFieldF1(reference, answers[i]!)))
    if (schema) scores.schemaValidRate = schemaValidRate(answers, schema)
    scores.score = scores.jsonFieldF1
  } else if (metric === 'classification') {
    scores.accuracy = exactMatch
    scores.macroF1 = macroF1(references, answers)
    scores.score = scores.macroF1
  } else if (metric === 'rouge') {
    scores.rougeL = mean(references.map((reference, i) => rougeL(reference, answers[i]!)))
    scores.score = scores.rougeL
  }
  return scores
}

export { wordDiff } from '../../../shared/word-diff'
