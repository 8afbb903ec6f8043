/**
 * Personalisation: from a request (segment values, a user id, profile data) to the finished sentence. The console's
 * preview, the backend and the exported edge worker all call `personalise`, so they agree byte for byte.
 */
import { compileTemplate } from './mustache'
import { codePointLength, type SlotDefinition } from './slots'
import { compilePattern } from './pattern'

export interface SegmentDimension {
  name: string
  values: string[]
  /** Used when a request leaves this dimension out or asks for a value the family does not have. */
  default?: string | undefined
}

export interface FallbackRule {
  /** Segment values this fallback applies to; `{}` matches every segment. The first matching rule wins. */
  when: Record<string, string>
  template: string
}

export interface FamilyRuntime {
  name: string
  /** The published version, or null for the working (unpublished) state in a preview. */
  version: number | null
  slots: SlotDefinition[]
  dimensions: SegmentDimension[]
  fallbacks: FallbackRule[]
}

export interface RuntimeVariant {
  id: number
  template: string
  /** Share of traffic relative to the segment's other variants; 0 pauses a variant. */
  weight: number
}

export interface Segment {
  key: string
  values: Record<string, string>
}

/** `locale=en,tone=formal`: dimension order as the family declares it. The only segment of no dimensions is "". */
export function segmentKey(dimensions: SegmentDimension[], values: Record<string, string>): string {
  return dimensions.map((dimension) => `${dimension.name}=${values[dimension.name] ?? ''}`).join(',')
}

export function parseSegmentKey(key: string): Record<string, string> {
  const values: Record<string, string> = {}
  if (key === '') return values
  for (const part of key.split(',')) {
    const at = part.indexOf('=')
    if (at > 0) values[part.slice(0, at)] = part.slice(at + 1)
  }
  return values
}

/** Every segment of the family: the cartesian product of its dimensions' values, in a stable order. */
export function listSegments(dimensions: SegmentDimension[]): Segment[] {
  let combos: Record<string, string>[] = [{}]
  for (const dimension of dimensions) {
    combos = combos.flatMap((combo) => dimension.values.map((value) => ({ ...combo, [dimension.name]: value })))
  }
  return combos.map((values) => ({ key: segmentKey(dimensions, values), values }))
}

export function segmentCount(dimensions: SegmentDimension[]): number {
  return dimensions.reduce((count, dimension) => count * dimension.values.length, 1)
}

export type SegmentResolution = ({ ok: true } & Segment) | { ok: false; dimension: string; message: string }

/** Picks the segment a request asks for; a missing or unknown value falls back to the dimension's default. */
export function resolveSegment(dimensions: SegmentDimension[], requested: Record<string, unknown>): SegmentResolution {
  const values: Record<string, string> = {}
  for (const dimension of dimensions) {
    const raw = Object.prototype.hasOwnProperty.call(requested, dimension.name) ? requested[dimension.name] : undefined
    const asked = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : ''
    if (dimension.values.includes(asked)) {
      values[dimension.name] = asked
    } else if (dimension.default !== undefined) {
      values[dimension.name] = dimension.default
    } else {
      return {
        ok: false,
        dimension: dimension.name,
        message:
          asked === ''
            ? `Say which ${dimension.name} to use (one of ${dimension.values.join(', ')}).`
            : `${dimension.name} "${asked}" is not a segment of this family (one of ${dimension.values.join(', ')}).`,
      }
    }
  }
  return { ok: true, key: segmentKey(dimensions, values), values }
}

export interface SlotDataProblem {
  slot: string
  code: 'missing' | 'invalid' | 'too_long'
  message: string
  /** A required slot: without it no variant can be used. */
  blocking: boolean
}

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

/**
 * Checks profile data against the slots and returns only the slots' values, as strings: keys the family does not
 * declare are dropped, so request data can never reach anything but a slot. A value counts as missing when it is
 * absent, null or blank.
 */
export function prepareSlotData(
  slots: SlotDefinition[],
  data: Record<string, unknown>,
): { values: Record<string, string>; problems: SlotDataProblem[] } {
  const values: Record<string, string> = {}
  const problems: SlotDataProblem[] = []
  for (const slot of slots) {
    const raw = Object.prototype.hasOwnProperty.call(data, slot.name) ? data[slot.name] : undefined
    const problem = (code: SlotDataProblem['code'], message: string): void => {
      problems.push({ slot: slot.name, code, message, blocking: slot.required })
    }
    if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
      if (slot.required) problem('missing', `No value for the required slot "${slot.name}".`)
      continue
    }
    let value: string
    if (typeof raw === 'number') {
      if (!Number.isFinite(raw)) {
        problem('invalid', `"${slot.name}" must be a finite number.`)
        continue
      }
      value = String(raw)
    } else if (typeof raw === 'string') {
      value = raw
    } else {
      problem('invalid', `"${slot.name}" must be text or a number, not ${Array.isArray(raw) ? 'a list' : typeof raw}.`)
      continue
    }
    if (slot.type === 'number' && !NUMBER_TEXT.test(value.trim())) {
      problem('invalid', `"${slot.name}" must be a number.`)
      continue
    }
    if (slot.maxLength !== undefined && codePointLength(value) > slot.maxLength) {
      problem('too_long', `"${slot.name}" is longer than ${slot.maxLength} characters.`)
      continue
    }
    if (slot.pattern !== undefined) {
      // Linear-time matching (RE2); a pattern that cannot compile matches nothing (saving refuses such patterns).
      const pattern = compilePattern(slot.pattern)
      if (!pattern.ok || !pattern.matches(value)) {
        problem('invalid', `"${slot.name}" does not have the expected form.`)
        continue
      }
    }
    values[slot.name] = value
  }
  return { values, problems }
}

/** cyrb53: a fast 53-bit string hash built from 32-bit integer steps, so every JS engine computes the same value. */
export function hash53(text: string): number {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ char, 2654435761)
    h2 = Math.imul(h2 ^ char, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507)
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507)
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return 4294967296 * (2097151 & h2) + (h1 >>> 0)
}

const TWO_POW_53 = 9007199254740992

/**
 * The variant a user sees: weighted rendezvous hashing over hash(user id, family, variant id). The same user always
 * gets the same variant while it is published; adding or removing a variant only moves the users who win or lose
 * that variant, so A/B splits stay stable across versions. Math.log is V8's fdlibm port in Node, Chromium and
 * workerd alike (tested against workerd), so the choice agrees everywhere Larder renders.
 */
export function chooseVariant<V extends RuntimeVariant>(
  variants: readonly V[],
  userId: string,
  familyName: string,
): V | undefined {
  let best: V | undefined
  let bestScore = -1
  for (const variant of variants) {
    if (!(variant.weight > 0)) continue
    const unit = (hash53(`${userId}\u0000${familyName}\u0000${variant.id}`) + 0.5) / TWO_POW_53
    const score = variant.weight / -Math.log(unit)
    if (score > bestScore || (score === bestScore && best !== undefined && variant.id < best.id)) {
      best = variant
      bestScore = score
    }
  }
  return best
}

export type PersonaliseResult =
  | {
      ok: true
      text: string
      /** null when a fallback was used. */
      variantId: number | null
      fallback: boolean
      segmentKey: string
      /** Data problems that did not block (an optional slot with a bad value is left out). */
      problems: SlotDataProblem[]
    }
  | {
      ok: false
      /** 422: required data missing or invalid; 404: no variant for the segment. */
      status: 422 | 404
      code: 'missing_slot_data' | 'no_variants'
      message: string
      segmentKey: string
      problems: SlotDataProblem[]
    }

export interface PersonaliseRequest {
  family: FamilyRuntime
  segment: Segment
  /** The segment's published (or, in a preview, approved) variants. */
  variants: readonly RuntimeVariant[]
  data: Record<string, unknown>
  userId: string
  /** Preview one variant instead of choosing by user. */
  variantId?: number | undefined
}

export function matchingFallback(family: FamilyRuntime, segment: Segment): FallbackRule | undefined {
  return family.fallbacks.find((rule) =>
    Object.entries(rule.when).every(([dimension, value]) => segment.values[dimension] === value),
  )
}

/**
 * Fills the chosen variant with the user's data. Missing required data never produces a sentence with a gap: the
 * family's fallback for the segment is used, and without one the result is a clear 422.
 */
export function personalise(request: PersonaliseRequest): PersonaliseResult {
  const { family, segment } = request
  const { values, problems } = prepareSlotData(family.slots, request.data)
  const blocking = problems.filter((problem) => problem.blocking)
  const chosen =
    request.variantId !== undefined
      ? request.variants.find((variant) => variant.id === request.variantId)
      : chooseVariant(request.variants, request.userId, family.name)
  if (blocking.length === 0 && chosen) {
    return {
      ok: true,
      text: compileTemplate(chosen.template).render(values),
      variantId: chosen.id,
      fallback: false,
      segmentKey: segment.key,
      problems,
    }
  }
  const fallback = matchingFallback(family, segment)
  if (fallback) {
    return {
      ok: true,
      text: compileTemplate(fallback.template).render(values),
      variantId: null,
      fallback: true,
      segmentKey: segment.key,
      problems,
    }
  }
  const where = segment.key === '' ? 'this family' : `segment ${segment.key}`
  if (blocking.length > 0) {
    return {
      ok: false,
      status: 422,
      code: 'missing_slot_data',
      message: `${blocking.map((problem) => problem.message).join(' ')} No fallback is configured for ${where}.`,
      segmentKey: segment.key,
      problems,
    }
  }
  return {
    ok: false,
    status: 404,
    code: 'no_variants',
    message:
      request.variantId !== undefined
        ? `Variant ${request.variantId} is not one of the variants of ${where}.`
        : `No variant is available for ${where}, and no fallback is configured.`,
    segmentKey: segment.key,
    problems,
  }
}

/**
 * The shape a preview reports (backend `templates.preview` and the console's local preview alike), so both show the
 * same thing for the same result. Variant id 0 stands for unsaved text and is reported as no variant.
 */
export function previewOutcome<Version, TemplateProblem>(
  result: PersonaliseResult,
  version: Version,
  templateProblems: TemplateProblem[],
) {
  if (!result.ok) {
    return {
      ok: false as const,
      text: null,
      status: result.status,
      code: result.code,
      message: result.message,
      variantId: null,
      fallback: false,
      segmentKey: result.segmentKey,
      version,
      dataProblems: result.problems,
      templateProblems,
    }
  }
  return {
    ok: true as const,
    text: result.text,
    status: 200 as const,
    code: null,
    message: null,
    variantId: result.variantId === 0 ? null : result.variantId,
    fallback: result.fallback,
    segmentKey: result.segmentKey,
    version,
    dataProblems: result.problems,
    templateProblems,
  }
}
