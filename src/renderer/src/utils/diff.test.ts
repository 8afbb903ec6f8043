import { describe, expect, it } from 'vitest'
import { diffWords } from './diff'

const join = (parts: { kind: string; text: string }[], keep: string[]): string =>
  parts
    .filter((part) => keep.includes(part.kind))
    .map((part) => part.text)
    .join('')

describe('diffWords', () => {
  it('rebuilds both texts from its parts', () => {
    const before = 'Reset your password from Settings, then sign in again.'
    const after = 'Reset the password from Account settings, then sign in.'
    const parts = diffWords(before, after)
    expect(join(parts, ['same', 'removed'])).toBe(before)
    expect(join(parts, ['same', 'added'])).toBe(after)
    expect(parts.some((part) => part.kind === 'removed' && part.text.includes('your'))).toBe(true)
    expect(parts.some((part) => part.kind === 'added' && part.text.includes('Account'))).toBe(true)
  })

  it('shows a run of changed words as one removal and one addition', () => {
    expect(diffWords('Here is how: step one', 'A new answer: step one')).toEqual([
      { kind: 'removed', text: 'Here is how:' },
      { kind: 'added', text: 'A new answer:' },
      { kind: 'same', text: ' step one' },
    ])
  })

  it('reports no change for equal texts and a full replacement for disjoint ones', () => {
    expect(diffWords('same text', 'same text')).toEqual([{ kind: 'same', text: 'same text' }])
    expect(diffWords('', 'new')).toEqual([{ kind: 'added', text: 'new' }])
    expect(diffWords('old', '')).toEqual([{ kind: 'removed', text: 'old' }])
  })
})
