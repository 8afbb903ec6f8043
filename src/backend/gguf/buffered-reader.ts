import type { FileHandle } from 'node:fs/promises'

import { GgufError } from './errors.js'

/**
 * Sequential reader over a file handle that keeps only a window of the file in memory.
 * GGUF headers are parsed value by value; reading each value with its own syscall would be slow
 * (vocabularies have 100k+ strings), and reading the whole file is impossible for multi-GB models.
 *
 * Callers call `ensure(n)` (async, only awaits when the window runs dry) and then the synchronous
 * `take*` methods, which consume bytes that are known to be buffered.
 */
export class BufferedReader {
  private window: Buffer
  private view: DataView
  /** File offset of window[0]. */
  private windowStart = 0
  /** Number of valid bytes in the window. */
  private windowLength = 0
  /** Read cursor inside the window. */
  private cursor = 0

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    private readonly chunkSize: number,
  ) {
    this.window = Buffer.allocUnsafe(chunkSize)
    this.view = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength)
  }

  /** Absolute file offset of the next unread byte. */
  get position(): number {
    return this.windowStart + this.cursor
  }

  get remainingInFile(): number {
    return this.fileSize - this.position
  }

  private get buffered(): number {
    return this.windowLength - this.cursor
  }

  /** Makes sure `byteCount` bytes are buffered, or throws TRUNCATED when the file is shorter. */
  ensure(byteCount: number, what: string): Promise<void> | undefined {
    if (this.buffered >= byteCount) return undefined
    return this.fill(byteCount, what)
  }

  private async fill(byteCount: number, what: string): Promise<void> {
    if (byteCount > this.remainingInFile) {
      throw new GgufError(
        'TRUNCATED',
        `File ends while reading ${what}: need ${byteCount} bytes at offset ${this.position}, ` +
          `but only ${this.remainingInFile} remain (file size ${this.fileSize})`,
      )
    }
    // Keep the unread tail, growing the window only when a single value is larger than it.
    const keep = this.buffered
    if (byteCount > this.window.length) {
      const grown = Buffer.allocUnsafe(Math.max(byteCount, this.window.length * 2))
      this.window.copy(grown, 0, this.cursor, this.windowLength)
      this.window = grown
      this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength)
    } else {
      this.window.copyWithin(0, this.cursor, this.windowLength)
    }
    this.windowStart += this.cursor
    this.cursor = 0
    this.windowLength = keep

    while (this.windowLength < byteCount) {
      const wanted = Math.min(
        this.window.length - this.windowLength,
        this.fileSize - this.windowStart - this.windowLength,
      )
      const { bytesRead } = await this.handle.read(
        this.window,
        this.windowLength,
        wanted,
        this.windowStart + this.windowLength,
      )
      if (bytesRead === 0) {
        throw new GgufError('TRUNCATED', `Unexpected end of file while reading ${what} at offset ${this.position}`)
      }
      this.windowLength += bytesRead
    }
  }

  takeUint8(): number {
    return this.window[this.cursor++] as number
  }

  takeInt8(): number {
    return this.view.getInt8(this.cursor++)
  }

  takeUint16(): number {
    const value = this.view.getUint16(this.cursor, true)
    this.cursor += 2
    return value
  }

  takeInt16(): number {
    const value = this.view.getInt16(this.cursor, true)
    this.cursor += 2
    return value
  }

  takeUint32(): number {
    const value = this.view.getUint32(this.cursor, true)
    this.cursor += 4
    return value
  }

  takeInt32(): number {
    const value = this.view.getInt32(this.cursor, true)
    this.cursor += 4
    return value
  }

  takeFloat32(): number {
    const value = this.view.getFloat32(this.cursor, true)
    this.cursor += 4
    return value
  }

  takeFloat64(): number {
    const value = this.view.getFloat64(this.cursor, true)
    this.cursor += 8
    return value
  }

  takeUint64(): bigint {
    const value = this.view.getBigUint64(this.cursor, true)
    this.cursor += 8
    return value
  }

  takeInt64(): bigint {
    const value = this.view.getBigInt64(this.cursor, true)
    this.cursor += 8
    return value
  }

  /** Returns a view into the window; valid only until the next ensure(). */
  takeBytes(byteCount: number): Uint8Array {
    const bytes = this.window.subarray(this.cursor, this.cursor + byteCount)
    this.cursor += byteCount
    return bytes
  }

  /** Copies `byteCount` bytes (which may exceed the window size) into `target`. */
  async readInto(target: Uint8Array, what: string): Promise<void> {
    let copied = 0
    while (copied < target.length) {
      const step = Math.min(target.length - copied, this.window.length)
      const pending = this.ensure(step, what)
      if (pending) await pending
      target.set(this.takeBytes(step), copied)
      copied += step
    }
  }
}
