/** Shared test helpers: fresh workspace folders and a real database with enough pages to make copies take time. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import type { Db } from '../src/backend/db/database'

const created: string[] = []

export function tempDir(prefix = 'larder-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  created.push(dir)
  return dir
}

afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Adds roughly `megabytes` of rows to a scratch table, so backups and restores have pages to copy. */
export function fillDatabase(db: Db, megabytes: number): void {
  db.exec('CREATE TABLE IF NOT EXISTS test_filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO test_filler (blob) VALUES (randomblob(?))')
  db.transaction(() => {
    for (let i = 0; i < megabytes * 16; i++) insert.run(64 * 1024)
  })()
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
}

/**
 * A test's time budget from the work it does, never from how fast this machine is today. Each unit is allowed far
 * more than it takes on a busy two-core machine (a tiny model loads in well under a second, a worker process starts
 * in about one, the tiny model decodes hundreds of tokens a second with one thread), so only a hang fails a test.
 */
export function workBudget(work: {
  /** Model loads (node-llama-cpp, tiny models). */
  loads?: number
  /** Processes started: model workers, CLI runs in a child, servers. */
  processes?: number
  /** Tokens generated or evaluated. */
  tokens?: number
  /** Megabytes of model files written, quantized or hashed. */
  megabytes?: number
}): number {
  return (
    30_000 +
    (work.loads ?? 0) * 20_000 +
    (work.processes ?? 0) * 20_000 +
    (work.tokens ?? 0) * 100 +
    (work.megabytes ?? 0) * 5_000
  )
}
