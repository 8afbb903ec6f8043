// Request-log imports are idempotent (issue 14): the same content imported again adds nothing, and an import stopped
// part-way (cancelled here; SIGKILLed in test/campaign/sigkill-loop.test.ts) resumes after its last committed record.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job } from '../../shared/contract'
import { suiteTempDir } from '../../../test/fixtures/suite-dir'
import { waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'

let backend: Backend
let dir = ''
let namespaceId = 0

async function call<T>(method: string, input: unknown = {}): Promise<T> {
  return (await backend.call(method, input)) as T
}

async function importLog(path: string): Promise<Job> {
  const { job } = await call<{ job: Job }>('cache.log.import', { namespaceId, path })
  return backend.runner.waitFor(job.id)
}

function writeLog(name: string, lines: number): string {
  const path = join(dir, name)
  const out: string[] = []
  for (let i = 1; i <= lines; i++)
    out.push(i % 10 === 0 ? '{broken' : JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `q ${i}` }] }))
  writeFileSync(path, out.join('\n'))
  return path
}

const rows = (): number =>
  backend.workspace.db
    .prepare(`SELECT count(*) FROM request_log WHERE namespace_id = ?`)
    .pluck()
    .get(namespaceId) as number
const distinct = (): number =>
  backend.workspace.db
    .prepare(`SELECT count(DISTINCT prompt_text) FROM request_log WHERE namespace_id = ?`)
    .pluck()
    .get(namespaceId) as number

beforeAll(async () => {
  dir = suiteTempDir('larder-log-import-')
  backend = Backend.open({ home: join(dir, 'home'), validateOutput: true }).start()
  namespaceId = (await call<{ namespace: { id: number } }>('cache.namespaces.save', { name: 'logs' })).namespace.id
})

afterAll(async () => {
  await backend?.close()
})

describe('request-log import', () => {
  it('imports the same content once: a second import (even under another name) adds nothing', async () => {
    const path = writeLog('a.jsonl', 100)
    const first = await importLog(path)
    expect(first.result).toMatchObject({ imported: 90, skipped: 10 })
    const copy = join(dir, 'copy-of-a.jsonl')
    writeFileSync(copy, (await import('node:fs')).readFileSync(path))
    for (const again of [path, copy]) {
      const second = await importLog(again)
      expect(second.status).toBe('succeeded')
      expect(second.result).toMatchObject({ imported: 0, alreadyImported: true, totalImported: 90 })
    }
    expect(rows()).toBe(90)
  })

  it('resumes a stopped import after its last committed record, with no row counted twice', async () => {
    const before = rows()
    const path = writeLog('big.jsonl', 40_000)
    const { job } = await call<{ job: Job }>('cache.log.import', { namespaceId, path })
    await waitUntil(() => rows() > before, 60_000, 'the first committed batch')
    await call('jobs.cancel', { id: job.id })
    const stopped = await backend.runner.waitFor(job.id)
    expect(stopped.status).toBe('cancelled')
    const partial = rows() - before
    expect(partial).toBeGreaterThan(0)
    expect(partial).toBeLessThan(36_000)
    const resumed = await importLog(path)
    expect(resumed.status).toBe('succeeded')
    expect(resumed.result).toMatchObject({ imported: 36_000 - partial, totalImported: 36_000 })
    expect(rows() - before).toBe(36_000)
    // "q 1".."q 40000" less every tenth (broken); the 90 of a.jsonl are among them.
    expect(distinct()).toBe(36_000)
    const logs = backend.workspace.jobs.logs(resumed.id, 0, 50).map((entry) => entry.message)
    expect(logs.some((message) => /Resuming after line \d+/.test(message))).toBe(true)
  }, 120_000)
})
