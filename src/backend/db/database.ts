/**
 * Opens the workspace database with the settings every part of Larder relies on (WAL, foreign keys, a busy
 * timeout so the CLI and a running server can share the file) and turns SQLite's terse failures into errors that
 * say what is wrong and what to do.
 */
import { accessSync, constants, existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import Database from 'better-sqlite3'
import { WorkspaceError } from './errors'

const requireFromHere = createRequire(import.meta.url)

/** Loads sqlite-vec (vector distance functions for semantic cache lookups) into a connection. */
export function loadVectorExtension(db: Database.Database): boolean {
  try {
    const sqliteVec = requireFromHere('sqlite-vec') as { load(db: Database.Database): void }
    sqliteVec.load(db)
    return true
  } catch {
    // Semantic matching reports itself unavailable; everything else works without the extension.
    return false
  }
}

export type Db = Database.Database

export interface OpenOptions {
  readonly?: boolean
  /** Path to a better_sqlite3.node built for this runtime's ABI (Electron's differs from Node's). */
  nativeBinding?: string
}

export function nativeBindingFromEnv(): string | undefined {
  const value = process.env.LARDER_SQLITE_BINDING
  return value && value.length > 0 ? value : undefined
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  const readonly = options.readonly ?? false
  if (!readonly && existsSync(file)) {
    try {
      accessSync(file, constants.R_OK | constants.W_OK)
    } catch {
      throw new WorkspaceError(
        'database_readonly',
        `The database ${file} is read-only for this user. Fix its permissions, or choose another workspace with --home.`,
      )
    }
  }
  let db: Db
  try {
    const nativeBinding = options.nativeBinding ?? nativeBindingFromEnv()
    db = new Database(file, {
      readonly,
      fileMustExist: readonly,
      ...(nativeBinding ? { nativeBinding } : {}),
    })
  } catch (error) {
    throw describeSqliteError(error, file)
  }
  try {
    db.pragma('busy_timeout = 5000')
    if (!readonly) {
      const mode = db.pragma('journal_mode = WAL', { simple: true })
      if (mode !== 'wal') throw new Error(`could not switch to WAL journal mode (got ${String(mode)})`)
      db.pragma('synchronous = NORMAL')
    }
    db.pragma('foreign_keys = ON')
    loadVectorExtension(db)
    // Touch the schema so a file that is not SQLite fails here, not at the first real query.
    db.prepare('SELECT count(*) FROM sqlite_schema').get()
  } catch (error) {
    db.close()
    throw describeSqliteError(error, file)
  }
  return db
}

export function describeSqliteError(error: unknown, file: string): Error {
  if (error instanceof WorkspaceError) return error
  const code = (error as { code?: string }).code ?? ''
  const message = (error as Error).message ?? String(error)
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT' || /not a database|malformed/i.test(message)) {
    return new WorkspaceError(
      'database_corrupt',
      `The database ${file} is damaged or is not a Larder database (${message}). ` +
        'Move it aside and restore a backup with `larder restore FILE`, or start with an empty workspace.',
    )
  }
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new WorkspaceError(
      code === 'SQLITE_CANTOPEN' ? 'workspace_unwritable' : 'database_readonly',
      `Cannot open ${file} for writing (${message}). Check the folder's permissions, or choose another workspace with --home.`,
    )
  }
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new WorkspaceError(
      'database_locked',
      `The database ${file} is locked by another program (${message}). Close it and try again.`,
    )
  }
  if (/NODE_MODULE_VERSION|was compiled against a different Node\.js version|invalid ELF header/.test(message)) {
    return new WorkspaceError(
      'native_module',
      `better-sqlite3 is built for another runtime (${message.split('\n')[0]}). Run \`npm rebuild better-sqlite3\` for the CLI, or \`npm start\` to rebuild the desktop app's copy.`,
    )
  }
  return error instanceof Error ? error : new Error(message)
}
