/** SQL for the model library and the provider list. */
import type { Model, ModelQuality, ProviderConfig } from '../../shared/contract'
import type { Db } from '../db/database'

interface ModelRow {
  id: number
  name: string
  path: string
  source: Model['source']
  source_uri: string | null
  size_bytes: number
  file_modified_at: string
  sha256: string | null
  architecture: string | null
  parameter_count: number | null
  context_length: number | null
  file_type: string | null
  summary: string
  problems: string
  provenance: string | null
  quality: string | null
  base_model_id: number | null
  base_model_name?: string | null
  added_at: string
}

export type StoredModel = Omit<Model, 'loaded'>
export type ModelRecord = Omit<StoredModel, 'id' | 'addedAt' | 'sha256' | 'provenance' | 'quality' | 'baseModel'> & {
  baseModelId: number | null
}

/** Every model column, plus the name of an adapter's base. */
const SELECT_MODELS = `SELECT models.*, base.name AS base_model_name FROM models LEFT JOIN models base ON base.id = models.base_model_id`

function toModel(row: ModelRow): StoredModel {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    source: row.source,
    sourceUri: row.source_uri,
    sizeBytes: row.size_bytes,
    fileModifiedAt: row.file_modified_at,
    sha256: row.sha256,
    architecture: row.architecture,
    parameterCount: row.parameter_count,
    contextLength: row.context_length,
    fileType: row.file_type,
    summary: JSON.parse(row.summary) as StoredModel['summary'],
    problems: JSON.parse(row.problems) as StoredModel['problems'],
    provenance: row.provenance === null ? null : (JSON.parse(row.provenance) as Record<string, unknown>),
    quality: row.quality === null ? null : (JSON.parse(row.quality) as StoredModel['quality']),
    baseModel:
      row.base_model_id === null
        ? null
        : { id: row.base_model_id, name: row.base_model_name ?? `#${row.base_model_id}` },
    addedAt: row.added_at,
  }
}

interface ProviderRow {
  id: number
  name: string
  kind: 'openai'
  base_url: string
  api_key: string | null
  model: string
  concurrency: number
  created_at: string
}

export interface StoredProvider extends ProviderConfig {
  apiKey: string | null
}

function toProvider(row: ProviderRow): StoredProvider {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    baseUrl: row.base_url,
    model: row.model,
    concurrency: row.concurrency,
    hasApiKey: row.api_key !== null && row.api_key.length > 0,
    apiKey: row.api_key,
    createdAt: row.created_at,
  }
}

export function publicProvider(provider: StoredProvider): ProviderConfig {
  const { apiKey: _secret, ...rest } = provider
  return rest
}

export class ModelsRepository {
  constructor(private readonly db: Db) {}

  list(): StoredModel[] {
    return (this.db.prepare(`${SELECT_MODELS} ORDER BY models.name`).all() as ModelRow[]).map(toModel)
  }

  get(id: number): StoredModel | undefined {
    const row = this.db.prepare(`${SELECT_MODELS} WHERE models.id = ?`).get(id) as ModelRow | undefined
    return row ? toModel(row) : undefined
  }

  byPath(path: string): StoredModel | undefined {
    const row = this.db.prepare(`${SELECT_MODELS} WHERE models.path = ?`).get(path) as ModelRow | undefined
    return row ? toModel(row) : undefined
  }

  byName(name: string): StoredModel | undefined {
    const row = this.db.prepare(`${SELECT_MODELS} WHERE models.name = ?`).get(name) as ModelRow | undefined
    return row ? toModel(row) : undefined
  }

  upsert(record: ModelRecord): StoredModel {
    const now = new Date().toISOString()
    const row = this.db
      .prepare(
        `INSERT INTO models (name, path, source, source_uri, size_bytes, file_modified_at, architecture, parameter_count,
           context_length, file_type, summary, problems, base_model_id, added_at, updated_at)
         VALUES (@name, @path, @source, @sourceUri, @sizeBytes, @fileModifiedAt, @architecture, @parameterCount,
           @contextLength, @fileType, @summary, @problems, @baseModelId, @now, @now)
         ON CONFLICT (path) DO UPDATE SET size_bytes = excluded.size_bytes, file_modified_at = excluded.file_modified_at,
           -- A changed file has a new hash; the hash job computes it again.
           sha256 = CASE WHEN models.size_bytes = excluded.size_bytes AND models.file_modified_at = excluded.file_modified_at
                         THEN models.sha256 ELSE NULL END,
           -- So is its quality report: it described the old file.
           quality = CASE WHEN models.size_bytes = excluded.size_bytes AND models.file_modified_at = excluded.file_modified_at
                          THEN models.quality ELSE NULL END,
           architecture = excluded.architecture, parameter_count = excluded.parameter_count,
           context_length = excluded.context_length, file_type = excluded.file_type, summary = excluded.summary,
           problems = excluded.problems, base_model_id = excluded.base_model_id, updated_at = excluded.updated_at
         RETURNING id`,
      )
      .get({
        ...record,
        summary: JSON.stringify(record.summary),
        problems: JSON.stringify(record.problems),
        now,
      }) as { id: number }
    return this.get(row.id)!
  }

  /** Adapters registered on this model. */
  adaptersOf(id: number): StoredModel[] {
    return (this.db.prepare(`${SELECT_MODELS} WHERE models.base_model_id = ?`).all(id) as ModelRow[]).map(toModel)
  }

  setHash(id: number, sha256: string, fileModifiedAt: string): boolean {
    // Only if the file is still the one that was hashed.
    return (
      this.db
        .prepare('UPDATE models SET sha256 = ? WHERE id = ? AND file_modified_at = ?')
        .run(sha256, id, fileModifiedAt).changes > 0
    )
  }

  /** Keeps a quality report on the model it describes (the quantized one). */
  setQuality(id: number, quality: ModelQuality): boolean {
    return (
      this.db
        .prepare('UPDATE models SET quality = ?, updated_at = ? WHERE id = ?')
        .run(JSON.stringify(quality), new Date().toISOString(), id).changes > 0
    )
  }

  remove(id: number): boolean {
    return this.db.prepare('DELETE FROM models WHERE id = ?').run(id).changes > 0
  }

  listProviders(): StoredProvider[] {
    return (this.db.prepare('SELECT * FROM providers ORDER BY name').all() as ProviderRow[]).map(toProvider)
  }

  getProvider(id: number): StoredProvider | undefined {
    const row = this.db.prepare('SELECT * FROM providers WHERE id = ?').get(id) as ProviderRow | undefined
    return row ? toProvider(row) : undefined
  }

  saveProvider(input: {
    id?: number | undefined
    name: string
    baseUrl: string
    apiKey?: string | undefined
    model: string
    concurrency: number
  }): StoredProvider | undefined {
    const now = new Date().toISOString()
    if (input.id !== undefined) {
      const row = this.db
        .prepare(
          `UPDATE providers SET name = @name, base_url = @baseUrl, model = @model, concurrency = @concurrency,
             api_key = CASE WHEN @apiKey IS NULL THEN api_key ELSE @apiKey END, updated_at = @now
           WHERE id = @id RETURNING *`,
        )
        .get({ ...input, apiKey: input.apiKey ?? null, now }) as ProviderRow | undefined
      return row ? toProvider(row) : undefined
    }
    const row = this.db
      .prepare(
        `INSERT INTO providers (name, kind, base_url, api_key, model, concurrency, created_at, updated_at)
         VALUES (@name, 'openai', @baseUrl, @apiKey, @model, @concurrency, @now, @now) RETURNING *`,
      )
      .get({ ...input, apiKey: input.apiKey ?? null, now }) as ProviderRow
    return toProvider(row)
  }

  removeProvider(id: number): boolean {
    return this.db.prepare('DELETE FROM providers WHERE id = ?').run(id).changes > 0
  }
}
