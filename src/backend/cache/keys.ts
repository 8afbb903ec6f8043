/** Gateway API keys: random secrets shown once, stored only as SHA-256 hashes, mapped to a tenant. */
import { hash as digest, randomBytes } from 'node:crypto'
import type { z } from 'zod'
import type { gatewayKeySchema } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Db } from '../db/database'
import { cacheRuntime, type CacheRuntime } from './runtime'
import { isoNow } from './write-behind'

type GatewayKey = z.infer<typeof gatewayKeySchema>

const hash = (secret: string): string => digest('sha256', secret, 'hex')

const SELECT = `SELECT id, tenant, label, key_prefix AS prefix, created_at AS createdAt, last_used_at AS lastUsedAt,
  revoked_at AS revokedAt FROM gateway_keys`

/** Verified keys kept in memory at most (a flood of distinct valid keys only costs SQLite reads beyond this). */
const MAX_REMEMBERED_KEYS = 10_000

export class GatewayKeys {
  private readonly rt: CacheRuntime

  constructor(private readonly db: Db) {
    this.rt = cacheRuntime(db)
  }

  list(): GatewayKey[] {
    // Last-use times are written behind; write them first so the list shows them.
    this.rt.writer.flush()
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
    // Takes effect at once: no remembered verification survives a revocation.
    this.rt.keys.clear()
    if (changed === 0)
      throw new ApiError({ code: 'not_found', message: `Gateway key ${id} does not exist.`, path: ['id'] })
    return this.db.prepare(`${SELECT} WHERE id = ?`).get(id) as GatewayKey
  }

  /**
   * The tenant of a valid, unrevoked key (looked up by hash, so timing reveals nothing about other keys). Verified
   * keys are remembered until a key is revoked here or another process commits (the gateway calls
   * `CacheRuntime.sync()` first on every request); the key's last use is written behind.
   */
  verify(secret: string): string | undefined {
    const keyHash = hash(secret)
    let key = this.rt.keys.get(keyHash)
    if (!key) {
      key = this.rt
        .prepare('SELECT id, tenant FROM gateway_keys WHERE key_hash = ? AND revoked_at IS NULL')
        .get(keyHash) as { id: number; tenant: string } | undefined
      if (!key) return undefined
      if (this.rt.cacheable) {
        if (this.rt.keys.size >= MAX_REMEMBERED_KEYS) this.rt.keys.clear()
        this.rt.keys.set(keyHash, key)
      }
    }
    this.rt.writer.keyUsed(key.id, isoNow())
    return key.tenant
  }
}
