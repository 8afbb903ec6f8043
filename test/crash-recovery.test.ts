import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { Backend } from '../src/backend/backend'
import { fillDatabase, tempDir } from './helpers'

describe('crash in the middle of jobs', () => {
  it('after SIGKILL, resumes the resumable job and fails the other with the reason', async () => {
    const home = tempDir()
    const seed = Backend.open({ home })
    fillDatabase(seed.workspace.db, 2)
    await seed.close()
    const backupPath = join(tempDir(), 'resumed.db')

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-child.ts', home, backupPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const ids = await new Promise<[number, number]>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /RUNNING (\d+) (\d+)/.exec(chunk.toString())
        if (match) resolve([Number(match[1]), Number(match[2])])
      })
      child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)))
    })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    child.kill('SIGKILL')
    await exited
    const [backupId, otherId] = ids

    const backend = Backend.open({ home, runner: { heartbeatMs: 50 } })
    backend.runner.register({
      kind: 'test.non-resumable',
      params: z.object({}),
      resumable: false,
      title: () => 'non-resumable work',
      run: async () => null,
    })
    // Before the runner starts, both jobs still look like they are running: the crash left them that way.
    expect(backend.workspace.jobs.get(backupId)!.status).toBe('running')
    backend.start()
    const other = backend.workspace.jobs.get(otherId)!
    expect(other.status).toBe('failed')
    expect(other.error).toMatch(/stopped unexpectedly \(crash or kill\).*cannot resume/)

    const resumed = await backend.runner.waitFor(backupId)
    expect(resumed.status).toBe('succeeded')
    expect(resumed.attempts).toBe(2)
    const logs = backend.workspace.jobs.logs(backupId, 0, 100).map((entry) => entry.message)
    expect(logs).toContain('Resumed (attempt 2).')
    expect(logs.some((message) => /stopped unexpectedly; it will resume/.test(message))).toBe(true)
    await backend.close()

    // The resumed backup is complete and sound, and no partial file is left.
    const copy = new Database(backupPath, { readonly: true })
    expect(copy.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(copy.prepare('SELECT count(*) FROM test_filler').pluck().get()).toBe(32)
    copy.close()
    expect(existsSync(`${backupPath}.partial`)).toBe(false)
  })
})
