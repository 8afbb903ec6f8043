/**
 * Promotion of a student to serving: a cache namespace's generation target, a pipeline's model node, or a template
 * family's generation target becomes the student (a registered model, or a provider such as a remote fine-tune), so
 * the gateway, the pipeline's runs or the family's generation use it. Recorded with who, when and which report;
 * refused when the report's gate failed for that student (or there is no report) unless an override reason is
 * given, which is recorded too. A rollback restores the target the promotion replaced, in one call. The per-target
 * work lives in ./targets.
 */
import type { Promotion, ParsedInput } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import type { CacheService } from '../../cache/service'
import type { EventBus } from '../../events'
import { ModelsRepository } from '../../models/repository'
import type { ModelsService } from '../../models/service'
import type { PipelinesService } from '../../pipelines/service'
import { TemplatesService } from '../../templates/service'
import type { Workspace } from '../../workspace/workspace'
import { EvalRepository } from '../eval/repository'
import { targetKind, type Student, type TargetServices } from './targets'

type PromoteInput = ParsedInput<'distill.promote'>

export class PromotionService {
  private readonly services: TargetServices

  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly models: ModelsService,
    cache: CacheService,
    pipelines: PipelinesService,
  ) {
    this.services = { cache, pipelines, templates: new TemplatesService(workspace, events, models) }
  }

  private get repo(): EvalRepository {
    return new EvalRepository(this.workspace.db)
  }

  private student(input: PromoteInput): Student {
    if (input.modelId !== undefined) {
      const model = this.models.get(input.modelId)
      return { kind: 'model', id: model.id, name: model.name }
    }
    const provider = new ModelsRepository(this.workspace.db).getProvider(input.providerId!)
    if (!provider) {
      throw new ApiError({
        code: 'not_found',
        message: `Provider ${input.providerId} does not exist.`,
        path: ['providerId'],
      })
    }
    return { kind: 'provider', id: provider.id, name: provider.name }
  }

  /** The gate verdict of the student in the report (key `model:<id>` or `provider:<id>`), or why there is none. */
  private gate(input: PromoteInput, student: Student): { passed: boolean | null; reasons: string[] } {
    if (input.evaluationId === undefined) return { passed: null, reasons: ['no evaluation report was given'] }
    const evaluation = this.repo.evaluation(input.evaluationId)
    if (!evaluation) {
      throw new ApiError({
        code: 'not_found',
        message: `Evaluation ${input.evaluationId} does not exist.`,
        path: ['evaluationId'],
      })
    }
    const verdict = evaluation.report?.verdicts.find((entry) => entry.key === `${student.kind}:${student.id}`)
    if (!verdict) {
      return {
        passed: null,
        reasons: [
          evaluation.report
            ? `evaluation ${evaluation.id} did not measure ${student.kind} ${student.id}`
            : `evaluation ${evaluation.id} has no report (status ${evaluation.status})`,
        ],
      }
    }
    return { passed: verdict.passed, reasons: verdict.reasons }
  }

  promote(input: PromoteInput): Promotion {
    const student = this.student(input)
    const kind = targetKind(input.target, this.services)
    const { label, previous } = kind.inspect()
    const gate = this.gate(input, student)
    if (gate.passed !== true && !input.override) {
      throw new ApiError({
        code: 'conflict',
        message: `Promotion refused: the gate did not pass (${gate.reasons.join('; ')}). Give an override reason to promote anyway; it is recorded.`,
        path: ['evaluationId'],
      })
    }
    // The switch and its record commit together: a failure leaves neither.
    const id = this.workspace.db.transaction(() => {
      kind.apply(student, `promoted ${student.kind} ${student.name} (by ${input.actor})`)
      return this.record(input, student, label, previous, gate.passed)
    })()
    this.events.emit('distill.evalChanged', { evaluationId: input.evaluationId ?? null })
    return this.repo.promotion(id)!
  }

  private record(
    input: PromoteInput,
    student: Student,
    label: string,
    previous: unknown,
    passed: boolean | null,
  ): number {
    return this.repo.addPromotion({
      target: input.target,
      targetLabel: label,
      modelId: student.kind === 'model' ? student.id : null,
      modelName: student.kind === 'model' ? student.name : null,
      providerId: student.kind === 'provider' ? student.id : null,
      providerName: student.kind === 'provider' ? student.name : null,
      evaluationId: input.evaluationId ?? null,
      gatePassed: passed,
      override: passed === true ? null : (input.override ?? null),
      previous,
      actor: input.actor,
    })
  }

  rollback(id: number, actor: string): Promotion {
    const repo = this.repo
    const promotion = repo.promotion(id)
    if (!promotion) throw new ApiError({ code: 'not_found', message: `Promotion ${id} does not exist.`, path: ['id'] })
    if (promotion.rolledBackAt) {
      throw new ApiError({ code: 'conflict', message: `Promotion ${id} was already rolled back.`, path: ['id'] })
    }
    const active = repo.activeFor(promotion.target)
    if (active && active.id !== promotion.id) {
      throw new ApiError({
        code: 'conflict',
        message: `Promotion ${active.id} is newer on ${promotion.targetLabel}; roll that back first.`,
        path: ['id'],
      })
    }
    this.workspace.db.transaction(() => {
      targetKind(promotion.target, this.services, true).restore(
        promotion.previous,
        `rolled back promotion ${id} (by ${actor})`,
      )
      repo.markRolledBack(id, actor)
    })()
    this.events.emit('distill.evalChanged', { evaluationId: promotion.evaluationId })
    return repo.promotion(id)!
  }

  list(limit: number): Promotion[] {
    return this.repo.promotions(limit)
  }
}
