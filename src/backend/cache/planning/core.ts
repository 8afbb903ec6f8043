/**
 * The parts of a plan every figure is computed from: the log, where it is split, the training ranking, and the
 * evaluation part (held-out, or the whole log in-sample) with its bootstrap.
 */
import type { Projection } from '../../../shared/contract'
import type { PlanLog } from './log'
import { BlockBootstrap, coverageByRank, rankKeys, splitLog, type Ranking, type Split } from './projection'

export interface PlanCore {
  log: PlanLog
  split: Split
  /** Training part [0, trainTo). */
  trainTo: number
  /** Evaluation part [evalFrom, evalTo): held-out, or the whole log in-sample. */
  evalFrom: number
  evalTo: number
  ranking: Ranking
  /** Evaluation requests answered by the top N = evalCumulative[N - 1]. */
  evalCumulative: Float64Array
  /** Null in-sample: an interval there would only describe the data the ranking was fitted to. */
  bootstrap: BlockBootstrap | null
}

export function planCore(log: PlanLog, fraction: number): PlanCore {
  const n = log.key.length
  const split = splitLog(log.time, fraction, log.order)
  const heldOut = split.mode === 'held-out'
  const trainTo = split.cut
  const evalFrom = heldOut ? split.cut : 0
  const ranking = rankKeys(log.key, 0, trainTo, log.keys.length)
  return {
    log,
    split,
    trainTo,
    evalFrom,
    evalTo: n,
    ranking,
    evalCumulative: coverageByRank(log.key, evalFrom, n, ranking),
    bootstrap: heldOut ? new BlockBootstrap(log.key, log.time, evalFrom, n) : null,
  }
}

export function evalTotal(core: PlanCore): number {
  return core.evalTo - core.evalFrom
}

/** The projected hit rate of the top N (ranked on the training part). */
export function projectTop(core: PlanCore, entries: number): Projection {
  const total = evalTotal(core)
  const capped = Math.min(entries, core.ranking.ranked.length)
  const rate = total > 0 && capped > 0 ? core.evalCumulative[capped - 1]! / total : 0
  if (!core.bootstrap || capped === 0) return { rate, low: null, high: null }
  return { rate, ...core.bootstrap.interval(core.bootstrap.hitsOfTop(core.ranking, capped)) }
}

/** The projected hit rate of any set of requests (key ids), e.g. the entries servable now. */
export function projectKeys(core: PlanCore, covered: (keyId: number) => boolean): Projection {
  const total = evalTotal(core)
  let hits = 0
  for (let i = core.evalFrom; i < core.evalTo; i++) if (covered(core.log.key[i]!)) hits++
  const rate = total > 0 ? hits / total : 0
  if (!core.bootstrap) return { rate, low: null, high: null }
  return { rate, ...core.bootstrap.interval(core.bootstrap.hitsWhere(covered)) }
}

/** Key ids of the top N. */
export function topKeys(core: PlanCore, entries: number): Int32Array {
  return core.ranking.ranked.subarray(0, Math.min(entries, core.ranking.ranked.length))
}
