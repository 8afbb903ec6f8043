import { describe, expect, it } from 'vitest'
import { reviewOrder } from './review-order'

describe('reviewOrder', () => {
  it('puts drafts first and rejects last, keeping the order within each state', () => {
    const variants = [
      { id: 1, state: 'rejected' as const },
      { id: 2, state: 'approved' as const },
      { id: 3, state: 'draft' as const },
      { id: 4, state: 'rejected' as const },
      { id: 5, state: 'draft' as const },
    ]
    expect(reviewOrder(variants).map((variant) => variant.id)).toEqual([3, 5, 2, 1, 4])
    expect(variants[0]!.id).toBe(1)
  })
})
