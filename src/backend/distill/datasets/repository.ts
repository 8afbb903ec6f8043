/** SQL for distillation datasets, their examples and their frozen versions (migration 0013). */
import type { Db } from '../../db/database'
import type { Dataset, DatasetExample, DatasetVersion, LogprobsRecord, SourceSummary } from '../../../shared/contract'
import type { ChatMessage } from '../data'

interface DatasetRow {
  id: number
  name: string
  tenant: string
  description: string | null
  sources: string
  teacher: string | null
  judge: string | null
  created_at: string
  updated_at: string
}

export interface ExampleRow {
  id: number
  dataset_id: number
  source: string
  source_ref: string | null
  prompt: string
  prompt_hash: string
  sample: number
  answer: string | null
  original_answer: string | null
  teacher: string | null
  logprobs: string | null
  logprobs_absent: string | null
  score: number | null
  judge_reason: string | null
  state: 'pending' | 'approved' | 'rejected'
  split: 'train' | 'eval'
  updated_at: string
}

interface VersionRow {
  id: number
  dataset_id: number
  version: number
  content_hash: string
  train_count: number
  eval_count: number
  with_logprobs: number
  card: string
  created_at: string
}

export interface NewExample {
  source: string
  sourceRef: string | null
  prompt: ChatMessage[]
  promptHash: string
  sample: number
  answer: string | null
  split: 'train' | 'eval'
}

const now = (): string => new Date().toISOString()

export function toExample(row: ExampleRow): DatasetExample {
  return {
    id: row.id,
    datasetId: row.dataset_id,
    source: row.source,
    sourceRef: row.source_ref,
    prompt: JSON.parse(row.prompt) as ChatMessage[],
    sample: row.sample,
    answer: row.answer,
    originalAnswer: row.original_answer,
    teacher: row.teacher,
    hasLogprobs: row.logprobs !== null,
    logprobsAbsent: row.logprobs_absent,
    score: row.score,
    judgeReason: row.judge_reason,
    state: row.state,
    split: row.split,
    updatedAt: row.updated_at,
  }
}

function toVersion(row: VersionRow): DatasetVersion {
  return {
    id: row.id,
    datasetId: row.dataset_id,
    version: row.version,
    contentHash: row.content_hash,
    trainCount: row.train_count,
    evalCount: row.eval_count,
    withLogprobs: row.with_logprobs,
    card: JSON.parse(row.card) as DatasetVersion['card'],
    createdAt: row.created_at,
  }
}

export class DatasetsRepository {
  constructor(private readonly db: Db) {}

  transaction<T>(work: () => T): T {
    return this.db.transaction(work)()
  }

  insertDataset(name: string, tenant: string, description: string | null): number {
    const at = now()
    return this.db
      .prepare(
        'INSERT INTO distill_datasets (name, tenant, description, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id',
      )
      .pluck()
      .get(name, tenant, description, at, at) as number
  }

  datasetByName(name: string): number | undefined {
    return this.db.prepare('SELECT id FROM distill_datasets WHERE name = ?').pluck().get(name) as number | undefined
  }

  deleteDataset(id: number): boolean {
    return this.db.prepare('DELETE FROM distill_datasets WHERE id = ?').run(id).changes > 0
  }

  private counts(id: number): Dataset['counts'] {
    return this.db
      .prepare(
        `SELECT count(*) AS total, count(answer) AS answered,
           coalesce(sum(state = 'pending'), 0) AS pending, coalesce(sum(state = 'approved'), 0) AS approved,
           coalesce(sum(state = 'rejected'), 0) AS rejected, coalesce(sum(split = 'train'), 0) AS train,
           coalesce(sum(split = 'eval'), 0) AS eval, count(logprobs) AS withLogprobs
         FROM distill_examples WHERE dataset_id = ?`,
      )
      .get(id) as Dataset['counts']
  }

  private toDataset(row: DatasetRow): Dataset {
    return {
      id: row.id,
      name: row.name,
      tenant: row.tenant,
      description: row.description,
      sources: JSON.parse(row.sources) as SourceSummary[],
      teacher: row.teacher ? (JSON.parse(row.teacher) as unknown) : null,
      judge: row.judge ? (JSON.parse(row.judge) as unknown) : null,
      counts: this.counts(row.id),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }
  }

  getDataset(id: number): Dataset | undefined {
    const row = this.db.prepare('SELECT * FROM distill_datasets WHERE id = ?').get(id) as DatasetRow | undefined
    return row ? this.toDataset(row) : undefined
  }

  listDatasets(): Dataset[] {
    const rows = this.db.prepare('SELECT * FROM distill_datasets ORDER BY id DESC').all() as DatasetRow[]
    return rows.map((row) => this.toDataset(row))
  }

  appendSource(id: number, summary: SourceSummary): void {
    this.db
      .prepare(
        `UPDATE distill_datasets SET sources = json_insert(sources, '$[#]', json(?)), updated_at = ? WHERE id = ?`,
      )
      .run(JSON.stringify(summary), now(), id)
  }

  setTeacherOrJudge(id: number, field: 'teacher' | 'judge', value: unknown): void {
    this.db
      .prepare(`UPDATE distill_datasets SET ${field} = ?, updated_at = ? WHERE id = ?`)
      .run(JSON.stringify(value), now(), id)
  }

  /** Prompts already in the dataset (sample 0), for duplicate checks. */
  existingPrompts(datasetId: number): { hash: string; text: string }[] {
    return (
      this.db
        .prepare('SELECT prompt_hash, prompt FROM distill_examples WHERE dataset_id = ? AND sample = 0')
        .all(datasetId) as { prompt_hash: string; prompt: string }[]
    ).map((row) => ({ hash: row.prompt_hash, text: row.prompt }))
  }

  insertExample(datasetId: number, example: NewExample): boolean {
    const at = now()
    return (
      this.db
        .prepare(
          `INSERT OR IGNORE INTO distill_examples (dataset_id, source, source_ref, prompt, prompt_hash, sample, answer, split, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          datasetId,
          example.source,
          example.sourceRef,
          JSON.stringify(example.prompt),
          example.promptHash,
          example.sample,
          example.answer,
          example.split,
          at,
          at,
        ).changes > 0
    )
  }

  getExample(id: number): ExampleRow | undefined {
    return this.db.prepare('SELECT * FROM distill_examples WHERE id = ?').get(id) as ExampleRow | undefined
  }

  listExamples(
    datasetId: number,
    filter: { state?: string | undefined; search?: string | undefined; limit: number; offset: number },
  ): { items: ExampleRow[]; total: number } {
    const where = ['dataset_id = ?']
    const params: unknown[] = [datasetId]
    if (filter.state) {
      where.push('state = ?')
      params.push(filter.state)
    }
    if (filter.search) {
      where.push(`(instr(lower(prompt), lower(?)) > 0 OR instr(lower(coalesce(answer, '')), lower(?)) > 0)`)
      params.push(filter.search, filter.search)
    }
    const clause = where.join(' AND ')
    const total = this.db
      .prepare(`SELECT count(*) FROM distill_examples WHERE ${clause}`)
      .pluck()
      .get(...params)
    const items = this.db
      .prepare(`SELECT * FROM distill_examples WHERE ${clause} ORDER BY id LIMIT ? OFFSET ?`)
      .all(...params, filter.limit, filter.offset) as ExampleRow[]
    return { items, total: total as number }
  }

  /** Examples a teacher should answer: without an answer (or all), sample 0 only (samples are added beside). */
  promptsToTeach(datasetId: number, onlyUnanswered: boolean): ExampleRow[] {
    return this.db
      .prepare(
        `SELECT * FROM distill_examples WHERE dataset_id = ? AND sample = 0 ${onlyUnanswered ? 'AND answer IS NULL' : ''} ORDER BY id`,
      )
      .all(datasetId) as ExampleRow[]
  }

  /** Writes a teacher's answer to sample `sample` of a prompt (creating the sample's row if needed). */
  saveAnswer(
    base: ExampleRow,
    sample: number,
    answer: { text: string; teacher: string; logprobs: LogprobsRecord | null; absent: string | null },
  ): void {
    const at = now()
    this.db
      .prepare(
        `INSERT INTO distill_examples (dataset_id, source, source_ref, prompt, prompt_hash, sample, answer, teacher, logprobs, logprobs_absent, split, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (dataset_id, prompt_hash, sample) DO UPDATE SET answer = excluded.answer, original_answer = NULL,
           teacher = excluded.teacher, logprobs = excluded.logprobs, logprobs_absent = excluded.logprobs_absent,
           score = NULL, judge_reason = NULL, state = 'pending', updated_at = excluded.updated_at`,
      )
      .run(
        base.dataset_id,
        base.source,
        base.source_ref,
        base.prompt,
        base.prompt_hash,
        sample,
        answer.text,
        answer.teacher,
        answer.logprobs ? JSON.stringify(answer.logprobs) : null,
        answer.absent,
        base.split,
        at,
        at,
      )
  }

  answeredExamples(datasetId: number): ExampleRow[] {
    return this.db
      .prepare('SELECT * FROM distill_examples WHERE dataset_id = ? AND answer IS NOT NULL ORDER BY id')
      .all(datasetId) as ExampleRow[]
  }

  saveJudgement(id: number, score: number, reason: string, state: ExampleRow['state'] | null): void {
    this.db
      .prepare(
        `UPDATE distill_examples SET score = ?, judge_reason = ?, state = coalesce(?, state), updated_at = ? WHERE id = ?`,
      )
      .run(score, reason, state, now(), id)
  }

  setState(datasetId: number, ids: number[], state: ExampleRow['state']): number {
    return this.db
      .prepare(
        `UPDATE distill_examples SET state = ?, updated_at = ?
         WHERE dataset_id = ? AND id IN (SELECT value FROM json_each(?)) AND state != ?
           AND (? = 'pending' OR answer IS NOT NULL)`,
      )
      .run(state, now(), datasetId, JSON.stringify(ids), state, state).changes
  }

  editAnswer(id: number, answer: string): void {
    this.db
      .prepare(
        `UPDATE distill_examples SET original_answer = coalesce(original_answer, answer), answer = ?,
           logprobs = NULL, logprobs_absent = 'the answer was edited by an operator; the teacher''s log-probs no longer apply',
           updated_at = ? WHERE id = ?`,
      )
      .run(answer, now(), id)
  }

  approvedExamples(datasetId: number): ExampleRow[] {
    return this.db
      .prepare(
        `SELECT * FROM distill_examples WHERE dataset_id = ? AND state = 'approved' AND answer IS NOT NULL
         ORDER BY prompt_hash, sample`,
      )
      .all(datasetId) as ExampleRow[]
  }

  insertVersion(
    datasetId: number,
    version: Omit<DatasetVersion, 'id' | 'datasetId' | 'version' | 'createdAt'>,
    examples: { split: string; messages: string; logprobs: string | null }[],
  ): number {
    return this.transaction(() => {
      const next =
        (this.db
          .prepare('SELECT max(version) FROM distill_dataset_versions WHERE dataset_id = ?')
          .pluck()
          .get(datasetId) as number | null) ?? 0
      const id = this.db
        .prepare(
          `INSERT INTO distill_dataset_versions (dataset_id, version, content_hash, train_count, eval_count, with_logprobs, card, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .pluck()
        .get(
          datasetId,
          next + 1,
          version.contentHash,
          version.trainCount,
          version.evalCount,
          version.withLogprobs,
          JSON.stringify(version.card),
          now(),
        ) as number
      const insert = this.db.prepare(
        'INSERT INTO distill_version_examples (version_id, seq, split, messages, logprobs) VALUES (?, ?, ?, ?, ?)',
      )
      examples.forEach((example, index) => insert.run(id, index + 1, example.split, example.messages, example.logprobs))
      return id
    })
  }

  getVersion(id: number): DatasetVersion | undefined {
    const row = this.db.prepare('SELECT * FROM distill_dataset_versions WHERE id = ?').get(id) as VersionRow | undefined
    return row ? toVersion(row) : undefined
  }

  listVersions(datasetId: number): DatasetVersion[] {
    return (
      this.db
        .prepare('SELECT * FROM distill_dataset_versions WHERE dataset_id = ? ORDER BY version DESC')
        .all(datasetId) as VersionRow[]
    ).map(toVersion)
  }

  versionExamples(versionId: number, split: 'train' | 'eval' | 'all'): { messages: string; logprobs: string | null }[] {
    return this.db
      .prepare(
        `SELECT messages, logprobs FROM distill_version_examples WHERE version_id = ? AND (? = 'all' OR split = ?) ORDER BY seq`,
      )
      .all(versionId, split, split) as { messages: string; logprobs: string | null }[]
  }
}
