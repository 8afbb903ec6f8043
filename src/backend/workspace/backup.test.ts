import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import type { Job } from '../../shared/contract'
import { fillDatabase, tempDir } from '../../../test/helpers'
import { Backend } from '../backend'

function openBackend(home = tempDir()): Backend {
  return Backend.open({ home, runner: { heartbeatMs: 50 }, validateOutput: true }).start()
}

async function runJob(backend: Backend, method: 'backup.create' | 'backup.restore', input: object): Promise<Job> {
  const { job } = (await backend.call(method, input)) as { job: Job }
  return backend.runner.waitFor(job.id)
}

describe('workspace backup', () => {
  it('copies the database while writes go on, verifies it, and reports progress by pages', async () => {
    const backend = openBackend()
    fillDatabase(backend.workspace.db, 4)
    const progress: number[] = []
    backend.events.subscribe((name, payload) => {
      if (name === 'job.updated' && (payload as Job).progress !== null) progress.push((payload as Job).progress!)
    })
    const target = join(tempDir(), 'nested', 'copy.db')
    const { job } = (await backend.call('backup.create', {
      path: target,
      pacing: { pagesPerStep: 8, stepDelayMs: 8 },
    })) as { job: Job }
    // Keep writing through the live connection while the backup steps along.
    let writes = 0
    while (backend.workspace.jobs.get(job.id)!.status !== 'succeeded') {
      backend.workspace.settings.update({ theme: writes % 2 === 0 ? 'dark' : 'light' })
      writes++
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (backend.workspace.jobs.get(job.id)!.status === 'failed') break
    }
    const done = await backend.runner.waitFor(job.id)
    expect(done.status).toBe('succeeded')
    expect(writes).toBeGreaterThan(3)
    expect(done.result).toMatchObject({
      path: target,
      integrity: 'ok',
      schemaVersion: backend.workspace.migrations.length,
    })
    expect(new Set(progress).size).toBeGreaterThan(3)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    // The copy is a self-contained, sound database holding the data.
    const copy = new Database(target, { readonly: true })
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(copy.pragma('journal_mode', { simple: true })).toBe('delete')
    expect(copy.prepare('SELECT count(*) FROM test_filler').pluck().get()).toBe(64)
    copy.close()
    expect(readdirSync(join(target, '..'))).toEqual(['copy.db'])
    await backend.close()
  })

  it('leaves no partial file behind when cancelled', async () => {
    const backend = openBackend()
    fillDatabase(backend.workspace.db, 4)
    const dir = tempDir()
    const { job } = (await backend.call('backup.create', {
      path: join(dir, 'b.db'),
      pacing: { pagesPerStep: 4, stepDelayMs: 20 },
    })) as { job: Job }
    await new Promise((resolve) => setTimeout(resolve, 100))
    await backend.call('jobs.cancel', { id: job.id })
    expect((await backend.runner.waitFor(job.id)).status).toBe('cancelled')
    expect(readdirSync(dir)).toEqual([])
    await backend.close()
  })

  it('writes to <home>/backups by default and lists backups', async () => {
    const backend = openBackend()
    const done = await runJob(backend, 'backup.create', {})
    expect(done.status).toBe('succeeded')
    const list = (await backend.call('backup.list', {})) as { items: { path: string; bytes: number }[] }
    expect(list.items).toHaveLength(1)
    expect(list.items[0]!.path.startsWith(join(backend.workspace.paths.home, 'backups'))).toBe(true)
    expect(list.items[0]!.bytes).toBeGreaterThan(0)
    await backend.close()
  })
})

describe('workspace restore', () => {
  it('restores a backup, keeps the job history, and saves the previous database for undo', async () => {
    const backend = openBackend()
    await backend.call('settings.update', { language: 'ko' })
    const backup = await runJob(backend, 'backup.create', { path: join(tempDir(), 'before.db') })
    await backend.call('settings.update', { language: 'en', theme: 'dark' })

    const restore = await runJob(backend, 'backup.restore', { path: (backup.result as { path: string }).path })
    expect(restore.status).toBe('succeeded')
    expect(await backend.call('settings.get', {})).toMatchObject({ language: 'ko', theme: 'system' })
    // Both jobs are still on record in the restored database.
    const jobs = (await backend.call('jobs.list', {})) as { items: Job[] }
    expect(jobs.items.map((j) => j.kind)).toEqual(['workspace.restore', 'workspace.backup'])
    // The database as it was before the restore is kept, and restoring it undoes the restore.
    const previous = (restore.result as { previousSavedAs: string }).previousSavedAs
    expect(existsSync(previous)).toBe(true)
    const undo = await runJob(backend, 'backup.restore', { path: previous })
    expect(undo.status).toBe('succeeded')
    expect(await backend.call('settings.get', {})).toMatchObject({ language: 'en', theme: 'dark' })
    await backend.close()
  })

  it('refuses a damaged backup and changes nothing', async () => {
    const backend = openBackend()
    await backend.call('settings.update', { theme: 'dark' })
    const bad = join(tempDir(), 'bad.db')
    writeFileSync(bad, Buffer.alloc(8192, 7))
    const done = await runJob(backend, 'backup.restore', { path: bad })
    expect(done.status).toBe('failed')
    expect(done.error).toMatch(/damaged or is not a Larder database/)
    expect(await backend.call('settings.get', {})).toMatchObject({ theme: 'dark' })
    await backend.close()
  })

  it('refuses a backup made by a newer Larder', async () => {
    const backend = openBackend()
    const newer = join(tempDir(), 'newer.db')
    const other = new Database(newer)
    other.exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, checksum TEXT, applied_at TEXT);
      INSERT INTO schema_migrations VALUES (99, 'future', 'x', '2030-01-01');`)
    other.close()
    const done = await runJob(backend, 'backup.restore', { path: newer })
    expect(done.status).toBe('failed')
    expect(done.error).toMatch(/newer Larder \(schema version 99/)
    await backend.close()
  })

  it('refuses to start while other jobs are running, and for a missing file', async () => {
    const backend = openBackend()
    fillDatabase(backend.workspace.db, 2)
    await backend.call('backup.create', {
      path: join(tempDir(), 'slow.db'),
      pacing: { pagesPerStep: 1, stepDelayMs: 50 },
    })
    await expect(backend.call('backup.restore', { path: backend.workspace.paths.database })).rejects.toMatchObject({
      code: 'conflict',
    })
    await expect(backend.call('backup.restore', { path: join(tempDir(), 'missing.db') })).rejects.toMatchObject({
      code: 'not_found',
      path: ['path'],
    })
    await backend.close()
  })
})
