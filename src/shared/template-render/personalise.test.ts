import { describe, expect, it } from 'vitest'
import {
  chooseVariant,
  hash53,
  listSegments,
  personalise,
  prepareSlotData,
  resolveSegment,
  type FamilyRuntime,
  type RuntimeVariant,
} from './personalise'

const family: FamilyRuntime = {
  name: 'order-shipped',
  version: 2,
  slots: [
    { name: 'name', type: 'text', required: true, maxLength: 12, examples: [], escape: 'html' },
    { name: 'count', type: 'number', required: false, examples: [], escape: 'html' },
    { name: 'code', type: 'text', required: false, pattern: '[A-Z]{3}-\\d{2}', examples: [], escape: 'html' },
  ],
  dimensions: [
    { name: 'locale', values: ['en', 'ko'], default: 'en' },
    { name: 'tone', values: ['friendly', 'formal'] },
  ],
  fallbacks: [
    { when: { locale: 'ko' }, template: '주문이 발송되었습니다.' },
    {
      when: { tone: 'friendly' },
      template: '{{#name}}Hey {{name}}, y{{/name}}{{^name}}Y{{/name}}our order is on its way!',
    },
  ],
}
const variants: RuntimeVariant[] = [
  { id: 11, template: 'Hi {{name}}!{{#count}} {{count}} items.{{/count}}', weight: 1 },
  { id: 12, template: 'Hello {{name}}.', weight: 1 },
  { id: 13, template: 'Hey {{name}}', weight: 2 },
]

describe('segments', () => {
  it('lists the grid and resolves requests with defaults', () => {
    expect(listSegments(family.dimensions).map((s) => s.key)).toEqual([
      'locale=en,tone=friendly',
      'locale=en,tone=formal',
      'locale=ko,tone=friendly',
      'locale=ko,tone=formal',
    ])
    expect(listSegments([])).toEqual([{ key: '', values: {} }])
    expect(resolveSegment(family.dimensions, { tone: 'formal' })).toMatchObject({
      ok: true,
      key: 'locale=en,tone=formal',
    })
    expect(resolveSegment(family.dimensions, { locale: 'fr', tone: 'formal' })).toMatchObject({
      key: 'locale=en,tone=formal',
    })
    expect(resolveSegment(family.dimensions, { locale: 'en' })).toEqual({
      ok: false,
      dimension: 'tone',
      message: 'Say which tone to use (one of friendly, formal).',
    })
    expect(resolveSegment(family.dimensions, { tone: 'rude' })).toMatchObject({
      ok: false,
      message: 'tone "rude" is not a segment of this family (one of friendly, formal).',
    })
  })
})

describe('slot data', () => {
  it('keeps only declared slots, as strings, and says what is wrong', () => {
    const { values, problems } = prepareSlotData(family.slots, {
      name: 'Mina',
      count: 3,
      code: 'abc',
      extra: '{{name}}',
    })
    expect(values).toEqual({ name: 'Mina', count: '3' })
    expect(problems).toEqual([
      { slot: 'code', code: 'invalid', message: '"code" does not have the expected form.', blocking: false },
    ])
    expect(prepareSlotData(family.slots, { name: '  ' }).problems[0]).toMatchObject({ code: 'missing', blocking: true })
    expect(prepareSlotData(family.slots, { name: 'Bartholomew-Jr' }).problems[0]).toMatchObject({ code: 'too_long' })
    expect(prepareSlotData(family.slots, { name: 'x', count: 'many' }).problems[0]).toMatchObject({ code: 'invalid' })
    expect(prepareSlotData(family.slots, { name: ['x'] }).problems[0]!.message).toBe(
      '"name" must be text or a number, not a list.',
    )
  })
})

describe('variant choice', () => {
  it('is deterministic per user and follows the weights', () => {
    const counts = new Map<number, number>()
    for (let user = 0; user < 20_000; user++) {
      const chosen = chooseVariant(variants, `user-${user}`, family.name)!
      expect(chooseVariant(variants, `user-${user}`, family.name)).toBe(chosen)
      counts.set(chosen.id, (counts.get(chosen.id) ?? 0) + 1)
    }
    // Weights 1:1:2 -> 25%, 25%, 50% (within 2 points on 20,000 users).
    expect(Math.abs(counts.get(11)! / 20_000 - 0.25)).toBeLessThan(0.02)
    expect(Math.abs(counts.get(12)! / 20_000 - 0.25)).toBeLessThan(0.02)
    expect(Math.abs(counts.get(13)! / 20_000 - 0.5)).toBeLessThan(0.02)
  })

  it('keeps A/B splits stable: adding a variant only moves users to the new one', () => {
    const grown = [...variants, { id: 14, template: 'Yo {{name}}', weight: 1 }]
    let moved = 0
    for (let user = 0; user < 5000; user++) {
      const before = chooseVariant(variants, `u${user}`, family.name)!
      const after = chooseVariant(grown, `u${user}`, family.name)!
      if (after.id !== before.id) {
        expect(after.id).toBe(14)
        moved++
      }
    }
    expect(moved / 5000).toBeGreaterThan(0.15)
    expect(moved / 5000).toBeLessThan(0.25)
    expect(chooseVariant([{ id: 1, template: 'x', weight: 0 }], 'u', family.name)).toBeUndefined()
  })

  it('hashes with 32-bit integer steps only', () => {
    expect(hash53('')).toBe(3338908027751811)
    expect(hash53('user-1\u0000order-shipped\u000011')).toBe(hash53('user-1\u0000order-shipped\u000011'))
    expect(hash53('a')).not.toBe(hash53('b'))
  })
})

describe('personalise', () => {
  const segment = { key: 'locale=en,tone=formal', values: { locale: 'en', tone: 'formal' } }

  it('fills the chosen variant, escaping the data', () => {
    const result = personalise({
      family,
      segment,
      variants,
      data: { name: '<Mina>', count: 2 },
      userId: 'u1',
      variantId: 11,
    })
    expect(result).toMatchObject({ ok: true, text: 'Hi &lt;Mina&gt;! 2 items.', variantId: 11, fallback: false })
  })

  it('never produces a gap: missing required data uses the fallback, or answers 422', () => {
    const friendly = { key: 'locale=en,tone=friendly', values: { locale: 'en', tone: 'friendly' } }
    expect(personalise({ family, segment: friendly, variants, data: {}, userId: 'u1' })).toMatchObject({
      ok: true,
      text: 'Your order is on its way!',
      fallback: true,
      variantId: null,
    })
    const korean = { key: 'locale=ko,tone=formal', values: { locale: 'ko', tone: 'formal' } }
    expect(personalise({ family, segment: korean, variants, data: {}, userId: 'u1' })).toMatchObject({
      text: '주문이 발송되었습니다.',
      fallback: true,
    })
    const refused = personalise({ family, segment, variants, data: { count: 1 }, userId: 'u1' })
    expect(refused).toEqual({
      ok: false,
      status: 422,
      code: 'missing_slot_data',
      message: 'No value for the required slot "name". No fallback is configured for segment locale=en,tone=formal.',
      segmentKey: 'locale=en,tone=formal',
      problems: [{ slot: 'name', code: 'missing', message: 'No value for the required slot "name".', blocking: true }],
    })
    expect(personalise({ family, segment, variants: [], data: { name: 'Mina' }, userId: 'u1' })).toMatchObject({
      ok: false,
      status: 404,
      code: 'no_variants',
    })
  })
})
