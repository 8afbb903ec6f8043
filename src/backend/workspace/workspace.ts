/**
 * One workspace folder: larder.db (WAL) plus the model library, backups and exports. Opening it creates what is
 * missing, checks the folder is writable, and brings the database schema up to date (after a safety backup when an
 * existing database is migrated).
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { openDatabase, type Db } from '../db/database'
import { WorkspaceError } from '../db/errors'
import { defaultMigrationsDir, loadMigrations, migrate, migrationStatus, type Migration } from '../db/migrations'
import { JobsRepository } from '../jobs/repository'
import { SettingsRepository } from '../settings/repository'
import { workspacePaths, type WorkspacePaths } from './paths'

export interface WorkspaceOptions {
  /** Apply pending migrations on open (true for the app; `larder db status` opens without migrating). */
  migrate?: boolean
  migrationsDir?: string
  nativeBinding?: string
}

export function ensureWritableFolder(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true })
    // access(W_OK) says yes to root even on read-only mounts; writing a probe file is the honest test.
    const probe = join(dir, `.larder-write-test-${process.pid}`)
    const fd = openSync(probe, 'w')
    writeSync(fd, 'ok')
    closeSync(fd)
    rmSync(probe)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    throw new WorkspaceError(
      'workspace_unwritable',
      `The ${what} ${dir} is not writable (${code}). Choose another folder with --home or LARDER_HOME, or fix its permissions.`,
    )
  }
}

export class Workspace {
  readonly paths: WorkspacePaths
  readonly migrations: Migration[]
  private database: Db
  // Created on first use: their statements need the migrated schema, which `larder db status` may not have.
  private jobsRepo: JobsRepository | undefined
  private settingsRepo: SettingsRepository | undefined

  private constructor(paths: WorkspacePaths, migrations: Migration[], db: Db) {
    this.paths = paths
    this.migrations = migrations
    this.database = db
  }

  static open(home: string, options: WorkspaceOptions = {}): Workspace {
    const paths = workspacePaths(home)
    ensureWritableFolder(paths.home, 'workspace folder')
    const migrations = loadMigrations(options.migrationsDir ?? defaultMigrationsDir())
    const db = openDatabase(paths.database, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {})
    try {
      const status = migrationStatus(db, migrations)
      if ((options.migrate ?? true) && status.pending.length > 0) {
        if (status.current > 0) safetyCopyBeforeMigrating(db, paths, status.current)
        migrate(db, migrations)
      }
    } catch (error) {
      db.close()
      throw error
    }
    return new Workspace(paths, migrations, db)
  }

  get db(): Db {
    return this.database
  }

  get jobs(): JobsRepository {
    return (this.jobsRepo ??= new JobsRepository(this.database))
  }

  get settings(): SettingsRepository {
    return (this.settingsRepo ??= new SettingsRepository(this.database))
  }

  status(): ReturnType<typeof migrationStatus> {
    return migrationStatus(this.database, this.migrations)
  }

  /**
   * Replaces the live database file with `replacement` (already migrated and verified). Synchronous on purpose:
   * nothing else can touch the database between closing the old handle and opening the new one.
   */
  replaceDatabase(replacement: string, nativeBinding?: string): void {
    this.checkpoint()
    this.database.close()
    for (const suffix of ['-wal', '-shm']) rmSync(this.paths.database + suffix, { force: true })
    renameOver(replacement, this.paths.database)
    this.database = openDatabase(this.paths.database, nativeBinding ? { nativeBinding } : {})
    this.jobsRepo = undefined
    this.settingsRepo = undefined
  }

  checkpoint(): void {
    this.database.pragma('wal_checkpoint(TRUNCATE)')
  }

  /** Flushes the WAL into the main file and closes, so a stopped Larder leaves one self-contained larder.db. */
  close(): void {
    if (!this.database.open) return
    try {
      this.checkpoint()
    } finally {
      this.database.close()
    }
  }
}

function renameOver(from: string, to: string): void {
  // renameSync replaces atomically on POSIX; on Windows it fails if the target is open elsewhere, which we report.
  try {
    renameSync(from, to)
  } catch (error) {
    throw new WorkspaceError(
      'database_locked',
      `Could not replace ${to} (${(error as Error).message}). Close other programs using the workspace and try again.`,
    )
  }
}

function safetyCopyBeforeMigrating(db: Db, paths: WorkspacePaths, fromVersion: number): void {
  mkdirSync(paths.backups, { recursive: true })
  const file = join(paths.backups, `pre-migrate-v${fromVersion}-${new Date().toISOString().replace(/[:.]/g, '-')}.db`)
  db.exec(`VACUUM INTO '${file.replace(/'/g, "''")}'`)
}
