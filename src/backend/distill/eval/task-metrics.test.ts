// Task metrics and the gate on hand-checked cases (each expected value worked out in the comment beside it).
import { describe, expect, it } from 'vitest'
import type { Contestant } from '../../../shared/contract'
import { wordDiff } from '../../../shared/word-diff'
import { gateVerdict } from './gate'
import { jsonFieldF1, macroF1, rougeL, schemaValidRate, scoreTask } from './task-metrics'

describe('task metrics', () => {
  it('JSON field F1 compares leaves; non-JSON answers score 0', () => {
    // 2 of 3 predicted leaves right, 2 of 2 expected found: P 2/3, R 1 -> F1 0.8.
    expect(jsonFieldF1('{"a":1,"b":{"c":"x"}}', '{"a":1,"b":{"c":"x"},"d":2}')).toBeCloseTo(0.8)
    expect(jsonFieldF1('{"a":1}', 'sure! {"a":1}')).toBe(1)
    expect(jsonFieldF1('{"a":1}', 'no json here')).toBe(0)
  })

  it('ROUGE-L is the LCS F-measure over lower-cased words', () => {
    // LCS("the cat sat", "the cat was here") = 2: P 2/4, R 2/3 -> F 0.5714.
    expect(rougeL('The cat sat', 'the cat was here')).toBeCloseTo(0.5714, 4)
    expect(rougeL('a b', 'c d')).toBe(0)
    expect(rougeL('', '')).toBe(1)
  })

  it('macro-F1 averages the per-label F1 of the reference labels', () => {
    // refund: tp 1, fn 1 -> 2/3; cancel: tp 1, fp 1 -> 2/3; mean 2/3.
    expect(macroF1(['refund', 'refund', 'cancel'], ['refund', 'cancel', 'cancel'])).toBeCloseTo(2 / 3)
    const scores = scoreTask('classification', ['a', 'b'], ['a', 'a'])
    expect(scores).toMatchObject({ accuracy: 0.5, exactMatch: 0.5 })
  })

  it('schema-valid rate checks each answer against the JSON schema', () => {
    const schema = { type: 'object', properties: { intent: { type: 'string' } }, required: ['intent'] }
    expect(schemaValidRate(['{"intent":"x"}', '{"intent":3}', 'nope', '{"intent":"y","urgent":true}'], schema)).toBe(
      0.5,
    )
  })

  it('word diff keeps the shared words and marks the rest', () => {
    expect(wordDiff('a b c', 'a x c')).toEqual([
      { op: 'same', text: 'a ' },
      { op: 'del', text: 'b' },
      { op: 'add', text: 'x' },
      { op: 'same', text: ' c' },
    ])
  })
})

describe('the gate', () => {
  const student = (patch: Partial<Contestant>): Contestant => ({
    key: 'model:1',
    role: 'student',
    label: 's',
    modelId: 1,
    sizeBytes: 1,
    tokensPerSecond: 1,
    tokensPerAnswer: 1,
    memoryBytes: null,
    memoryBaselineBytes: null,
    memoryBasis: null,
    tokenMetrics: { positions: 10, meanKl: 0.5, top1Agreement: 0.8, nll: 1 },
    tokenMetricsSkipped: null,
    task: scoreTask('exact', ['a'], ['a']),
    winRate: null,
    costPer1kAnswers: null,
    costBasis: null,
    ...patch,
  })
  it('passes when every threshold holds and says which one failed otherwise', () => {
    expect(gateVerdict(student({}), { maxKl: 1, minTop1: 0.7, minTask: 1 }).passed).toBe(true)
    const failed = gateVerdict(student({}), { maxKl: 0.1, minWinRate: 0.5 })
    expect(failed.passed).toBe(false)
    expect(failed.reasons).toEqual([
      "Mean KL 0.5000 is above the gate's 0.1.",
      'No judge win-rate was measured (the job has no judge).',
    ])
    const refused = gateVerdict(student({ tokenMetrics: null, tokenMetricsSkipped: 'tokenizers differ' }), { maxKl: 1 })
    expect(refused.reasons[0]).toMatch(/tokenizers differ/)
  })
})
