import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import { openDatabase } from './database'
import { WorkspaceError } from './errors'

describe('openDatabase', () => {
  it('opens in WAL mode with foreign keys on', () => {
    const db = openDatabase(join(tempDir(), 'larder.db'))
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000)
    db.close()
  })

  it('turns a file that is not SQLite into a clear error', () => {
    const file = join(tempDir(), 'larder.db')
    writeFileSync(file, 'this is a text file, not a database '.repeat(200))
    try {
      openDatabase(file)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(WorkspaceError)
      expect((error as WorkspaceError).code).toBe('database_corrupt')
      expect((error as Error).message).toMatch(/damaged or is not a Larder database.*larder restore FILE/)
    }
  })
})
