/** SQL for the cache: namespaces, entries and their versions, vectors, the request log and gateway keys. */
import type { CacheEntry, CacheNamespace, EntryVersion, RequestLogRow } from '../../shared/contract'
import { DEFAULT_NORMALIZATION } from '../../shared/cache-key'
import type { Db } from '../db/database'

export const DEFAULT_GUARDS = { negation: true, numbers: true }

interface NamespaceRow {
  id: number
  tenant: string
  name: string
  serve_drafts: number
  store_as: CacheNamespace['storeAs']
  normalization: string
  semantic_enabled: number
  embedder: string | null
  embedder_version: string | null
  similarity_threshold: number
  guards: string
  generation_target: string | null
  model_label: string | null
  prompt_version: string | null
  on_change: CacheNamespace['onChange']
  default_ttl_seconds: number | null
  created_at: string
  draft: number | null
  approved: number | null
  rejected: number | null
}

function toNamespace(row: NamespaceRow): CacheNamespace {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    serveDrafts: row.serve_drafts === 1,
    storeAs: row.store_as,
    normalization: { ...DEFAULT_NORMALIZATION, ...(JSON.parse(row.normalization) as object) },
    semanticEnabled: row.semantic_enabled === 1,
    embedder: row.embedder ? (JSON.parse(row.embedder) as CacheNamespace['embedder']) : null,
    embedderVersion: row.embedder_version,
    similarityThreshold: row.similarity_threshold,
    guards: { ...DEFAULT_GUARDS, ...(JSON.parse(row.guards) as object) },
    generationTarget: row.generation_target
      ? (JSON.parse(row.generation_target) as CacheNamespace['generationTarget'])
      : null,
    modelLabel: row.model_label,
    promptVersion: row.prompt_version,
    onChange: row.on_change,
    defaultTtlSeconds: row.default_ttl_seconds,
    entryCounts: { draft: row.draft ?? 0, approved: row.approved ?? 0, rejected: row.rejected ?? 0 },
    createdAt: row.created_at,
  }
}

interface EntryRow {
  id: number
  namespace_id: number
  key_hash: string
  canonical: string
  prompt_text: string
  answer: string
  state: CacheEntry['state']
  pinned: number
  expires_at: string | null
  hit_count: number
  last_hit_at: string | null
  model: string | null
  model_file_hash: string | null
  prompt_version: string | null
  embedder_version: string | null
  params: string | null
  created_by: CacheEntry['createdBy']
  tokens_in: number | null
  tokens_out: number | null
  created_at: string
  updated_at: string
}

function toEntry(row: EntryRow): CacheEntry {
  return {
    id: row.id,
    namespaceId: row.namespace_id,
    keyHash: row.key_hash,
    canonical: JSON.parse(row.canonical) as unknown,
    promptText: row.prompt_text,
    answer: row.answer,
    state: row.state,
    pinned: row.pinned === 1,
    expiresAt: row.expires_at,
    hitCount: row.hit_count,
    lastHitAt: row.last_hit_at,
    model: row.model,
    modelFileHash: row.model_file_hash,
    promptVersion: row.prompt_version,
    embedderVersion: row.embedder_version,
    params: row.params ? (JSON.parse(row.params) as unknown) : null,
    createdBy: row.created_by,
    tokensIn: row.tokens_in,
    tokensOut: row.tokens_out,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export interface NewEntry {
  namespaceId: number
  keyHash: string
  canonical: unknown
  promptText: string
  answer: string
  state: CacheEntry['state']
  expiresAt: string | null
  model: string | null
  modelFileHash: string | null
  promptVersion: string | null
  embedderVersion: string | null
  params: unknown
  createdBy: CacheEntry['createdBy']
  tokensIn: number | null
  tokensOut: number | null
}

export interface EntryFilter {
  namespaceId: number
  ids?: number[] | undefined
  state?: CacheEntry['state'][] | undefined
  model?: string | undefined
  promptVersion?: string | undefined
  createdBy?: CacheEntry['createdBy'] | undefined
  search?: string | undefined
  createdBefore?: string | undefined
  pinned?: boolean | undefined
}

/** Turns an operator's search text into a safe FTS5 query: every word must appear (prefix match on the last). */
export function ftsQuery(search: string): string | null {
  const terms = search.match(/[\p{L}\p{N}_]+/gu) ?? []
  if (terms.length === 0) return null
  return terms.map((term, i) => `"${term}"${i === terms.length - 1 ? '*' : ''}`).join(' ')
}

function whereFor(filter: EntryFilter): { clause: string; args: unknown[] } {
  const where = ['e.namespace_id = ?']
  const args: unknown[] = [filter.namespaceId]
  if (filter.ids) {
    where.push('e.id IN (SELECT value FROM json_each(?))')
    args.push(JSON.stringify(filter.ids))
  }
  if (filter.state && filter.state.length > 0) {
    where.push('e.state IN (SELECT value FROM json_each(?))')
    args.push(JSON.stringify(filter.state))
  }
  if (filter.model !== undefined) {
    where.push('e.model IS ?')
    args.push(filter.model)
  }
  if (filter.promptVersion !== undefined) {
    where.push('e.prompt_version IS ?')
    args.push(filter.promptVersion)
  }
  if (filter.createdBy) {
    where.push('e.created_by = ?')
    args.push(filter.createdBy)
  }
  if (filter.createdBefore) {
    where.push('e.created_at < ?')
    args.push(filter.createdBefore)
  }
  if (filter.pinned !== undefined) {
    where.push('e.pinned = ?')
    args.push(filter.pinned ? 1 : 0)
  }
  const query = filter.search ? ftsQuery(filter.search) : null
  if (query) {
    where.push('e.id IN (SELECT rowid FROM cache_fts WHERE cache_fts MATCH ?)')
    args.push(query)
  }
  return { clause: where.join(' AND '), args }
}

const NAMESPACE_SELECT = `SELECT n.*,
  (SELECT count(*) FROM cache_entries e WHERE e.namespace_id = n.id AND e.state = 'draft') AS draft,
  (SELECT count(*) FROM cache_entries e WHERE e.namespace_id = n.id AND e.state = 'approved') AS approved,
  (SELECT count(*) FROM cache_entries e WHERE e.namespace_id = n.id AND e.state = 'rejected') AS rejected
  FROM cache_namespaces n`

export class CacheRepository {
  constructor(private readonly db: Db) {}

  transaction<T>(work: () => T): T {
    return this.db.transaction(work)()
  }

  // Namespaces

  listNamespaces(): CacheNamespace[] {
    return (this.db.prepare(`${NAMESPACE_SELECT} ORDER BY n.tenant, n.name`).all() as NamespaceRow[]).map(toNamespace)
  }

  namespace(id: number): CacheNamespace | undefined {
    const row = this.db.prepare(`${NAMESPACE_SELECT} WHERE n.id = ?`).get(id) as NamespaceRow | undefined
    return row ? toNamespace(row) : undefined
  }

  namespaceByName(tenant: string, name: string): CacheNamespace | undefined {
    const row = this.db.prepare(`${NAMESPACE_SELECT} WHERE n.tenant = ? AND n.name = ?`).get(tenant, name) as
      NamespaceRow | undefined
    return row ? toNamespace(row) : undefined
  }

  saveNamespace(
    value: Omit<CacheNamespace, 'id' | 'entryCounts' | 'createdAt'> & { id?: number | undefined },
  ): CacheNamespace {
    const now = new Date().toISOString()
    const params = {
      tenant: value.tenant,
      name: value.name,
      serveDrafts: value.serveDrafts ? 1 : 0,
      storeAs: value.storeAs,
      normalization: JSON.stringify(value.normalization),
      semanticEnabled: value.semanticEnabled ? 1 : 0,
      embedder: value.embedder ? JSON.stringify(value.embedder) : null,
      embedderVersion: value.embedderVersion,
      threshold: value.similarityThreshold,
      guards: JSON.stringify(value.guards),
      target: value.generationTarget ? JSON.stringify(value.generationTarget) : null,
      modelLabel: value.modelLabel,
      promptVersion: value.promptVersion,
      onChange: value.onChange,
      ttl: value.defaultTtlSeconds,
      now,
    }
    let id = value.id
    if (id === undefined) {
      id = Number(
        this.db
          .prepare(
            `INSERT INTO cache_namespaces (tenant, name, serve_drafts, store_as, normalization, semantic_enabled, embedder,
               embedder_version, similarity_threshold, guards, generation_target, model_label, prompt_version, on_change,
               default_ttl_seconds, created_at, updated_at)
             VALUES (@tenant, @name, @serveDrafts, @storeAs, @normalization, @semanticEnabled, @embedder, @embedderVersion,
               @threshold, @guards, @target, @modelLabel, @promptVersion, @onChange, @ttl, @now, @now)`,
          )
          .run(params).lastInsertRowid,
      )
    } else {
      this.db
        .prepare(
          `UPDATE cache_namespaces SET tenant = @tenant, name = @name, serve_drafts = @serveDrafts, store_as = @storeAs,
             normalization = @normalization, semantic_enabled = @semanticEnabled, embedder = @embedder,
             embedder_version = @embedderVersion, similarity_threshold = @threshold, guards = @guards,
             generation_target = @target, model_label = @modelLabel, prompt_version = @promptVersion,
             on_change = @onChange, default_ttl_seconds = @ttl, updated_at = @now
           WHERE id = @id`,
        )
        .run({ ...params, id })
    }
    return this.namespace(id)!
  }

  removeNamespace(id: number): number {
    const count = this.db.prepare('SELECT count(*) FROM cache_entries WHERE namespace_id = ?').pluck().get(id) as number
    this.db.prepare('DELETE FROM cache_namespaces WHERE id = ?').run(id)
    return count
  }

  // Entries

  entry(id: number): CacheEntry | undefined {
    const row = this.db.prepare('SELECT * FROM cache_entries WHERE id = ?').get(id) as EntryRow | undefined
    return row ? toEntry(row) : undefined
  }

  entryByKey(namespaceId: number, keyHash: string): CacheEntry | undefined {
    const row = this.db
      .prepare('SELECT * FROM cache_entries WHERE namespace_id = ? AND key_hash = ?')
      .get(namespaceId, keyHash) as EntryRow | undefined
    return row ? toEntry(row) : undefined
  }

  listEntries(
    filter: EntryFilter,
    sort: 'hits' | 'recent' | 'created',
    limit: number,
    offset: number,
  ): { items: CacheEntry[]; total: number } {
    const { clause, args } = whereFor(filter)
    const order =
      sort === 'hits'
        ? 'e.pinned DESC, e.hit_count DESC, e.id DESC'
        : sort === 'recent'
          ? 'coalesce(e.last_hit_at, e.updated_at) DESC'
          : 'e.id DESC'
    const total = this.db
      .prepare(`SELECT count(*) FROM cache_entries e WHERE ${clause}`)
      .pluck()
      .get(...args) as number
    const rows = this.db
      .prepare(`SELECT e.* FROM cache_entries e WHERE ${clause} ORDER BY ${order} LIMIT ? OFFSET ?`)
      .all(...args, limit, offset) as EntryRow[]
    return { items: rows.map(toEntry), total }
  }

  idsMatching(filter: EntryFilter): number[] {
    const { clause, args } = whereFor(filter)
    return this.db
      .prepare(`SELECT e.id FROM cache_entries e WHERE ${clause}`)
      .pluck()
      .all(...args) as number[]
  }

  /** Inserts, or replaces the answer of the entry with the same key (recording a version). */
  upsertEntry(entry: NewEntry, changedBy: string): CacheEntry {
    const now = new Date().toISOString()
    const existing = this.entryByKey(entry.namespaceId, entry.keyHash)
    if (existing) {
      this.db
        .prepare(
          `UPDATE cache_entries SET answer = @answer, state = @state, expires_at = @expiresAt, model = @model,
             model_file_hash = @modelFileHash, prompt_version = @promptVersion, embedder_version = @embedderVersion,
             params = @params, created_by = @createdBy, tokens_in = @tokensIn, tokens_out = @tokensOut, updated_at = @now
           WHERE id = @id`,
        )
        .run({ ...entry, params: entry.params === null ? null : JSON.stringify(entry.params), now, id: existing.id })
      this.addVersion(existing.id, entry.answer, entry.state, changedBy, null)
      return this.entry(existing.id)!
    }
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO cache_entries (namespace_id, key_hash, canonical, prompt_text, answer, state, expires_at, model,
             model_file_hash, prompt_version, embedder_version, params, created_by, tokens_in, tokens_out, created_at, updated_at)
           VALUES (@namespaceId, @keyHash, @canonical, @promptText, @answer, @state, @expiresAt, @model, @modelFileHash,
             @promptVersion, @embedderVersion, @params, @createdBy, @tokensIn, @tokensOut, @now, @now)`,
        )
        .run({
          ...entry,
          canonical: JSON.stringify(entry.canonical),
          params: entry.params === null ? null : JSON.stringify(entry.params),
          now,
        }).lastInsertRowid,
    )
    this.addVersion(id, entry.answer, entry.state, changedBy, null)
    return this.entry(id)!
  }

  addVersion(entryId: number, answer: string, state: string, changedBy: string, note: string | null): void {
    const next =
      (this.db
        .prepare('SELECT coalesce(max(version), 0) FROM cache_entry_versions WHERE entry_id = ?')
        .pluck()
        .get(entryId) as number) + 1
    this.db
      .prepare('INSERT INTO cache_entry_versions VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(entryId, next, answer, state, changedBy, note, new Date().toISOString())
  }

  versions(entryId: number): EntryVersion[] {
    return this.db
      .prepare(
        `SELECT version, answer, state, changed_by AS changedBy, note, created_at AS createdAt
         FROM cache_entry_versions WHERE entry_id = ? ORDER BY version DESC`,
      )
      .all(entryId) as EntryVersion[]
  }

  updateEntry(
    id: number,
    patch: {
      answer?: string
      state?: CacheEntry['state']
      pinned?: boolean
      expiresAt?: string | null
      createdBy?: CacheEntry['createdBy']
    },
  ): void {
    const sets: string[] = []
    const args: Record<string, unknown> = { id, now: new Date().toISOString() }
    if (patch.answer !== undefined) {
      sets.push('answer = @answer')
      args.answer = patch.answer
    }
    if (patch.state !== undefined) {
      sets.push('state = @state')
      args.state = patch.state
    }
    if (patch.pinned !== undefined) {
      sets.push('pinned = @pinned')
      args.pinned = patch.pinned ? 1 : 0
    }
    if (patch.expiresAt !== undefined) {
      sets.push('expires_at = @expiresAt')
      args.expiresAt = patch.expiresAt
    }
    if (patch.createdBy !== undefined) {
      sets.push('created_by = @createdBy')
      args.createdBy = patch.createdBy
    }
    if (sets.length === 0) return
    this.db.prepare(`UPDATE cache_entries SET ${sets.join(', ')}, updated_at = @now WHERE id = @id`).run(args)
  }

  setStateForIds(ids: number[], state: CacheEntry['state'], changedBy: string): number {
    return this.transaction(() => {
      let affected = 0
      for (const id of ids) {
        const entry = this.entry(id)
        if (!entry || entry.state === state) continue
        this.updateEntry(id, { state })
        this.addVersion(id, entry.answer, state, changedBy, `state: ${entry.state} -> ${state}`)
        affected++
      }
      return affected
    })
  }

  setPinnedForIds(ids: number[], pinned: boolean): number {
    const statement = this.db.prepare(
      'UPDATE cache_entries SET pinned = ?, updated_at = ? WHERE id = ? AND pinned != ?',
    )
    const now = new Date().toISOString()
    return this.transaction(() =>
      ids.reduce((sum, id) => sum + statement.run(pinned ? 1 : 0, now, id, pinned ? 1 : 0).changes, 0),
    )
  }

  deleteIds(ids: number[]): number {
    const statement = this.db.prepare('DELETE FROM cache_entries WHERE id = ?')
    return this.transaction(() => ids.reduce((sum, id) => sum + statement.run(id).changes, 0))
  }

  recordHit(id: number): void {
    this.db
      .prepare('UPDATE cache_entries SET hit_count = hit_count + 1, last_hit_at = ? WHERE id = ?')
      .run(new Date().toISOString(), id)
  }

  // Vectors

  saveVector(entryId: number, vector: Float32Array): void {
    this.db
      .prepare(
        'INSERT INTO cache_vectors (entry_id, dims, vector) VALUES (?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET dims = excluded.dims, vector = excluded.vector',
      )
      .run(entryId, vector.length, Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength))
  }

  vectorDimensions(namespaceId: number): number[] {
    return this.db
      .prepare(
        `SELECT DISTINCT v.dims FROM cache_vectors v JOIN cache_entries e ON e.id = v.entry_id WHERE e.namespace_id = ?`,
      )
      .pluck()
      .all(namespaceId) as number[]
  }

  deleteVectors(namespaceId: number): void {
    this.db
      .prepare('DELETE FROM cache_vectors WHERE entry_id IN (SELECT id FROM cache_entries WHERE namespace_id = ?)')
      .run(namespaceId)
  }

  /** Nearest servable entries by cosine similarity (sqlite-vec), within one namespace only. */
  nearest(
    namespaceId: number,
    vector: Float32Array,
    states: CacheEntry['state'][],
    limit: number,
  ): { entry: CacheEntry; similarity: number }[] {
    const rows = this.db
      .prepare(
        `SELECT e.*, 1 - vec_distance_cosine(v.vector, ?) AS similarity
         FROM cache_vectors v JOIN cache_entries e ON e.id = v.entry_id
         WHERE e.namespace_id = ? AND v.dims = ? AND e.state IN (SELECT value FROM json_each(?))
           AND (e.expires_at IS NULL OR e.expires_at > ?)
         ORDER BY similarity DESC LIMIT ?`,
      )
      .all(
        Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength),
        namespaceId,
        vector.length,
        JSON.stringify(states),
        new Date().toISOString(),
        limit,
      ) as (EntryRow & { similarity: number })[]
    return rows.map((row) => ({ entry: toEntry(row), similarity: row.similarity }))
  }

  // Request log

  logRequest(row: Omit<RequestLogRow, 'id'> & { canonical: unknown; costEstimate?: number | null }): void {
    this.db
      .prepare(
        `INSERT INTO request_log (at, namespace_id, tenant, key_hash, canonical, prompt_text, hit_kind, similarity, entry_id,
           latency_ms, tokens_in, tokens_out, cost_estimate, source)
         VALUES (@at, @namespaceId, @tenant, @keyHash, @canonical, @promptText, @hitKind, @similarity, @entryId,
           @latencyMs, @tokensIn, @tokensOut, @costEstimate, @source)`,
      )
      .run({
        ...row,
        canonical: row.canonical === null ? null : JSON.stringify(row.canonical),
        costEstimate: row.costEstimate ?? null,
      })
  }

  listLog(filter: { namespaceId?: number | undefined; hitKind?: string[] | undefined }, limit: number, offset: number) {
    const where: string[] = []
    const args: unknown[] = []
    if (filter.namespaceId !== undefined) {
      where.push('namespace_id = ?')
      args.push(filter.namespaceId)
    }
    if (filter.hitKind && filter.hitKind.length > 0) {
      where.push('hit_kind IN (SELECT value FROM json_each(?))')
      args.push(JSON.stringify(filter.hitKind))
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
    const total = this.db
      .prepare(`SELECT count(*) FROM request_log ${clause}`)
      .pluck()
      .get(...args) as number
    const items = this.db
      .prepare(
        `SELECT id, at, namespace_id AS namespaceId, tenant, key_hash AS keyHash, prompt_text AS promptText, hit_kind AS hitKind,
           similarity, entry_id AS entryId, latency_ms AS latencyMs, tokens_in AS tokensIn, tokens_out AS tokensOut, source
         FROM request_log ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`,
      )
      .all(...args, limit, offset) as RequestLogRow[]
    return { items, total }
  }
}
