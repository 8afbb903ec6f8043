/** SQL for the Templates area: families, variants, generation runs and published versions. */
import type { Db } from '../db/database'
import type {
  FamilyDefinition,
  PublishedVariantSnapshot,
  TemplateProblemInfo,
  TemplateVariant,
} from '../../shared/contract'

const now = (): string => new Date().toISOString()

export interface StoredFamily {
  id: number
  name: string
  definition: FamilyDefinition
  revision: number
  publishedVersion: number | null
  createdAt: string
  updatedAt: string
}

interface FamilyRow {
  id: number
  name: string
  definition: string
  revision: number
  published_version: number | null
  created_at: string
  updated_at: string
}

function toFamily(row: FamilyRow): StoredFamily {
  return {
    id: row.id,
    name: row.name,
    definition: JSON.parse(row.definition) as FamilyDefinition,
    revision: row.revision,
    publishedVersion: row.published_version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** A variant as stored; `problems` is computed against the current definition by the service. */
export type StoredVariant = Omit<TemplateVariant, 'problems'>

interface VariantRow {
  id: number
  family_id: number
  segment_key: string
  template: string
  raw_output: string | null
  state: TemplateVariant['state']
  rejection: string | null
  origin: TemplateVariant['origin']
  weight: number
  run_id: number | null
  seed: number | null
  tokens_in: number | null
  tokens_out: number | null
  created_at: string
  updated_at: string
}

function toVariant(row: VariantRow): StoredVariant {
  return {
    id: row.id,
    familyId: row.family_id,
    segmentKey: row.segment_key,
    template: row.template,
    rawOutput: row.raw_output,
    state: row.state,
    rejection: row.rejection ? (JSON.parse(row.rejection) as TemplateProblemInfo[]) : null,
    origin: row.origin,
    weight: row.weight,
    runId: row.run_id,
    seed: row.seed,
    tokensIn: row.tokens_in,
    tokensOut: row.tokens_out,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export interface NewVariant {
  familyId: number
  segmentKey: string
  template: string
  rawOutput?: string | null
  state: TemplateVariant['state']
  rejection?: TemplateProblemInfo[] | null
  origin: TemplateVariant['origin']
  weight?: number
  runId?: number | null
  seed?: number | null
  tokensIn?: number | null
  tokensOut?: number | null
  generationMs?: number | null
}

export interface StoredRun {
  id: number
  familyId: number
  jobId: number | null
  target: string
  mode: 'fill' | 'add'
  plannedCalls: number
  familyRevision: number
  status: 'running' | 'succeeded' | 'failed' | 'cancelled'
  createdAt: string
  finishedAt: string | null
}

export interface SegmentStats {
  segmentKey: string
  requested: number
  accepted: number
  rejected: number
  tokensIn: number
  tokensOut: number
  generationMs: number
  wallMs: number
  finishedAt: string
}

export interface StoredVersion {
  familyId: number
  version: number
  definition: FamilyDefinition
  variants: PublishedVariantSnapshot[]
  variantCount: number
  contentHash: string
  note: string | null
  publishedAt: string
}

export class TemplatesRepository {
  constructor(readonly db: Db) {}

  listFamilies(): StoredFamily[] {
    return (this.db.prepare('SELECT * FROM template_families ORDER BY name').all() as FamilyRow[]).map(toFamily)
  }

  getFamily(id: number): StoredFamily | undefined {
    const row = this.db.prepare('SELECT * FROM template_families WHERE id = ?').get(id) as FamilyRow | undefined
    return row ? toFamily(row) : undefined
  }

  familyByName(name: string): StoredFamily | undefined {
    const row = this.db.prepare('SELECT * FROM template_families WHERE name = ?').get(name) as FamilyRow | undefined
    return row ? toFamily(row) : undefined
  }

  insertFamily(definition: FamilyDefinition): StoredFamily {
    const at = now()
    const id = this.db
      .prepare(
        'INSERT INTO template_families (name, definition, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id',
      )
      .pluck()
      .get(definition.name, JSON.stringify(definition), at, at) as number
    return this.getFamily(id)!
  }

  updateDefinition(id: number, definition: FamilyDefinition): StoredFamily {
    this.db
      .prepare('UPDATE template_families SET definition = ?, revision = revision + 1, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(definition), now(), id)
    return this.getFamily(id)!
  }

  removeFamily(id: number): boolean {
    return this.db.prepare('DELETE FROM template_families WHERE id = ?').run(id).changes > 0
  }

  stateCounts(familyId: number): { segmentKey: string; state: TemplateVariant['state']; count: number }[] {
    return this.db
      .prepare(
        `SELECT segment_key AS segmentKey, state, count(*) AS count FROM template_variants
         WHERE family_id = ? GROUP BY segment_key, state`,
      )
      .all(familyId) as { segmentKey: string; state: TemplateVariant['state']; count: number }[]
  }

  listVariants(filter: {
    familyId: number
    segmentKey?: string | undefined
    states?: TemplateVariant['state'][] | undefined
    limit?: number
    offset?: number
  }): { items: StoredVariant[]; total: number } {
    const where = `family_id = @familyId
      AND (@segmentKey IS NULL OR segment_key = @segmentKey)
      AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))`
    const params = {
      familyId: filter.familyId,
      segmentKey: filter.segmentKey ?? null,
      states: filter.states && filter.states.length > 0 ? JSON.stringify(filter.states) : null,
    }
    const total = this.db.prepare(`SELECT count(*) FROM template_variants WHERE ${where}`).pluck().get(params) as number
    const rows = this.db
      .prepare(`SELECT * FROM template_variants WHERE ${where} ORDER BY segment_key, id LIMIT @limit OFFSET @offset`)
      .all({ ...params, limit: filter.limit ?? -1, offset: filter.offset ?? 0 }) as VariantRow[]
    return { items: rows.map(toVariant), total }
  }

  getVariant(id: number): StoredVariant | undefined {
    const row = this.db.prepare('SELECT * FROM template_variants WHERE id = ?').get(id) as VariantRow | undefined
    return row ? toVariant(row) : undefined
  }

  insertVariant(variant: NewVariant): StoredVariant {
    const at = now()
    const id = this.db
      .prepare(
        `INSERT INTO template_variants (family_id, segment_key, template, raw_output, state, rejection, origin, weight,
           run_id, seed, tokens_in, tokens_out, generation_ms, created_at, updated_at)
         VALUES (@familyId, @segmentKey, @template, @rawOutput, @state, @rejection, @origin, @weight,
           @runId, @seed, @tokensIn, @tokensOut, @generationMs, @at, @at) RETURNING id`,
      )
      .pluck()
      .get({
        familyId: variant.familyId,
        segmentKey: variant.segmentKey,
        template: variant.template,
        rawOutput: variant.rawOutput ?? null,
        state: variant.state,
        rejection: variant.rejection ? JSON.stringify(variant.rejection) : null,
        origin: variant.origin,
        weight: variant.weight ?? 1,
        runId: variant.runId ?? null,
        seed: variant.seed ?? null,
        tokensIn: variant.tokensIn ?? null,
        tokensOut: variant.tokensOut ?? null,
        generationMs: variant.generationMs ?? null,
        at,
      }) as number
    return this.getVariant(id)!
  }

  updateVariant(id: number, change: { template?: string; weight?: number; origin?: TemplateVariant['origin'] }): void {
    this.db
      .prepare(
        `UPDATE template_variants SET template = coalesce(@template, template), weight = coalesce(@weight, weight),
           origin = coalesce(@origin, origin), updated_at = @at WHERE id = @id`,
      )
      .run({
        id,
        template: change.template ?? null,
        weight: change.weight ?? null,
        origin: change.origin ?? null,
        at: now(),
      })
  }

  setState(ids: number[], state: TemplateVariant['state'], rejection: TemplateProblemInfo[] | null): number {
    const statement = this.db.prepare(
      'UPDATE template_variants SET state = ?, rejection = ?, updated_at = ? WHERE id = ? AND state != ?',
    )
    const at = now()
    const text = rejection ? JSON.stringify(rejection) : null
    let changed = 0
    this.db.transaction(() => {
      for (const id of ids) changed += statement.run(state, text, at, id, state).changes
    })()
    return changed
  }

  createRun(run: Omit<StoredRun, 'id' | 'createdAt' | 'finishedAt' | 'status'>): StoredRun {
    const id = this.db
      .prepare(
        `INSERT INTO template_generation_runs (family_id, job_id, target, mode, planned_calls, family_revision, status,
           created_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?) RETURNING id`,
      )
      .pluck()
      .get(run.familyId, run.jobId, run.target, run.mode, run.plannedCalls, run.familyRevision, now()) as number
    return this.getRun(id)!
  }

  getRun(id: number): StoredRun | undefined {
    const row = this.db
      .prepare(
        `SELECT id, family_id AS familyId, job_id AS jobId, target, mode, planned_calls AS plannedCalls,
           family_revision AS familyRevision, status, created_at AS createdAt, finished_at AS finishedAt
         FROM template_generation_runs WHERE id = ?`,
      )
      .get(id) as StoredRun | undefined
    return row
  }

  listRuns(familyId: number, limit: number): StoredRun[] {
    return this.db
      .prepare(
        `SELECT id, family_id AS familyId, job_id AS jobId, target, mode, planned_calls AS plannedCalls,
           family_revision AS familyRevision, status, created_at AS createdAt, finished_at AS finishedAt
         FROM template_generation_runs WHERE family_id = ? ORDER BY id DESC LIMIT ?`,
      )
      .all(familyId, limit) as StoredRun[]
  }

  finishRun(id: number, status: StoredRun['status']): void {
    this.db
      .prepare('UPDATE template_generation_runs SET status = ?, finished_at = ? WHERE id = ?')
      .run(status, now(), id)
  }

  recordSegment(runId: number, stats: Omit<SegmentStats, 'finishedAt'>): void {
    this.db
      .prepare(
        `INSERT INTO template_generation_segments (run_id, segment_key, requested, accepted, rejected, tokens_in,
           tokens_out, generation_ms, wall_ms, finished_at)
         VALUES (@runId, @segmentKey, @requested, @accepted, @rejected, @tokensIn, @tokensOut, @generationMs,
           @wallMs, @at)`,
      )
      .run({ ...stats, runId, at: now() })
  }

  /** The seeds a run has already answered, per segment: what a resumed job must not ask again. */
  answeredSeeds(runId: number): Map<string, Set<number>> {
    const rows = this.db
      .prepare('SELECT segment_key AS segmentKey, seed FROM template_variants WHERE run_id = ? AND seed IS NOT NULL')
      .all(runId) as { segmentKey: string; seed: number }[]
    const bySegment = new Map<string, Set<number>>()
    for (const row of rows) {
      let seeds = bySegment.get(row.segmentKey)
      if (!seeds) bySegment.set(row.segmentKey, (seeds = new Set()))
      seeds.add(row.seed)
    }
    return bySegment
  }

  /** Totals of one segment of a run, from its committed answers. */
  segmentTotals(
    runId: number,
    segmentKey: string,
  ): Omit<SegmentStats, 'segmentKey' | 'finishedAt' | 'wallMs'> & {
    firstAt: string | null
    firstGenerationMs: number
  } {
    return this.db
      .prepare(
        `SELECT count(*) AS requested, coalesce(sum(state != 'rejected'), 0) AS accepted,
           coalesce(sum(state = 'rejected'), 0) AS rejected, coalesce(sum(tokens_in), 0) AS tokensIn,
           coalesce(sum(tokens_out), 0) AS tokensOut, coalesce(sum(generation_ms), 0) AS generationMs,
           min(created_at) AS firstAt,
           coalesce((SELECT generation_ms FROM template_variants WHERE run_id = @runId AND segment_key = @segmentKey
             ORDER BY created_at, id LIMIT 1), 0) AS firstGenerationMs
         FROM template_variants WHERE run_id = @runId AND segment_key = @segmentKey`,
      )
      .get({ runId, segmentKey }) as Omit<SegmentStats, 'segmentKey' | 'finishedAt' | 'wallMs'> & {
      firstAt: string | null
      firstGenerationMs: number
    }
  }

  runSegments(runId: number): SegmentStats[] {
    return this.db
      .prepare(
        `SELECT segment_key AS segmentKey, requested, accepted, rejected, tokens_in AS tokensIn,
           tokens_out AS tokensOut, generation_ms AS generationMs, wall_ms AS wallMs, finished_at AS finishedAt
         FROM template_generation_segments WHERE run_id = ? ORDER BY finished_at, segment_key`,
      )
      .all(runId) as SegmentStats[]
  }

  /** The newest finished generation of each segment of a family. */
  latestSegmentStats(familyId: number): SegmentStats[] {
    return this.db
      .prepare(
        `SELECT s.segment_key AS segmentKey, s.requested, s.accepted, s.rejected, s.tokens_in AS tokensIn,
           s.tokens_out AS tokensOut, s.generation_ms AS generationMs, s.wall_ms AS wallMs, s.finished_at AS finishedAt
         FROM template_generation_segments s JOIN template_generation_runs r ON r.id = s.run_id
         WHERE r.family_id = ? AND s.run_id = (
           SELECT max(s2.run_id) FROM template_generation_segments s2 JOIN template_generation_runs r2 ON r2.id = s2.run_id
           WHERE r2.family_id = r.family_id AND s2.segment_key = s.segment_key)`,
      )
      .all(familyId) as SegmentStats[]
  }

  nextVersion(familyId: number): number {
    return (
      (this.db
        .prepare('SELECT coalesce(max(version), 0) + 1 FROM template_versions WHERE family_id = ?')
        .pluck()
        .get(familyId) as number) ?? 1
    )
  }

  insertVersion(version: Omit<StoredVersion, 'publishedAt'>): StoredVersion {
    const at = now()
    this.db
      .prepare(
        `INSERT INTO template_versions (family_id, version, definition, variants, variant_count, content_hash, note,
           published_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        version.familyId,
        version.version,
        JSON.stringify(version.definition),
        JSON.stringify(version.variants),
        version.variantCount,
        version.contentHash,
        version.note,
        at,
      )
    this.db
      .prepare('UPDATE template_families SET published_version = ?, updated_at = ? WHERE id = ?')
      .run(version.version, at, version.familyId)
    return { ...version, publishedAt: at }
  }

  listVersions(familyId: number): Omit<StoredVersion, 'definition' | 'variants'>[] {
    return this.db
      .prepare(
        `SELECT family_id AS familyId, version, variant_count AS variantCount, content_hash AS contentHash, note,
           published_at AS publishedAt FROM template_versions WHERE family_id = ? ORDER BY version DESC`,
      )
      .all(familyId) as Omit<StoredVersion, 'definition' | 'variants'>[]
  }

  getVersion(familyId: number, version: number): StoredVersion | undefined {
    const row = this.db
      .prepare(
        `SELECT family_id AS familyId, version, definition, variants, variant_count AS variantCount,
           content_hash AS contentHash, note, published_at AS publishedAt
         FROM template_versions WHERE family_id = ? AND version = ?`,
      )
      .get(familyId, version) as
      (Omit<StoredVersion, 'definition' | 'variants'> & { definition: string; variants: string }) | undefined
    if (!row) return undefined
    return {
      ...row,
      definition: JSON.parse(row.definition) as FamilyDefinition,
      variants: JSON.parse(row.variants) as PublishedVariantSnapshot[],
    }
  }

  /** The newest published version of every family (what a CDN export carries). */
  latestVersions(): (StoredVersion & { name: string })[] {
    const rows = this.db
      .prepare(
        `SELECT f.name, v.family_id AS familyId, v.version, v.definition, v.variants, v.variant_count AS variantCount,
           v.content_hash AS contentHash, v.note, v.published_at AS publishedAt
         FROM template_families f JOIN template_versions v ON v.family_id = f.id AND v.version = f.published_version
         ORDER BY f.name`,
      )
      .all() as (Omit<StoredVersion, 'definition' | 'variants'> & {
      name: string
      definition: string
      variants: string
    })[]
    return rows.map((row) => ({
      ...row,
      definition: JSON.parse(row.definition) as FamilyDefinition,
      variants: JSON.parse(row.variants) as PublishedVariantSnapshot[],
    }))
  }
}
