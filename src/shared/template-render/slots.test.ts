import { describe, expect, it } from 'vitest'
import { analyzeTemplate, checkVariant, longestExampleData, type SlotDefinition } from './slots'

const slots: SlotDefinition[] = [
  { name: 'name', type: 'text', required: true, maxLength: 20, examples: ['Mina', 'Alexandria'], escape: 'html' },
  { name: 'product', type: 'text', required: true, examples: ['Jasmine tea'], escape: 'html' },
  { name: 'date', type: 'date', required: false, examples: ['March 3'], escape: 'html' },
  { name: 'link', type: 'text', required: false, examples: ['<a href="/o/1">order</a>'], escape: 'none' },
]
const constraints = { maxLength: 60, mustInclude: [], banned: ['guarantee'], nearDuplicateThreshold: 0.9 }
const codes = (source: string): string[] => analyzeTemplate(source, slots, 'variant').problems.map((p) => p.code)

describe('template analysis against slots', () => {
  it('accepts a template that uses every required slot once and guards the optional ones', () => {
    const analysis = analyzeTemplate(
      'Hi {{name}}, your {{product}} ships{{#date}} on {{date}}{{/date}}.',
      slots,
      'variant',
    )
    expect(analysis.problems).toEqual([])
    expect(analysis.usage).toEqual({ name: 1, product: 1, date: 1 })
  })

  it('names unknown slots and suggests the closest', () => {
    const analysis = analyzeTemplate('Hi {{nmae}}, your {{product}} {{name}} {{order.id}}', slots, 'variant')
    expect(analysis.problems.filter((p) => p.code === 'unknown_slot').map((p) => p.message)).toEqual([
      '{{nmae}} is not a slot of this family (slots: name, product, date, link). Did you mean {{name}}?',
      '{{order.id}} is not a slot of this family (slots: name, product, date, link).',
    ])
  })

  it('finds missing, duplicated, hidden and unguarded slots', () => {
    expect(codes('Your order ships.')).toEqual(['missing_required_slot', 'missing_required_slot'])
    expect(codes('Hi {{name}} {{name}}, {{product}}')).toEqual(['duplicate_slot'])
    expect(codes('{{#date}}Hi {{name}}{{/date}} {{product}}')).toEqual(['required_slot_in_section'])
    expect(codes('Hi {{name}}, {{product}} on {{date}}')).toEqual(['unguarded_optional_slot'])
    // A slot repeated in alternative branches is fine.
    expect(
      codes('{{#date}}{{name}}: on {{date}}{{/date}}{{^date}}{{name}}: soon{{/date}} {{name}} {{product}}'),
    ).toEqual([])
  })

  it('refuses syntax errors and delimiter changes with the reason', () => {
    expect(analyzeTemplate('Hi {{name}', slots, 'variant').problems[0]).toMatchObject({
      code: 'syntax',
      message: expect.stringMatching(/Unclosed tag.*line 1, column 4/),
    })
    expect(codes('{{=<% %>=}}Hi <% name %> <% product %>')).toContain('set_delimiter')
  })

  it('writes each slot tag the way the slot escapes, whatever was typed', () => {
    const analysis = analyzeTemplate(
      'Hi {{{name}}}, {{product}}{{#link}} ({{link}}){{/link}}{{#date}} {{.}}{{/date}}',
      slots,
      'variant',
    )
    expect(analysis.canonical).toBe('Hi {{name}}, {{product}}{{#link}} ({{{link}}}){{/link}}{{#date}} {{.}}{{/date}}')
  })

  it('holds fallbacks to a stricter rule: every slot inside its own section', () => {
    expect(analyzeTemplate('Your order has shipped.', slots, 'fallback').problems).toEqual([])
    expect(
      analyzeTemplate('{{#name}}Hi {{name}}, y{{/name}}{{^name}}Y{{/name}}our order shipped.', slots, 'fallback')
        .problems,
    ).toEqual([])
    expect(analyzeTemplate('Hi {{name}}, your order shipped.', slots, 'fallback').problems[0]!.code).toBe(
      'unguarded_optional_slot',
    )
  })

  it('checks length with the longest examples, required and banned phrases', () => {
    expect(longestExampleData(slots)).toMatchObject({ name: 'Alexandria', product: 'Jasmine tea' })
    const long = checkVariant(
      'Dear {{name}}, we are delighted to say that your {{product}} is on its way.',
      slots,
      constraints,
    )
    expect(long.problems.map((p) => p.message)).toEqual([
      'Filled with the longest examples it is 77 characters; the limit is 60.',
    ])
    const banned = checkVariant('We GUARANTEE {{name}} gets {{product}}.', slots, constraints)
    expect(banned.problems.map((p) => p.code)).toEqual(['banned_phrase'])
    const missing = checkVariant('{{name}}: {{product}}', slots, { ...constraints, mustInclude: ['Thanks'] })
    expect(missing.problems.map((p) => p.message)).toEqual(['It must include "Thanks".'])
  })

  it('refuses text with U+FFFD (broken UTF-8 from byte tokens), so it cannot be approved unedited', () => {
    const broken = checkVariant('Hi {{name}}, your {{product}} caf\uFFFD ships.', slots, constraints)
    expect(broken.problems.map((p) => p.code)).toEqual(['broken_text'])
    expect(broken.problems[0]!.message).toMatch(/U\+FFFD .*edit the text before approving it/)
  })
})
