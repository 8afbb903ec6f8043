/** SQL for distillation runs, their points and checkpoints (migration 0010). Status comes from the run's job. */
import { existsSync } from 'node:fs'
import type { DistillRun, RunResult, TrainPointView } from '../../shared/contract'
import type { Db } from '../db/database'
import type { CheckpointInfo, PreparedInfo } from './trainer'

interface RunRow {
  id: number
  job_id: number | null
  name: string
  trainer: string
  student: string
  student_label: string
  base_model_id: number | null
  data_path: string
  data_sha256: string | null
  data_format: 'chat' | 'text' | null
  hyperparameters: string
  quantize: string | null
  prepared: string | null
  result: string | null
  model_id: number | null
  quantized_model_id: number | null
  created_at: string
  updated_at: string
  status: DistillRun['status'] | null
  progress: number | null
  progress_message: string | null
  error: string | null
}

interface PointRow {
  step: number
  epoch: number
  loss: number | null
  accuracy: number | null
  lr: number | null
  tokens_per_second: number | null
  val_loss: number | null
  val_accuracy: number | null
  answer_accuracy: number | null
  answer_loss: number | null
}

interface CheckpointRow {
  step: number
  epoch: number
  path: string
  bytes: number
  val_loss: number | null
  created_at: string
}

const parse = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T))

function toRun(row: RunRow): DistillRun {
  const result = parse<RunResult>(row.result)
  return {
    id: row.id,
    jobId: row.job_id,
    status: row.status ?? 'failed',
    progress: row.progress,
    progressMessage: row.progress_message,
    error: row.status === null ? 'The job of this run no longer exists.' : row.error,
    name: row.name,
    trainer: row.trainer,
    studentLabel: row.student_label,
    baseModelId: row.base_model_id,
    dataPath: row.data_path,
    dataSha256: row.data_sha256,
    dataFormat: row.data_format,
    hyperparameters: JSON.parse(row.hyperparameters) as unknown,
    quantize: row.quantize,
    prepared: parse<PreparedInfo>(row.prepared),
    result,
    modelId: row.model_id,
    quantizedModelId: row.quantized_model_id,
    providerId: result?.remote?.providerId ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function toPoint(row: PointRow): TrainPointView {
  return {
    step: row.step,
    epoch: row.epoch,
    loss: row.loss,
    accuracy: row.accuracy,
    lr: row.lr,
    tokensPerSecond: row.tokens_per_second,
    valLoss: row.val_loss,
    valAccuracy: row.val_accuracy,
    answerAccuracy: row.answer_accuracy,
    answerLoss: row.answer_loss,
  }
}

const SELECT_RUN = `SELECT r.*, j.status, j.progress, j.progress_message, j.error
  FROM distill_runs r LEFT JOIN jobs j ON j.id = r.job_id`

export interface NewRun {
  name: string
  student: unknown
  studentLabel: string
  baseModelId: number | null
  dataPath: string
  hyperparameters: unknown
  quantize: string | null
}

export class DistillRepository {
  constructor(private readonly db: Db) {}

  create(run: NewRun): number {
    const now = new Date().toISOString()
    return Number(
      this.db
        .prepare(
          `INSERT INTO distill_runs (name, student, student_label, base_model_id, data_path, hyperparameters, quantize,
             created_at, updated_at)
           VALUES (@name, @student, @studentLabel, @baseModelId, @dataPath, @hyperparameters, @quantize, @now, @now)`,
        )
        .run({
          ...run,
          student: JSON.stringify(run.student),
          hyperparameters: JSON.stringify(run.hyperparameters),
          now,
        }).lastInsertRowid,
    )
  }

  private touch(id: number, assignments: string, values: Record<string, unknown>): void {
    this.db
      .prepare(`UPDATE distill_runs SET ${assignments}, updated_at = @now WHERE id = @id`)
      .run({ ...values, id, now: new Date().toISOString() })
  }

  setTrainer(id: number, trainer: string): void {
    this.touch(id, 'trainer = @trainer', { trainer })
  }

  setName(id: number, name: string): void {
    this.touch(id, 'name = @name', { name })
  }

  studentSpec(id: number): unknown {
    const text = this.db.prepare('SELECT student FROM distill_runs WHERE id = ?').pluck().get(id) as string | undefined
    return text === undefined ? undefined : (JSON.parse(text) as unknown)
  }

  setJob(id: number, jobId: number): void {
    this.touch(id, 'job_id = @jobId', { jobId })
  }

  setData(id: number, sha256: string, format: 'chat' | 'text'): void {
    this.touch(id, 'data_sha256 = @sha256, data_format = @format', { sha256, format })
  }

  setPrepared(id: number, prepared: PreparedInfo): void {
    this.touch(id, 'prepared = @prepared', { prepared: JSON.stringify(prepared) })
  }

  setResult(id: number, result: RunResult): void {
    this.touch(id, 'result = @result, model_id = @modelId, quantized_model_id = @quantizedModelId', {
      result: JSON.stringify(result),
      modelId: result.modelId,
      quantizedModelId: result.quantized?.modelId ?? null,
    })
  }

  get(id: number): DistillRun | undefined {
    const row = this.db.prepare(`${SELECT_RUN} WHERE r.id = ?`).get(id) as RunRow | undefined
    return row ? toRun(row) : undefined
  }

  byJob(jobId: number): DistillRun | undefined {
    const row = this.db.prepare(`${SELECT_RUN} WHERE r.job_id = ?`).get(jobId) as RunRow | undefined
    return row ? toRun(row) : undefined
  }

  list(limit: number): DistillRun[] {
    return (this.db.prepare(`${SELECT_RUN} ORDER BY r.id DESC LIMIT ?`).all(limit) as RunRow[]).map(toRun)
  }

  addPoints(runId: number, points: readonly TrainPointView[]): void {
    if (points.length === 0) return
    const next = this.db.prepare('SELECT coalesce(max(seq), 0) FROM distill_points WHERE run_id = ?').pluck()
    const insert = this.db.prepare(
      `INSERT INTO distill_points (run_id, seq, step, epoch, loss, accuracy, lr, tokens_per_second, val_loss,
         val_accuracy, answer_accuracy, answer_loss)
       VALUES (@runId, @seq, @step, @epoch, @loss, @accuracy, @lr, @tokensPerSecond, @valLoss, @valAccuracy,
         @answerAccuracy, @answerLoss)`,
    )
    this.db.transaction(() => {
      let seq = next.get(runId) as number
      for (const point of points) insert.run({ runId, seq: ++seq, ...point })
    })()
  }

  /** A resumed run replays from its last checkpoint: the points after it are recorded again. */
  dropPointsAfter(runId: number, step: number): void {
    this.db.prepare('DELETE FROM distill_points WHERE run_id = ? AND step > ?').run(runId, step)
  }

  /** Evaluation points always; training points thinned to about `maxPoints` evenly spaced ones. */
  points(runId: number, maxPoints: number): TrainPointView[] {
    const total = this.db
      .prepare('SELECT count(*) FROM distill_points WHERE run_id = ? AND loss IS NOT NULL')
      .pluck()
      .get(runId) as number
    const every = Math.max(1, Math.ceil(total / maxPoints))
    const rows = this.db
      .prepare(
        `SELECT * FROM (
           SELECT *, row_number() OVER (PARTITION BY loss IS NOT NULL ORDER BY seq) AS n FROM distill_points
           WHERE run_id = @runId
         ) WHERE loss IS NULL OR n % @every = 0 OR n = @total ORDER BY seq`,
      )
      .all({ runId, every, total }) as PointRow[]
    return rows.map(toPoint)
  }

  /** Every point of a run in the order it was recorded, with its sequence number (the fine-tuning API's metrics). */
  pointsInOrder(runId: number): (TrainPointView & { seq: number })[] {
    const rows = this.db
      .prepare('SELECT * FROM distill_points WHERE run_id = ? ORDER BY seq')
      .all(runId) as (PointRow & { seq: number })[]
    return rows.map((row) => ({ ...toPoint(row), seq: row.seq }))
  }

  /** The evaluation of the untrained student (step 0), which a resumed attempt does not repeat. */
  baseline(runId: number): TrainPointView | undefined {
    const row = this.db
      .prepare('SELECT * FROM distill_points WHERE run_id = ? AND step = 0 AND loss IS NULL ORDER BY seq LIMIT 1')
      .get(runId) as PointRow | undefined
    return row ? toPoint(row) : undefined
  }

  addCheckpoint(runId: number, checkpoint: CheckpointInfo): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO distill_checkpoints (run_id, step, epoch, path, bytes, val_loss, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        checkpoint.step,
        checkpoint.epoch,
        checkpoint.path,
        checkpoint.bytes,
        checkpoint.valLoss,
        new Date().toISOString(),
      )
  }

  checkpoints(runId: number) {
    return (
      this.db.prepare('SELECT * FROM distill_checkpoints WHERE run_id = ? ORDER BY step').all(runId) as CheckpointRow[]
    ).map((row) => ({
      epoch: row.epoch,
      step: row.step,
      path: row.path,
      bytes: row.bytes,
      valLoss: row.val_loss,
      exists: existsSync(row.path),
      createdAt: row.created_at,
    }))
  }

  setModelProvenance(modelId: number, provenance: unknown): void {
    this.db.prepare('UPDATE models SET provenance = ? WHERE id = ?').run(JSON.stringify(provenance), modelId)
  }
}
