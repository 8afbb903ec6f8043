/**
 * Duplicate removal for dataset prompts. Exact: the SHA-256 of the prompt normalised (NFKC, lower case, punctuation
 * and runs of spaces folded), so "Reset my password!" and "reset my  password" are one prompt. Near: Jaccard
 * similarity of the normalised prompts' character 5-gram shingles, found through MinHash signatures banded for
 * locality-sensitive hashing (candidates only; every candidate pair is then checked with the exact Jaccard), so a
 * new prompt is compared with a handful of neighbours rather than the whole dataset.
 */
import { createHash } from 'node:crypto'
import type { ChatMessage } from '../data'

const SHINGLE = 5
const BANDS = 16
const ROWS = 4
const HASHES = BANDS * ROWS

export function normalisePrompt(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\p{P}\p{S}]+/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim()
}

/** The text a prompt is compared by: its messages' roles and contents. */
export function promptText(prompt: ChatMessage[]): string {
  return prompt.map((message) => `${message.role}: ${message.content}`).join('\n')
}

export function promptHash(prompt: ChatMessage[]): string {
  return createHash('sha256')
    .update(normalisePrompt(promptText(prompt)))
    .digest('hex')
}

function shingles(normalised: string): Set<string> {
  const padded = normalised.length < SHINGLE ? normalised.padEnd(SHINGLE, ' ') : normalised
  const set = new Set<string>()
  for (let i = 0; i + SHINGLE <= padded.length; i++) set.add(padded.slice(i, i + SHINGLE))
  return set
}

export function jaccard(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1
  let shared = 0
  for (const item of a) if (b.has(item)) shared++
  return shared / (a.size + b.size - shared)
}

/** 32-bit FNV-1a of a string, seeded: one of the MinHash permutations. */
function fnv(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  // A final avalanche so that nearby seeds give unrelated orders.
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b) >>> 0
  hash ^= hash >>> 13
  return hash >>> 0
}

function signature(set: Set<string>): Uint32Array {
  const minimums = new Uint32Array(HASHES).fill(0xffffffff)
  for (const shingle of set) {
    for (let i = 0; i < HASHES; i++) {
      const value = fnv(shingle, i * 0x9e3779b1)
      if (value < minimums[i]!) minimums[i] = value
    }
  }
  return minimums
}

/** Prompts seen so far; `nearestAbove` says whether a new one is a near duplicate of any of them. */
export class NearDuplicateIndex {
  private readonly sets: Set<string>[] = []
  private readonly buckets = new Map<string, number[]>()

  constructor(readonly threshold: number) {}

  private bandKeys(sig: Uint32Array): string[] {
    const keys: string[] = []
    for (let band = 0; band < BANDS; band++) {
      keys.push(`${band}:${Array.from(sig.subarray(band * ROWS, band * ROWS + ROWS)).join(',')}`)
    }
    return keys
  }

  /** The highest similarity at or above the threshold with a prompt already added, or null. */
  nearestAbove(text: string): number | null {
    const set = shingles(normalisePrompt(text))
    const candidates = new Set<number>()
    for (const key of this.bandKeys(signature(set)))
      for (const index of this.buckets.get(key) ?? []) candidates.add(index)
    let best: number | null = null
    for (const index of candidates) {
      const similarity = jaccard(set, this.sets[index]!)
      if (similarity >= this.threshold && (best === null || similarity > best)) best = similarity
    }
    return best
  }

  add(text: string): void {
    const set = shingles(normalisePrompt(text))
    const index = this.sets.length
    this.sets.push(set)
    for (const key of this.bandKeys(signature(set))) {
      const bucket = this.buckets.get(key)
      if (bucket) bucket.push(index)
      else this.buckets.set(key, [index])
    }
  }
}
