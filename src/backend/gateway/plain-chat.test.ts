import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isPlainChat } from './plain-chat'
import { chatBody } from './requests'

// The shortcut must never accept a body the zod schema refuses; bodies are drawn near every bound it checks.
const anyValue = fc.oneof(
  fc.constantFrom(0, -0, 1, 2, -2, 0.5, 1.0000001, 2.0000001, -2.0000001, 1e308, -1, 200, 500, 2 ** 53, 2 ** 53 - 1),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 3 }),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
)
/** Mostly values near the bounds, sometimes anything at all. */
const near = (arbitrary: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary }, { weight: 1, arbitrary: anyValue })
const role = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('system', 'developer', 'user', 'assistant') },
  { weight: 1, arbitrary: fc.constantFrom('tool', 'wizard', '', 'User') },
  { weight: 1, arbitrary: anyValue },
)
const message = fc.oneof(
  { weight: 20, arbitrary: fc.record({ role, content: near(fc.string({ maxLength: 5 })) }) },
  { weight: 1, arbitrary: fc.record({ role, content: fc.string({ maxLength: 5 }), extra: anyValue }) },
  { weight: 1, arbitrary: fc.record({ role, content: fc.string({ maxLength: 5 }), tool_calls: anyValue }) },
  { weight: 1, arbitrary: anyValue },
)
const fields = {
  temperature: near(fc.oneof(fc.double({ min: -0.5, max: 2.5, noNaN: true }), fc.constantFrom(0, 2, -0))),
  top_p: near(fc.oneof(fc.double({ min: -0.2, max: 1.2, noNaN: true }), fc.constantFrom(0, 1))),
  presence_penalty: near(fc.double({ min: -2.5, max: 2.5, noNaN: true })),
  frequency_penalty: near(fc.constantFrom(-2, 2, 0, -2.0000001, 2.0000001)),
  max_tokens: near(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constantFrom(2 ** 53, 1.5))),
  max_completion_tokens: near(fc.integer({ min: -1, max: 5 })),
  top_k: near(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant(0.5))),
  seed: near(fc.oneof(fc.integer(), fc.constantFrom(2 ** 53, -(2 ** 53), 0.5))),
  n: near(fc.constantFrom(1, 2, 0, 1.5)),
  stream: near(fc.boolean()),
  user: near(fc.string({ maxLength: 3 })),
}
/** Fields the shortcut never takes (zod judges them): present now and then. */
const others = fc.record(
  { tools: anyValue, stop: anyValue, response_format: anyValue, unknown: anyValue },
  { requiredKeys: [] },
)
const fieldNames = Object.keys(fields) as (keyof typeof fields)[]
const body = fc
  .record({
    model: near(fc.oneof(fc.string({ maxLength: 4 }), fc.constant('m'.repeat(201)))),
    messages: near(
      fc.oneof(
        { weight: 5, arbitrary: fc.array(message, { minLength: 1, maxLength: 3 }) },
        { weight: 1, arbitrary: fc.constant([]) },
      ),
    ),
    chosen: fc.subarray(fieldNames, { maxLength: 4 }),
    values: fc.record(fields),
    extra: fc.oneof({ weight: 5, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: others }),
    dropModel: fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  })
  .map(({ model, messages, chosen, values, extra, dropModel }) => {
    const candidate: Record<string, unknown> = { model, messages, ...extra }
    for (const name of chosen) candidate[name] = values[name]
    if (dropModel) delete candidate.model
    return candidate
  })

describe('the plain chat shortcut', () => {
  it('accepts only bodies the zod schema accepts', () => {
    let accepted = 0
    fc.assert(
      fc.property(body, (candidate) => {
        if (!isPlainChat(candidate)) return
        accepted++
        expect(chatBody.safeParse(candidate).success).toBe(true)
      }),
      { numRuns: 20_000, seed: 14 },
    )
    // The property is not vacuous: many drawn bodies took the shortcut.
    expect(accepted).toBeGreaterThan(300)
  })

  it('takes the usual request and refuses the unusual, which zod then judges', () => {
    const usual = {
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
      temperature: 0,
      max_tokens: 16,
      stream: true,
    }
    expect(isPlainChat(usual)).toBe(true)
    for (const unusual of [
      { ...usual, temperature: 'hot' },
      { ...usual, temperature: 3 },
      { ...usual, tools: [] },
      { ...usual, stop: 'x' },
      { ...usual, messages: [{ role: 'tool', content: 'x' }] },
      { ...usual, messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] },
      { ...usual, messages: [] },
      { ...usual, model: '' },
      { model: 'm' },
    ])
      expect(isPlainChat(unusual)).toBe(false)
  })
})
