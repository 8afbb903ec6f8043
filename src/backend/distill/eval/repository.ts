/**
 * SQL for evaluation reports and promotions (migrations 0014, 0016). An evaluation's status comes from its job. A
 * promotion's target is stored as canonical JSON (keys in a fixed order), so one target is always one string.
 */
import type { EvalReport, Evaluation, Promotion, PromotionTarget } from '../../../shared/contract'
import type { Db } from '../../db/database'

interface EvaluationRow {
  id: number
  job_id: number | null
  name: string
  data_path: string
  input: string
  report: string | null
  created_at: string
  status: Evaluation['status'] | null
  error: string | null
}

interface PromotionRow {
  id: number
  target: string
  target_label: string
  model_id: number | null
  model_name: string | null
  provider_id: number | null
  provider_name: string | null
  evaluation_id: number | null
  gate_passed: number | null
  override: string | null
  previous: string
  actor: string
  created_at: string
  rolled_back_at: string | null
  rolled_back_by: string | null
}

const EVALUATION_SELECT = `SELECT e.*, j.status AS status, j.error AS error
  FROM distill_evaluations e LEFT JOIN jobs j ON j.id = e.job_id`

function toEvaluation(row: EvaluationRow): Evaluation {
  return {
    id: row.id,
    jobId: row.job_id,
    status: row.status ?? 'failed',
    error: row.error,
    name: row.name,
    dataPath: row.data_path,
    input: JSON.parse(row.input) as unknown,
    report: row.report ? (JSON.parse(row.report) as EvalReport) : null,
    createdAt: row.created_at,
  }
}

function toPromotion(row: PromotionRow): Promotion {
  return {
    id: row.id,
    target: JSON.parse(row.target) as Promotion['target'],
    targetLabel: row.target_label,
    modelId: row.model_id,
    modelName: row.model_name,
    providerId: row.provider_id,
    providerName: row.provider_name,
    evaluationId: row.evaluation_id,
    gatePassed: row.gate_passed === null ? null : row.gate_passed === 1,
    override: row.override,
    previous: JSON.parse(row.previous) as unknown,
    actor: row.actor,
    createdAt: row.created_at,
    rolledBackAt: row.rolled_back_at,
    rolledBackBy: row.rolled_back_by,
  }
}

const now = (): string => new Date().toISOString()

/** One JSON text per target, whatever order its keys came in. */
export function targetKey(target: PromotionTarget): string {
  if ('namespaceId' in target) return JSON.stringify({ namespaceId: target.namespaceId })
  if ('pipelineId' in target) return JSON.stringify({ pipelineId: target.pipelineId, nodeId: target.nodeId })
  return JSON.stringify({ familyId: target.familyId })
}

export class EvalRepository {
  constructor(private readonly db: Db) {}

  createEvaluation(name: string, dataPath: string, input: unknown): number {
    return Number(
      this.db
        .prepare(`INSERT INTO distill_evaluations (name, data_path, input, created_at) VALUES (?, ?, ?, ?)`)
        .run(name, dataPath, JSON.stringify(input), now()).lastInsertRowid,
    )
  }

  setJob(id: number, jobId: number): void {
    this.db.prepare('UPDATE distill_evaluations SET job_id = ? WHERE id = ?').run(jobId, id)
  }

  setName(id: number, name: string): void {
    this.db.prepare('UPDATE distill_evaluations SET name = ? WHERE id = ?').run(name, id)
  }

  setReport(id: number, report: EvalReport): void {
    this.db.prepare('UPDATE distill_evaluations SET report = ? WHERE id = ?').run(JSON.stringify(report), id)
  }

  evaluation(id: number): Evaluation | undefined {
    const row = this.db.prepare(`${EVALUATION_SELECT} WHERE e.id = ?`).get(id) as EvaluationRow | undefined
    return row ? toEvaluation(row) : undefined
  }

  evaluations(limit: number): Evaluation[] {
    return (this.db.prepare(`${EVALUATION_SELECT} ORDER BY e.id DESC LIMIT ?`).all(limit) as EvaluationRow[]).map(
      toEvaluation,
    )
  }

  /** Training curve of the distill.train run that produced a model, if any. */
  curveOfModel(
    modelId: number,
  ): { runId: number; points: Array<{ step: number; loss: number | null; valLoss: number | null }> } | null {
    const run = this.db
      .prepare('SELECT id FROM distill_runs WHERE model_id = ? ORDER BY id DESC LIMIT 1')
      .pluck()
      .get(modelId) as number | undefined
    return run === undefined ? null : this.curveOfRun(run)
  }

  /** The curve of the run whose fine-tuning API result a provider serves. */
  curveOfProvider(providerId: number): ReturnType<EvalRepository['curveOfModel']> {
    const run = this.db
      .prepare(
        `SELECT id FROM distill_runs WHERE result IS NOT NULL AND json_extract(result, '$.remote.providerId') = ?
         ORDER BY id DESC LIMIT 1`,
      )
      .pluck()
      .get(providerId) as number | undefined
    return run === undefined ? null : this.curveOfRun(run)
  }

  private curveOfRun(run: number): {
    runId: number
    points: Array<{ step: number; loss: number | null; valLoss: number | null }>
  } {
    const points = this.db
      .prepare('SELECT step, loss, val_loss AS valLoss FROM distill_points WHERE run_id = ? ORDER BY seq LIMIT 2000')
      .all(run) as Array<{ step: number; loss: number | null; valLoss: number | null }>
    return { runId: run, points }
  }

  addPromotion(value: Omit<Promotion, 'id' | 'createdAt' | 'rolledBackAt' | 'rolledBackBy'>): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO distill_promotions (target, target_label, model_id, model_name, provider_id, provider_name,
             evaluation_id, gate_passed, override, previous, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          targetKey(value.target),
          value.targetLabel,
          value.modelId,
          value.modelName,
          value.providerId,
          value.providerName,
          value.evaluationId,
          value.gatePassed === null ? null : value.gatePassed ? 1 : 0,
          value.override,
          JSON.stringify(value.previous ?? null),
          value.actor,
          now(),
        ).lastInsertRowid,
    )
  }

  promotion(id: number): Promotion | undefined {
    const row = this.db.prepare('SELECT * FROM distill_promotions WHERE id = ?').get(id) as PromotionRow | undefined
    return row ? toPromotion(row) : undefined
  }

  promotions(limit: number): Promotion[] {
    return (
      this.db.prepare('SELECT * FROM distill_promotions ORDER BY id DESC LIMIT ?').all(limit) as PromotionRow[]
    ).map(toPromotion)
  }

  /** The latest promotion of a target that is still in force (not rolled back). */
  activeFor(target: PromotionTarget): Promotion | undefined {
    const row = this.db
      .prepare('SELECT * FROM distill_promotions WHERE target = ? AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 1')
      .get(targetKey(target)) as PromotionRow | undefined
    return row ? toPromotion(row) : undefined
  }

  markRolledBack(id: number, actor: string): void {
    this.db
      .prepare('UPDATE distill_promotions SET rolled_back_at = ?, rolled_back_by = ? WHERE id = ?')
      .run(now(), actor, id)
  }
}
