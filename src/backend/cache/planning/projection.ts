/**
 * The held-out projection: rank requests by how often they occur in the earlier (training) part of the log, and
 * measure on the later (held-out) part what share a cache of the top N would have answered. That share is an
 * unbiased estimate of the hit rate those N entries reach on fresh traffic from the same distribution, which the
 * in-sample share (the training part measured on itself) overstates, most in the long tail.
 *
 * The interval is a block bootstrap of the held-out part: whole days when it spans at least a week, else blocks of
 * consecutive requests, resampled with replacement (so day-to-day swings count, not just per-request noise).
 *
 * Pure functions over arrays (no SQLite): tested directly and fast on millions of requests.
 */

export const MIN_SIDE = 100
const MIN_DAY_BLOCKS = 7
const MAX_BLOCKS = 40
const REPLICATES = 1000
const MAX_POINTS = 80

export type SplitFallback = 'too-small' | 'too-short'

export interface Split {
  mode: 'held-out' | 'in-sample'
  /** Requests [0, cut) train, [cut, n) are held out; in-sample: cut = n and both parts are the whole log. */
  cut: number
  fallback: SplitFallback | null
}

/**
 * Where to cut `n` requests for a `fraction` in training. In time order, requests sharing the boundary's instant stay
 * on one side (a split is by time); when that leaves a side with fewer than MIN_SIDE requests the log is too short
 * in time to split.
 */
export function splitLog(time: Float64Array, fraction: number, order: 'time' | 'lines'): Split {
  const n = time.length
  if (n < 2 * MIN_SIDE) return { mode: 'in-sample', cut: n, fallback: 'too-small' }
  const wanted = Math.min(n - MIN_SIDE, Math.max(MIN_SIDE, Math.round(fraction * n)))
  if (order === 'lines') return { mode: 'held-out', cut: wanted, fallback: null }
  let start = wanted
  while (start > 0 && time[start - 1] === time[wanted]) start--
  let end = wanted
  while (end < n && time[end] === time[wanted]) end++
  const valid = [start, end].filter((cut) => cut >= MIN_SIDE && n - cut >= MIN_SIDE)
  if (valid.length === 0) return { mode: 'in-sample', cut: n, fallback: 'too-short' }
  const cut = valid.reduce((best, cut) => (Math.abs(cut - wanted) < Math.abs(best - wanted) ? cut : best))
  return { mode: 'held-out', cut, fallback: null }
}

/** A small seeded generator (mulberry32), so a plan's intervals are the same every time it is computed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Cache sizes at which to sample a curve: every size when few, else roughly log-spaced (plus any `extra`). */
export function samplePoints(distinct: number, extra: number[] = []): number[] {
  const points = new Set<number>()
  if (distinct <= MAX_POINTS) for (let i = 1; i <= distinct; i++) points.add(i)
  else {
    points.add(1).add(distinct)
    const ratio = Math.pow(distinct, 1 / (MAX_POINTS - 1))
    for (let value = 1; value < distinct; value *= ratio) points.add(Math.round(value))
  }
  for (const value of extra) if (value >= 1 && value <= distinct) points.add(value)
  return [...points].sort((a, b) => a - b)
}

/** Train ranking: key ids by training count (descending), ties by first appearance; and each key's rank. */
export interface Ranking {
  ranked: Int32Array
  /** Rank of each key id (0 = most frequent); `ranked.length` for keys never seen in training. */
  rankOf: Int32Array
  /** Training requests covered by the top N = trainCumulative[N - 1]. */
  trainCumulative: Float64Array
}

export function rankKeys(key: Int32Array, from: number, to: number, keyCount: number): Ranking {
  const counts = new Float64Array(keyCount)
  const first = new Int32Array(keyCount).fill(-1)
  for (let i = from; i < to; i++) {
    const k = key[i]!
    if (counts[k] === 0) first[k] = i
    counts[k]!++
  }
  const seen: number[] = []
  for (let k = 0; k < keyCount; k++) if (counts[k]! > 0) seen.push(k)
  seen.sort((a, b) => counts[b]! - counts[a]! || first[a]! - first[b]!)
  const ranked = Int32Array.from(seen)
  const rankOf = new Int32Array(keyCount).fill(ranked.length)
  ranked.forEach((k, rank) => (rankOf[k] = rank))
  const trainCumulative = new Float64Array(ranked.length)
  let sum = 0
  ranked.forEach((k, rank) => (trainCumulative[rank] = sum += counts[k]!))
  return { ranked, rankOf, trainCumulative }
}

/** Requests of [from, to) answered by the top N for every N: cumulative[N - 1]. */
export function coverageByRank(key: Int32Array, from: number, to: number, ranking: Ranking): Float64Array {
  const histogram = new Float64Array(ranking.ranked.length + 1)
  for (let i = from; i < to; i++) histogram[ranking.rankOf[key[i]!]!]!++
  const cumulative = new Float64Array(ranking.ranked.length)
  let sum = 0
  for (let rank = 0; rank < ranking.ranked.length; rank++) cumulative[rank] = sum += histogram[rank]!
  return cumulative
}

/** Smallest N whose covered share reaches `share`, or null. */
export function entriesFor(cumulative: Float64Array, total: number, share: number): number | null {
  if (total <= 0) return null
  // Cumulative counts only grow: binary search for the first N reaching the share.
  const needed = share * total - 1e-9
  let low = 0
  let high = cumulative.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (cumulative[mid]! >= needed) high = mid
    else low = mid + 1
  }
  return low < cumulative.length ? low + 1 : null
}

/**
 * Blocks of the held-out part for the bootstrap, with the resampling drawn once (seeded) so every quantity gets the
 * same replicates and the intervals of different cache sizes stay ordered.
 */
export class BlockBootstrap {
  readonly by: 'days' | 'blocks'
  /** Block of each held-out request (index i - from). */
  readonly blockOf: Int32Array
  readonly sizes: Float64Array
  private readonly draws: Uint16Array
  /** Per block, the ranks of its requests, sorted (for hits of the top N). */
  private sortedRanks: Int32Array[] | undefined

  constructor(
    private readonly key: Int32Array,
    time: Float64Array,
    private readonly from: number,
    private readonly to: number,
  ) {
    const n = to - from
    this.blockOf = new Int32Array(n)
    const days = new Map<string, number>()
    if (!Number.isNaN(time[from] ?? Number.NaN)) {
      for (let i = from; i < to; i++) {
        const day = new Date(time[i]!).toISOString().slice(0, 10)
        if (!days.has(day)) days.set(day, days.size)
        this.blockOf[i - from] = days.get(day)!
      }
    }
    let blocks: number
    if (days.size >= MIN_DAY_BLOCKS) {
      this.by = 'days'
      blocks = days.size
    } else {
      this.by = 'blocks'
      blocks = Math.max(5, Math.min(MAX_BLOCKS, Math.floor(n / 25)))
      for (let i = 0; i < n; i++) this.blockOf[i] = Math.min(blocks - 1, Math.floor((i * blocks) / n))
    }
    this.sizes = new Float64Array(blocks)
    for (let i = 0; i < n; i++) this.sizes[this.blockOf[i]!]!++
    const random = seededRandom(0x5eed + n)
    this.draws = new Uint16Array(REPLICATES * blocks)
    for (let i = 0; i < this.draws.length; i++) this.draws[i] = Math.floor(random() * blocks)
  }

  get blocks(): number {
    return this.sizes.length
  }

  /** Per-block count of held-out requests whose key passes `covered`. */
  hitsWhere(covered: (keyId: number) => boolean): Float64Array {
    const hits = new Float64Array(this.blocks)
    for (let i = this.from; i < this.to; i++) if (covered(this.key[i]!)) hits[this.blockOf[i - this.from]!]!++
    return hits
  }

  /** Per-block count of held-out requests in the top N. */
  hitsOfTop(ranking: Ranking, entries: number): Float64Array {
    if (!this.sortedRanks) {
      const perBlock: number[][] = Array.from({ length: this.blocks }, () => [])
      for (let i = this.from; i < this.to; i++)
        perBlock[this.blockOf[i - this.from]!]!.push(ranking.rankOf[this.key[i]!]!)
      this.sortedRanks = perBlock.map((ranks) => Int32Array.from(ranks).sort())
    }
    return Float64Array.from(this.sortedRanks, (ranks) => lowerBound(ranks, entries))
  }

  /** The 95 % percentile interval of sum(hits) / sum(sizes) over the replicates. */
  interval(hits: Float64Array): { low: number; high: number } {
    const blocks = this.blocks
    const rates = new Float64Array(REPLICATES)
    for (let r = 0; r < REPLICATES; r++) {
      let covered = 0
      let total = 0
      for (let b = 0; b < blocks; b++) {
        const block = this.draws[r * blocks + b]!
        covered += hits[block]!
        total += this.sizes[block]!
      }
      rates[r] = total > 0 ? covered / total : 0
    }
    rates.sort()
    return { low: rates[Math.floor(0.025 * (REPLICATES - 1))]!, high: rates[Math.ceil(0.975 * (REPLICATES - 1))]! }
  }
}

/** Index of the first value >= target in a sorted array (= how many are below it). */
function lowerBound(sorted: Int32Array, target: number): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (sorted[mid]! < target) low = mid + 1
    else high = mid
  }
  return low
}
