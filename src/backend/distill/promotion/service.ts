/**
 * Promotion of a student to serving: a cache namespace's generation target becomes the student, so the gateway
 * answers that namespace's misses with it. Recorded with who, when and which report; refused when the report's gate
 * failed for that model (or there is no report) unless an override reason is given, which is recorded too.
 * A rollback restores the target the promotion replaced, in one call.
 */
import type { Promotion, ParsedInput } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import type { CacheService } from '../../cache/service'
import type { EventBus } from '../../events'
import type { ModelsService } from '../../models/service'
import type { Workspace } from '../../workspace/workspace'
import { EvalRepository } from '../eval/repository'

type PromoteInput = ParsedInput<'distill.promote'>

interface NamespacePrevious {
  generationTarget: { model: number } | { provider: number } | null
}

export class PromotionService {
  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly models: ModelsService,
    private readonly cache: CacheService,
  ) {}

  private get repo(): EvalRepository {
    return new EvalRepository(this.workspace.db)
  }

  /** The gate verdict of the model in the report, or why there is none. */
  private gate(input: PromoteInput): { passed: boolean | null; reasons: string[] } {
    if (input.evaluationId === undefined) return { passed: null, reasons: ['no evaluation report was given'] }
    const evaluation = this.repo.evaluation(input.evaluationId)
    if (!evaluation) {
      throw new ApiError({
        code: 'not_found',
        message: `Evaluation ${input.evaluationId} does not exist.`,
        path: ['evaluationId'],
      })
    }
    const verdict = evaluation.report?.verdicts.find((entry) => entry.key === `model:${input.modelId}`)
    if (!verdict) {
      return {
        passed: null,
        reasons: [
          evaluation.report
            ? `evaluation ${evaluation.id} did not measure model ${input.modelId}`
            : `evaluation ${evaluation.id} has no report (status ${evaluation.status})`,
        ],
      }
    }
    return { passed: verdict.passed, reasons: verdict.reasons }
  }

  promote(input: PromoteInput): Promotion {
    const model = this.models.get(input.modelId)
    const namespace = this.cache.namespace(input.target.namespaceId)
    const gate = this.gate(input)
    if (gate.passed !== true && !input.override) {
      throw new ApiError({
        code: 'conflict',
        message: `Promotion refused: the gate did not pass (${gate.reasons.join('; ')}). Give an override reason to promote anyway; it is recorded.`,
        path: ['evaluationId'],
      })
    }
    const previous: NamespacePrevious = { generationTarget: namespace.generationTarget }
    this.cache.saveNamespace({
      id: namespace.id,
      tenant: namespace.tenant,
      name: namespace.name,
      generationTarget: { model: model.id },
    })
    const id = this.repo.addPromotion({
      target: input.target,
      targetLabel: `namespace ${namespace.tenant}/${namespace.name}`,
      modelId: model.id,
      modelName: model.name,
      evaluationId: input.evaluationId ?? null,
      gatePassed: gate.passed,
      override: gate.passed === true ? null : (input.override ?? null),
      previous,
      actor: input.actor,
    })
    this.events.emit('distill.evalChanged', { evaluationId: input.evaluationId ?? null })
    return this.repo.promotion(id)!
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
    const namespace = this.cache.namespace(promotion.target.namespaceId)
    const previous = promotion.previous as NamespacePrevious
    this.cache.saveNamespace({
      id: namespace.id,
      tenant: namespace.tenant,
      name: namespace.name,
      generationTarget: previous.generationTarget,
    })
    repo.markRolledBack(id, actor)
    this.events.emit('distill.evalChanged', { evaluationId: promotion.evaluationId })
    return repo.promotion(id)!
  }

  list(limit: number): Promotion[] {
    return this.repo.promotions(limit)
  }
}
