import { describe, expect, it } from 'vitest'
import { familyDefinitionSchema } from '../../../../shared/contract'
import { exampleData, parseProfileData, previewLocally, trafficSplit, workingSnapshot } from './preview'
import { orderShippedFamily } from './order-shipped.fixture'

const definition = familyDefinitionSchema.parse(orderShippedFamily)
const snapshot = [
  { id: 11, segmentKey: 'locale=en,tone=formal', template: 'Dear {{name}}, your {{product}} shipped.', weight: 1 },
  { id: 12, segmentKey: 'locale=en,tone=formal', template: '{{name}}: {{product}} is on its way.', weight: 1 },
]
const base = { familyName: 'order-shipped', definition, version: null, snapshot, userId: 'u1' }

describe('the console preview', () => {
  it('fills the variant chosen for the user, the same one every time', () => {
    const data = { name: 'Mina', product: 'Jasmine tea' }
    const first = previewLocally({ ...base, segment: { locale: 'en', tone: 'formal' }, data })
    expect(first).toMatchObject({ ok: true, status: 200, fallback: false })
    const again = previewLocally({ ...base, segment: { locale: 'en', tone: 'formal' }, data })
    expect(again).toEqual(first)
    expect(first.ok && [11, 12].includes(first.variantId!)).toBe(true)
    expect(first.ok && first.text).toContain('Mina')
  })

  it('escapes slot values as the edge does', () => {
    const result = previewLocally({
      ...base,
      segment: { locale: 'en', tone: 'formal' },
      data: { name: '<b>Mina</b>', product: 'Tea & cake' },
      variant: { ...snapshot[0]! },
    })
    expect(result).toMatchObject({ ok: true, text: 'Dear &lt;b&gt;Mina&lt;&#x2F;b&gt;, your Tea &amp; cake shipped.' })
  })

  it('answers 422 without required data and no fallback, and uses the fallback where there is one', () => {
    expect(
      previewLocally({ ...base, segment: { locale: 'en', tone: 'formal' }, data: { product: 'Tea' } }),
    ).toMatchObject({ ok: false, status: 422, code: 'missing_slot_data' })
    expect(
      previewLocally({ ...base, segment: { locale: 'en', tone: 'friendly' }, data: { product: 'Tea' } }),
    ).toMatchObject({ ok: true, fallback: true, text: 'Your order is on its way.' })
  })

  it('refuses a segment the family cannot resolve, like the edge (400)', () => {
    expect(previewLocally({ ...base, segment: { locale: 'en' }, data: {} })).toMatchObject({
      ok: false,
      status: 400,
      dimension: 'tone',
    })
  })

  it('previews unsaved text with its problems, and a draft of the segment', () => {
    const draft = previewLocally({
      ...base,
      segment: { locale: 'en', tone: 'formal' },
      data: exampleData(definition),
      template: 'Hi {{nmae}}',
    })
    expect(draft.status === 400 ? [] : draft.templateProblems.map((problem) => problem.code)).toContain('unknown_slot')
    const stored = previewLocally({
      ...base,
      segment: { locale: 'en', tone: 'formal' },
      data: exampleData(definition),
      variant: { id: 99, segmentKey: 'locale=en,tone=formal', template: 'Dear {{name}} ({{product}})', weight: 1 },
    })
    expect(stored).toMatchObject({ ok: true, variantId: 99, text: 'Dear Mina (Jasmine tea)' })
  })

  it('checks the profile-data box', () => {
    expect(parseProfileData('{"name": "Mina"}')).toEqual({ ok: true, data: { name: 'Mina' } })
    expect(parseProfileData('')).toEqual({ ok: true, data: {} })
    expect(parseProfileData('{"name":')).toMatchObject({ ok: false, reason: 'syntax' })
    expect(parseProfileData('[1]')).toEqual({ ok: false, reason: 'notObject', detail: 'array' })
  })

  it('keeps only approved variants without problems, and splits traffic by weight', () => {
    const variants = [
      { ...snapshot[0]!, state: 'approved', problems: [] },
      { ...snapshot[1]!, state: 'draft', problems: [] },
      { ...snapshot[1]!, id: 13, state: 'approved', problems: [{ code: 'too_long', message: 'long' }] },
    ] as unknown as Parameters<typeof workingSnapshot>[0]
    expect(workingSnapshot(variants).map((variant) => variant.id)).toEqual([11])
    const split = trafficSplit(
      [
        { id: 1, template: 'a', weight: 3 },
        { id: 2, template: 'b', weight: 1 },
      ],
      'order-shipped',
      4000,
    )
    expect(split.get(1)! + split.get(2)!).toBeCloseTo(1)
    expect(split.get(1)!).toBeGreaterThan(0.7)
    expect(split.get(1)!).toBeLessThan(0.8)
  })
})
