/**
 * The live preview, computed in the console with the one renderer (src/shared/template-render) and the same inputs
 * the backend's `templates.preview` and the edge worker use, so what the operator sees is byte for byte what a
 * reader gets. Pure functions: the stores hand in the family, the snapshot of variants and the request.
 */
import type {
  FamilyDefinition,
  PreviewResult,
  PublishedVariantSnapshot,
  TemplateProblemInfo,
  TemplateVariant,
} from '../../../../shared/contract'
import {
  checkVariant,
  chooseVariant,
  longestExampleData,
  personalise,
  previewOutcome,
  resolveSegment,
  type RuntimeVariant,
} from '../../../../shared/template-render/index'

export interface PreviewRequest {
  familyName: string
  definition: FamilyDefinition
  /** The published version previewed, or null for the approved variants now. */
  version: number | null
  /** What the edge would have: the approved (or published) variants, of every segment or only this one. */
  snapshot: readonly PublishedVariantSnapshot[]
  segment: Record<string, string>
  data: Record<string, unknown>
  userId: string
  /** Preview this stored variant (a draft too) instead of the one chosen for the user. */
  variant?: Pick<TemplateVariant, 'id' | 'template' | 'weight' | 'segmentKey'> | undefined
  /** Unsaved text from an editor, standing in as the segment's only variant. */
  template?: string | undefined
}

/** A segment the family cannot resolve: the backend answers 400 with this message. */
export interface PreviewRefusal {
  ok: false
  status: 400
  message: string
  dimension: string
}

/** The approved variants publishing would snapshot now: approved, still valid against the definition. */
export function workingSnapshot(variants: readonly TemplateVariant[]): PublishedVariantSnapshot[] {
  return variants
    .filter((variant) => variant.state === 'approved' && variant.problems.length === 0)
    .map(({ id, segmentKey, template, weight }) => ({ id, segmentKey, template, weight }))
}

/** Mirrors TemplatesService.preview (src/backend/templates/service.ts) on the console side. */
export function previewLocally(request: PreviewRequest): PreviewResult | PreviewRefusal {
  const { definition } = request
  const resolved = resolveSegment(definition.segments, request.segment)
  if (!resolved.ok) return { ok: false, status: 400, message: resolved.message, dimension: resolved.dimension }
  let candidates: RuntimeVariant[] = request.snapshot.filter((variant) => variant.segmentKey === resolved.key)
  let variantId: number | undefined
  let templateProblems: TemplateProblemInfo[] = []
  if (request.template !== undefined) {
    const analysis = checkVariant(request.template, definition.slots, definition.constraints)
    templateProblems = analysis.problems
    // id 0 is never a stored id: the backend uses the same stand-in.
    candidates = analysis.canonical === null ? [] : [{ id: 0, template: analysis.canonical, weight: 1 }]
  } else if (request.variant) {
    variantId = request.variant.id
    if (
      !candidates.some((candidate) => candidate.id === variantId) &&
      request.variant.segmentKey === resolved.key &&
      request.version === null
    ) {
      candidates = [
        ...candidates,
        { id: request.variant.id, template: request.variant.template, weight: request.variant.weight },
      ]
    }
  }
  const result = personalise({
    family: {
      name: request.familyName,
      version: request.version,
      slots: definition.slots,
      dimensions: definition.segments,
      fallbacks: definition.fallbacks,
    },
    segment: resolved,
    variants: candidates,
    data: request.data,
    userId: request.userId,
    variantId,
  })
  return previewOutcome(result, request.version, templateProblems)
}

/** Sample profile data: every slot's first example (what the family file documents as typical values). */
export function exampleData(definition: FamilyDefinition): Record<string, string> {
  const longest = longestExampleData(definition.slots)
  const data: Record<string, string> = {}
  for (const slot of definition.slots) data[slot.name] = slot.examples[0] ?? longest[slot.name]!
  return data
}

export type DataCheck =
  { ok: true; data: Record<string, unknown> } | { ok: false; reason: 'syntax' | 'notObject'; detail: string }

/** The editable profile-data box: a JSON object, or a clear reason why not. */
export function parseProfileData(text: string): DataCheck {
  if (text.trim() === '') return { ok: true, data: {} }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { ok: false, reason: 'syntax', detail: (error as Error).message }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return {
      ok: false,
      reason: 'notObject',
      detail: Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed,
    }
  }
  return { ok: true, data: parsed as Record<string, unknown> }
}

/**
 * How a segment's traffic splits between its variants: the share of `users` synthetic user ids each variant wins,
 * by the same weighted rendezvous hashing the edge uses.
 */
export function trafficSplit(
  variants: readonly RuntimeVariant[],
  familyName: string,
  users = 2000,
): Map<number, number> {
  const wins = new Map<number, number>()
  if (variants.length === 0) return wins
  for (let i = 0; i < users; i++) {
    const chosen = chooseVariant(variants, `user-${i}`, familyName)
    if (chosen) wins.set(chosen.id, (wins.get(chosen.id) ?? 0) + 1)
  }
  for (const [id, count] of wins) wins.set(id, count / users)
  return wins
}
