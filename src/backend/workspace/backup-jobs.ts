/**
 * Workspace backup and restore as jobs. A backup is copied with SQLite's online backup API while writes go on,
 * checked with PRAGMA integrity_check, and only then renamed into place, so a half-written file never looks like a
 * backup. A restore keeps the current database as a backup first (that is the undo) and keeps the job history.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { z } from 'zod'
import { backupPacingSchema, type BackupFile } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { describeSqliteError, nativeBindingFromEnv, type Db } from '../db/database'
import { migrate, migrationStatus } from '../db/migrations'
import type { JobContext, JobKind } from '../jobs/runner'
import { steppedBackup } from './sqlite-backup'
import type { Workspace } from './workspace'
import { message } from '../../shared/messages'

export const BACKUP_JOB = 'workspace.backup'
export const RESTORE_JOB = 'workspace.restore'

const backupParams = z.object({ path: z.string().min(1), pacing: backupPacingSchema.prefault({}) })
const restoreParams = z.object({ path: z.string().min(1) })

export interface BackupResult {
  path: string
  bytes: number
  pages: number
  schemaVersion: number
  integrity: 'ok'
}

export function timestampForFile(date = new Date()): string {
  return date.toISOString().replace(/[:.]/g, '-')
}

export function defaultBackupPath(workspace: Workspace, date = new Date()): string {
  return join(workspace.paths.backups, `larder-${timestampForFile(date)}.db`)
}

export function listBackups(workspace: Workspace): BackupFile[] {
  if (!existsSync(workspace.paths.backups)) return []
  return readdirSync(workspace.paths.backups)
    .filter((name) => name.endsWith('.db'))
    .map((name) => {
      const path = join(workspace.paths.backups, name)
      const stats = statSync(path)
      return { path, name, bytes: stats.size, modifiedAt: stats.mtime.toISOString() }
    })
    .sort((a, b) => b.modifiedAt.localeCompare(a.modifiedAt))
}

function openFile(path: string, readonly: boolean): Db {
  const nativeBinding = nativeBindingFromEnv()
  let db: Db | undefined
  try {
    db = new Database(path, { readonly, fileMustExist: true, ...(nativeBinding ? { nativeBinding } : {}) })
    // SQLite reads the header lazily; touch it so a file that is not a database fails here, clearly.
    db.prepare('SELECT count(*) FROM sqlite_schema').get()
    return db
  } catch (error) {
    db?.close()
    throw describeSqliteError(error, path)
  }
}

/** Runs integrity_check; returns the problems, or an empty list when the file is sound. */
function integrityProblems(db: Db): string[] {
  const rows = db.pragma('integrity_check(20)') as { integrity_check: string }[]
  const messages = rows.map((row) => row.integrity_check)
  return messages.length === 1 && messages[0] === 'ok' ? [] : messages
}

async function copyWithProgress(
  source: Db,
  destination: string,
  context: JobContext<unknown>,
  range: [number, number],
  label: string,
  pacing: { pagesPerStep: number; stepDelayMs: number },
): Promise<number> {
  const [from, to] = range
  const done = await steppedBackup(source, destination, {
    ...pacing,
    signal: context.signal,
    onProgress: ({ totalPages, remainingPages }) => {
      const copied = totalPages - remainingPages
      const share = totalPages === 0 ? 1 : copied / totalPages
      context.progress(from + (to - from) * share, `${label}: ${copied} of ${totalPages} pages`)
    },
  })
  return done.totalPages
}

export function backupJobKind(workspace: Workspace): JobKind<z.infer<typeof backupParams>> {
  return {
    kind: BACKUP_JOB,
    params: backupParams,
    // A backup interrupted by a crash starts its copy again from the first page.
    resumable: true,
    title: (params) => message('job.backup', { file: basename(params.path) }),
    async run(context) {
      const { path, pacing } = context.params
      const partial = `${path}.partial`
      mkdirSync(dirname(path), { recursive: true })
      rmSync(partial, { force: true })
      try {
        context.log('info', `Copying ${workspace.paths.database} to ${path}`)
        const pages = await copyWithProgress(workspace.db, partial, context, [0, 0.9], 'Copying', pacing)
        context.throwIfAborted()
        context.progress(0.9, 'Verifying the copy (integrity_check)')
        const copy = openFile(partial, false)
        let schemaVersion: number
        try {
          // A copy of a WAL database is marked WAL too; make it one self-contained file.
          copy.pragma('journal_mode = DELETE')
          const problems = integrityProblems(copy)
          if (problems.length > 0) throw new Error(`The copy failed integrity_check: ${problems.join('; ')}`)
          schemaVersion = migrationStatus(copy, workspace.migrations).current
        } finally {
          copy.close()
        }
        rmSync(path, { force: true })
        renameSync(partial, path)
        const result: BackupResult = { path, bytes: statSync(path).size, pages, schemaVersion, integrity: 'ok' }
        context.log('info', `Backup verified: ${pages} pages, ${result.bytes} bytes, integrity ok.`)
        return result
      } finally {
        rmSync(partial, { force: true })
        rmSync(`${partial}-journal`, { force: true })
      }
    },
  }
}

export interface RestoreHooks {
  /** How many jobs are running right now, in this process. A restore must run alone. */
  runningJobs(): number
}

export function restoreJobKind(workspace: Workspace, hooks: RestoreHooks): JobKind<z.infer<typeof restoreParams>> {
  return {
    kind: RESTORE_JOB,
    params: restoreParams,
    resumable: false,
    title: (params) => message('job.restore', { file: basename(params.path) }),
    async run(context) {
      const source = context.params.path
      if (!existsSync(source)) throw new Error(`The backup ${source} does not exist.`)
      context.progress(0, 'Checking the backup')
      const backup = openFile(source, true)
      const staging = `${workspace.paths.database}.restoring`
      rmSync(staging, { force: true })
      try {
        const problems = integrityProblems(backup)
        if (problems.length > 0) {
          throw new Error(
            `The backup ${source} is damaged (integrity_check: ${problems.join('; ')}). Nothing was changed.`,
          )
        }
        const fromVersion = migrationStatus(backup, workspace.migrations).current
        context.log('info', `Backup is sound (schema version ${fromVersion}).`)
        await copyWithProgress(backup, staging, context, [0.05, 0.5], 'Staging the backup', {
          pagesPerStep: 1024,
          stepDelayMs: 0,
        })
      } catch (error) {
        rmSync(staging, { force: true })
        throw error
      } finally {
        backup.close()
      }

      try {
        context.throwIfAborted()
        mkdirSync(workspace.paths.backups, { recursive: true })
        const previous = join(workspace.paths.backups, `pre-restore-${timestampForFile()}.db`)
        context.log('info', `Saving the current database as ${previous} (restore it to undo).`)
        await copyWithProgress(workspace.db, previous, context, [0.5, 0.9], 'Saving the current database', {
          pagesPerStep: 1024,
          stepDelayMs: 0,
        })
        context.throwIfAborted()
        if (hooks.runningJobs() > 1) {
          throw new ApiError({
            code: 'conflict',
            message: 'Other jobs started meanwhile; restore stopped. Nothing was changed.',
          })
        }
        context.progress(0.95, 'Switching to the restored database')
        const staged = openFile(staging, false)
        try {
          staged.pragma('journal_mode = DELETE')
          migrate(staged, workspace.migrations)
          // Keep the job history (including this job) from the live database, so the restore is on record.
          staged.prepare('ATTACH DATABASE ? AS live').run(workspace.paths.database)
          staged.transaction(() => {
            staged.exec(`DELETE FROM job_logs; DELETE FROM jobs;
              INSERT INTO jobs SELECT * FROM live.jobs; INSERT INTO job_logs SELECT * FROM live.job_logs;`)
          })()
          staged.exec('DETACH DATABASE live')
        } finally {
          staged.close()
        }
        workspace.replaceDatabase(staging, nativeBindingFromEnv())
        context.log('info', `Restored from ${source}.`)
        return { restoredFrom: source, previousSavedAs: previous, schemaVersion: workspace.status().current }
      } finally {
        rmSync(staging, { force: true })
        rmSync(`${staging}-journal`, { force: true })
      }
    },
  }
}
