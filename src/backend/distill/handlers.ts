/** Handlers for the Distillation area of the contract (`distill.*`). */
import type { distillMethods } from '../../shared/contract'
import type { AreaHandlers } from '../api/dispatch'
import type { DistillService } from './service'

export function distillHandlers(distill: DistillService): AreaHandlers<typeof distillMethods> {
  return {
    'distill.train': (input) => distill.start(input),
    'distill.runs': ({ limit }) => ({ items: distill.listRuns(limit) }),
    'distill.run': ({ id, maxPoints }) => distill.getRun(id, maxPoints),
    'distill.checkData': ({ path, valPercent }) => distill.checkData(path, valPercent),
  }
}
