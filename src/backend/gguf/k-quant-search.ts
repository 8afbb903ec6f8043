/**
 * The scale searches behind ggml's k-quants and importance-weighted quantizers (ggml-quants.c:
 * make_qx_quants, make_q3_quants, make_qkx2_quants / make_qkx3_quants, make_qp_quants), written from
 * the algorithms with the C float semantics described in quant-common.ts.
 *
 * Each function works on `count` values of `x` starting at `xAt` and writes levels into `levels`
 * starting at `levelsAt`; the C code passes pointers, these take (array, offset) pairs so no subarray
 * is allocated per group.
 */
import { GROUP_MAX_EPS, nearestInt } from './quant-common.js'

/**
 * nearest_int(x) is x rounded half to even for |x| < 2^22 (below NEAR); so is adding and subtracting 1.5 * 2^52 in
 * double arithmetic, which saves a float32 round trip per value in the hot loops. Outside, nearestInt emulates C.
 */
const MAGIC = 6755399441055744
const NEAR = 4194303

const f = Math.fround
const TENTH = f(0.1)

/** Levels of the candidate being scored; copied into `levels` when it wins (the C code recomputes them). */
const candidate = new Int32Array(256)
const candidateB = new Int32Array(256)
/** make_qx_quants' candidate steps, in its order (is = -9..9 without 0). */
const SYMMETRIC_STEPS = [-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9]
const groupWeights = new Float32Array(256) // w for each value of the group
const weightedValues = new Float32Array(256) // w * x, the same for every candidate

/**
 * make_qx_quants with rmse_type 1: symmetric levels in [-nmax, nmax) stored as level + nmax; tries 19
 * scales around nmax/max and keeps the one with the best weighted fit. Weights are `weights[weightsAt + i]`
 * or, without them, x². Returns the scale.
 *
 * A candidate whose levels equal the last scored one's leaves the result unchanged (the C code scores it
 * again and reaches the same state), so it is skipped.
 */
export function searchSymmetricScale(
  count: number,
  nmax: number,
  x: Float32Array,
  xAt: number,
  levels: Int8Array | Uint8Array,
  levelsAt: number,
  weights: Float32Array | null,
  weightsAt: number,
): number {
  let max = 0
  let amax = 0
  for (let i = 0; i < count; i++) {
    const value = x[xAt + i] as number
    const magnitude = Math.abs(value)
    if (magnitude > amax) {
      amax = magnitude
      max = value
    }
  }
  if (amax < GROUP_MAX_EPS) {
    levels.fill(0, levelsAt, levelsAt + count)
    return 0
  }
  for (let i = 0; i < count; i++) {
    const value = x[xAt + i] as number
    const w = weights ? (weights[weightsAt + i] as number) : f(value * value)
    groupWeights[i] = w
    weightedValues[i] = w * value
  }
  const low = -nmax
  const high = nmax - 1
  const iscale = f(-nmax / max)
  let sumlx = 0
  let suml2 = 0
  for (let i = 0; i < count; i++) {
    const product = f(iscale * (x[xAt + i] as number))
    let l = product > -NEAR && product < NEAR ? product + MAGIC - MAGIC : nearestInt(product)
    l = l < low ? low : l > high ? high : l
    candidate[i] = l
    levels[levelsAt + i] = l + nmax
    sumlx = f(sumlx + f((weightedValues[i] as number) * l))
    suml2 = f(suml2 + f(f((groupWeights[i] as number) * l) * l))
  }
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0
  let best = f(scale * sumlx)
  // Candidates in pairs: their levels do not depend on the search state, so two are scored in one pass
  // (two independent float32 chains run in the time of one), then applied in C's order.
  for (let pair = 0; pair < SYMMETRIC_STEPS.length; pair += 2) {
    const iscaleA = f(-f(nmax + f(TENTH * (SYMMETRIC_STEPS[pair] as number))) / max)
    const iscaleB = f(-f(nmax + f(TENTH * (SYMMETRIC_STEPS[pair + 1] as number))) / max)
    let changedA = 0
    let changedB = 0
    for (let i = 0; i < count; i++) {
      const value = x[xAt + i] as number
      const productA = f(iscaleA * value)
      const productB = f(iscaleB * value)
      let la = productA > -NEAR && productA < NEAR ? productA + MAGIC - MAGIC : nearestInt(productA)
      let lb = productB > -NEAR && productB < NEAR ? productB + MAGIC - MAGIC : nearestInt(productB)
      la = la < low ? low : la > high ? high : la
      lb = lb < low ? low : lb > high ? high : lb
      // Branch-free change tests: level changes are data-dependent and would mispredict.
      changedA |= la ^ (candidate[i] as number)
      changedB |= lb ^ la
      candidate[i] = la
      candidateB[i] = lb
    }
    const sameA = changedA === 0
    const sameB = changedB === 0
    let sumlxA = 0
    let suml2A = 0
    let sumlxB = 0
    let suml2B = 0
    if (!sameA && !sameB) {
      for (let i = 0; i < count; i++) {
        const w = groupWeights[i] as number
        const wx = weightedValues[i] as number
        const la = candidate[i] as number
        const lb = candidateB[i] as number
        sumlxA = f(sumlxA + f(wx * la))
        suml2A = f(suml2A + f(f(w * la) * la))
        sumlxB = f(sumlxB + f(wx * lb))
        suml2B = f(suml2B + f(f(w * lb) * lb))
      }
    } else if (!sameA || !sameB) {
      const lane = sameA ? candidateB : candidate
      let sx = 0
      let s2 = 0
      for (let i = 0; i < count; i++) {
        const l = lane[i] as number
        sx = f(sx + f((weightedValues[i] as number) * l))
        s2 = f(s2 + f(f((groupWeights[i] as number) * l) * l))
      }
      if (sameA) {
        sumlxB = sx
        suml2B = s2
      } else {
        sumlxA = sx
        suml2A = s2
      }
    }
    if (!sameA && suml2A > 0 && f(sumlxA * sumlxA) > f(best * suml2A)) {
      for (let i = 0; i < count; i++) levels[levelsAt + i] = (candidate[i] as number) + nmax
      scale = f(sumlxA / suml2A)
      best = f(scale * sumlxA)
    }
    if (!sameB && suml2B > 0 && f(sumlxB * sumlxB) > f(best * suml2B)) {
      for (let i = 0; i < count; i++) levels[levelsAt + i] = (candidateB[i] as number) + nmax
      scale = f(sumlxB / suml2B)
      best = f(scale * sumlxB)
    }
    candidate.set(candidateB.subarray(0, count))
  }
  return scale
}

/**
 * make_q3_quants with do_rmse: symmetric levels in [-nmax, nmax), then up to five passes that move
 * single levels while the x²-weighted fit improves. Levels are stored as level + nmax.
 */
export function searchQ3Levels(
  count: number,
  nmax: number,
  x: Float32Array,
  xAt: number,
  levels: Int8Array,
  levelsAt: number,
): number {
  let max = 0
  let amax = 0
  for (let i = 0; i < count; i++) {
    const value = x[xAt + i] as number
    const magnitude = Math.abs(value)
    if (magnitude > amax) {
      amax = magnitude
      max = value
    }
  }
  if (amax < GROUP_MAX_EPS) {
    levels.fill(0, levelsAt, levelsAt + count)
    return 0
  }
  const iscale = f(-nmax / max)
  let sumlx = 0
  let suml2 = 0
  for (let i = 0; i < count; i++) {
    const value = x[xAt + i] as number
    let l = nearestInt(f(iscale * value))
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l
    levels[levelsAt + i] = l
    const w = f(value * value)
    sumlx = f(sumlx + f(f(w * value) * l))
    suml2 = f(suml2 + f(f(w * l) * l))
  }
  for (let pass = 0; pass < 5; pass++) {
    let changed = 0
    for (let i = 0; i < count; i++) {
      const value = x[xAt + i] as number
      const w = f(value * value)
      const current = levels[levelsAt + i] as number
      let slx = f(sumlx - f(f(w * value) * current))
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * current) * current))
        let next = nearestInt(f(f(value * sl2) / slx))
        next = next < -nmax ? -nmax : next > nmax - 1 ? nmax - 1 : next
        if (next !== current) {
          slx = f(slx + f(f(w * value) * next))
          sl2 = f(sl2 + f(f(w * next) * next))
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            levels[levelsAt + i] = next
            sumlx = slx
            suml2 = sl2
            changed++
          }
        }
      }
    }
    if (changed === 0) break
  }
  for (let i = 0; i < count; i++) levels[levelsAt + i] = (levels[levelsAt + i] as number) + nmax
  return suml2 > 0 ? f(sumlx / suml2) : 0
}

/** The minimum found by the last searchAffineScale call, negated as the C code stores it (`*the_min = -min`). */
export let lastNegatedMin = 0

const shifted = new Float32Array(256) // x - min for the current min
const previous = new Int32Array(256) // levels of the last candidate whose sums were computed
const reconstructed = new Float32Array(64) // scale * level + min for every level of one candidate

/**
 * make_qkx2_quants (and make_qkx3_quants, identical for the weighted calls ggml makes): levels in
 * [0, nmax] with a scale and a non-positive minimum, trying nstep + 1 scales from (rmin + nmax) in
 * rdelta steps and keeping the smallest weighted error (absolute when useMad, squared otherwise).
 * Returns the scale; the negated minimum is left in `lastNegatedMin`.
 *
 * The fit of a candidate depends only on its levels, so a candidate whose levels equal the last scored
 * one's cannot win and is skipped without changing the result (the C code scores it again).
 */
export function searchAffineScale(
  count: number,
  nmax: number,
  x: Float32Array,
  xAt: number,
  weights: Float32Array,
  levels: Uint8Array,
  levelsAt: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xAt] as number
  let max = min
  let sumW = weights[0] as number
  let sumX = f(sumW * min)
  let nonNegativeWeights = sumW >= 0
  for (let i = 1; i < count; i++) {
    const value = x[xAt + i] as number
    if (value < min) min = value
    if (value > max) max = value
    const w = weights[i] as number
    if (!(w >= 0)) nonNegativeWeights = false
    sumW = f(sumW + w)
    sumX = f(sumX + f(w * value))
  }
  if (min > 0) min = 0
  if (max === min) {
    levels.fill(0, levelsAt, levelsAt + count)
    lastNegatedMin = -min
    return 0
  }
  for (let i = 0; i < count; i++) shifted[i] = (x[xAt + i] as number) - min
  let iscale = f(nmax / f(max - min))
  let scale = f(1 / iscale)
  let bestError = 0
  for (let i = 0; i < count; i++) {
    const product = f(iscale * (shifted[i] as number))
    const l = product > -NEAR && product < NEAR ? product + MAGIC - MAGIC : nearestInt(product)
    const level = l < 0 ? 0 : l > nmax ? nmax : l
    levels[levelsAt + i] = level
    let diff = f(f(f(scale * level) + min) - (x[xAt + i] as number))
    diff = useMad ? Math.abs(diff) : f(diff * diff)
    bestError = f(bestError + f((weights[i] as number) * diff))
  }
  if (nstep < 1) {
    lastNegatedMin = -min
    return scale
  }
  rmin = f(rmin)
  rdelta = f(rdelta)
  let scored = false
  for (let step = 0; step <= nstep; step++) {
    // min moves when a step wins, and later steps start from it (as in C).
    iscale = f(f(f(rmin + f(rdelta * step)) + nmax) / f(max - min))
    let changed = 0
    for (let i = 0; i < count; i++) {
      const product = f(iscale * (shifted[i] as number))
      const l = product > -NEAR && product < NEAR ? product + MAGIC - MAGIC : nearestInt(product)
      const level = l < 0 ? 0 : l > nmax ? nmax : l
      changed |= level ^ (previous[i] as number) // branch-free: level changes would mispredict
      previous[i] = level
    }
    if (scored && changed === 0) continue
    scored = true
    let sumL = 0
    let sumL2 = 0
    let sumXL = 0
    for (let i = 0; i < count; i++) {
      const level = previous[i] as number
      const wl = f((weights[i] as number) * level)
      sumL = f(sumL + wl)
      sumL2 = f(sumL2 + f(wl * level))
      sumXL = f(sumXL + f(wl * (x[xAt + i] as number)))
    }
    const determinant = f(f(sumW * sumL2) - f(sumL * sumL))
    if (!(determinant > 0)) continue
    let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / determinant)
    let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / determinant)
    if (thisMin > 0) {
      thisMin = 0
      thisScale = f(sumXL / sumL2)
    }
    for (let k = 0; k <= nmax; k++) reconstructed[k] = f(thisScale * k) + thisMin
    // With non-negative weights the running error only grows: once it reaches the best, this candidate
    // cannot win, whatever the remaining terms are.
    let error = 0
    let i = 0
    for (; i < count; i++) {
      let diff = f((reconstructed[previous[i] as number] as number) - (x[xAt + i] as number))
      diff = useMad ? Math.abs(diff) : f(diff * diff)
      error = f(error + f((weights[i] as number) * diff))
      if (nonNegativeWeights && error >= bestError) break
    }
    if (i === count && error < bestError) {
      for (let i = 0; i < count; i++) levels[levelsAt + i] = previous[i] as number
      bestError = error
      scale = thisScale
      min = thisMin
      for (let i = 0; i < count; i++) shifted[i] = (x[xAt + i] as number) - min
    }
  }
  lastNegatedMin = -min
  return scale
}

/**
 * make_qp_quants: quantizes non-negative values (sub-block scales or mins) to [0, nmax] with one
 * positive scale, importance-weighted by `weights`. Levels are stored through `levels` (uint8: a
 * negative level wraps as in C, and later reads see the wrapped value).
 */
export function searchPositiveScale(
  count: number,
  nmax: number,
  x: Float32Array,
  levels: Uint8Array,
  weights: Float32Array,
): number {
  let max = 0
  for (let i = 0; i < count; i++) {
    const value = x[i] as number
    max = max > value ? max : value
  }
  if (max < GROUP_MAX_EPS) {
    levels.fill(0, 0, count)
    return 0
  }
  let iscale = f(nmax / max)
  for (let i = 0; i < count; i++) levels[i] = nearestInt(f(iscale * (x[i] as number)))
  const scale = f(1 / iscale)
  let bestMse = 0
  for (let i = 0; i < count; i++) {
    const value = x[i] as number
    const diff = f(value - f(scale * (levels[i] as number)))
    bestMse = f(bestMse + f(f((weights[i] as number) * diff) * diff))
  }
  for (let step = -4; step <= 4; step++) {
    if (step === 0) continue
    const iscaleStep = f(f(f(TENTH * step) + nmax) / max)
    const scaleStep = f(1 / iscaleStep)
    let mse = 0
    for (let i = 0; i < count; i++) {
      const value = x[i] as number
      const l = Math.min(nmax, nearestInt(f(iscaleStep * value)))
      const diff = f(value - f(scaleStep * l))
      mse = f(mse + f(f((weights[i] as number) * diff) * diff))
    }
    if (mse < bestMse) {
      bestMse = mse
      iscale = iscaleStep
    }
  }
  let sumlx = 0
  let suml2 = 0
  for (let i = 0; i < count; i++) {
    const value = x[i] as number
    const l = Math.min(nmax, nearestInt(f(iscale * value)))
    levels[i] = l
    const w = weights[i] as number
    sumlx = f(sumlx + f(f(w * value) * l))
    suml2 = f(suml2 + f(f(w * l) * l))
  }
  for (let pass = 0; pass < 5; pass++) {
    let changed = 0
    for (let i = 0; i < count; i++) {
      const value = x[i] as number
      const w = weights[i] as number
      const current = levels[i] as number
      let slx = f(sumlx - f(f(w * value) * current))
      let sl2 = f(suml2 - f(f(w * current) * current))
      if (slx > 0 && sl2 > 0) {
        const next = Math.min(nmax, nearestInt(f(f(value * sl2) / slx)))
        if (next !== current) {
          slx = f(slx + f(f(w * value) * next))
          sl2 = f(sl2 + f(f(w * next) * next))
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            levels[i] = next
            sumlx = slx
            suml2 = sl2
            changed++
          }
        }
      }
    }
    if (changed === 0) break
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0
}
