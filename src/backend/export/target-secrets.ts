/**
 * Saved deploy targets (console settings). The secret access key is encrypted at rest with AES-256-GCM under a
 * random key kept in a file beside the database (mode 0600), never in it: a copied larder.db alone does not leak it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Db } from '../db/database'
import { ApiError } from '../../shared/errors'
import type { TargetCredentials } from './s3-target'

export interface SavedTarget {
  id: number
  name: string
  url: string
  endpoint: string | null
  region: string | null
  accessKeyId: string | null
  hasSecret: boolean
  createdAt: string
  updatedAt: string
}

interface TargetRow {
  id: number
  name: string
  url: string
  endpoint: string | null
  region: string | null
  access_key_id: string | null
  secret_encrypted: string | null
  created_at: string
  updated_at: string
}

function keyFile(home: string): Buffer {
  const path = join(home, 'secrets.key')
  if (!existsSync(path)) {
    writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' })
    chmodSync(path, 0o600)
  }
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')
  if (key.length !== 32) throw new Error(`${path} is not a Larder secrets key (32 bytes, base64).`)
  return key
}

export function encryptSecret(home: string, plain: string): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyFile(home), iv)
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
  return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':')
}

export function decryptSecret(home: string, sealed: string): string {
  const [version, iv, tag, data] = sealed.split(':')
  if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('Unknown secret format.')
  const decipher = createDecipheriv('aes-256-gcm', keyFile(home), Buffer.from(iv, 'base64'))
  decipher.setAuthTag(Buffer.from(tag, 'base64'))
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8')
}

const toSaved = (row: TargetRow): SavedTarget => ({
  id: row.id,
  name: row.name,
  url: row.url,
  endpoint: row.endpoint,
  region: row.region,
  accessKeyId: row.access_key_id,
  hasSecret: row.secret_encrypted !== null,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
})

export class TargetStore {
  constructor(
    private readonly db: Db,
    private readonly home: string,
  ) {}

  list(): SavedTarget[] {
    return (this.db.prepare('SELECT * FROM cdn_targets ORDER BY name').all() as TargetRow[]).map(toSaved)
  }

  save(input: {
    name: string
    url: string
    endpoint?: string | undefined
    region?: string | undefined
    accessKeyId?: string | undefined
    secretAccessKey?: string | undefined
  }): SavedTarget {
    const now = new Date().toISOString()
    const existing = this.db.prepare('SELECT * FROM cdn_targets WHERE name = ?').get(input.name) as
      TargetRow | undefined
    // A blank secret on an edit keeps the stored one (the console never shows it back).
    const sealed =
      input.secretAccessKey !== undefined && input.secretAccessKey !== ''
        ? encryptSecret(this.home, input.secretAccessKey)
        : (existing?.secret_encrypted ?? null)
    this.db
      .prepare(
        `INSERT INTO cdn_targets (name, url, endpoint, region, access_key_id, secret_encrypted, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET url = excluded.url, endpoint = excluded.endpoint, region = excluded.region,
           access_key_id = excluded.access_key_id, secret_encrypted = excluded.secret_encrypted,
           updated_at = excluded.updated_at`,
      )
      .run(
        input.name,
        input.url,
        input.endpoint ?? null,
        input.region ?? null,
        input.accessKeyId ?? null,
        sealed,
        now,
        now,
      )
    return toSaved(this.db.prepare('SELECT * FROM cdn_targets WHERE name = ?').get(input.name) as TargetRow)
  }

  remove(name: string): void {
    const result = this.db.prepare('DELETE FROM cdn_targets WHERE name = ?').run(name)
    if (result.changes === 0)
      throw new ApiError({ code: 'not_found', message: `No saved target named "${name}".`, path: ['name'] })
  }

  /** The saved target with its decrypted keys (for the deploy only; never sent to the console). */
  resolve(name: string): {
    url: string
    endpoint: string | null
    region: string | null
    credentials?: TargetCredentials
  } {
    const row = this.db.prepare('SELECT * FROM cdn_targets WHERE name = ?').get(name) as TargetRow | undefined
    if (!row) throw new ApiError({ code: 'not_found', message: `No saved target named "${name}".`, path: ['target'] })
    let credentials: TargetCredentials | undefined
    if (row.access_key_id && row.secret_encrypted) {
      try {
        credentials = {
          accessKeyId: row.access_key_id,
          secretAccessKey: decryptSecret(this.home, row.secret_encrypted),
        }
      } catch (error) {
        throw new ApiError({
          code: 'conflict',
          message: `The saved secret of "${name}" cannot be decrypted (${(error as Error).message}); secrets.key was replaced. Save the target's keys again.`,
          path: ['target'],
        })
      }
    }
    return { url: row.url, endpoint: row.endpoint, region: row.region, ...(credentials ? { credentials } : {}) }
  }
}
