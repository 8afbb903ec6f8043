/** Handlers for evaluation and promotion (`distill.eval`, `distill.promote`, `distill.rollback`, ...). */
import type { distillEvalMethods, ParsedInput } from '../../../shared/contract'
import type { AreaHandlers } from '../../api/dispatch'
import type { PromotionService } from '../promotion/service'
import type { EvalService, ResolvedEvalInput } from './service'

export function distillEvalHandlers(
  evaluations: EvalService,
  promotions: PromotionService,
  /** A dataset version's eval split as the data file (the datasets area writes it). */
  resolveData: (input: ParsedInput<'distill.eval'>) => ResolvedEvalInput,
): AreaHandlers<typeof distillEvalMethods> {
  return {
    'distill.eval': (input) => evaluations.start(resolveData(input)),
    'distill.evaluations': ({ limit }) => ({ items: evaluations.list(limit) }),
    'distill.evaluation': ({ id }) => evaluations.get(id),
    'distill.promote': (input) => promotions.promote(input),
    'distill.rollback': ({ id, actor }) => promotions.rollback(id, actor),
    'distill.promotions': ({ limit }) => ({ items: promotions.list(limit) }),
  }
}
