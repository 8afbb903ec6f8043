import { describe, expect, it } from 'vitest'
import { refusingGuard } from './guards'

const both = { negation: true, numbers: true }

describe('semantic false-hit guards', () => {
  it.each([
    ['How do I enable 2FA?', 'How do I disable 2FA?', 'negation'],
    ['How can I turn on dark mode', 'How can I turn off dark mode', 'negation'],
    ['Can I cancel my order?', 'Can I not cancel my order?', 'negation'],
    ['Refund order 123', 'Refund order 456', 'numbers'],
    ['Is it 2.5 GB?', 'Is it 25 GB?', 'numbers'],
    ['How do I unsubscribe from emails?', 'How do I subscribe to emails?', 'negation'],
  ])('refuses %j vs %j (%s)', (a, b, guard) => {
    expect(refusingGuard(a, b, both)).toBe(guard)
  })

  it.each([
    ['How do I enable 2FA?', 'how can I enable two-factor auth 2FA'],
    ['Where is my order 123?', 'where is order #123'],
    ['How do I reset my password?', 'I forgot my password, how do I reset it?'],
    ['Enabling dark mode', 'how to enable dark mode'],
  ])('lets %j vs %j through', (a, b) => {
    expect(refusingGuard(a, b, both)).toBeNull()
  })

  it('can be switched off per guard', () => {
    expect(refusingGuard('Refund order 123', 'Refund order 456', { negation: true, numbers: false })).toBeNull()
    expect(refusingGuard('enable 2FA', 'disable 2FA', { negation: false, numbers: true })).toBeNull()
  })
})
