/**
 * Embeddings of a namespace's logged prompts for the semantic what-if, kept in the workspace folder
 * (`<home>/planning/namespace-<id>.vectors`): derived data, rebuilt by the embedding job whenever it is missing or the
 * namespace's embedder changed. A file, not a table: it is a cache of the embedder's output, never curated.
 *
 * Format: one JSON header line ({format, namespaceId, tenant, embedderVersion, dims}), then fixed-size records of a
 * 32-byte key hash and `dims` float32s. Records are appended batch by batch, so an interrupted job keeps what it did;
 * a torn last record is ignored.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

interface Header {
  format: 1
  namespaceId: number
  tenant: string
  embedderVersion: string
  dims: number
}

export class PlanVectorStore {
  readonly path: string

  constructor(
    home: string,
    private readonly namespace: { id: number; tenant: string },
    private readonly embedderVersion: string,
  ) {
    this.path = join(home, 'planning', `namespace-${namespace.id}.vectors`)
  }

  private header(
    bytes = existsSync(this.path) ? readFileSync(this.path) : null,
  ): { header: Header; offset: number } | null {
    if (!bytes) return null
    const end = bytes.indexOf(0x0a)
    if (end < 0) return null
    try {
      const header = JSON.parse(bytes.subarray(0, end).toString('utf8')) as Header
      const current =
        header.format === 1 &&
        header.namespaceId === this.namespace.id &&
        header.tenant === this.namespace.tenant &&
        header.embedderVersion === this.embedderVersion &&
        Number.isInteger(header.dims) &&
        header.dims > 0
      return current ? { header, offset: end + 1 } : null
    } catch {
      return null
    }
  }

  /** The stored vectors by key hash (empty when there are none for the current embedder). */
  load(): Map<string, Float32Array> {
    const vectors = new Map<string, Float32Array>()
    if (!existsSync(this.path)) return vectors
    const bytes = readFileSync(this.path)
    const found = this.header(bytes)
    if (!found) return vectors
    const { dims } = found.header
    const size = 32 + dims * 4
    for (let at = found.offset; at + size <= bytes.length; at += size) {
      const keyHash = bytes.subarray(at, at + 32).toString('hex')
      const vector = new Float32Array(dims)
      new Uint8Array(vector.buffer).set(bytes.subarray(at + 32, at + size))
      vectors.set(keyHash, vector)
    }
    return vectors
  }

  /** Appends vectors (one dimension); a file for another embedder or namespace is replaced. */
  append(entries: [string, Float32Array][]): void {
    if (entries.length === 0) return
    const dims = entries[0]![1].length
    if (entries.some(([, vector]) => vector.length !== dims))
      throw new Error('The embedder returned vectors of different sizes in one batch.')
    const found = this.header()
    if (found && found.header.dims !== dims) {
      throw new Error(
        `The embedder returned ${dims}-dimensional vectors, earlier ${found.header.dims}: it changed without a new version. Save the namespace's embedder again.`,
      )
    }
    if (!found) {
      mkdirSync(join(this.path, '..'), { recursive: true })
      const header: Header = {
        format: 1,
        namespaceId: this.namespace.id,
        tenant: this.namespace.tenant,
        embedderVersion: this.embedderVersion,
        dims,
      }
      writeFileSync(this.path, `${JSON.stringify(header)}\n`)
    } else this.dropTornRecord(found.offset, dims)
    const size = 32 + dims * 4
    const out = Buffer.alloc(entries.length * size)
    entries.forEach(([keyHash, vector], i) => {
      out.write(keyHash, i * size, 32, 'hex')
      Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).copy(out, i * size + 32)
    })
    appendFileSync(this.path, out)
  }

  remove(): void {
    rmSync(this.path, { force: true })
  }

  /** A crash mid-append can leave a partial record; cut it so new records stay aligned. */
  private dropTornRecord(offset: number, dims: number): void {
    const bytes = readFileSync(this.path)
    const extra = (bytes.length - offset) % (32 + dims * 4)
    if (extra > 0) writeFileSync(this.path, bytes.subarray(0, bytes.length - extra))
  }
}
