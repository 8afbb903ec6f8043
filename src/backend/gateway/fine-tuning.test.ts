/**
 * Larder's gateway as an OpenAI fine-tuning service, driven by the official `openai` client over real HTTP: upload a
 * chat JSONL, create a job on a registered student, poll it to success (a real distill.train run with the built-in
 * trainer), read its events and checkpoints, chat with the fine-tuned model through the same gateway, cancel another
 * job; another tenant's key sees none of it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI, { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil, workBudget } from '../../../test/helpers'
import type { JobLog, Model, TrainPointView } from '../../shared/contract'
import { Backend } from '../backend'
import { writeScratchStudent } from '../distill/student'
import { toChatJsonl, triageExamples } from '../distill/synthetic'
import { startHttpServer, type RunningHttpServer } from '../server/http-server'
import { eventsPage, jobEvents, MAX_METRICS, metricsOf } from './fine-tuning-events'
import { Gateway } from './gateway'

const root = mkdtempSync(join(tmpdir(), 'larder-ft-'))
let backend: Backend
let server: RunningHttpServer
let client: OpenAI
let other: OpenAI

beforeAll(
  async () => {
    backend = Backend.open({ home: join(root, 'home'), models: { cpuOnly: true } }).start()
    const path = join(root, 'base.gguf')
    await writeScratchStudent(path, {
      embeddingLength: 64,
      blockCount: 2,
      headCount: 4,
      feedForwardLength: 128,
      contextLength: 256,
      seed: 4,
      name: 'base',
    })
    ;(await backend.call('models.register', { path, name: 'base-student' })) as Model
    server = await startHttpServer({
      backend,
      port: 0,
      token: 'tok',
      gateway: new Gateway(backend, { adminToken: 'tok' }),
    })
    const key = async (tenant: string) =>
      ((await backend.call('gateway.keys.create', { tenant })) as { secret: string }).secret
    client = new OpenAI({ apiKey: await key('acme'), baseURL: `${server.url}/v1`, maxRetries: 0 })
    other = new OpenAI({ apiKey: await key('globex'), baseURL: `${server.url}/v1`, maxRetries: 0 })
  },
  workBudget({ processes: 1 }),
)

afterAll(async () => {
  await server.close()
  await backend.close()
  rmSync(root, { recursive: true, force: true })
})

describe('the fine-tuning API with the official openai client', () => {
  it(
    'uploads, trains, reports events and checkpoints, serves the fine-tuned model; cancel works; tenants are apart',
    async () => {
      const data = Buffer.from(toChatJsonl(triageExamples(120, 11)))
      const file = await client.files.create({ file: await toFile(data, 'train.jsonl'), purpose: 'fine-tune' })
      expect(file).toMatchObject({ object: 'file', purpose: 'fine-tune', bytes: data.length, filename: 'train.jsonl' })
      const job = await client.fineTuning.jobs.create({
        model: 'base-student',
        training_file: file.id,
        suffix: 'triage',
        hyperparameters: { n_epochs: 1 },
        metadata: { larder_max_steps: '30' },
      })
      expect(job.object).toBe('fine_tuning.job')
      expect(['queued', 'running']).toContain(job.status)
      let current = job
      await waitUntil(
        async () => {
          current = await client.fineTuning.jobs.retrieve(job.id)
          return current.status !== 'queued' && current.status !== 'running'
        },
        workBudget({ processes: 1, tokens: 30 * 64 }),
        'the fine-tuning job to finish',
      )
      expect(current.error).toBeNull()
      expect(current.status).toBe('succeeded')
      expect(current.fine_tuned_model).toMatch(/^ft:base-student:triage:/)
      const events = await client.fineTuning.jobs.listEvents(job.id, { limit: 1000 })
      expect(events.data.length).toBeGreaterThan(0)
      expect(events.data.some((event) => /Trained|Training on/.test(event.message))).toBe(true)
      // Metrics events, as OpenAI sends them: the run's recorded training points, oldest step last.
      const metrics = events.data.filter((event) => event.type === 'metrics')
      const runId = backend.distill.repo.list(10).find((run) => run.name === current.fine_tuned_model)!.id
      const trained = backend.distill.repo.pointsInOrder(runId).filter((point) => point.loss !== null)
      expect(metrics.length).toBe(trained.length)
      expect(metrics.length).toBeGreaterThan((await client.fineTuning.jobs.checkpoints.list(job.id)).data.length)
      for (const event of metrics) {
        const data = event.data as { step: number; train_loss: number; total_steps: number }
        expect(event.message).toMatch(new RegExp(`^Step ${data.step}/${data.total_steps}: training loss=\\d`))
        expect(data.train_loss).toBe(trained.find((point) => point.step === data.step)!.loss)
      }
      expect(metrics.map((event) => (event.data as { step: number }).step)).toEqual(
        trained.map((point) => point.step).reverse(),
      )
      // Paged seven at a time with `after`, the official client's iterator sees the same list, each event once.
      const paged: string[] = []
      for await (const event of client.fineTuning.jobs.listEvents(job.id, { limit: 7 })) paged.push(event.id)
      expect(paged).toEqual(events.data.map((event) => event.id))
      const checkpoints = await client.fineTuning.jobs.checkpoints.list(job.id)
      expect(checkpoints.data.length).toBeGreaterThan(0)
      expect(checkpoints.data[0]).toMatchObject({ object: 'fine_tuning.job.checkpoint', fine_tuning_job_id: job.id })
      const list = await client.fineTuning.jobs.list()
      expect(list.data.map((entry) => entry.id)).toContain(job.id)

      // The fine-tuned model answers through the same gateway.
      const reply = await client.chat.completions.create({
        model: current.fine_tuned_model!,
        messages: [{ role: 'user', content: 'Hi, please refund me (order 1234). No rush.' }],
        max_tokens: 8,
        temperature: 0,
      })
      expect(reply.choices[0]!.message.content).toBeTypeOf('string')

      // Another tenant sees neither the file nor the job.
      await expect(other.fineTuning.jobs.retrieve(job.id)).rejects.toMatchObject({ status: 404 })
      await expect(other.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 })
      expect((await other.fineTuning.jobs.list()).data).toEqual([])

      // Cancel: a long job stops and says so.
      const long = await client.fineTuning.jobs.create({
        model: 'base-student',
        training_file: file.id,
        hyperparameters: { n_epochs: 50 },
      })
      const cancelled = await client.fineTuning.jobs.cancel(long.id)
      expect(cancelled.status).toBe('cancelled')

      // Bad input is a 4xx in OpenAI's error shape.
      await expect(client.fineTuning.jobs.create({ model: 'nope', training_file: file.id })).rejects.toMatchObject({
        status: 404,
      })
      const empty = await client.files.create({
        file: await toFile(Buffer.from('{"messages": []}\n'), 'bad.jsonl'),
        purpose: 'fine-tune',
      })
      await expect(
        client.fineTuning.jobs.create({ model: 'base-student', training_file: empty.id }),
      ).rejects.toMatchObject({
        status: 400,
      })
    },
    workBudget({ processes: 3, loads: 2, tokens: 2000 }),
  )
})

describe('fine-tuning events: metrics thinned and anchored so the list only grows at its newest end', () => {
  const point = (
    step: number,
    loss: number | null = 3 - step / 1000,
    valLoss: number | null = null,
  ): TrainPointView => ({
    step,
    epoch: 0,
    loss,
    accuracy: null,
    lr: null,
    tokensPerSecond: null,
    valLoss,
    valAccuracy: null,
    answerAccuracy: null,
    answerLoss: null,
  })
  const line = (seq: number, message: string, second: number): JobLog => ({
    jobId: 1,
    seq,
    level: 'info',
    message,
    messageRef: null,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString(),
  })
  const steps = (count: number) => Array.from({ length: count }, (_, index) => point(index + 1))

  it('keeps at most MAX_METRICS evenly spaced steps and, once the job ends, the last one', () => {
    const running = metricsOf(steps(1000), 1000, false)
    expect(running.length).toBe(MAX_METRICS)
    expect(running.every((metric) => metric.step % 5 === 0)).toBe(true)
    expect(running.at(-1)!.data).toEqual({ step: 1000, total_steps: 1000, train_loss: 2 })
    const stopped = metricsOf(steps(998), 1000, true)
    expect(stopped.at(-1)!.step).toBe(998)
    expect(stopped.length).toBe(200)
    const withEval = metricsOf([point(4), point(4, null, 1.5)], 4, true)
    expect(withEval[0]!.data).toMatchObject({ step: 4, valid_loss: 1.5 })
    expect(withEval[0]!.message).toBe('Step 4/4: training loss=3.00, validation loss=1.50')
  })

  it('places points before the checkpoint line that follows them, and later events only at the newest end', () => {
    const logs = [line(1, 'Training on ...', 0), line(2, 'Checkpoint after epoch 1', 10)]
    const checkpoints = [{ step: 2, createdAt: logs[1]!.at }]
    const sources = {
      key: 'unit#1',
      ftJobId: 90_001,
      logs,
      points: steps(3),
      checkpoints,
      totalSteps: 6,
      terminal: false,
    }
    const first = jobEvents(sources).map((event) => event.id)
    expect(first).toEqual([
      'ftevent-90001-m3',
      'ftevent-90001-2',
      'ftevent-90001-m2',
      'ftevent-90001-m1',
      'ftevent-90001-1',
    ])
    const later = jobEvents({ ...sources, logs: [...logs, line(3, 'A warning', 20)], points: steps(5) })
    expect(later.map((event) => event.id)).toEqual([
      'ftevent-90001-m5',
      'ftevent-90001-m4',
      'ftevent-90001-3',
      ...first,
    ])
    const page = eventsPage(later, 2, 'ftevent-90001-3')
    expect(page.data.map((event) => event.id)).toEqual(first.slice(0, 2))
    expect(page.has_more).toBe(true)
  })
})
