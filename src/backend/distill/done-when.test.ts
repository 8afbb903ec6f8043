/**
 * Issue 10's "Done when", end to end with real components: requests sent through the gateway to a real
 * OpenAI-compatible teacher on 127.0.0.1 (answers by a deterministic extraction rule) land in the request log; a
 * dataset imports them from there, the teacher answers them, a judge on the same server filters them, a version
 * freezes and exports as OpenAI chat JSONL. The built-in trainer trains a student from an untrained base twice:
 * through the external-command contract (`larder distill trainer-jsonl`) and through Larder's own fine-tuning API
 * driven by the official `openai` client. A local GGUF teacher (trained longer on the same version) gives the
 * log-prob path: `distill.eval` puts both trained students closer to it than the untrained base on answer-position
 * KL and on the task metric, and the gate passes them. Promotion makes the gateway answer a miss with the student
 * (the `x-larder-model` header and the request log's entry say so); rollback restores the teacher as the target.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import OpenAI, { toFile } from 'openai'
import { afterEach, describe, expect, it } from 'vitest'
import type { CacheNamespace, Dataset, DatasetVersion, Job, Model, Promotion } from '../../shared/contract'
import { tempDir, waitUntil, workBudget } from '../../../test/helpers'
import {
  evaluate,
  extract,
  JSONL_TRAINER,
  startExtractionTeacher,
  trainedModelOf,
  type ExtractionTeacher,
} from '../../../test/fixtures/distill'
import { Backend } from '../backend'
import { Gateway } from '../gateway/gateway'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { writeScratchStudent } from './student'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** Steps of the short student runs and of the longer local teacher run. */
const STUDENT_STEPS = 800
const TEACHER_STEPS = 2400

/** Support requests with an invoice/order number in them, and a few with none (the judge rejects those). */
function supportPrompts(): string[] {
  const shapes = [
    (n: number) => `Invoice ${n} is overdue, please check`,
    (n: number) => `Where is my order ${n}?`,
    (n: number) => `Please refund ticket ${n} today`,
    (n: number) => `Account ${n} cannot log in`,
  ]
  const numbered = Array.from({ length: 48 }, (_, i) => shapes[i % shapes.length]!(100 + ((i * 37) % 900)))
  return [...numbered, 'Nothing to extract here', 'No digits in this one either', 'Hello there', 'Thanks a lot']
}

async function ask(server: RunningHttpServer, content: string) {
  const response = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer tok', 'content-type': 'application/json', 'x-larder-namespace': 'support' },
    body: JSON.stringify({
      model: 'support-default',
      messages: [{ role: 'user', content }],
      max_tokens: 16,
      temperature: 0,
    }),
  })
  const payload = (await response.json()) as { choices?: { message: { content: string } }[] }
  return { response, text: payload.choices?.[0]?.message.content }
}

/** The newest request-log row of the namespace, with the model its cache entry records. */
function lastLogged(backend: Backend, namespaceId: number) {
  backend.cache.flush()
  return backend.workspace.db
    .prepare(
      `SELECT l.hit_kind AS hitKind, e.model AS model FROM request_log l JOIN cache_entries e ON e.id = l.entry_id
       WHERE l.namespace_id = ? ORDER BY l.id DESC LIMIT 1`,
    )
    .get(namespaceId) as { hitKind: string; model: string }
}

async function runJob(backend: Backend, method: string, input: Record<string, unknown>): Promise<Job> {
  const { job } = (await backend.call(method, input)) as { job: Job }
  const done = await backend.runner.waitFor(job.id)
  expect(done.error ?? null).toBeNull()
  return done
}

function readJsonl(path: string): { messages: { role: string; content: string }[]; larder_logprobs?: unknown }[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { messages: { role: string; content: string }[] })
}

interface World {
  backend: Backend
  server: RunningHttpServer
  teacher: ExtractionTeacher
  providerId: number
  namespace: CacheNamespace
}

async function openWorld(home: string): Promise<World> {
  const backend = Backend.open({ home, validateOutput: true, models: { cpuOnly: true } }).start()
  cleanups.push(() => backend.close())
  const teacher = await startExtractionTeacher({ logprobs: 'return' })
  cleanups.push(() => teacher.close())
  const provider = (await backend.call('providers.save', {
    name: 'extractor',
    baseUrl: teacher.url,
    model: 'teacher',
    concurrency: 4,
  })) as { id: number }
  const { namespace } = (await backend.call('cache.namespaces.save', {
    name: 'support',
    generationTarget: { provider: provider.id },
  })) as { namespace: CacheNamespace }
  const server = await startHttpServer({
    backend,
    port: 0,
    token: 'tok',
    gateway: new Gateway(backend, { adminToken: 'tok' }),
  })
  cleanups.push(() => server.close())
  return { backend, server, teacher, providerId: provider.id, namespace }
}

/** Traffic through the gateway, then a dataset from the request log: teacher answers, judge filters, version. */
async function datasetFromTraffic(world: World): Promise<DatasetVersion> {
  const { backend, server, namespace, providerId } = world
  const prompts = supportPrompts()
  for (const prompt of prompts) {
    const { response, text } = await ask(server, prompt)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-larder-cache')).toBe('miss')
    expect(response.headers.get('x-larder-model')).toBe(lastLogged(backend, namespace.id).model)
    expect(text).toBe(extract(prompt))
  }
  const served = world.teacher.calls[0]!
  expect(served).toBe(prompts.length)

  const dataset = (await backend.call('distill.datasets.create', { name: 'support-extraction' })) as Dataset
  await backend.call('distill.datasets.addSource', {
    datasetId: dataset.id,
    source: { kind: 'request-log', namespaceId: namespace.id, mode: 'all' },
    evalPercent: 25,
  })
  const teach = await runJob(backend, 'distill.teach', {
    datasetId: dataset.id,
    teachers: [{ provider: providerId }],
    topLogprobs: 4,
    samples: 1,
  })
  expect(teach.result).toMatchObject({ answered: prompts.length, failed: 0 })
  const judged = await runJob(backend, 'distill.judge', {
    datasetId: dataset.id,
    judge: {
      rubric: 'The answer must be the first number of the prompt as JSON {"number": N}.',
      target: { provider: providerId },
    },
    threshold: 7,
  })
  expect(judged.result).toMatchObject({ judged: prompts.length, approved: 48, rejected: 4 })
  const version = (await backend.call('distill.datasets.freeze', { datasetId: dataset.id })) as DatasetVersion
  expect(version.trainCount + version.evalCount).toBe(48)
  expect(version.evalCount).toBeGreaterThanOrEqual(4)
  expect(version.card.judge).toMatchObject({ threshold: 7 })
  return version
}

/** The version as OpenAI chat JSONL: every line a user prompt and the teacher's answer by the rule. */
async function exportVersion(backend: Backend, versionId: number, split: 'all' | 'train' | 'eval'): Promise<string> {
  const exported = (await backend.call('distill.datasets.export', { versionId, split, format: 'openai' })) as {
    path: string
  }
  return exported.path
}

describe("issue 10's done-when, end to end", () => {
  it(
    'request log -> teacher -> judge -> JSONL -> two trained students -> eval and gate -> promotion serves misses -> rollback',
    async () => {
      const home = tempDir()
      const world = await openWorld(home)
      const { backend, server, namespace, providerId } = world
      const version = await datasetFromTraffic(world)

      const all = readJsonl(await exportVersion(backend, version.id, 'all'))
      expect(all).toHaveLength(48)
      for (const line of all) {
        expect(line.messages.map((message) => message.role)).toEqual(['user', 'assistant'])
        expect(line.messages[1]!.content).toBe(extract(line.messages[0]!.content))
        expect(line.larder_logprobs).toBeDefined()
      }
      const trainFile = await exportVersion(backend, version.id, 'train')
      const evalFile = await exportVersion(backend, version.id, 'eval')
      expect(readJsonl(evalFile)).toHaveLength(version.evalCount)

      // The untrained base both students start from, and a local GGUF teacher (same byte-level vocabulary) trained
      // longer on the same version, for the log-prob path.
      const basePath = join(home, 'base.gguf')
      await writeScratchStudent(basePath, {
        embeddingLength: 64,
        blockCount: 2,
        headCount: 4,
        feedForwardLength: 128,
        contextLength: 256,
        seed: 2,
        name: 'base',
      })
      const base = ((await backend.call('models.register', { path: basePath, name: 'base-student' })) as Model).id
      const hyperparameters = { lr: 3e-4, batch: 64, threads: 1, warmupSteps: 20, valPercent: 5 }
      const localTeacher = await trainedModelOf(backend, {
        student: { scratch: { seed: 1 } },
        datasetVersionId: version.id,
        name: 'local-teacher',
        hyperparameters: { ...hyperparameters, epochs: 1000, maxSteps: TEACHER_STEPS },
      })

      // Student 1: the built-in trainer behind the external-command contract.
      const external = await trainedModelOf(backend, {
        student: { modelId: base },
        datasetVersionId: version.id,
        name: 'student-external',
        // The job's epochs reach the command through {epochs} (the tool's own default is 1).
        trainer: { command: `${JSONL_TRAINER} --max-steps ${STUDENT_STEPS}` },
        hyperparameters: { threads: 1, epochs: 1000 },
      })
      expect(((await backend.call('models.get', { id: external })) as Model).provenance).toMatchObject({
        trainer: 'external',
      })

      // Student 2: Larder's own fine-tuning API, with the official client, on the exported train split.
      const secret = ((await backend.call('gateway.keys.create', { tenant: 'default' })) as { secret: string }).secret
      const client = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1`, maxRetries: 0 })
      const file = await client.files.create({
        file: await toFile(readFileSync(trainFile), 'train.jsonl'),
        purpose: 'fine-tune',
      })
      const created = await client.fineTuning.jobs.create({
        model: 'base-student',
        training_file: file.id,
        suffix: 'support',
        hyperparameters: { n_epochs: 1000 },
        metadata: { larder_max_steps: String(STUDENT_STEPS) },
      })
      let fineTuned = created
      await waitUntil(
        async () => {
          fineTuned = await client.fineTuning.jobs.retrieve(created.id)
          return fineTuned.status !== 'queued' && fineTuned.status !== 'running'
        },
        workBudget({ processes: 1, tokens: STUDENT_STEPS * 64 }),
        'the fine-tuning job to finish',
      )
      expect(fineTuned.error).toBeNull()
      expect(fineTuned.status).toBe('succeeded')
      const viaApi = (await backend.models.list()).items.find((model) => model.name === fineTuned.fine_tuned_model)!
      expect(viaApi).toBeDefined()

      // The report: both trained students closer to the local teacher than the untrained base, the gate passes them.
      const evaluation = await evaluate(backend, {
        data: evalFile,
        teacher: { model: localTeacher },
        students: [{ modelId: base }, { modelId: external }, { modelId: viaApi.id }],
        taskMetric: 'rouge',
        maxTokens: 24,
        contextSize: 256,
        gate: { maxKl: 2, minTask: 0.1 },
      })
      const report = evaluation.report!
      if (process.env.DUMP_REPORT) writeFileSync(process.env.DUMP_REPORT, JSON.stringify(report, null, 1))
      expect(report.examples).toBe(version.evalCount)
      const by = (id: number) => report.contestants.find((c) => c.key === `model:${id}`)!
      const verdict = (id: number) => report.verdicts.find((v) => v.key === `model:${id}`)!
      const before = by(base)
      for (const id of [external, viaApi.id]) {
        const after = by(id)
        expect(after.tokenMetrics!.positions).toBeGreaterThan(20)
        expect(after.tokenMetrics!.meanKl).toBeLessThan(before.tokenMetrics!.meanKl)
        expect(after.task!.score).toBeGreaterThan(before.task!.score)
        expect(verdict(id)).toMatchObject({ passed: true, reasons: [] })
      }
      expect(verdict(base).passed).toBe(false)

      // Promotion: the namespace's misses now come from the student; the header and the request log say so.
      const promoted = (await backend.call('distill.promote', {
        target: { namespaceId: namespace.id },
        modelId: external,
        evaluationId: evaluation.id,
        actor: 'alice',
      })) as Promotion
      expect(promoted).toMatchObject({ gatePassed: true, override: null, modelName: 'student-external' })
      const teacherCalls = world.teacher.calls[0]!
      const fromStudent = await ask(server, 'Invoice 4242 was charged twice')
      expect(fromStudent.response.status).toBe(200)
      expect(fromStudent.response.headers.get('x-larder-cache')).toBe('miss')
      expect(fromStudent.response.headers.get('x-larder-model')).toBe('student-external')
      expect(lastLogged(backend, namespace.id)).toEqual({ hitKind: 'miss', model: 'student-external' })
      expect(world.teacher.calls[0]).toBe(teacherCalls)

      // Rollback restores the teacher as the namespace's target: the next miss is the teacher's again.
      await backend.call('distill.rollback', { id: promoted.id, actor: 'alice' })
      const namespaces = (await backend.call('cache.namespaces.list', {})) as { items: CacheNamespace[] }
      expect(namespaces.items.find((n) => n.id === namespace.id)!.generationTarget).toEqual({ provider: providerId })
      const fromTeacher = await ask(server, 'Order 777 is missing')
      expect(fromTeacher.response.headers.get('x-larder-cache')).toBe('miss')
      expect(fromTeacher.text).toBe(extract('Order 777 is missing'))
      expect(fromTeacher.response.headers.get('x-larder-model')).toBe(lastLogged(backend, namespace.id).model)
      expect(fromTeacher.response.headers.get('x-larder-model')).not.toBe('student-external')
      expect(world.teacher.calls[0]).toBe(teacherCalls + 1)
    },
    // Model loads: eval's four models, the student behind the gateway; processes: workers, the trainer child, the
    // servers; tokens: eval's answers and teacher forcing, plus the training steps (64-token batches, counted at a
    // quarter of a decoded token each, as eval.test.ts does).
    workBudget({ loads: 8, processes: 8, tokens: 4_000 + ((TEACHER_STEPS + 2 * STUDENT_STEPS) * 64) / 4 }),
  )
})
