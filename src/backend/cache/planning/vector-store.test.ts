import { appendFileSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../../test/helpers'
import { PlanVectorStore } from './vector-store'

const key = (n: number) => n.toString(16).padStart(64, '0')
const namespace = { id: 3, tenant: 'acme' }

describe('PlanVectorStore', () => {
  it('appends and loads vectors, survives a torn last record, and forgets another embedder', () => {
    const home = tempDir()
    const store = new PlanVectorStore(home, namespace, 'model:a')
    expect(store.load().size).toBe(0)
    store.append([
      [key(1), Float32Array.from([1, 0, 0])],
      [key(2), Float32Array.from([0, 1, 0])],
    ])
    // A crash in the middle of the next append leaves half a record.
    appendFileSync(store.path, Buffer.alloc(20, 7))
    expect([...store.load().keys()]).toEqual([key(1), key(2)])
    store.append([[key(3), Float32Array.from([0, 0, 1])]])
    const loaded = store.load()
    expect([...loaded.keys()]).toEqual([key(1), key(2), key(3)])
    expect([...loaded.get(key(3))!]).toEqual([0, 0, 1])

    expect(() => store.append([[key(4), Float32Array.from([1, 2])]])).toThrow(/changed without a new version/)
    // Another embedder (or another tenant's namespace with the same id) sees nothing, and replaces the file.
    expect(new PlanVectorStore(home, { id: 3, tenant: 'globex' }, 'model:a').load().size).toBe(0)
    const other = new PlanVectorStore(home, namespace, 'model:b')
    expect(other.load().size).toBe(0)
    other.append([[key(9), Float32Array.from([1, 1])]])
    expect([...other.load().keys()]).toEqual([key(9)])
    expect(store.load().size).toBe(0)
    expect(readFileSync(store.path, 'utf8').split('\n')[0]).toContain('"embedderVersion":"model:b"')
  })
})
