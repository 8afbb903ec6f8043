import { describe, expect, it } from 'vitest'
import { MESSAGES, fillTemplate, message, placeholdersOf, type MessageKey } from '../../../shared/messages'
import en from './en/messages'
import ko from './ko/messages'

const flat = (nested: Record<string, Record<string, string>>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(nested).flatMap(([area, texts]) => Object.entries(texts).map(([k, v]) => [`${area}.${k}`, v])),
  )

describe('backend messages', () => {
  const keys = Object.keys(MESSAGES) as MessageKey[]
  const english = flat(en)
  const korean = flat(ko)

  it('every key has an English and a Korean text, and no locale has extra keys', () => {
    expect(keys.length).toBeGreaterThan(50)
    expect(Object.keys(english).sort()).toEqual([...keys].sort())
    expect(Object.keys(korean).sort()).toEqual([...keys].sort())
    for (const key of keys) {
      expect(english[key], key).toBe(MESSAGES[key])
      expect(korean[key]!.trim(), key).not.toBe('')
      expect(korean[key], key).not.toBe(MESSAGES[key])
    }
  })

  it('the Korean text uses exactly the placeholders of the English', () => {
    for (const key of keys) expect(placeholdersOf(korean[key]!), key).toEqual(placeholdersOf(MESSAGES[key]))
  })

  it('no text uses characters vue-i18n would read as syntax (linked messages, plurals, literal braces)', () => {
    for (const text of [...Object.values(english), ...Object.values(korean)]) {
      expect(text).not.toMatch(/[@|$]/)
      // Only {name} placeholders: every brace belongs to one.
      expect(text.replace(/\{\w+\}/g, '')).not.toMatch(/[{}]/)
    }
  })

  it('fills parameters; literal Mustache and JSON travel as parameter values', () => {
    expect(message('template.missingRequiredSlot', { tag: '{{name}}' }).text).toBe(
      'The required slot {{name}} does not appear.',
    )
    expect(message('job.quantize', { model: 'tiny-f32', type: 'Q8_0' })).toEqual({
      key: 'job.quantize',
      params: { model: 'tiny-f32', type: 'Q8_0' },
      text: 'Quantize model tiny-f32 to Q8_0',
    })
    expect(fillTemplate('{a} and {b}', { a: 1 })).toBe('1 and {b}')
  })
})
