/** Handlers for evaluation and promotion (`distill.eval`, `distill.promote`, `distill.rollback`, ...). */
import type { distillEvalMethods } from '../../../shared/contract'
import type { AreaHandlers } from '../../api/dispatch'
import type { PromotionService } from '../promotion/service'
import type { EvalService } from './service'

export function distillEvalHandlers(
  evaluations: EvalService,
  promotions: PromotionService,
): AreaHandlers<typeof distillEvalMethods> {
  return {
    'distill.eval': (input) => evaluations.start(input),
    'distill.evaluations': ({ limit }) => ({ items: evaluations.list(limit) }),
    'distill.evaluation': ({ id }) => evaluations.get(id),
    'distill.promote': (input) => promotions.promote(input),
    'distill.rollback': ({ id, actor }) => promotions.rollback(id, actor),
    'distill.promotions': ({ limit }) => ({ items: promotions.list(limit) }),
  }
}
