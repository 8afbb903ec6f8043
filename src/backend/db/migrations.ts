/**
 * Schema migrations: `migrations/NNNN_name.sql`, applied in order, each in its own transaction, with the file's
 * checksum recorded. Editing an applied migration, or opening a database that a newer Larder has migrated, is a
 * clear error and never silently ignored.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MigrationRecord } from '../../shared/contract'
import type { Db } from './database'
import { WorkspaceError } from './errors'

export interface Migration {
  version: number
  name: string
  sql: string
  checksum: string
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/

/** Checksums ignore line-ending style so a Windows checkout (CRLF) matches the one that applied the migration. */
export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex')
}

export function loadMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) {
    throw new WorkspaceError('migrations_missing', `The migrations folder ${dir} does not exist. Reinstall Larder.`)
  }
  const migrations: Migration[] = []
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue
    const match = FILE_PATTERN.exec(file)
    if (!match) {
      throw new WorkspaceError(
        'migrations_invalid',
        `Migration file ${file} does not follow the NNNN_name.sql pattern (lowercase name, underscores).`,
      )
    }
    const sql = readFileSync(join(dir, file), 'utf8')
    migrations.push({ version: Number(match[1]), name: match[2]!, sql, checksum: checksumOf(sql) })
  }
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new WorkspaceError(
        'migrations_invalid',
        `Migrations must be numbered 0001, 0002, ... without gaps; found ${String(migration.version).padStart(4, '0')}_${migration.name}.sql at position ${index + 1}.`,
      )
    }
  })
  return migrations
}

/**
 * Finds the project's `migrations/` folder by walking up from this module: it sits at the package root in a
 * checkout (src/backend/db or out/main) and inside app.asar when packaged.
 */
export function defaultMigrationsDir(): string {
  if (process.env.LARDER_MIGRATIONS_DIR) return resolve(process.env.LARDER_MIGRATIONS_DIR)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 6; depth++) {
    const candidate = join(dir, 'migrations')
    if (existsSync(join(candidate, '0001_settings.sql'))) return candidate
    dir = dirname(dir)
  }
  throw new WorkspaceError('migrations_missing', 'Could not find the migrations folder next to the Larder program.')
}

function ensureLedger(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`)
}

interface LedgerRow {
  version: number
  name: string
  checksum: string
  applied_at: string
}

function readLedger(db: Db): LedgerRow[] {
  const exists = db
    .prepare(`SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`)
    .pluck()
    .get()
  if (!exists) return []
  return db
    .prepare('SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version')
    .all() as LedgerRow[]
}

export interface MigrationStatus {
  current: number
  latest: number
  applied: MigrationRecord[]
  pending: MigrationRecord[]
}

/** Compares the database's ledger with the app's migrations; throws on a newer database or an edited migration. */
export function migrationStatus(db: Db, migrations: Migration[]): MigrationStatus {
  const ledger = readLedger(db)
  const latest = migrations.length
  const current = ledger.reduce((max, row) => Math.max(max, row.version), 0)
  if (current > latest) {
    throw new WorkspaceError(
      'database_newer',
      `This workspace database was migrated by a newer Larder (schema version ${current}; this app knows up to ${latest}). ` +
        'Update Larder, or restore a backup made by this version.',
    )
  }
  for (const row of ledger) {
    const known = migrations[row.version - 1]
    if (!known || known.checksum !== row.checksum) {
      throw new WorkspaceError(
        'migration_edited',
        `Migration ${String(row.version).padStart(4, '0')}_${row.name}.sql was changed after it was applied to this database ` +
          `(recorded checksum ${row.checksum.slice(0, 12)}…, file now ${known ? known.checksum.slice(0, 12) + '…' : 'missing'}). ` +
          'Applied migrations must never be edited: restore the original file and add a new migration instead.',
      )
    }
  }
  const appliedVersions = new Set(ledger.map((row) => row.version))
  return {
    current,
    latest,
    applied: ledger.map((row) => ({
      version: row.version,
      name: row.name,
      checksum: row.checksum,
      appliedAt: row.applied_at,
    })),
    pending: migrations
      .filter((migration) => !appliedVersions.has(migration.version))
      .map((migration) => ({
        version: migration.version,
        name: migration.name,
        checksum: migration.checksum,
        appliedAt: null,
      })),
  }
}

/** Applies pending migrations up to `target` (default: all), each in its own transaction. Returns what ran. */
export function migrate(db: Db, migrations: Migration[], target = migrations.length): MigrationRecord[] {
  const status = migrationStatus(db, migrations)
  ensureLedger(db)
  const record = db.prepare('INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)')
  const applied: MigrationRecord[] = []
  for (const pending of status.pending) {
    if (pending.version > target) break
    const migration = migrations[pending.version - 1]!
    const appliedAt = new Date().toISOString()
    try {
      db.transaction(() => {
        db.exec(migration.sql)
        record.run(migration.version, migration.name, migration.checksum, appliedAt)
      }).immediate()
    } catch (error) {
      throw new WorkspaceError(
        'migration_failed',
        `Migration ${String(migration.version).padStart(4, '0')}_${migration.name}.sql failed and was rolled back: ${(error as Error).message}`,
      )
    }
    applied.push({ ...pending, appliedAt })
  }
  return applied
}
