/** The review list's order: drafts (what needs a decision) first, then approved, rejected last; stable within each. */
import type { TemplateVariant } from '../../../../../shared/contract'

type VariantState = TemplateVariant['state']

const RANK: Record<VariantState, number> = { draft: 0, approved: 1, rejected: 2 }

export function reviewOrder<T extends { state: VariantState }>(variants: readonly T[]): T[] {
  return variants
    .map((variant, index) => ({ variant, index }))
    .sort((a, b) => RANK[a.variant.state] - RANK[b.variant.state] || a.index - b.index)
    .map(({ variant }) => variant)
}
