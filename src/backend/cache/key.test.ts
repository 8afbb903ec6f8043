import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_NORMALIZATION,
  cacheKey,
  canonicalJson,
  canonicalRequest,
  normalizeText,
  type CacheableRequest,
  type NormalizationRules,
} from '../../shared/cache-key'
import { cacheKeySync, normalizeFast } from './key'
import { cacheableFrom } from './service'

// Text that exercises every rule: Unicode whitespace (NBSP, ideographic space, BOM, line separators), full-width
// and ligature forms for NFKC, case, punctuation and symbols, plus arbitrary code points.
const tricky = fc.constantFrom(
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  '\u00a0',
  '\u2028',
  '\u3000',
  '\ufeff',
  '\u200b',
  'Ａ',
  'ﬁ',
  'İ',
  'ß',
  'Σ',
  '.',
  '!?',
  '€',
  '"',
  '\\',
  'é',
  'e\u0301',
  '😀',
  'a',
  'Word',
  '42',
)
const text = fc
  .array(fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 12 })
  .map((parts) => parts.join(''))
const rules: fc.Arbitrary<NormalizationRules> = fc.record({
  whitespace: fc.boolean(),
  case: fc.boolean(),
  nfkc: fc.boolean(),
  punctuation: fc.boolean(),
})
const maybe = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.option(arbitrary, { nil: undefined, freq: 2 })
const request: fc.Arbitrary<CacheableRequest> = fc.record({
  model: text,
  kind: fc.constantFrom('chat' as const, 'completion' as const),
  messages: fc.array(
    fc.record(
      {
        role: fc.constantFrom('system', 'user', 'assistant', 'developer', 'tool', 'Zé'),
        content: text,
        tool_calls: fc.jsonValue(),
        tool_call_id: text,
      },
      { requiredKeys: ['role', 'content'] },
    ),
    { minLength: 1, maxLength: 5 },
  ),
  params: fc.record({
    temperature: maybe(fc.double({ noNaN: false })),
    top_p: maybe(fc.double({ min: 0, max: 1 })),
    top_k: maybe(fc.integer()),
    seed: maybe(fc.integer()),
    max_tokens: maybe(fc.nat()),
    stop: maybe(fc.array(text, { maxLength: 3 })),
    response_format: maybe(
      fc
        .jsonValue()
        .map((value) =>
          value !== null && typeof value === 'object' && !Array.isArray(value)
            ? { ...value, dropped: undefined, b: [1, undefined], a: { z: 1, y: undefined } }
            : value,
        ),
    ),
    tool_choice: maybe(fc.jsonValue()),
    tools: maybe(fc.jsonValue()),
  }),
})

describe('the synchronous cache key', () => {
  it('normalises exactly like the shared normalizeText', () => {
    fc.assert(
      fc.property(text, rules, (value, rule) => {
        expect(normalizeFast(value, rule)).toBe(normalizeText(value, rule))
      }),
      { numRuns: 3000 },
    )
  })

  it('gives byte-identical keys, canonical forms and prompt texts to the Web Crypto key', async () => {
    await fc.assert(
      fc.asyncProperty(request, rules, async (value, rule) => {
        const shared = await cacheKey(value, rule)
        const sync = cacheKeySync(value, rule)
        expect(sync.keyHash).toBe(shared.keyHash)
        expect(sync.promptText).toBe(shared.promptText)
        // Stored as JSON.stringify(canonical) in cache_entries: the same text, key order included.
        expect(JSON.stringify(sync.canonical)).toBe(JSON.stringify(shared.canonical))
        expect(sync.json).toBe(canonicalJson(canonicalRequest(value, rule)))
      }),
      { numRuns: 1500 },
    )
  })

  it('agrees on requests built the way the gateway builds them', async () => {
    const bodies = [
      { model: 'm', messages: [{ role: 'user', content: '  Where is   my order? ' }], params: { temperature: 0 } },
      { model: 'm', prompt: 'Once upon', params: { stop: 'END', max_completion_tokens: 5 } },
      {
        model: 'm',
        messages: [{ role: 'system', content: 'Be brief.' }],
        params: { response_format: { type: 'json' } },
      },
      { model: 'm', messages: [{ role: 'user', content: 'x' }], params: { seed: 1, top_k: 3, unknown: true } },
      // JSON.parse makes "__proto__" an own member; it must be hashed as one.
      JSON.parse('{"model":"m","prompt":"p","params":{"response_format":{"__proto__":{"x":1},"type":"json"}}}') as {
        model: string
        prompt: string
        params: Record<string, unknown>
      },
    ]
    for (const body of bodies) {
      const value = cacheableFrom(body)
      for (const rule of [DEFAULT_NORMALIZATION, { whitespace: true, case: true, nfkc: true, punctuation: true }]) {
        expect(cacheKeySync(value, rule).keyHash).toBe((await cacheKey(value, rule)).keyHash)
      }
    }
  })

  it('takes the reference path for shapes only untyped callers produce, with the same result', async () => {
    const odd = [
      { model: 'm', kind: 'chat', messages: [{ role: 7, content: 'hi' }], params: {} },
      { model: 'm', kind: 'chat', messages: [{ role: 'user', content: 'hi' }], params: undefined },
      { model: undefined, kind: 'chat', messages: [{ role: 'user', content: 'hi' }], params: {} },
    ] as unknown as CacheableRequest[]
    for (const value of odd) {
      expect(cacheKeySync(value, DEFAULT_NORMALIZATION).keyHash).toBe(
        (await cacheKey(value, DEFAULT_NORMALIZATION)).keyHash,
      )
    }
  })
})
