import { randomBytes } from 'node:crypto'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'

import { GgufError, throwIfAborted } from './errors.js'
import { alignUp } from './reader.js'
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueTypeId,
  requireGgmlTypeTraits,
  tensorByteSize,
  type GgmlTypeId,
  type GgufArray,
  type GgufValue,
  type GgufValueTypeName,
} from './types.js'

/** Tensor bytes, either in memory or produced piece by piece so huge tensors never sit in memory. */
export type TensorDataSource = Uint8Array | (() => AsyncIterable<Uint8Array> | Iterable<Uint8Array>)

export interface GgufTensorToWrite {
  readonly name: string
  /** ggml order: dims[0] is the row length. */
  readonly dims: readonly number[]
  readonly type: GgmlTypeId
  readonly data: TensorDataSource
}

export interface GgufWriteInput {
  /** Written in iteration order. `general.alignment` (uint32), when present, sets the alignment. */
  readonly metadata: Iterable<readonly [string, GgufValue]>
  readonly tensors: readonly GgufTensorToWrite[]
}

export interface GgufWriteProgress {
  readonly tensorsWritten: number
  readonly tensorCount: number
  readonly bytesWritten: number
  readonly totalBytes: number
}

export interface GgufWriteOptions {
  signal?: AbortSignal
  onProgress?: (progress: GgufWriteProgress) => void
  /**
   * Write to a temporary sibling file and rename it into place at the end, so readers never see a
   * half-written model and a failure leaves no partial file behind. Default true.
   */
  atomic?: boolean
}

export interface GgufWriteResult {
  readonly fileSize: number
  readonly dataStart: number
  readonly alignment: number
  /** Relative data offset of each tensor, in input order. */
  readonly tensorOffsets: readonly number[]
}

export interface EncodedGgufHeader {
  /** Header bytes including the padding up to the data section. */
  readonly bytes: Uint8Array
  readonly dataStart: number
  readonly alignment: number
  readonly tensorOffsets: readonly number[]
  readonly tensorByteSizes: readonly number[]
  /** Data section size including padding after every tensor. */
  readonly dataBytes: number
}

/** Encodes a GGUF v3 header (magic through tensor table, plus padding to the data section). */
export function encodeGgufHeader(
  input: Pick<GgufWriteInput, 'metadata'> & { tensors: ReadonlyArray<Omit<GgufTensorToWrite, 'data'>> },
): EncodedGgufHeader {
  const entries = [...input.metadata]
  const alignment = alignmentOf(entries)
  const keys = new Set<string>()
  for (const [key] of entries) {
    if (key.length === 0) throw new GgufError('INVALID_METADATA', 'Metadata keys must not be empty')
    if (keys.has(key)) throw new GgufError('DUPLICATE_KEY', `Metadata key "${key}" given more than once`)
    keys.add(key)
  }

  const names = new Set<string>()
  const tensorOffsets: number[] = []
  const tensorByteSizes: number[] = []
  let dataBytes = 0
  for (const tensor of input.tensors) {
    if (names.has(tensor.name)) throw new GgufError('DUPLICATE_TENSOR', `Tensor "${tensor.name}" given more than once`)
    names.add(tensor.name)
    if (tensor.dims.length === 0 || tensor.dims.length > GGML_MAX_DIMS) {
      throw new GgufError('INVALID_TENSOR_INFO', `Tensor "${tensor.name}" must have 1 to ${GGML_MAX_DIMS} dimensions`)
    }
    for (const dim of tensor.dims) {
      if (!Number.isSafeInteger(dim) || dim < 0) {
        throw new GgufError('INVALID_TENSOR_INFO', `Tensor "${tensor.name}" has invalid dimension ${dim}`)
      }
    }
    requireGgmlTypeTraits(tensor.type)
    const byteSize = tensorByteSize(tensor.type, tensor.dims)
    tensorOffsets.push(dataBytes)
    tensorByteSizes.push(byteSize)
    // ggml expects every tensor, including the last, to be followed by padding.
    dataBytes += alignUp(byteSize, alignment)
  }

  const out = new ByteSink()
  out.uint32(GGUF_MAGIC)
  out.uint32(3)
  out.uint64(BigInt(input.tensors.length))
  out.uint64(BigInt(entries.length))
  for (const [key, value] of entries) {
    out.string(key)
    out.uint32(GgufValueTypeId[value.type])
    writeValue(out, value, key)
  }
  input.tensors.forEach((tensor, index) => {
    out.string(tensor.name)
    out.uint32(tensor.dims.length)
    for (const dim of tensor.dims) out.uint64(BigInt(dim))
    out.uint32(tensor.type)
    out.uint64(BigInt(tensorOffsets[index] ?? 0))
  })
  const headerEnd = out.length
  const dataStart = input.tensors.length > 0 ? alignUp(headerEnd, alignment) : headerEnd
  out.zeros(dataStart - headerEnd)
  return { bytes: out.toBytes(), dataStart, alignment, tensorOffsets, tensorByteSizes, dataBytes }
}

/** Writes a GGUF v3 file, streaming tensor data one tensor (and one chunk) at a time. */
export async function writeGgufFile(
  path: string,
  input: GgufWriteInput,
  options: GgufWriteOptions = {},
): Promise<GgufWriteResult> {
  const header = encodeGgufHeader(input)
  const atomic = options.atomic ?? true
  const targetPath = atomic ? `${path}.partial-${randomBytes(4).toString('hex')}` : path
  const handle = await open(targetPath, 'w')
  let succeeded = false
  try {
    const sink = new FileSink(handle)
    await sink.write(header.bytes)
    const totalBytes = header.dataStart + header.dataBytes
    for (const [index, tensor] of input.tensors.entries()) {
      throwIfAborted(options.signal, `Writing "${path}"`)
      const expected = header.tensorByteSizes[index] ?? 0
      let written = 0
      for await (const chunk of chunksOf(tensor.data)) {
        throwIfAborted(options.signal, `Writing "${path}"`)
        written += chunk.length
        if (written > expected) break
        await sink.write(chunk)
      }
      if (written !== expected) {
        throw new GgufError(
          'TENSOR_DATA_SIZE_MISMATCH',
          `Tensor "${tensor.name}" supplied ${written > expected ? 'more than' : 'only'} ${written} bytes, expected ${expected}`,
        )
      }
      await sink.zeros(alignUp(expected, header.alignment) - expected)
      options.onProgress?.({
        tensorsWritten: index + 1,
        tensorCount: input.tensors.length,
        bytesWritten: sink.position,
        totalBytes,
      })
    }
    await sink.flush()
    if (input.tensors.length === 0) {
      options.onProgress?.({ tensorsWritten: 0, tensorCount: 0, bytesWritten: sink.position, totalBytes })
    }
    await handle.sync()
    succeeded = true
    return {
      fileSize: sink.position,
      dataStart: header.dataStart,
      alignment: header.alignment,
      tensorOffsets: header.tensorOffsets,
    }
  } finally {
    await handle.close()
    if (atomic) {
      if (succeeded) await rename(targetPath, path)
      else await rm(targetPath, { force: true })
    } else if (!succeeded) {
      await rm(targetPath, { force: true })
    }
  }
}

async function* chunksOf(source: TensorDataSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source
    return
  }
  yield* source()
}

function alignmentOf(entries: ReadonlyArray<readonly [string, GgufValue]>): number {
  const entry = entries.find(([key]) => key === 'general.alignment')
  if (!entry) return GGUF_DEFAULT_ALIGNMENT
  const value = entry[1]
  if (value.type !== 'uint32' || value.value === 0 || (value.value & (value.value - 1)) !== 0) {
    throw new GgufError('INVALID_ALIGNMENT', 'general.alignment must be a uint32 power of two')
  }
  return value.value
}

function writeValue(out: ByteSink, value: GgufValue, key: string): void {
  switch (value.type) {
    case 'array':
      writeArray(out, value.value, key)
      return
    case 'string':
      out.string(value.value)
      return
    case 'bool':
      out.uint8(value.value ? 1 : 0)
      return
    case 'uint64':
      out.uint64(checkedBigInt(value.value, 0n, 0xffffffffffffffffn, key))
      return
    case 'int64':
      out.int64(checkedBigInt(value.value, -(2n ** 63n), 2n ** 63n - 1n, key))
      return
    default:
      writeNumber(out, value.type, value.value, key)
  }
}

const integerRanges: Record<string, readonly [number, number]> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
}

function writeNumber(out: ByteSink, type: GgufValueTypeName, value: number, key: string): void {
  const range = integerRanges[type]
  if (range && (!Number.isInteger(value) || value < range[0] || value > range[1])) {
    throw new GgufError('INVALID_METADATA', `Metadata "${key}": ${value} is not a valid ${type}`)
  }
  switch (type) {
    case 'uint8':
      out.uint8(value)
      return
    case 'int8':
      out.int8(value)
      return
    case 'uint16':
      out.uint16(value)
      return
    case 'int16':
      out.int16(value)
      return
    case 'uint32':
      out.uint32(value)
      return
    case 'int32':
      out.int32(value)
      return
    case 'float32':
      out.float32(value)
      return
    case 'float64':
      out.float64(value)
      return
    default:
      throw new GgufError('INVALID_METADATA', `Metadata "${key}": ${type} is not a numeric type`)
  }
}

function checkedBigInt(value: bigint, min: bigint, max: bigint, key: string): bigint {
  if (value < min || value > max) {
    throw new GgufError('INVALID_METADATA', `Metadata "${key}": ${value} is out of range`)
  }
  return value
}

function writeArray(out: ByteSink, array: GgufArray, key: string): void {
  out.uint32(GgufValueTypeId[array.elementType])
  out.uint64(BigInt(array.values.length))
  switch (array.elementType) {
    case 'string':
      for (const item of array.values) out.string(item)
      return
    case 'array':
      array.values.forEach((item, index) => writeArray(out, item, `${key}[${index}]`))
      return
    case 'bool':
      for (const item of array.values) out.uint8(item ? 1 : 0)
      return
    default:
      out.typedArray(array.values)
  }
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Growable little-endian byte buffer for the header (metadata can be tens of MB for big vocabularies). */
class ByteSink {
  private buffer = new Uint8Array(64 * 1024)
  private view = new DataView(this.buffer.buffer)
  private used = 0
  private readonly encoder = new TextEncoder()

  get length(): number {
    return this.used
  }

  private reserve(byteCount: number): number {
    const needed = this.used + byteCount
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2
      while (capacity < needed) capacity *= 2
      const grown = new Uint8Array(capacity)
      grown.set(this.buffer.subarray(0, this.used))
      this.buffer = grown
      this.view = new DataView(grown.buffer)
    }
    const at = this.used
    this.used = needed
    return at
  }

  // Every writer calls reserve() before reading this.buffer/this.view: reserve may replace them, and
  // `this.view.setX(this.reserve(n), ...)` would evaluate the old view before growing.
  uint8(value: number): void {
    const at = this.reserve(1)
    this.view.setUint8(at, value)
  }
  int8(value: number): void {
    const at = this.reserve(1)
    this.view.setInt8(at, value)
  }
  uint16(value: number): void {
    const at = this.reserve(2)
    this.view.setUint16(at, value, true)
  }
  int16(value: number): void {
    const at = this.reserve(2)
    this.view.setInt16(at, value, true)
  }
  uint32(value: number): void {
    const at = this.reserve(4)
    this.view.setUint32(at, value, true)
  }
  int32(value: number): void {
    const at = this.reserve(4)
    this.view.setInt32(at, value, true)
  }
  float32(value: number): void {
    const at = this.reserve(4)
    this.view.setFloat32(at, value, true)
  }
  float64(value: number): void {
    const at = this.reserve(8)
    this.view.setFloat64(at, value, true)
  }
  uint64(value: bigint): void {
    const at = this.reserve(8)
    this.view.setBigUint64(at, value, true)
  }
  int64(value: bigint): void {
    const at = this.reserve(8)
    this.view.setBigInt64(at, value, true)
  }
  string(value: string): void {
    const bytes = this.encoder.encode(value)
    this.uint64(BigInt(bytes.length))
    const at = this.reserve(bytes.length)
    this.buffer.set(bytes, at)
  }
  zeros(byteCount: number): void {
    const at = this.reserve(byteCount)
    this.buffer.fill(0, at, this.used)
  }
  typedArray(values: ArrayBufferView & { readonly BYTES_PER_ELEMENT: number }): void {
    // Typed arrays copy raw bytes, keeping float32 bit patterns (including NaN payloads) exact.
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
    const at = this.reserve(bytes.length)
    this.buffer.set(bytes, at)
    if (!hostIsLittleEndian) {
      const width = values.BYTES_PER_ELEMENT
      for (let start = at; start < this.used; start += width) this.buffer.subarray(start, start + width).reverse()
    }
  }
  toBytes(): Uint8Array {
    return this.buffer.subarray(0, this.used)
  }
}

/** Coalesces small writes (padding, small tensors) into 1 MiB file writes. */
class FileSink {
  private readonly pending = Buffer.allocUnsafe(1024 * 1024)
  private pendingLength = 0
  /** File offset where the next flushed byte lands. */
  private filePosition = 0
  /** Bytes accepted so far (flushed or pending). */
  position = 0

  constructor(private readonly handle: FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    this.position += bytes.length
    if (bytes.length >= this.pending.length) {
      await this.flush()
      await this.writeFully(bytes)
      return
    }
    if (this.pendingLength + bytes.length > this.pending.length) await this.flush()
    this.pending.set(bytes, this.pendingLength)
    this.pendingLength += bytes.length
  }

  async zeros(byteCount: number): Promise<void> {
    if (byteCount > 0) await this.write(new Uint8Array(byteCount))
  }

  async flush(): Promise<void> {
    if (this.pendingLength === 0) return
    const bytes = this.pending.subarray(0, this.pendingLength)
    this.pendingLength = 0
    await this.writeFully(bytes)
  }

  private async writeFully(bytes: Uint8Array): Promise<void> {
    let done = 0
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.filePosition)
      done += bytesWritten
      this.filePosition += bytesWritten
    }
  }
}
