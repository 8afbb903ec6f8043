import { describe, expect, it } from 'vitest'
import { DEFAULT_NORMALIZATION, cacheKey, normalizeText, type CacheableRequest } from './cache-key'

const request = (content: string, params: CacheableRequest['params'] = {}): CacheableRequest => ({
  model: 'tiny',
  kind: 'chat',
  messages: [
    { role: 'system', content: 'You are helpful.' },
    { role: 'user', content },
  ],
  params,
})

describe('cache keys', () => {
  it('normalises whitespace, NFKC, case and punctuation as configured', () => {
    expect(normalizeText('  Ｈｅｌｌｏ\n\tworld  ', DEFAULT_NORMALIZATION)).toBe('Hello world')
    expect(normalizeText('Hello, World!', { ...DEFAULT_NORMALIZATION, case: true, punctuation: true })).toBe(
      'hello world',
    )
    expect(normalizeText('ﬁne', { ...DEFAULT_NORMALIZATION, nfkc: false })).toBe('ﬁne')
  })

  it('gives equal keys to equivalent requests and different keys when the answer could differ', async () => {
    const a = await cacheKey(request('Where is my order?'), DEFAULT_NORMALIZATION)
    const b = await cacheKey(request('  Where is   my order?'), DEFAULT_NORMALIZATION)
    expect(a.keyHash).toMatch(/^[0-9a-f]{64}$/)
    expect(b.keyHash).toBe(a.keyHash)
    expect((await cacheKey(request('where is my order?'), DEFAULT_NORMALIZATION)).keyHash).not.toBe(a.keyHash)
    expect(
      (await cacheKey(request('Where is my order?', { temperature: 0.9 }), DEFAULT_NORMALIZATION)).keyHash,
    ).not.toBe(a.keyHash)
    const reordered = await cacheKey(request('Where is my order?', { seed: 1, temperature: 0 }), DEFAULT_NORMALIZATION)
    const same = await cacheKey(request('Where is my order?', { temperature: 0, seed: 1 }), DEFAULT_NORMALIZATION)
    expect(reordered.keyHash).toBe(same.keyHash)
    expect(a.promptText).toBe('[system] You are helpful.\nWhere is my order?')
  })
})
