import { describe, expect, it } from 'vitest'
import { VectorIndex } from './semantic-index'

function random(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 4294967296
  }
}

function gaussian(next: () => number): number {
  let u = 0
  while (u === 0) u = next()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next())
}

/** Clustered vectors with a shared direction (like sentence embeddings), not unit length. */
function dataset(count: number, dims: number, seed: number): Float32Array[] {
  const next = random(seed)
  const common = Array.from({ length: dims }, () => gaussian(next))
  const topics = Array.from({ length: 50 }, () => Array.from({ length: dims }, () => gaussian(next)))
  return Array.from({ length: count }, () => {
    const topic = topics[Math.floor(next() * topics.length)]!
    return Float32Array.from({ length: dims }, (_, j) => 0.5 * common[j]! + topic[j]! + 0.9 * gaussian(next))
  })
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0
  let na = 0
  let nb = 0
  for (let j = 0; j < a.length; j++) {
    dot += a[j]! * b[j]!
    na += a[j]! * a[j]!
    nb += b[j]! * b[j]!
  }
  return dot / Math.sqrt(na * nb)
}

function perturbed(vector: Float32Array, amount: number, next: () => number): Float32Array {
  let norm = 0
  for (const x of vector) norm += x * x
  const scale = (amount * Math.sqrt(norm)) / Math.sqrt(vector.length)
  return Float32Array.from(vector, (x) => x + scale * gaussian(next))
}

describe('VectorIndex', () => {
  it('scans small sets exactly: every entry above the threshold, best first, with exact cosine similarities', () => {
    const vectors = dataset(300, 32, 1)
    const index = new VectorIndex(32)
    vectors.forEach((vector, i) => index.upsert(i + 1, `k${i + 1}`, vector))
    const next = random(2)
    for (let q = 0; q < 20; q++) {
      const query = perturbed(vectors[q * 7]!, 0.3, next)
      const expected = vectors
        .map((vector, i) => ({ entryId: i + 1, similarity: cosine(vector, query) }))
        .filter((n) => n.similarity >= 0.5)
        .sort((a, b) => b.similarity - a.similarity)
      const found = index.search(query, 0.5)
      expect(found.map((n) => n.entryId)).toEqual(expected.map((n) => n.entryId))
      found.forEach((n, i) => {
        expect(n.similarity).toBeCloseTo(expected[i]!.similarity, 5)
        expect(n.keyHash).toBe(`k${n.entryId}`)
      })
    }
  })

  it('finds the exact nearest neighbour of near duplicates through the sign-code filters, and never anything below the threshold', () => {
    const dims = 96
    const vectors = dataset(6000, dims, 3)
    // Small filter sizes so the approximate path is really exercised on a set this small.
    const index = new VectorIndex(dims, { bruteForceMax: 256, coarse: 600, coarseShare: 0, fine: 64 })
    vectors.forEach((vector, i) => index.upsert(i + 1, `k${i + 1}`, vector))
    const next = random(4)
    let near = 0
    let same = 0
    for (let q = 0; q < 300; q++) {
      const query = perturbed(vectors[Math.floor(next() * vectors.length)]!, 0.2 + next() * 0.3, next)
      const exact = index.search(query, 0.9, true)
      const found = index.search(query, 0.9)
      for (const n of found) {
        expect(n.similarity).toBeGreaterThanOrEqual(0.9)
        expect(n.similarity).toBeCloseTo(cosine(vectors[n.entryId - 1]!, query), 5)
      }
      // Whatever the filters keep is a subset of the exact answer.
      expect(found.every((n) => exact.some((e) => e.entryId === n.entryId))).toBe(true)
      if (exact.length > 0) {
        near++
        if (found[0]?.entryId === exact[0]!.entryId) same++
      }
    }
    expect(near).toBeGreaterThan(100)
    expect(same / near).toBeGreaterThanOrEqual(0.99)
  })

  it('replaces and removes vectors (swap-remove keeps every other entry findable)', () => {
    const vectors = dataset(3000, 48, 5)
    const index = new VectorIndex(48, { bruteForceMax: 100, coarse: 400, coarseShare: 0, fine: 64 })
    vectors.forEach((vector, i) => index.upsert(i + 1, `k${i + 1}`, vector))
    for (let id = 1; id <= 3000; id += 3) expect(index.remove(id)).toBe(true)
    expect(index.remove(1)).toBe(false)
    expect(index.size).toBe(2000)
    // Entry 2 now holds entry 5's vector.
    index.upsert(2, 'k2-new', vectors[4]!)
    expect(index.size).toBe(2000)
    for (let id = 1; id <= 3000; id++) {
      const found = index.search(vectors[id - 1]!, 0.999999, true)
      const ids = found.map((n) => n.entryId)
      if (id % 3 === 1) expect(ids).not.toContain(id)
      else if (id === 2) expect(ids).not.toContain(2)
      else expect(ids).toContain(id)
    }
    expect(
      index
        .search(vectors[4]!, 0.999999, true)
        .map((n) => n.entryId)
        .sort(),
    ).toEqual([2, 5])
    expect(index.search(vectors[4]!, 0.999999).find((n) => n.entryId === 2)?.keyHash).toBe('k2-new')
  })

  it('loads in bulk to the same answers as one by one', () => {
    const vectors = dataset(2500, 40, 6)
    const options = { bruteForceMax: 200, coarse: 300, coarseShare: 0, fine: 50 }
    const single = new VectorIndex(40, options)
    const bulk = new VectorIndex(40, options)
    vectors.forEach((vector, i) => single.upsert(i + 1, `k${i + 1}`, vector))
    bulk.reserve(2500)
    bulk.bulk((add) => vectors.forEach((vector, i) => add(i + 1, `k${i + 1}`, vector)))
    const next = random(7)
    for (let q = 0; q < 50; q++) {
      const query = perturbed(vectors[q * 31]!, 0.3, next)
      expect(bulk.search(query, 0.8)).toEqual(single.search(query, 0.8))
    }
  })

  it('answers nothing for a zero or mis-sized query, and refuses a mis-sized vector', () => {
    const index = new VectorIndex(4)
    index.upsert(1, 'a', [1, 0, 0, 0])
    index.upsert(2, 'b', [0, 0, 0, 0])
    expect(index.search([0, 0, 0, 0], 0.1)).toEqual([])
    expect(index.search([1, 0, 0], 0.1)).toEqual([])
    expect(index.search([2, 0, 0, 0], 0.1)).toEqual([{ entryId: 1, keyHash: 'a', similarity: 1 }])
    expect(() => index.upsert(3, 'c', [1, 2])).toThrow(/dimensions/)
  })
})
