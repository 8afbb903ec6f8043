/**
 * `distill.eval` and promotion on a real backend with real training: a teacher (a scratch model trained longer)
 * and a student trained briefly from the same byte-level vocabulary, against the untrained student. Token metrics
 * come from teacher forcing in the model worker; task metrics from the students' own answers. A student with another
 * tokenizer is refused token metrics with the reason; a promotion refused by the gate needs a recorded override;
 * rollback restores the namespace's previous target.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { CacheNamespace, Model, Promotion } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import { tempDir, workBudget } from '../../../../test/helpers'
import { evaluate, startExtractionTeacher, trainedModelOf } from '../../../../test/fixtures/distill'
import { Backend } from '../../backend'
import { Gateway } from '../../gateway/gateway'
import { startHttpServer } from '../../server/http-server'
import { gguf, readGgufFile, tinyByteVocabulary, tokenizerMetadataOf, writeTinyLlamaGguf } from '../../gguf/index'
import { writeScratchStudent } from '../student'
import { toChatJsonl, triageExamples } from '../synthetic'

const backends: Backend[] = []
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close()
})

function trainedModel(backend: Backend, data: string, name: string, seed: number, steps: number) {
  return trainedModelOf(backend, {
    student: { scratch: { seed } },
    data,
    name,
    hyperparameters: { epochs: 50, lr: 3e-4, batch: 64, threads: 1, warmupSteps: 20, maxSteps: steps, valPercent: 5 },
  })
}

async function register(backend: Backend, path: string, name: string): Promise<number> {
  return ((await backend.call('models.register', { path, name })) as Model).id
}

/** The byte-level tokenizer plus one merged token: texts with "the" tokenize differently. */
async function widerVocabulary(path: string) {
  const base = tokenizerMetadataOf((await readGgufFile(path)).metadata)
  const vocabulary = tinyByteVocabulary()
  const tokens = [...vocabulary.tokens, '\u2581the']
  const replaced = new Map([
    ['tokenizer.ggml.tokens', gguf.stringArray(tokens)],
    ['tokenizer.ggml.scores', gguf.float32Array(new Float32Array(tokens.length))],
    ['tokenizer.ggml.token_type', gguf.int32Array(Int32Array.from([...vocabulary.tokenTypes, 1]))],
  ])
  return {
    vocabularySize: tokens.length,
    entries: base.entries.map(([key, value]) => [key, replaced.get(key) ?? value] as const),
  }
}

describe('distill.eval and promotion', () => {
  it(
    'puts the trained student closer to the teacher than the untrained one on answer-position KL and the task; refuses token metrics across tokenizers; gate, promote, rollback',
    async () => {
      const home = tempDir()
      const backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
      backends.push(backend)
      const data = join(home, 'triage.jsonl')
      writeFileSync(data, toChatJsonl(triageExamples(1200, 3)))
      const evalData = join(home, 'eval.jsonl')
      writeFileSync(evalData, toChatJsonl(triageExamples(12, 99)))
      const teacher = await trainedModel(backend, data, 'teacher', 1, 2400)
      const student = await trainedModel(backend, data, 'student', 2, 1000)
      const untrainedPath = join(home, 'untrained.gguf')
      await writeScratchStudent(untrainedPath, {
        embeddingLength: 64,
        blockCount: 2,
        headCount: 4,
        feedForwardLength: 128,
        contextLength: 256,
        seed: 2,
        name: 'untrained',
      })
      const untrained = await register(backend, untrainedPath, 'untrained')
      const otherVocab = join(home, 'other.gguf')
      await writeTinyLlamaGguf(otherVocab, { seed: 5, tokenizer: await widerVocabulary(untrainedPath) })
      const other = await register(backend, otherVocab, 'other-vocab')

      const evaluation = await evaluate(backend, {
        data: evalData,
        teacher: { model: teacher },
        students: [{ modelId: untrained }, { modelId: student }, { modelId: other }],
        // ROUGE-L gives a partly right answer partial credit (students this small rarely write whole JSON yet).
        taskMetric: 'rouge',
        maxTokens: 48,
        contextSize: 256,
        gate: { maxKl: 2, minTask: 0.05 },
      })
      const report = evaluation.report!
      if (process.env.DUMP_REPORT) writeFileSync(process.env.DUMP_REPORT, JSON.stringify(report, null, 1))
      expect(report.examples).toBe(12)
      const by = (key: string) => report.contestants.find((c) => c.key === key)!
      const [before, after, mismatch] = [by(`model:${untrained}`), by(`model:${student}`), by(`model:${other}`)]
      expect(by('teacher').role).toBe('teacher')
      expect(after.tokenMetrics!.positions).toBeGreaterThan(50)
      expect(after.tokenMetrics!.meanKl).toBeLessThan(before.tokenMetrics!.meanKl)
      expect(after.tokenMetrics!.top1Agreement).toBeGreaterThan(before.tokenMetrics!.top1Agreement)
      expect(after.tokenMetrics!.nll).toBeLessThan(before.tokenMetrics!.nll)
      expect(after.task!.score).toBeGreaterThan(before.task!.score)
      expect(after.task!.rougeL).toBe(after.task!.score)
      expect(after.tokensPerSecond).toBeGreaterThan(0)
      expect(after.sizeBytes).toBeGreaterThan(0)
      // Memory: each local model's own worker's peak RSS, above that worker's RSS before the model was loaded.
      for (const contestant of report.contestants) {
        expect(contestant.memoryBytes!).toBeGreaterThan(contestant.memoryBaselineBytes!)
        expect(contestant.memoryBytes!).toBeGreaterThan(contestant.sizeBytes!)
        expect(contestant.memoryBasis).toMatch(/peak RSS of a model worker process of its own/)
      }
      // Another tokenizer: token metrics refused with the reason, task metrics still measured.
      expect(mismatch.tokenMetrics).toBeNull()
      expect(mismatch.tokenMetricsSkipped).toMatch(/tokeniz/)
      expect(mismatch.task).not.toBeNull()
      expect(report.samples[0]!.answers[`model:${student}`]).toBeTypeOf('string')
      expect(report.curves[`model:${student}`]!.length).toBeGreaterThan(10)
      const verdict = (key: string) => report.verdicts.find((v) => v.key === key)!
      expect(verdict(`model:${student}`)).toMatchObject({ passed: true, reasons: [] })
      expect(verdict(`model:${untrained}`).passed).toBe(false)

      // Promotion: the gate's verdict decides; an override is recorded; rollback restores the previous target.
      const { namespace } = (await backend.call('cache.namespaces.save', { name: 'support' })) as {
        namespace: CacheNamespace
      }
      const refused = await backend
        .call('distill.promote', {
          target: { namespaceId: namespace.id },
          modelId: untrained,
          evaluationId: evaluation.id,
        })
        .catch((error: unknown) => error)
      expect(refused).toBeInstanceOf(ApiError)
      expect((refused as ApiError).code).toBe('conflict')
      expect((refused as ApiError).message).toMatch(/gate did not pass/)
      const forced = (await backend.call('distill.promote', {
        target: { namespaceId: namespace.id },
        modelId: untrained,
        evaluationId: evaluation.id,
        override: 'testing the override path',
        actor: 'alice',
      })) as Promotion
      expect(forced).toMatchObject({ gatePassed: false, override: 'testing the override path', actor: 'alice' })
      await backend.call('distill.rollback', { id: forced.id, actor: 'alice' })
      const promoted = (await backend.call('distill.promote', {
        target: { namespaceId: namespace.id },
        modelId: student,
        evaluationId: evaluation.id,
      })) as Promotion
      expect(promoted).toMatchObject({ gatePassed: true, override: null, modelName: 'student' })
      const list = () => backend.call('cache.namespaces.list', {}) as Promise<{ items: CacheNamespace[] }>
      expect((await list()).items.find((n) => n.id === namespace.id)!.generationTarget).toEqual({ model: student })
      // The gateway now answers the namespace's misses with the student: the header says miss, the log row's entry
      // records the student as the model that answered.
      const server = await startHttpServer({
        backend,
        port: 0,
        token: 'tok',
        gateway: new Gateway(backend, { adminToken: 'tok' }),
      })
      const ask = () =>
        fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'Bearer tok', 'content-type': 'application/json', 'x-larder-namespace': 'support' },
          body: JSON.stringify({
            model: 'support-default',
            messages: [{ role: 'user', content: 'Hi, please refund me (order 1234). No rush.' }],
            max_tokens: 12,
            temperature: 0,
          }),
        })
      try {
        const served = await ask()
        expect(served.status).toBe(200)
        expect(served.headers.get('x-larder-cache')).toBe('miss')
        backend.cache.flush()
        const logged = backend.workspace.db
          .prepare(
            `SELECT l.hit_kind AS hitKind, e.model AS model FROM request_log l JOIN cache_entries e ON e.id = l.entry_id
             WHERE l.namespace_id = ? ORDER BY l.id DESC LIMIT 1`,
          )
          .get(namespace.id) as { hitKind: string; model: string }
        expect(logged).toEqual({ hitKind: 'miss', model: 'student' })
      } finally {
        await server.close()
      }
      const rolled = (await backend.call('distill.rollback', { id: promoted.id })) as Promotion
      expect(rolled.rolledBackAt).not.toBeNull()
      expect((await list()).items.find((n) => n.id === namespace.id)!.generationTarget).toBeNull()
      // Rolled back to no target: a new question is no longer answered by the student.
      const again = await startHttpServer({
        backend,
        port: 0,
        token: 'tok',
        gateway: new Gateway(backend, { adminToken: 'tok' }),
      })
      try {
        const reply = await fetch(`${again.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'Bearer tok', 'content-type': 'application/json', 'x-larder-namespace': 'support' },
          body: JSON.stringify({ model: 'support-default', messages: [{ role: 'user', content: 'A new question' }] }),
        })
        expect(reply.status).toBe(404)
      } finally {
        await again.close()
      }
      await expect(backend.call('distill.rollback', { id: promoted.id })).rejects.toThrow(/already rolled back/)
      const history = (await backend.call('distill.promotions', {})) as { items: Promotion[] }
      expect(history.items.map((p) => p.id)).toEqual([promoted.id, forced.id])
    },
    // Processes: the shared worker, one worker per contestant (memory), the servers.
    workBudget({ loads: 12, processes: 8, tokens: 40_000 }),
  )

  it(
    'skips token metrics with the reason for a remote teacher without log-probs, and still measures the task',
    async () => {
      const home = tempDir()
      const backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
      backends.push(backend)
      const remote = await startExtractionTeacher({ logprobs: 'refuse' })
      try {
        const provider = (await backend.call('providers.save', {
          name: 'remote-teacher',
          baseUrl: remote.url,
          model: 'teacher',
          concurrency: 2,
        })) as { id: number }
        const evalData = join(home, 'eval.jsonl')
        writeFileSync(evalData, toChatJsonl(triageExamples(4, 7)))
        const studentPath = join(home, 'student.gguf')
        await writeTinyLlamaGguf(studentPath, { seed: 3 })
        const student = await register(backend, studentPath, 'student')
        const evaluation = await evaluate(backend, {
          data: evalData,
          teacher: { provider: provider.id },
          students: [{ modelId: student }],
          taskMetric: 'rouge',
          maxTokens: 8,
          contextSize: 256,
          gate: {},
        })
        const contestant = evaluation.report!.contestants.find((c) => c.key === `model:${student}`)!
        expect(contestant.tokenMetrics).toBeNull()
        expect(contestant.tokenMetricsSkipped).toMatch(/remote endpoint.*skipped, not estimated/)
        expect(contestant.task).not.toBeNull()
        const teacher = evaluation.report!.contestants.find((c) => c.role === 'teacher')!
        expect(teacher.task).not.toBeNull()
        // Memory: the local student's own worker grew past its baseline by loading it; the endpoint's is unknown.
        if (process.env.DUMP_MEMORY) writeFileSync(process.env.DUMP_MEMORY, JSON.stringify(contestant, null, 1))
        expect(contestant.memoryBytes!).toBeGreaterThan(contestant.memoryBaselineBytes!)
        expect(contestant.memoryBytes!).toBeGreaterThan(contestant.sizeBytes!)
        expect(contestant.memoryBaselineBytes!).toBeGreaterThan(0)
        expect(teacher).toMatchObject({ memoryBytes: null, memoryBaselineBytes: null })
        expect(teacher.memoryBasis).toMatch(/remote endpoint/)
      } finally {
        await remote.close()
      }
    },
    workBudget({ loads: 2, processes: 2, tokens: 8 * 4 * 2 }),
  )

  it(
    "evaluates a frozen dataset version's eval split (and refuses data and a version together)",
    async () => {
      const home = tempDir()
      const backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
      backends.push(backend)
      const file = join(home, 'answered.jsonl')
      writeFileSync(file, toChatJsonl(triageExamples(24, 5)))
      const dataset = (await backend.call('distill.datasets.create', { name: 'triage' })) as { id: number }
      await backend.call('distill.datasets.addSource', {
        datasetId: dataset.id,
        source: { kind: 'file', path: file, format: 'auto' },
        evalPercent: 25,
      })
      const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id, limit: 500 })) as {
        items: { id: number }[]
      }
      await backend.call('distill.datasets.review', {
        datasetId: dataset.id,
        ids: items.map((item) => item.id),
        action: 'approve',
      })
      const version = (await backend.call('distill.datasets.freeze', { datasetId: dataset.id })) as {
        id: number
        evalCount: number
      }
      expect(version.evalCount).toBeGreaterThan(0)
      const studentPath = join(home, 'student.gguf')
      await writeTinyLlamaGguf(studentPath, { seed: 3 })
      const student = await register(backend, studentPath, 'student')
      await expect(
        backend.call('distill.eval', { data: file, datasetVersionId: version.id, students: [{ modelId: student }] }),
      ).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/either data .* not both/) })
      const evaluation = await evaluate(backend, {
        datasetVersionId: version.id,
        students: [{ modelId: student }],
        taskMetric: 'rouge',
        maxTokens: 4,
        contextSize: 256,
      })
      // Every eval-split example and nothing from the train split; the file's name says which version it was.
      expect(evaluation.report!.examples).toBe(version.evalCount)
      expect(evaluation.dataPath).toMatch(/triage-v1-eval\.openai\.jsonl$/)
    },
    workBudget({ loads: 2, processes: 1, tokens: 4 * 24 }),
  )

  it('refuses bad input before a job exists', async () => {
    const home = tempDir()
    const backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
    backends.push(backend)
    const empty = join(home, 'empty.jsonl')
    writeFileSync(empty, '{"messages":[{"role":"user","content":"hi"}]}\n')
    await expect(backend.call('distill.eval', { data: empty, students: [{ modelId: 1 }] })).rejects.toMatchObject({
      code: 'invalid_input',
    })
    const data = join(home, 'ok.jsonl')
    writeFileSync(data, toChatJsonl(triageExamples(3, 1)))
    await expect(backend.call('distill.eval', { data, students: [{ modelId: 42 }] })).rejects.toMatchObject({
      code: 'invalid_input',
      path: ['students', 0, 'modelId'],
    })
    await expect(backend.call('distill.promote', { target: { namespaceId: 9 }, modelId: 1 })).rejects.toMatchObject({
      code: 'not_found',
    })
  })
})
