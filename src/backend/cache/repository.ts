/** SQL for the cache: namespaces, entries and their versions, vectors, the request log and gateway keys. */
import type { CacheEntry, CacheNamespace, EntryVersion, RequestLogRow } from '../../shared/contract'
import { DEFAULT_NORMALIZATION, type CanonicalRequest } from '../../shared/cache-key'
import type { Db } from '../db/database'
import { BUMP_UPDATED_AT, cacheRuntime, type CacheRuntime, type NamespaceConfig } from './runtime'
import { message, refOf, type Message, type MessageRef } from '../../shared/messages'

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
    ...toNamespaceConfig(row),
    entryCounts: { draft: row.draft ?? 0, approved: row.approved ?? 0, rejected: row.rejected ?? 0 },
  }
}

function toNamespaceConfig(row: Omit<NamespaceRow, 'draft' | 'approved' | 'rejected'>): NamespaceConfig {
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
  finish_reason: CacheEntry['finishReason']
  tool_calls: string | null
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
    finishReason: row.finish_reason,
    toolCalls: row.tool_calls ? (JSON.parse(row.tool_calls) as CacheEntry['toolCalls']) : null,
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
  finishReason?: CacheEntry['finishReason']
  toolCalls?: CacheEntry['toolCalls']
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
  minHits?: number | undefined
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value)
}

function finishColumns(entry: NewEntry): { finishReason: CacheEntry['finishReason']; toolCalls: string | null } {
  return { finishReason: entry.finishReason ?? 'stop', toolCalls: jsonOrNull(entry.toolCalls) }
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
  if (filter.minHits !== undefined) {
    where.push('e.hit_count >= ?')
    args.push(filter.minHits)
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

/**
 * Statements are prepared once per connection (`CacheRuntime.prepare`). Every write tells the runtime what it
 * changed, so the in-memory front, namespace settings and semantic indexes stay exactly what SQLite holds.
 */
export class CacheRepository {
  private readonly rt: CacheRuntime

  constructor(private readonly db: Db) {
    this.rt = cacheRuntime(db)
  }

  private prepare(sql: string) {
    return this.rt.prepare(sql)
  }

  /** Runs `work` in one transaction; entries it touched by raw SQL are re-read afterwards. */
  transaction<T>(work: () => T): T {
    try {
      return this.db.transaction(work)()
    } finally {
      this.rt.entriesChangedInBulk()
    }
  }

  // Namespaces

  listNamespaces(): CacheNamespace[] {
    return (this.prepare(`${NAMESPACE_SELECT} ORDER BY n.tenant, n.name`).all() as NamespaceRow[]).map(toNamespace)
  }

  namespace(id: number): CacheNamespace | undefined {
    const row = this.prepare(`${NAMESPACE_SELECT} WHERE n.id = ?`).get(id) as NamespaceRow | undefined
    return row ? toNamespace(row) : undefined
  }

  namespaceByName(tenant: string, name: string): CacheNamespace | undefined {
    const row = this.prepare(`${NAMESPACE_SELECT} WHERE n.tenant = ? AND n.name = ?`).get(tenant, name) as
      NamespaceRow | undefined
    return row ? toNamespace(row) : undefined
  }

  /** A namespace's settings without counting its entries (the serving path), remembered until it changes. */
  namespaceConfig(tenant: string, name: string): NamespaceConfig | undefined {
    const key = `${tenant}\u0000${name}`
    const known = this.rt.namespaces.get(key)
    if (known) return known
    const row = this.prepare('SELECT * FROM cache_namespaces WHERE tenant = ? AND name = ?').get(tenant, name) as
      NamespaceRow | undefined
    if (!row) return undefined
    const config = toNamespaceConfig(row)
    if (this.rt.cacheable) this.rt.namespaces.set(key, config)
    return config
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
        this.prepare(
          `INSERT INTO cache_namespaces (tenant, name, serve_drafts, store_as, normalization, semantic_enabled, embedder,
             embedder_version, similarity_threshold, guards, generation_target, model_label, prompt_version, on_change,
             default_ttl_seconds, created_at, updated_at)
           VALUES (@tenant, @name, @serveDrafts, @storeAs, @normalization, @semanticEnabled, @embedder, @embedderVersion,
             @threshold, @guards, @target, @modelLabel, @promptVersion, @onChange, @ttl, @now, @now)`,
        ).run(params).lastInsertRowid,
      )
    } else {
      const existing = id
      this.rt.stamped(existing, () =>
        this.prepare(
          `UPDATE cache_namespaces SET tenant = @tenant, name = @name, serve_drafts = @serveDrafts, store_as = @storeAs,
             normalization = @normalization, semantic_enabled = @semanticEnabled, embedder = @embedder,
             embedder_version = @embedderVersion, similarity_threshold = @threshold, guards = @guards,
             generation_target = @target, model_label = @modelLabel, prompt_version = @promptVersion,
             on_change = @onChange, default_ttl_seconds = @ttl, updated_at = ${BUMP_UPDATED_AT}
           WHERE id = @id`,
        ).run({ ...params, id: existing }),
      )
    }
    this.rt.namespaceChanged()
    return this.namespace(id)!
  }

  removeNamespace(id: number): number {
    const count = this.prepare('SELECT count(*) FROM cache_entries WHERE namespace_id = ?').pluck().get(id) as number
    this.rt.namespaceRemoved(id)
    this.prepare('DELETE FROM cache_namespaces WHERE id = ?').run(id)
    return count
  }

  // Entries

  entry(id: number): CacheEntry | undefined {
    const row = this.prepare('SELECT * FROM cache_entries WHERE id = ?').get(id) as EntryRow | undefined
    return row ? toEntry(row) : undefined
  }

  /** By namespace and key, through the in-memory front (the exact-lookup path). */
  entryByKey(namespaceId: number, keyHash: string): CacheEntry | undefined {
    const known = this.rt.front.get(namespaceId, keyHash)
    if (known) return known
    const row = this.prepare('SELECT * FROM cache_entries WHERE namespace_id = ? AND key_hash = ?').get(
      namespaceId,
      keyHash,
    ) as EntryRow | undefined
    if (!row) return undefined
    const entry = toEntry(row)
    if (this.rt.cacheable) this.rt.front.set(entry)
    return entry
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
    const total = this.prepare(`SELECT count(*) FROM cache_entries e WHERE ${clause}`)
      .pluck()
      .get(...args) as number
    const rows = this.prepare(`SELECT e.* FROM cache_entries e WHERE ${clause} ORDER BY ${order} LIMIT ? OFFSET ?`).all(
      ...args,
      limit,
      offset,
    ) as EntryRow[]
    return { items: rows.map(toEntry), total }
  }

  /**
   * Entries of the namespace for the same prompt (model, kind and messages after normalisation) under another key:
   * the same request with other answer-changing parameters. Found through the prompt-prefix index.
   */
  samePrompt(
    namespaceId: number,
    promptText: string,
    canonical: CanonicalRequest,
    keyHash: string,
    limit: number,
  ): CacheEntry[] {
    const rows = this.prepare(
      `SELECT * FROM cache_entries WHERE namespace_id = ? AND substr(prompt_text, 1, 120) = substr(?, 1, 120)
         AND prompt_text = ? AND key_hash <> ? ORDER BY hit_count DESC, id LIMIT 200`,
    ).all(namespaceId, promptText, promptText, keyHash) as EntryRow[]
    const messages = JSON.stringify(canonical.messages)
    const found: CacheEntry[] = []
    for (const row of rows) {
      const other = toEntry(row)
      const theirs = other.canonical as CanonicalRequest
      if (theirs.model !== canonical.model || theirs.kind !== canonical.kind) continue
      if (JSON.stringify(theirs.messages) !== messages) continue
      found.push(other)
      if (found.length >= limit) break
    }
    return found
  }

  /** Of these entries, those whose answer contains U+FFFD (broken UTF-8). */
  idsWithBrokenText(ids: number[]): number[] {
    if (ids.length === 0) return []
    return this.prepare(
      `SELECT id FROM cache_entries WHERE id IN (SELECT value FROM json_each(?)) AND instr(answer, char(65533)) > 0`,
    )
      .pluck()
      .all(JSON.stringify(ids)) as number[]
  }

  idsMatching(filter: EntryFilter): number[] {
    const { clause, args } = whereFor(filter)
    return this.prepare(`SELECT e.id FROM cache_entries e WHERE ${clause}`)
      .pluck()
      .all(...args) as number[]
  }

  /** Inserts, or replaces the answer of the entry with the same key (recording a version). */
  upsertEntry(entry: NewEntry, changedBy: string): CacheEntry {
    const now = new Date().toISOString()
    const existing = this.entry(
      (this.prepare('SELECT id FROM cache_entries WHERE namespace_id = ? AND key_hash = ?')
        .pluck()
        .get(entry.namespaceId, entry.keyHash) as number | undefined) ?? -1,
    )
    if (existing) {
      this.prepare(
        `UPDATE cache_entries SET answer = @answer, finish_reason = @finishReason, tool_calls = @toolCalls,
           state = @state, expires_at = @expiresAt, model = @model,
           model_file_hash = @modelFileHash, prompt_version = @promptVersion, embedder_version = @embedderVersion,
           params = @params, created_by = @createdBy, tokens_in = @tokensIn, tokens_out = @tokensOut, updated_at = @now
         WHERE id = @id`,
      ).run({ ...entry, ...finishColumns(entry), params: jsonOrNull(entry.params), now, id: existing.id })
      this.rt.entryChanged(existing.id)
      this.addVersion(existing.id, entry.answer, entry.state, changedBy, null)
      return this.entry(existing.id)!
    }
    const id = Number(
      this.prepare(
        `INSERT INTO cache_entries (namespace_id, key_hash, canonical, prompt_text, answer, finish_reason, tool_calls,
           state, expires_at, model, model_file_hash, prompt_version, embedder_version, params, created_by, tokens_in,
           tokens_out, created_at, updated_at)
         VALUES (@namespaceId, @keyHash, @canonical, @promptText, @answer, @finishReason, @toolCalls, @state,
           @expiresAt, @model, @modelFileHash, @promptVersion, @embedderVersion, @params, @createdBy, @tokensIn,
           @tokensOut, @now, @now)`,
      ).run({
        ...entry,
        ...finishColumns(entry),
        canonical: JSON.stringify(entry.canonical),
        params: jsonOrNull(entry.params),
        now,
      }).lastInsertRowid,
    )
    this.addVersion(id, entry.answer, entry.state, changedBy, null)
    return this.entry(id)!
  }

  addVersion(entryId: number, answer: string, state: string, changedBy: string, note: string | Message | null): void {
    const next =
      (this.prepare('SELECT coalesce(max(version), 0) FROM cache_entry_versions WHERE entry_id = ?')
        .pluck()
        .get(entryId) as number) + 1
    this.prepare(
      `INSERT INTO cache_entry_versions (entry_id, version, answer, state, changed_by, note, note_ref, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      entryId,
      next,
      answer,
      state,
      changedBy,
      note === null || typeof note === 'string' ? note : note.text,
      note === null || typeof note === 'string' ? null : JSON.stringify(refOf(note)),
      new Date().toISOString(),
    )
  }

  versions(entryId: number): EntryVersion[] {
    return this.prepare(
      `SELECT version, answer, state, changed_by AS changedBy, note, note_ref AS noteRef, created_at AS createdAt
       FROM cache_entry_versions WHERE entry_id = ? ORDER BY version DESC`,
    )
      .all(entryId)
      .map((row) => {
        const { noteRef, ...rest } = row as Omit<EntryVersion, 'noteRef'> & { noteRef: string | null }
        return { ...rest, noteRef: noteRef === null ? null : (JSON.parse(noteRef) as MessageRef) }
      })
  }

  updateEntry(
    id: number,
    patch: {
      answer?: string
      state?: CacheEntry['state']
      pinned?: boolean
      expiresAt?: string | null
      createdBy?: CacheEntry['createdBy']
      finishReason?: CacheEntry['finishReason']
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
    if (patch.finishReason !== undefined) {
      sets.push('finish_reason = @finishReason')
      args.finishReason = patch.finishReason
    }
    if (patch.createdBy !== undefined) {
      sets.push('created_by = @createdBy')
      args.createdBy = patch.createdBy
    }
    if (sets.length === 0) return
    this.prepare(`UPDATE cache_entries SET ${sets.join(', ')}, updated_at = @now WHERE id = @id`).run(args)
    this.rt.entryChanged(id)
  }

  setStateForIds(ids: number[], state: CacheEntry['state'], changedBy: string): number {
    return this.transaction(() => {
      let affected = 0
      for (const id of ids) {
        const entry = this.entry(id)
        if (!entry || entry.state === state) continue
        this.updateEntry(id, { state })
        this.addVersion(
          id,
          entry.answer,
          state,
          changedBy,
          message('cacheNote.stateChange', { from: entry.state, to: state }),
        )
        affected++
      }
      return affected
    })
  }

  setPinnedForIds(ids: number[], pinned: boolean): number {
    const statement = this.prepare('UPDATE cache_entries SET pinned = ?, updated_at = ? WHERE id = ? AND pinned != ?')
    const now = new Date().toISOString()
    return this.transaction(() =>
      ids.reduce((sum, id) => {
        this.rt.entryChanged(id)
        return sum + statement.run(pinned ? 1 : 0, now, id, pinned ? 1 : 0).changes
      }, 0),
    )
  }

  deleteIds(ids: number[]): number {
    const statement = this.prepare('DELETE FROM cache_entries WHERE id = ?')
    const deleted = this.transaction(() => ids.reduce((sum, id) => sum + statement.run(id).changes, 0))
    // Their vectors went with them (ON DELETE CASCADE); ids can be reused, so the indexes must forget them now.
    this.rt.entriesDeleted(ids, this.db.inTransaction)
    return deleted
  }

  /** Counts one hit at once (the gateway queues its hits instead: `CacheService.recordHit`). */
  recordHit(id: number): void {
    this.prepare('UPDATE cache_entries SET hit_count = hit_count + 1, last_hit_at = ? WHERE id = ?').run(
      new Date().toISOString(),
      id,
    )
    this.rt.entryChanged(id)
  }

  // Vectors

  saveVector(entryId: number, vector: Float32Array): void {
    const blob = Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength)
    const insert = (): void => {
      this.prepare(
        'INSERT INTO cache_vectors (entry_id, dims, vector) VALUES (?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET dims = excluded.dims, vector = excluded.vector',
      ).run(entryId, vector.length, blob)
    }
    const owner = this.prepare(
      'SELECT namespace_id AS namespaceId, key_hash AS keyHash FROM cache_entries WHERE id = ?',
    ).get(entryId) as { namespaceId: number; keyHash: string } | undefined
    if (!owner) {
      insert()
      return
    }
    this.rt.stamped(owner.namespaceId, () => {
      const replace = this.prepare('UPDATE cache_vectors SET dims = ?, vector = ? WHERE entry_id = ?')
      if (replace.run(vector.length, blob, entryId).changes === 0) {
        // New. Other processes catch up on ids above the highest they loaded; below that, they must rebuild.
        const highest = this.prepare('SELECT max(entry_id) FROM cache_vectors').pluck().get() as number | null
        insert()
        if (highest === null || highest < entryId) return
      }
      // Changed in place (or added below the highest id): move the namespace's stamp in the same transaction, so
      // other processes rebuild their index.
      this.prepare(`UPDATE cache_namespaces SET updated_at = ${BUMP_UPDATED_AT} WHERE id = @id`).run({
        id: owner.namespaceId,
        now: new Date().toISOString(),
      })
    })
    this.rt.vectorSaved(entryId, owner.namespaceId, owner.keyHash, vector, this.db.inTransaction)
  }

  /** The dimensions of the vectors a namespace holds (from its in-memory index). */
  vectorDimensions(namespaceId: number): number[] {
    return this.rt.namespaceVectors(namespaceId).dims
  }

  deleteVectors(namespaceId: number): void {
    this.rt.stamped(namespaceId, () => {
      this.prepare(
        'DELETE FROM cache_vectors WHERE entry_id IN (SELECT id FROM cache_entries WHERE namespace_id = ?)',
      ).run(namespaceId)
      this.prepare(`UPDATE cache_namespaces SET updated_at = ${BUMP_UPDATED_AT} WHERE id = @id`).run({
        id: namespaceId,
        now: new Date().toISOString(),
      })
    })
    this.rt.vectorsDropped(namespaceId)
  }

  /**
   * Nearest servable entries by cosine similarity, within one namespace only, best first: `limit` entries in
   * `states`, unexpired, whose vector has the query's dimensions, at or above `threshold`. Served from the
   * namespace's in-memory index (`semantic-index.ts`).
   */
  nearest(
    namespaceId: number,
    vector: Float32Array,
    states: CacheEntry['state'][],
    limit: number,
    threshold = -1,
  ): { entry: CacheEntry; similarity: number }[] {
    const index = this.rt.namespaceVectors(namespaceId).index(vector.length)
    if (!index) return []
    const now = new Date().toISOString()
    const found: { entry: CacheEntry; similarity: number }[] = []
    for (const candidate of index.search(vector, threshold)) {
      const entry = this.rt.front.byId(candidate.entryId) ?? this.entry(candidate.entryId)
      if (!entry || entry.namespaceId !== namespaceId || entry.keyHash !== candidate.keyHash) {
        // Deleted (or its id reused) by another process: skip it and re-read that one vector.
        this.rt.refreshVector(namespaceId, candidate.entryId)
        continue
      }
      if (!states.includes(entry.state) || (entry.expiresAt !== null && entry.expiresAt <= now)) continue
      found.push({ entry, similarity: candidate.similarity })
      if (found.length >= limit) break
    }
    return found
  }

  /** The same question answered by sqlite-vec's exact scan over `cache_vectors` (the reference; benchmarks). */
  nearestExact(
    namespaceId: number,
    vector: Float32Array,
    states: CacheEntry['state'][],
    limit: number,
  ): { entry: CacheEntry; similarity: number }[] {
    const rows = this.prepare(
      `SELECT e.*, 1 - vec_distance_cosine(v.vector, ?) AS similarity
       FROM cache_vectors v JOIN cache_entries e ON e.id = v.entry_id
       WHERE e.namespace_id = ? AND v.dims = ? AND e.state IN (SELECT value FROM json_each(?))
         AND (e.expires_at IS NULL OR e.expires_at > ?)
       ORDER BY similarity DESC LIMIT ?`,
    ).all(
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
    this.prepare(
      `INSERT INTO request_log (at, namespace_id, tenant, key_hash, canonical, prompt_text, hit_kind, reason, similarity,
           entry_id, latency_ms, tokens_in, tokens_out, cost_estimate, source)
         VALUES (@at, @namespaceId, @tenant, @keyHash, @canonical, @promptText, @hitKind, @reason, @similarity, @entryId,
           @latencyMs, @tokensIn, @tokensOut, @costEstimate, @source)`,
    ).run({
      ...row,
      canonical: row.canonical === null ? null : JSON.stringify(row.canonical),
      costEstimate: row.costEstimate ?? null,
    })
  }

  /** One log row and its canonical request (parsed), or undefined. */
  logRow(id: number): { row: RequestLogRow; canonical: unknown } | undefined {
    const found = this.prepare(
      `SELECT id, at, namespace_id AS namespaceId, tenant, key_hash AS keyHash, prompt_text AS promptText, hit_kind AS hitKind,
           reason, similarity, entry_id AS entryId, latency_ms AS latencyMs, tokens_in AS tokensIn, tokens_out AS tokensOut, source,
           canonical
         FROM request_log WHERE id = ?`,
    ).get(id) as (RequestLogRow & { canonical: string | null }) | undefined
    if (!found) return undefined
    const { canonical, ...row } = found
    return { row, canonical: canonical === null ? null : (JSON.parse(canonical) as unknown) }
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
    const total = this.prepare(`SELECT count(*) FROM request_log ${clause}`)
      .pluck()
      .get(...args) as number
    const items = this.prepare(
      `SELECT id, at, namespace_id AS namespaceId, tenant, key_hash AS keyHash, prompt_text AS promptText, hit_kind AS hitKind,
           reason, similarity, entry_id AS entryId, latency_ms AS latencyMs, tokens_in AS tokensIn, tokens_out AS tokensOut, source
         FROM request_log ${clause} ORDER BY id DESC LIMIT ? OFFSET ?`,
    ).all(...args, limit, offset) as RequestLogRow[]
    return { items, total }
  }
}
