/**
 * The teacher and judge jobs with real components: two OpenAI-compatible HTTP servers on 127.0.0.1 share the load
 * (one returns `logprobs`, the other refuses the parameter with a 400 as strict endpoints do), answering by a
 * deterministic extraction rule; a judge on the same servers scores by that rule; the approved examples freeze and
 * export with the log-probs as a side field. A tiny local GGUF teacher (real node-llama-cpp in the model worker)
 * gives teacher-forced top-k log-probs whose mass adds up.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Dataset, DatasetVersion, Job, Model } from '../../../shared/contract'
import { tempDir, workBudget } from '../../../../test/helpers'
import { extract, startExtractionTeacher } from '../../../../test/fixtures/distill'
import { Backend } from '../../backend'
import { writeTinyLlamaGguf } from '../../gguf/index'

const backends: Backend[] = []
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close()
  for (const close of closers.splice(0)) await close()
})

function openBackend(): Backend {
  const backend = Backend.open({ home: tempDir(), validateOutput: true, models: { cpuOnly: true } }).start()
  backends.push(backend)
  return backend
}

/** The shared extraction teacher (test/fixtures/distill.ts), closed after each test. */
async function startTeacher(options: { logprobs: 'return' | 'refuse' }) {
  const teacher = await startExtractionTeacher(options)
  closers.push(teacher.close)
  return teacher
}

async function importPrompts(backend: Backend, name: string, prompts: string[]): Promise<Dataset> {
  const path = join(tempDir(), `${name}.jsonl`)
  writeFileSync(
    path,
    prompts.map((prompt) => JSON.stringify({ messages: [{ role: 'user', content: prompt }] })).join('\n'),
  )
  const dataset = (await backend.call('distill.datasets.create', { name })) as Dataset
  await backend.call('distill.datasets.addSource', { datasetId: dataset.id, source: { kind: 'file', path } })
  return dataset
}

async function runJob(backend: Backend, method: string, input: Record<string, unknown>): Promise<Job> {
  const { job } = (await backend.call(method, input)) as { job: Job }
  const done = await backend.runner.waitFor(job.id)
  expect(done.error ?? null).toBeNull()
  expect(done.status).toBe('succeeded')
  return done
}

interface ExampleView {
  id: number
  prompt: { content: string }[]
  answer: string | null
  teacher: string | null
  hasLogprobs: boolean
  logprobsAbsent: string | null
  score: number | null
  state: string
  sample: number
}

describe('teacher over OpenAI-compatible endpoints', () => {
  it('answers by the rule across two endpoints, records log-probs or why not, judges, freezes and exports', async () => {
    const backend = openBackend()
    const rich = await startTeacher({ logprobs: 'return' })
    const strict = await startTeacher({ logprobs: 'refuse' })
    const providers = []
    for (const [name, server] of [
      ['rich', rich],
      ['strict', strict],
    ] as const) {
      providers.push(
        (await backend.call('providers.save', { name, baseUrl: server.url, model: 'teacher', concurrency: 2 })) as {
          id: number
        },
      )
    }
    const prompts = [
      ...Array.from({ length: 10 }, (_, i) => `Invoice ${100 + i * 13} is overdue, please check`),
      'Nothing to extract here',
      'No digits in this one either',
    ]
    const dataset = await importPrompts(backend, 'invoices', prompts)
    const job = await runJob(backend, 'distill.teach', {
      datasetId: dataset.id,
      teachers: providers.map((provider) => ({ provider: provider.id })),
      topLogprobs: 4,
      samples: 1,
    })
    expect(job.result).toMatchObject({ answered: 12, failed: 0 })
    expect(rich.calls[0]).toBeGreaterThan(0)
    expect(strict.calls[0]).toBeGreaterThan(0)
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id, limit: 100 })) as {
      items: ExampleView[]
    }
    for (const item of items) expect(item.answer).toBe(extract(item.prompt[0]!.content))
    const fromRich = items.filter((item) => item.teacher === 'rich')
    const fromStrict = items.filter((item) => item.teacher === 'strict')
    expect(fromRich.length + fromStrict.length).toBe(12)
    expect(fromRich.every((item) => item.hasLogprobs && item.logprobsAbsent === null)).toBe(true)
    expect(
      fromStrict.every(
        (item) => !item.hasLogprobs && /strict refused logprobs: .*not supported/.test(item.logprobsAbsent ?? ''),
      ),
    ).toBe(true)

    const judged = await runJob(backend, 'distill.judge', {
      datasetId: dataset.id,
      judge: {
        rubric: 'The answer must be the first number of the prompt as JSON {"number": N}.',
        target: { provider: providers[0]!.id },
      },
      threshold: 7,
    })
    expect(judged.result).toMatchObject({ judged: 12, approved: 10, rejected: 2 })
    const version = (await backend.call('distill.datasets.freeze', { datasetId: dataset.id })) as DatasetVersion
    expect(version.trainCount + version.evalCount).toBe(10)
    expect(version.card.teacher).toMatchObject({ teachers: ['rich', 'strict'], topLogprobs: 4 })
    expect(version.card.judge).toMatchObject({ threshold: 7 })
    const exported = (await backend.call('distill.datasets.export', { versionId: version.id })) as {
      path: string
      withLogprobs: number
    }
    expect(exported.withLogprobs).toBe(version.withLogprobs)
    const lines = readFileSync(exported.path, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    const withSide = lines.filter((line) => line.larder_logprobs)
    expect(withSide.length).toBe(version.withLogprobs)
    const side = withSide[0]!.larder_logprobs as { k: number; tokens: { top: unknown[]; tailMass: number }[] }
    expect(side.k).toBe(4)
    expect(side.tokens[0]!.top).toHaveLength(4)
    expect(side.tokens[0]!.tailMass).toBeGreaterThanOrEqual(0)
  })
})

describe('synthetic expansion', () => {
  it("adds the teacher's variations of seed prompts, dropping duplicates", async () => {
    const backend = openBackend()
    const server = await startTeacher({ logprobs: 'return' })
    const provider = (await backend.call('providers.save', { name: 'writer', baseUrl: server.url, model: 'm' })) as {
      id: number
    }
    const dataset = await importPrompts(backend, 'seeds', [
      'Invoice 12 is overdue, please check',
      'Invoice 40 was paid twice',
    ])
    const job = await runJob(backend, 'distill.datasets.expand', {
      datasetId: dataset.id,
      teacher: { provider: provider.id },
      variations: 3,
    })
    expect(job.result).toMatchObject({ kind: 'synthetic', found: 6, added: 4, exactDuplicates: 2 })
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id, limit: 50 })) as {
      items: ExampleView[]
    }
    expect(items.map((item) => item.prompt[0]!.content)).toContain('Could you look at invoice 1012 for me?')
    expect(items).toHaveLength(6)
  })
})

describe('local GGUF teacher', () => {
  it(
    'records teacher-forced top-k log-probs with the tail mass for every answer token',
    async () => {
      const backend = openBackend()
      const path = join(tempDir(), 'teacher.gguf')
      await writeTinyLlamaGguf(path, { seed: 5 })
      const model = (await backend.call('models.register', { path })) as Model
      await backend.call('models.load', { id: model.id, threads: 1, gpu: 'cpu', contextSize: 256, sequences: 2 })
      const dataset = await importPrompts(backend, 'local', ['Say something about cats', 'Count to three'])
      await runJob(backend, 'distill.teach', {
        datasetId: dataset.id,
        teachers: [{ model: model.id }],
        topLogprobs: 16,
        samples: 2,
        temperature: 0.8,
        maxTokens: 12,
      })
      const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id })) as {
        items: ExampleView[]
      }
      expect(items).toHaveLength(4)
      expect(items.map((item) => item.sample).sort()).toEqual([0, 0, 1, 1])
      const rows = backend.workspace.db
        .prepare('SELECT answer, logprobs, logprobs_absent FROM distill_examples WHERE dataset_id = ?')
        .all(dataset.id) as { answer: string; logprobs: string | null; logprobs_absent: string | null }[]
      for (const row of rows) {
        expect(row.logprobs_absent).toBeNull()
        const record = JSON.parse(row.logprobs!) as {
          k: number
          normalisation: string
          tokens: { token: string; logprob: number | null; top: { logprob: number }[]; tailMass: number }[]
        }
        expect(record.normalisation).toMatch(/temperature 1/)
        expect(record.tokens.length).toBeGreaterThan(0)
        // One entry per answer token (the tiny model's byte tokens print as U+FFFD one by one, so compare counts).
        const { provider } = backend.models.providerFor({ model: model.id })
        expect(record.tokens).toHaveLength((await provider.tokenize(row.answer)).length)
        for (const token of record.tokens) {
          expect(token.top).toHaveLength(16)
          const mass = token.top.reduce((sum, entry) => sum + Math.exp(entry.logprob), 0)
          expect(mass).toBeLessThanOrEqual(1 + 1e-6)
          expect(token.tailMass).toBeCloseTo(1 - mass, 6)
          for (let i = 1; i < token.top.length; i++)
            expect(token.top[i]!.logprob).toBeLessThanOrEqual(token.top[i - 1]!.logprob)
          if (token.logprob !== null) expect(token.logprob).toBeLessThanOrEqual(token.top[0]!.logprob + 1e-9)
        }
      }
    },
    workBudget({ loads: 1, processes: 1, tokens: 200 }),
  )
})
