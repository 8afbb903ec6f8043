/**
 * SQLite's online backup API, stepped: a few pages per step with an optional pause between steps, so writers keep
 * working while a large workspace is copied (the pattern SQLite's own documentation recommends), with progress by
 * pages and cancellation between steps.
 */
import { createRequire } from 'node:module'
import { access } from 'node:fs/promises'
import type { Db } from '../db/database'

export interface BackupProgress {
  totalPages: number
  remainingPages: number
}

export interface SteppedBackupOptions {
  pagesPerStep: number
  stepDelayMs: number
  signal?: AbortSignal
  onProgress?: (progress: BackupProgress) => void
}

interface NativeBackup {
  transfer(pages: number): BackupProgress
  close(): void
}

type NativeDatabase = { backup(db: Db, attached: string, file: string, isNewFile: boolean): NativeBackup }

const requireFromHere = createRequire(import.meta.url)

/**
 * better-sqlite3's public `db.backup()` steps with setImmediate and cannot wait between steps, so we drive the same
 * native backup handle it uses. If a future better-sqlite3 hides it, we fall back to the public method (no pauses).
 */
function nativeHandle(db: Db): NativeDatabase | undefined {
  try {
    const { cppdb } = requireFromHere('better-sqlite3/lib/util') as { cppdb: symbol }
    const handle = (db as unknown as Record<symbol, unknown>)[cppdb] as NativeDatabase | undefined
    return typeof handle?.backup === 'function' ? handle : undefined
  } catch {
    return undefined
  }
}

/** Waits `ms`, or less if the signal aborts; the abort listener is removed either way (one per step would leak). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })

export async function steppedBackup(
  source: Db,
  destination: string,
  options: SteppedBackupOptions,
): Promise<BackupProgress> {
  const { signal, onProgress } = options
  const native = nativeHandle(source)
  if (!native) {
    return source.backup(destination, {
      progress: (progress) => {
        if (signal?.aborted) throw signal.reason
        onProgress?.(progress)
        return options.pagesPerStep
      },
    })
  }
  const isNewFile = await access(destination).then(
    () => false,
    () => true,
  )
  const backup = native.backup(source, 'main', destination, isNewFile)
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason
      const progress = backup.transfer(options.pagesPerStep)
      onProgress?.(progress)
      if (progress.remainingPages === 0) return progress
      if (options.stepDelayMs > 0) await sleep(options.stepDelayMs, signal)
      else await new Promise((resolve) => setImmediate(resolve))
    }
  } finally {
    backup.close()
  }
}
