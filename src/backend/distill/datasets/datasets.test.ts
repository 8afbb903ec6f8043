/**
 * Distillation datasets on a real backend (real SQLite in a temp workspace): imports in three formats with broken
 * lines reported by number, exact and near duplicates removed, a split that depends on the prompt alone, request-log
 * and cache sources, immutable versions, exports in three formats, and a clear 4xx for a version with nothing
 * approved.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Dataset, DatasetVersion, SourceSummary } from '../../../shared/contract'
import { ApiError, HTTP_STATUS } from '../../../shared/errors'
import { tempDir } from '../../../../test/helpers'
import { Backend } from '../../backend'
import { NearDuplicateIndex, normalisePrompt } from './dedup'

const backends: Backend[] = []
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close()
})

function openBackend(): Backend {
  const backend = Backend.open({ home: tempDir(), validateOutput: true, models: { cpuOnly: true } }).start()
  backends.push(backend)
  return backend
}

async function createDataset(backend: Backend, name: string): Promise<Dataset> {
  return (await backend.call('distill.datasets.create', { name })) as Dataset
}

const user = (content: string) => ({ role: 'user', content })
const chatLine = (prompt: string, answer?: string) =>
  JSON.stringify({ messages: [user(prompt), ...(answer ? [{ role: 'assistant', content: answer }] : [])] })

async function addFile(backend: Backend, datasetId: number, path: string, format = 'auto'): Promise<SourceSummary> {
  return (await backend.call('distill.datasets.addSource', {
    datasetId,
    source: { kind: 'file', path, format },
  })) as SourceSummary
}

async function rejects(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(ApiError)
  return error as ApiError
}

describe('dataset sources', () => {
  it('imports OpenAI chat, ShareGPT and Alpaca lines, reporting broken lines by number', async () => {
    const backend = openBackend()
    const dir = tempDir()
    const path = join(dir, 'mixed.jsonl')
    writeFileSync(
      path,
      [
        chatLine('What is the capital of France?', 'Paris'),
        '{"messages": [ broken',
        JSON.stringify({
          conversations: [
            { from: 'human', value: 'Name a prime number' },
            { from: 'gpt', value: '7' },
          ],
        }),
        '',
        JSON.stringify({ instruction: 'Translate to German', input: 'good morning', output: 'guten Morgen' }),
        JSON.stringify({ conversations: [{ from: 'robot', value: 'x' }] }),
        JSON.stringify({ text: 'neither format' }),
        JSON.stringify({ instruction: 'List three colours' }),
      ].join('\n'),
    )
    const dataset = await createDataset(backend, 'mixed')
    const summary = await addFile(backend, dataset.id, path)
    expect(summary.added).toBe(4)
    expect(summary.problems.map((problem) => problem.line)).toEqual([2, 6, 7])
    expect(summary.problems[0]!.message).toMatch(/^Line 2 is not valid JSON/)
    expect(summary.problems[1]!.message).toMatch(/turn 1 has "from" "robot"/)
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id })) as {
      items: { prompt: { role: string; content: string }[]; answer: string | null; sourceRef: string }[]
    }
    expect(items.map((item) => item.answer)).toEqual(['Paris', '7', 'guten Morgen', null])
    expect(items[2]!.prompt).toEqual([user('Translate to German\n\ngood morning')])
    expect(items[0]!.sourceRef).toBe('mixed.jsonl:1')
    // A file with nothing usable is a clear 4xx naming its first problems; a missing file is a 404.
    const bad = join(dir, 'bad.jsonl')
    writeFileSync(bad, 'nope\n{"x": 1}\n')
    const error = await rejects(addFile(backend, dataset.id, bad))
    expect(error.code).toBe('invalid_input')
    expect(error.message).toMatch(/Line 1 is not valid JSON/)
    expect((await rejects(addFile(backend, dataset.id, join(dir, 'missing.jsonl')))).code).toBe('not_found')
    // Forcing a format: an OpenAI line read as Alpaca has no instruction.
    const openaiOnly = join(dir, 'openai.jsonl')
    writeFileSync(openaiOnly, chatLine('Hello there'))
    const forced = await rejects(addFile(backend, dataset.id, openaiOnly, 'alpaca'))
    expect(forced.message).toMatch(/instruction/)
  })

  it('drops exact duplicates (normalised) and near duplicates, within a source and across sources', async () => {
    const backend = openBackend()
    const dir = tempDir()
    const first = join(dir, 'first.jsonl')
    const base = 'Please summarise the attached quarterly sales report for the board meeting on Monday'
    writeFileSync(
      first,
      [
        chatLine(base),
        chatLine(base.toUpperCase() + '!!'),
        chatLine(`${base} morning`),
        chatLine('How do I reset my password?'),
      ].join('\n'),
    )
    const dataset = await createDataset(backend, 'dups')
    const summary = await addFile(backend, dataset.id, first)
    expect(summary).toMatchObject({ found: 4, added: 2, exactDuplicates: 1, nearDuplicates: 1 })
    const second = join(dir, 'second.jsonl')
    writeFileSync(second, [chatLine('how do i reset my password'), chatLine('What time is it in Tokyo?')].join('\n'))
    expect(await addFile(backend, dataset.id, second)).toMatchObject({ added: 1, exactDuplicates: 1 })
    const { dataset: stored } = (await backend.call('distill.datasets.get', { datasetId: dataset.id })) as {
      dataset: Dataset
    }
    expect(stored.counts.total).toBe(3)
    expect(stored.sources.map((source) => source.added)).toEqual([2, 1])
  })

  it('near-duplicate index: similar prompts match, unrelated ones do not', () => {
    const index = new NearDuplicateIndex(0.8)
    index.add('The quick brown fox jumps over the lazy dog near the river bank')
    expect(index.nearestAbove('The quick brown fox jumped over the lazy dog near the river bank')).toBeGreaterThan(0.8)
    expect(index.nearestAbove('Completely different: what is the weather like in Seoul today?')).toBeNull()
    expect(normalisePrompt('  Hello,   WORLD! ')).toBe('hello world')
  })

  it('splits by the prompt alone: the same prompt lands on the same side whatever else the dataset holds', async () => {
    const backend = openBackend()
    const dir = tempDir()
    const prompts = Array.from({ length: 60 }, (_, i) => `Question number ${i}: what is ${i} times ${i + 3}?`)
    const a = join(dir, 'a.jsonl')
    const b = join(dir, 'b.jsonl')
    writeFileSync(a, prompts.map((prompt) => chatLine(prompt)).join('\n'))
    writeFileSync(
      b,
      [...prompts.slice(20)]
        .reverse()
        .map((prompt) => chatLine(prompt))
        .join('\n'),
    )
    const sides = async (name: string, path: string) => {
      const dataset = await createDataset(backend, name)
      await backend.call('distill.datasets.addSource', {
        datasetId: dataset.id,
        source: { kind: 'file', path },
        evalPercent: 25,
        nearDuplicateThreshold: 1,
      })
      const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id, limit: 500 })) as {
        items: { prompt: { content: string }[]; split: string }[]
      }
      return new Map(items.map((item) => [item.prompt[0]!.content, item.split]))
    }
    const whole = await sides('whole', a)
    const part = await sides('part', b)
    expect(whole.size).toBe(60)
    const evalCount = [...whole.values()].filter((split) => split === 'eval').length
    expect(evalCount).toBeGreaterThan(5)
    expect(evalCount).toBeLessThan(30)
    for (const [prompt, split] of part) expect(whole.get(prompt)).toBe(split)
  })

  it('reads the request log (top N, stored only, by metadata) and approved cache entries, per tenant', async () => {
    const backend = openBackend()
    const db = backend.workspace.db
    const namespace = (await backend.call('cache.namespaces.save', { name: 'support' })) as {
      namespace: { id: number }
    }
    const namespaceId = namespace.namespace.id
    const log = db.prepare(
      `INSERT INTO request_log (at, namespace_id, key_hash, canonical, hit_kind, stored, metadata) VALUES (?, ?, ?, ?, 'miss', ?, ?)`,
    )
    const canonical = (text: string) =>
      JSON.stringify({ v: 1, model: 'm', kind: 'chat', messages: [{ role: 'user', content: text }], params: {} })
    const at = (day: number) => `2026-01-0${day}T00:00:00.000Z`
    for (let i = 0; i < 3; i++) log.run(at(2), namespaceId, 'k1', canonical('Where is my order?'), 0, null)
    log.run(at(2), namespaceId, 'k2', canonical('Cancel my subscription please'), 1, '{"purpose":"distill"}')
    log.run(at(2), namespaceId, 'k2', canonical('Cancel my subscription please'), 0, null)
    log.run(at(5), namespaceId, 'k3', canonical('Do you ship to Canada?'), 1, '{"purpose":"other"}')
    const add = async (name: string, source: Record<string, unknown>) => {
      const dataset = await createDataset(backend, name)
      const summary = (await backend.call('distill.datasets.addSource', {
        datasetId: dataset.id,
        source: { kind: 'request-log', namespaceId, ...source },
      })) as SourceSummary
      const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id })) as {
        items: { prompt: { content: string }[] }[]
      }
      return { summary, prompts: items.map((item) => item.prompt[0]!.content) }
    }
    expect((await add('top1', { mode: 'top', top: 1 })).prompts).toEqual(['Where is my order?'])
    expect((await add('all', { mode: 'all' })).prompts).toHaveLength(3)
    expect((await add('stored', { mode: 'all', storedOnly: true })).prompts).toHaveLength(2)
    expect((await add('tagged', { mode: 'all', storedOnly: true, metadata: { purpose: 'distill' } })).prompts).toEqual([
      'Cancel my subscription please',
    ])
    expect((await add('range', { mode: 'all', from: at(4), to: at(6) })).prompts).toEqual(['Do you ship to Canada?'])
    // Approved cache entries only, with their answers.
    const entry = db.prepare(
      `INSERT INTO cache_entries (namespace_id, key_hash, canonical, prompt_text, answer, state, created_by, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'generated', ?, ?)`,
    )
    entry.run(
      namespaceId,
      'e1',
      canonical('Where is my order?'),
      'Where is my order?',
      'Track it here.',
      'approved',
      at(1),
      at(1),
    )
    entry.run(namespaceId, 'e2', canonical('Refund?'), 'Refund?', 'Draft answer', 'draft', at(1), at(1))
    const cached = await createDataset(backend, 'cached')
    await backend.call('distill.datasets.addSource', { datasetId: cached.id, source: { kind: 'cache', namespaceId } })
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: cached.id })) as {
      items: { answer: string }[]
    }
    expect(items.map((item) => item.answer)).toEqual(['Track it here.'])
    // Another tenant's dataset cannot read this namespace.
    const other = (await backend.call('distill.datasets.create', { name: 'other', tenant: 'acme' })) as Dataset
    const error = await rejects(
      backend.call('distill.datasets.addSource', { datasetId: other.id, source: { kind: 'request-log', namespaceId } }),
    )
    expect(error.code).toBe('not_found')
  })
})

describe('dataset versions', () => {
  async function answeredDataset(backend: Backend) {
    const dir = tempDir()
    const path = join(dir, 'answered.jsonl')
    const rows = Array.from({ length: 30 }, (_, i) =>
      chatLine(`Extract the number from: order ${i * 7} shipped`, `${i * 7}`),
    )
    writeFileSync(path, rows.join('\n'))
    const dataset = await createDataset(backend, 'orders')
    await backend.call('distill.datasets.addSource', {
      datasetId: dataset.id,
      source: { kind: 'file', path },
      evalPercent: 20,
    })
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id, limit: 100 })) as {
      items: { id: number; answer: string }[]
    }
    return { dataset, items, dir }
  }

  it('refuses to freeze or export with zero approved examples (a 4xx, not an empty file)', async () => {
    const backend = openBackend()
    const { dataset } = await answeredDataset(backend)
    const error = await rejects(backend.call('distill.datasets.freeze', { datasetId: dataset.id }))
    expect(error.code).toBe('invalid_input')
    expect(HTTP_STATUS[error.code]).toBe(400)
    expect(error.message).toMatch(/no approved example/)
  })

  it('freezes approved examples into an immutable version and exports it in three formats', async () => {
    const backend = openBackend()
    const { dataset, items, dir } = await answeredDataset(backend)
    const approve = items.slice(0, 20).map((item) => item.id)
    expect(
      await backend.call('distill.datasets.review', { datasetId: dataset.id, ids: approve, action: 'approve' }),
    ).toEqual({
      changed: 20,
    })
    await backend.call('distill.datasets.review', { datasetId: dataset.id, ids: [items[20]!.id], action: 'reject' })
    const edited = (await backend.call('distill.datasets.edit', { id: items[0]!.id, answer: 'edited answer' })) as {
      answer: string
      originalAnswer: string
    }
    expect(edited).toMatchObject({ answer: 'edited answer', originalAnswer: '0' })
    const version = (await backend.call('distill.datasets.freeze', {
      datasetId: dataset.id,
      note: 'first',
    })) as DatasetVersion
    expect(version.version).toBe(1)
    expect(version.trainCount + version.evalCount).toBe(20)
    expect(version.card.counts.approved).toBe(20)
    expect(version.card.sources[0]!.kind).toBe('file')
    expect(version.contentHash).toMatch(/^[0-9a-f]{64}$/)

    // Later curation changes the dataset, never the version: its export and hash stay the same.
    const before = (await backend.call('distill.datasets.export', { versionId: version.id })) as { path: string }
    const text = readFileSync(before.path, 'utf8')
    await backend.call('distill.datasets.edit', { id: items[1]!.id, answer: 'changed later' })
    await backend.call('distill.datasets.review', { datasetId: dataset.id, ids: approve.slice(2, 5), action: 'reject' })
    const again = (await backend.call('distill.datasets.export', { versionId: version.id })) as { path: string }
    expect(readFileSync(again.path, 'utf8')).toBe(text)
    expect(() =>
      backend.workspace.db
        .prepare('UPDATE distill_version_examples SET messages = ? WHERE version_id = ?')
        .run('[]', version.id),
    ).toThrowError(/immutable/)
    const second = (await backend.call('distill.datasets.freeze', { datasetId: dataset.id })) as DatasetVersion
    expect(second.version).toBe(2)
    expect(second.contentHash).not.toBe(version.contentHash)

    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { messages: { role: string; content: string }[] })
    expect(lines).toHaveLength(20)
    expect(lines.some((line) => line.messages.at(-1)!.content === 'edited answer')).toBe(true)
    expect(lines.every((line) => line.messages.at(-1)!.role === 'assistant')).toBe(true)

    const train = (await backend.call('distill.datasets.export', {
      versionId: version.id,
      format: 'sharegpt',
      split: 'train',
      path: join(dir, 'train.sharegpt.jsonl'),
    })) as { path: string; examples: number }
    expect(train.examples).toBe(version.trainCount)
    const shareGpt = JSON.parse(readFileSync(train.path, 'utf8').split('\n')[0]!) as {
      conversations: { from: string }[]
    }
    expect(shareGpt.conversations.map((turn) => turn.from)).toEqual(['human', 'gpt'])
    const alpaca = (await backend.call('distill.datasets.export', { versionId: version.id, format: 'alpaca' })) as {
      path: string
    }
    const record = JSON.parse(readFileSync(alpaca.path, 'utf8').split('\n')[0]!) as Record<string, string>
    expect(Object.keys(record).sort()).toEqual(['input', 'instruction', 'output'])
    expect(backend.datasets.exportDatasetVersion(version.id, 'openai', 'eval')).toMatch(/-eval\.openai\.jsonl$/)
  })

  it('lets distill.train read a version (its train split) instead of a file', async () => {
    const backend = openBackend()
    const { dataset, items } = await answeredDataset(backend)
    await backend.call('distill.datasets.review', {
      datasetId: dataset.id,
      ids: items.map((item) => item.id),
      action: 'approve',
    })
    const version = (await backend.call('distill.datasets.freeze', { datasetId: dataset.id })) as DatasetVersion
    const both = await rejects(
      backend.call('distill.train', { student: { scratch: {} }, data: '/tmp/x.jsonl', datasetVersionId: version.id }),
    )
    expect(both.message).toMatch(/either data/)
    const started = (await backend.call('distill.train', {
      student: { scratch: {} },
      datasetVersionId: version.id,
      hyperparameters: { epochs: 1, maxSteps: 1, threads: 1 },
    })) as { job: { id: number }; run: { dataPath: string } }
    expect(started.run.dataPath).toMatch(/orders-v1-train\.openai\.jsonl$/)
    expect(readFileSync(started.run.dataPath, 'utf8').trim().split('\n')).toHaveLength(version.trainCount)
    await backend.runner.cancel(started.job.id)
    await backend.runner.waitFor(started.job.id)
  })
})
