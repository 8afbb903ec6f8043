/**
 * One Larder trains through another: instance S (a real workspace and its gateway on 127.0.0.1, a tenant key) is
 * the fine-tuning service, instance C (another workspace) has a provider pointing at S's gateway and key and runs
 * `distill.train` with the API trainer, which speaks to S with the official `openai` client. S trains with its
 * built-in trainer (a tiny scratch student, a few steps, one thread). Nothing is mocked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitUntil, workBudget } from '../../../../test/helpers'
import type { DistillRun, Evaluation, Job, JobLog, ProviderConfig, TrainPointView } from '../../../shared/contract'
import { EXIT } from '../../../cli/exit-codes'
import { runCli } from '../../../cli/main'
import { Backend } from '../../backend'
import { Gateway } from '../../gateway/gateway'
import { OpenAiApiTrainer } from './openai-api'
import { startHttpServer, type RunningHttpServer } from '../../server/http-server'
import { writeScratchStudent } from '../student'
import { toChatJsonl, triageExamples } from '../synthetic'

let serverSide: Backend
let client: Backend
let server: RunningHttpServer
let secret: string
let source: ProviderConfig
let data: string
/** The provider the first test's run registered for the fine-tuned model. */
let madeProvider: number | null = null
/** The first run's remote job and S's log lines for it, as C should have logged them. */
let finished: { jobId: string; serverJobId: number } | null = null
const root = mkdtempSync(join(tmpdir(), 'larder-ftclient-'))

beforeAll(
  async () => {
    serverSide = Backend.open({ home: join(root, 's'), models: { cpuOnly: true } }).start()
    const base = join(root, 'base.gguf')
    await writeScratchStudent(base, {
      embeddingLength: 64,
      blockCount: 2,
      headCount: 4,
      feedForwardLength: 128,
      contextLength: 256,
      seed: 4,
      name: 'base',
    })
    await serverSide.call('models.register', { path: base, name: 'base-student' })
    server = await startHttpServer({
      backend: serverSide,
      port: 0,
      token: 'admin-tok',
      gateway: new Gateway(serverSide, { adminToken: 'admin-tok' }),
    })
    secret = ((await serverSide.call('gateway.keys.create', { tenant: 'acme' })) as { secret: string }).secret
    client = Backend.open({ home: join(root, 'c'), models: { cpuOnly: true } }).start()
    source = (await client.call('providers.save', {
      name: 'larder-s',
      baseUrl: `${server.url}/v1`,
      apiKey: secret,
      model: 'base-student',
    })) as ProviderConfig
    data = join(root, 'triage.jsonl')
    writeFileSync(data, toChatJsonl(triageExamples(120, 11)))
  },
  workBudget({ processes: 2 }),
)

afterAll(async () => {
  await server?.close()
  await serverSide?.close()
  await client?.close()
  rmSync(root, { recursive: true, force: true })
})

async function train(trainer: Record<string, unknown>, hyperparameters: Record<string, unknown>, name: string) {
  return (await client.call('distill.train', {
    data,
    name,
    hyperparameters: { threads: 1, ...hyperparameters },
    trainer: { api: { providerId: source.id, pollMs: 100, ...trainer } },
  })) as { job: Job; run: DistillRun }
}

async function logsOf(backend: Backend, jobId: number): Promise<JobLog[]> {
  return ((await backend.call('jobs.logs', { id: jobId, limit: 2000 })) as { items: JobLog[] }).items
}

describe('the OpenAI fine-tuning API trainer, one Larder training through another', () => {
  it(
    'trains at S, follows its events and checkpoints, registers the fine-tuned model as a provider that S serves',
    async () => {
      const { job, run } = await train({ suffix: 'triage' }, { epochs: 1, maxSteps: 30 }, 'remote-triage')
      expect(run.trainer).toBe('api')
      const done = await client.runner.waitFor(job.id)
      expect(done.error).toBeNull()
      expect(done.status).toBe('succeeded')

      const detail = (await client.call('distill.run', { id: run.id })) as {
        run: DistillRun
        points: TrainPointView[]
        checkpoints: { path: string; step: number }[]
      }
      const remote = detail.run.result!.remote!
      expect(remote.model).toMatch(/^ft:base-student:triage:/)
      expect(remote.jobId).toMatch(/^ftjob-/)
      expect(detail.run.providerId).toBe(remote.providerId)
      expect(detail.points.length).toBeGreaterThan(0)
      expect(detail.checkpoints.length).toBeGreaterThan(0)
      expect(detail.checkpoints[0]!.path).toContain(':ckpt-step-')
      // S's metrics events became C's curve: more points than checkpoints, each loss S's own at that step.
      const serverRun = serverSide.distill.repo.list(10).find((entry) => entry.name === remote.model)!
      const serverLoss = new Map(
        serverSide.distill.repo
          .pointsInOrder(serverRun.id)
          .filter((point) => point.loss !== null)
          .map((point) => [point.step, point.loss]),
      )
      const curve = detail.points.filter((point) => point.loss !== null)
      expect(curve.length).toBeGreaterThan(detail.checkpoints.length)
      for (const point of curve) expect(point.loss).toBe(serverLoss.get(point.step))

      // S's job log arrived as C's log lines, each once and in S's order; the key is never written.
      const logs = await logsOf(client, job.id)
      const remoteLines = logs.map((log) => log.message).filter((text) => text.startsWith('[remote] '))
      const serverLines = (await logsOf(serverSide, serverRun.jobId!)).map((log) => `[remote] ${log.message}`)
      expect(remoteLines.length).toBeGreaterThan(1)
      expect(remoteLines).toEqual(serverLines.slice(0, remoteLines.length))
      expect(logs.some((log) => log.message.includes(secret))).toBe(false)
      finished = { jobId: remote.jobId, serverJobId: serverRun.jobId! }

      // The provider for the fine-tuned model: same endpoint, the remote model; C generates through it.
      const providers = ((await client.call('providers.list', {})) as { items: ProviderConfig[] }).items
      const made = providers.find((provider) => provider.id === remote.providerId)!
      expect(made).toMatchObject({ name: 'remote-triage', baseUrl: source.baseUrl, model: remote.model })
      expect(made.hasApiKey).toBe(true)
      madeProvider = made.id
      const reply = (await client.call('models.generate', {
        target: { provider: made.id },
        messages: [{ role: 'user', content: 'Hi, please refund me (order 1234). No rush.' }],
        sampling: { maxTokens: 8, temperature: 0 },
      })) as { text: string; tokensOut: number }
      expect(reply.text).toBeTypeOf('string')
      expect(reply.tokensOut).toBeGreaterThan(0)
      serverSide.cache.flush()
      const logged = serverSide.workspace.db
        .prepare('SELECT canonical, tenant FROM request_log ORDER BY id DESC LIMIT 1')
        .get() as { canonical: string; tenant: string }
      expect(logged.tenant).toBe('acme')
      expect(JSON.parse(logged.canonical)).toMatchObject({ model: remote.model })
    },
    workBudget({ processes: 3, loads: 2, tokens: 30 * 64 + 200 }),
  )

  it(
    "pages back through S's events with after, two at a time: every event once, oldest first",
    async () => {
      expect(finished).not.toBeNull()
      const lines: string[] = []
      const trainer = new OpenAiApiTrainer({ baseUrl: source.baseUrl, apiKey: secret }, 50, 2)
      const outcome = await trainer.train(
        { trainFile: data, model: 'base-student', epochs: 1, seed: 1, resumeJobId: finished!.jobId },
        {
          log: (_level, message) => lines.push(message),
          created: () => undefined,
          status: () => undefined,
          point: () => undefined,
          checkpoint: () => undefined,
        },
        new AbortController().signal,
      )
      expect(outcome.jobId).toBe(finished!.jobId)
      const serverLines = (await logsOf(serverSide, finished!.serverJobId)).map((log) => `[remote] ${log.message}`)
      expect(serverLines.length).toBeGreaterThan(4)
      expect(lines.filter((line) => line.startsWith('[remote] '))).toEqual(serverLines)
    },
    workBudget({}),
  )

  it(
    'evaluates the fine-tuned provider as a student: task metrics and judge measured, token metrics skipped with the reason',
    async () => {
      expect(madeProvider).not.toBeNull()
      const { job, evaluation } = (await client.call('distill.eval', {
        data,
        students: [{ providerId: madeProvider! }],
        taskMetric: 'json',
        maxExamples: 3,
        maxTokens: 8,
        judge: { target: { provider: source.id } },
        gate: { minTask: 0 },
      })) as { job: Job; evaluation: Evaluation }
      const done = await client.runner.waitFor(job.id)
      expect(done.error).toBeNull()
      const report = ((await client.call('distill.evaluation', { id: evaluation.id })) as Evaluation).report!
      const student = report.contestants.find((contestant) => contestant.role === 'student')!
      expect(student.key).toBe(`provider:${madeProvider}`)
      expect(student.modelId).toBeNull()
      expect(student.task).not.toBeNull()
      expect(student.task!.jsonFieldF1).toBeTypeOf('number')
      expect(student.task!.score).toBeGreaterThanOrEqual(0)
      expect(student.winRate).toBeGreaterThanOrEqual(0)
      expect(student.tokensPerSecond).toBeGreaterThan(0)
      expect(student.tokenMetrics).toBeNull()
      expect(student.tokenMetricsSkipped).toMatch(/provider cannot be teacher-forced/)
      expect(report.verdicts).toEqual([{ key: `provider:${madeProvider}`, passed: true, reasons: expect.any(Array) }])
      expect(report.curves[`provider:${madeProvider}`]?.length).toBeGreaterThan(0)
    },
    workBudget({ tokens: 3 * (8 + 2 * 4) }),
  )

  it(
    'larder distill train --trainer-api <provider> trains at the remote and names the provider it made; eval takes it',
    async () => {
      const home = join(root, 'cli')
      const cli = Backend.open({ home })
      await cli.call('providers.save', { name: 'larder-s', baseUrl: `${server.url}/v1`, apiKey: secret, model: 'x' })
      await cli.close()
      let out = ''
      let err = ''
      const larder = (args: string[]) =>
        runCli(['--home', home, ...args], { out: (t) => (out += t), err: (t) => (err += t), stdinIsTTY: false })
      const common = ['distill', 'train', '--data', data, '--epochs', '1', '--max-steps', '4']
      const code = await larder([
        ...common,
        '--trainer-api',
        'larder-s',
        '--remote-model',
        'base-student',
        '--suffix',
        'cli',
      ])
      expect(err).toBe('')
      expect(code).toBe(EXIT.ok)
      expect(out).toMatch(/Trained ft:base-student:cli:\d+ from base-student at the remote \(job ftjob-\d+/)
      expect(out).toMatch(/provider +#\d+ serves it/)
      out = ''
      expect(await larder(['distill', 'runs'])).toBe(EXIT.ok)
      expect(out).toMatch(/succeeded .* ft:base-student:cli:\d+ \(provider #\d+\)/)
      out = ''
      const evalArgs = ['--student', 'provider:distilled-1', '--metric', 'json', '--max-examples', '2']
      expect(await larder(['distill', 'eval', '--data', data, ...evalArgs, '--max-tokens', '8'])).toBe(EXIT.ok)
      expect(out).toMatch(/token metrics skipped: A provider cannot be teacher-forced/)
      expect(await larder([...common, '--trainer-api', 'nobody'])).not.toBe(EXIT.ok)
      expect(err).toMatch(/No provider named "nobody" \(configured: distilled-1, larder-s\)/)
      expect(await larder(common)).not.toBe(EXIT.ok)
      expect(err).toMatch(/Give --student/)
    },
    workBudget({ processes: 2, tokens: 4 * 64 }),
  )

  /** The job id of S's training run once it is running (the remote side of C's job). */
  async function runningServerJob(): Promise<number> {
    let serverJob: number | null = null
    await waitUntil(
      () => {
        serverJob = serverSide.distill.repo.list(10).find((entry) => entry.status === 'running')?.jobId ?? null
        return serverJob !== null
      },
      workBudget({ processes: 1 }),
      'the remote job to run',
    )
    return serverJob!
  }

  it(
    'cancelling the Larder job cancels the remote job',
    async () => {
      const { job } = await train({}, { epochs: 50 }, 'remote-cancelled')
      const serverJob = await runningServerJob()
      await waitUntil(
        async () => (await logsOf(client, job.id)).some((log) => log.message.startsWith('Created the fine-tuning job')),
        workBudget({}),
        'C to record the remote job',
      )
      await client.call('jobs.cancel', { id: job.id })
      expect((await client.runner.waitFor(job.id)).status).toBe('cancelled')
      expect((await serverSide.runner.waitFor(serverJob)).status).toBe('cancelled')
      const logs = await logsOf(client, job.id)
      expect(logs.some((log) => /Cancelled the remote job ftjob-\d+ \(cancelled\)/.test(log.message))).toBe(true)
    },
    workBudget({ processes: 2 }),
  )

  it(
    'a remote job cancelled at S (not by C) ends the Larder job cancelled, saying the remote cancelled it',
    async () => {
      const { job } = await train({}, { epochs: 50 }, 'remote-cancelled-there')
      const serverJob = await runningServerJob()
      await serverSide.call('jobs.cancel', { id: serverJob })
      const done = await client.runner.waitFor(job.id)
      expect(done.status).toBe('cancelled')
      expect(done.error).toMatch(/^The remote fine-tuning job ftjob-\d+ was cancelled at the remote\.$/)
      const logs = await logsOf(client, job.id)
      expect(logs.at(-1)).toMatchObject({ level: 'warn', message: done.error })
      expect(logs.some((log) => log.message.startsWith('Cancelled the remote job'))).toBe(false)
    },
    workBudget({ processes: 2 }),
  )

  it(
    "a remote refusal fails the Larder job with the remote's message; an unreachable one after retries",
    async () => {
      const { job } = await train({ model: 'no-such-base' }, { epochs: 1 }, 'remote-refused')
      const done = await client.runner.waitFor(job.id)
      expect(done.status).toBe('failed')
      expect(done.error).toContain('HTTP 404')
      expect(done.error).toContain('There is no model "no-such-base" to fine-tune here.')

      // Nobody listening: retried with backoff, then a clear message (and no key in it).
      const closed = (await client.call('providers.save', {
        name: 'nobody-home',
        baseUrl: 'http://127.0.0.1:9/v1',
        apiKey: secret,
        model: 'base-student',
      })) as ProviderConfig
      const lost = (await client.call('distill.train', {
        data,
        name: 'remote-unreachable',
        trainer: { api: { providerId: closed.id } },
      })) as { job: Job }
      const unreachable = await client.runner.waitFor(lost.job.id)
      expect(unreachable.status).toBe('failed')
      expect(unreachable.error).toMatch(
        /^Lost contact with the fine-tuning API at http:\/\/127\.0\.0\.1:9\/v1 while uploading train\.jsonl: .* \(gave up after 5 tries\)\.$/,
      )
      expect(unreachable.error).not.toContain(secret)

      await expect(
        client.call('distill.train', { data, trainer: { api: { providerId: 9999 } } }),
      ).rejects.toMatchObject({ code: 'invalid_input' })
      await expect(client.call('distill.train', { data, trainer: 'builtin' })).rejects.toMatchObject({
        code: 'invalid_input',
      })
    },
    workBudget({}),
  )
})
