/** Gateway API keys: random secrets shown once, stored only as SHA-256 hashes, mapped to a tenant. */
import { createHash, randomBytes } from 'node:crypto'
import type { z } from 'zod'
import type { gatewayKeySchema } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Db } from '../db/database'

type GatewayKey = z.infer<typeof gatewayKeySchema>

const hash = (secret: string): string => createHash('sha256').update(secret).digest('hex')

const SELECT = `SELECT id, tenant, label, key_prefix AS prefix, created_at AS createdAt, last_used_at AS lastUsedAt,
  revoked_at AS revokedAt FROM gateway_keys`

export class GatewayKeys {
  constructor(private readonly db: Db) {}

  list(): GatewayKey[] {
    return this.db.prepare(`${SELECT} ORDER BY id`).all() as GatewayKey[]
  }

  create(tenant: string, label: string | undefined): { key: GatewayKey; secret: string } {
    const secret = `lk_${randomBytes(24).toString('base64url')}`
    const id = this.db
      .prepare('INSERT INTO gateway_keys (tenant, label, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(tenant, label ?? null, hash(secret), secret.slice(0, 9), new Date().toISOString()).lastInsertRowid
    return { key: this.db.prepare(`${SELECT} WHERE id = ?`).get(id) as GatewayKey, secret }
  }

  revoke(id: number): GatewayKey {
    const changed = this.db
      .prepare('UPDATE gateway_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?')
      .run(new Date().toISOString(), id).changes
    if (changed === 0)
      throw new ApiError({ code: 'not_found', message: `Gateway key ${id} does not exist.`, path: ['id'] })
    return this.db.prepare(`${SELECT} WHERE id = ?`).get(id) as GatewayKey
  }

  /** The tenant of a valid, unrevoked key (looked up by hash, so timing reveals nothing about other keys). */
  verify(secret: string): string | undefined {
    const row = this.db
      .prepare('SELECT id, tenant FROM gateway_keys WHERE key_hash = ? AND revoked_at IS NULL')
      .get(hash(secret)) as { id: number; tenant: string } | undefined
    if (!row) return undefined
    this.db.prepare('UPDATE gateway_keys SET last_used_at = ? WHERE id = ?').run(new Date().toISOString(), row.id)
    return row.tenant
  }
}
