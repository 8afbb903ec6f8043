import { open, type FileHandle } from 'node:fs/promises'

import { BufferedReader } from './buffered-reader.js'
import { GgufError, throwIfAborted } from './errors.js'
import {
  GGML_MAX_DIMS,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  ggufValueTypeName,
  requireGgmlTypeTraits,
  type GgufArray,
  type GgufFile,
  type GgufMetadata,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueTypeName,
} from './types.js'

export interface GgufReadLimits {
  /** Longest accepted string (key, value, tensor name). ggml allows 1 GiB; V8 strings cap near 512 MiB. */
  maxStringBytes: number
  /** Most elements in one metadata array (real vocabularies are well under a million). */
  maxArrayElements: number
  maxTensorCount: number
  maxMetadataCount: number
  /** Nesting depth for arrays of arrays; ggml itself accepts none. */
  maxArrayDepth: number
}

export const defaultReadLimits: GgufReadLimits = {
  maxStringBytes: 256 * 1024 * 1024,
  maxArrayElements: 64 * 1024 * 1024,
  maxTensorCount: 1024 * 1024,
  maxMetadataCount: 1024 * 1024,
  maxArrayDepth: 8,
}

export interface GgufReadOptions {
  /** Bytes read per syscall while parsing the header. */
  chunkSize?: number
  limits?: Partial<GgufReadLimits>
}

/** Parses the header of a GGUF file at `path` (metadata and tensor table); tensor data is not read. */
export async function readGgufFile(path: string, options: GgufReadOptions = {}): Promise<GgufFile> {
  const handle = await open(path, 'r')
  try {
    return await readGguf(handle, options)
  } finally {
    await handle.close()
  }
}

const MIN_BYTES_PER_KV = 8 + 4 // key length + value type (a zero-length key is rejected separately)
const MIN_BYTES_PER_TENSOR_INFO = 8 + 4 + 4 + 8 // name length + n_dims + type + offset

const fixedValueSizes: Partial<Record<GgufValueTypeName, number>> = {
  uint8: 1,
  int8: 1,
  bool: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  uint64: 8,
  int64: 8,
  float64: 8,
}

export async function readGguf(handle: FileHandle, options: GgufReadOptions = {}): Promise<GgufFile> {
  const limits: GgufReadLimits = { ...defaultReadLimits, ...options.limits }
  const { size: fileSize } = await handle.stat()
  const reader = new BufferedReader(handle, fileSize, options.chunkSize ?? 1024 * 1024)
  const parser = new HeaderParser(reader, limits)
  return parser.parse()
}

class HeaderParser {
  private readonly warnings: string[] = []
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true })
  private readonly lossyUtf8 = new TextDecoder('utf-8')

  constructor(
    private readonly reader: BufferedReader,
    private readonly limits: GgufReadLimits,
  ) {}

  async parse(): Promise<GgufFile> {
    const reader = this.reader
    if (reader.fileSize < 4) {
      throw new GgufError('BAD_MAGIC', `Not a GGUF file: only ${reader.fileSize} bytes long`)
    }
    await reader.ensure(4, 'magic')
    const magic = reader.takeUint32()
    if (magic !== GGUF_MAGIC) {
      throw new GgufError(
        'BAD_MAGIC',
        `Not a GGUF file: magic is 0x${magic.toString(16).padStart(8, '0')}, expected "GGUF"`,
      )
    }

    await reader.ensure(4 + 8 + 8, 'header')
    const version = reader.takeUint32()
    if ((version & 0xffff) === 0 && version !== 0) {
      throw new GgufError(
        'UNSUPPORTED_VERSION',
        `GGUF version field 0x${version.toString(16)} looks byte-swapped: big-endian files are not supported`,
      )
    }
    if (version !== 2 && version !== 3) {
      throw new GgufError('UNSUPPORTED_VERSION', `Unsupported GGUF version ${version} (supported: 2 and 3)`)
    }
    const tensorCount = this.checkedCount(
      reader.takeUint64(),
      'tensor count',
      this.limits.maxTensorCount,
      MIN_BYTES_PER_TENSOR_INFO,
    )
    const metadataCount = this.checkedCount(
      reader.takeUint64(),
      'metadata entry count',
      this.limits.maxMetadataCount,
      MIN_BYTES_PER_KV,
    )

    const metadata: GgufMetadata = new Map()
    for (let index = 0; index < metadataCount; index++) {
      const key = await this.readString(`key of metadata entry ${index}`)
      if (metadata.has(key)) {
        throw new GgufError('DUPLICATE_KEY', `Metadata key "${key}" appears more than once`)
      }
      await reader.ensure(4, `value type of "${key}"`)
      const typeId = reader.takeUint32()
      const value = await this.readValue(typeId, key, 0)
      metadata.set(key, value)
    }

    const alignment = this.alignmentFrom(metadata)

    const pendingTensors: Array<Omit<GgufTensorInfo, 'offset'>> = []
    const tensorNames = new Set<string>()
    for (let index = 0; index < tensorCount; index++) {
      const tensor = await this.readTensorInfo(index)
      if (tensorNames.has(tensor.name)) {
        throw new GgufError('DUPLICATE_TENSOR', `Tensor name "${tensor.name}" appears more than once`)
      }
      tensorNames.add(tensor.name)
      pendingTensors.push(tensor)
    }

    const headerEnd = reader.position
    // Like ggml, the data section is only padded when there is at least one tensor.
    const dataStart = tensorCount > 0 ? alignUp(headerEnd, alignment) : headerEnd
    if (tensorCount > 0 && dataStart > reader.fileSize) {
      throw new GgufError(
        'TRUNCATED',
        `File ends before the tensor data section (starts at ${dataStart}, file size ${reader.fileSize})`,
      )
    }

    const tensors: GgufTensorInfo[] = pendingTensors.map((tensor) => {
      const offset = dataStart + tensor.relativeOffset
      if (!Number.isSafeInteger(offset) || offset + tensor.byteSize > reader.fileSize) {
        throw new GgufError(
          'TENSOR_OUT_OF_BOUNDS',
          `Tensor "${tensor.name}" data [${offset}, ${offset + tensor.byteSize}) lies beyond the end of the file (${reader.fileSize} bytes)`,
        )
      }
      return { ...tensor, offset }
    })

    return {
      version,
      metadata,
      tensors,
      alignment,
      headerEnd,
      dataStart,
      fileSize: reader.fileSize,
      warnings: this.warnings,
    }
  }

  /**
   * Counts come straight from the file; a corrupt header can claim 2^64 entries. Besides a hard
   * limit, each entry needs some minimum bytes, so a count that cannot fit in the rest of the file
   * is rejected before anything is allocated for it.
   */
  private checkedCount(raw: bigint, what: string, limit: number, minBytesEach: number): number {
    if (raw > BigInt(limit)) {
      throw new GgufError('COUNT_TOO_LARGE', `The ${what} ${raw} exceeds the limit of ${limit}`)
    }
    const count = Number(raw)
    if (count * minBytesEach > this.reader.remainingInFile) {
      throw new GgufError(
        'COUNT_TOO_LARGE',
        `The ${what} ${count} cannot fit in the remaining ${this.reader.remainingInFile} bytes of the file (truncated or corrupt header)`,
      )
    }
    return count
  }

  private async readString(what: string): Promise<string> {
    const reader = this.reader
    const pending = reader.ensure(8, what)
    if (pending) await pending
    const rawLength = reader.takeUint64()
    if (rawLength > BigInt(this.limits.maxStringBytes)) {
      throw new GgufError(
        'STRING_TOO_LONG',
        `The ${what} claims ${rawLength} bytes, over the limit of ${this.limits.maxStringBytes}`,
      )
    }
    const length = Number(rawLength)
    if (length > reader.remainingInFile) {
      throw new GgufError(
        'TRUNCATED',
        `The ${what} claims ${length} bytes but only ${reader.remainingInFile} remain in the file`,
      )
    }
    const pendingBytes = reader.ensure(length, what)
    if (pendingBytes) await pendingBytes
    return this.decodeUtf8(reader.takeBytes(length), what)
  }

  private decodeUtf8(bytes: Uint8Array, what: string): string {
    try {
      return this.utf8.decode(bytes)
    } catch {
      // Keep parsing (the file may still be loadable), but record that re-writing it would
      // replace the invalid bytes; the quantizer refuses such files instead of corrupting them.
      this.warnings.push(`The ${what} is not valid UTF-8; invalid bytes were replaced with U+FFFD`)
      return this.lossyUtf8.decode(bytes)
    }
  }

  private async readValue(typeId: number, key: string, depth: number): Promise<GgufValue> {
    const typeName = ggufValueTypeName(typeId)
    if (typeName === undefined) {
      throw new GgufError('UNKNOWN_VALUE_TYPE', `Metadata "${key}" has unknown value type id ${typeId}`)
    }
    const reader = this.reader
    if (typeName === 'string') {
      return { type: 'string', value: await this.readString(`string value of "${key}"`) }
    }
    if (typeName === 'array') {
      return { type: 'array', value: await this.readArray(key, depth + 1) }
    }
    const size = fixedValueSizes[typeName] ?? 0
    const pending = reader.ensure(size, `value of "${key}"`)
    if (pending) await pending
    switch (typeName) {
      case 'uint8':
        return { type: typeName, value: reader.takeUint8() }
      case 'int8':
        return { type: typeName, value: reader.takeInt8() }
      case 'uint16':
        return { type: typeName, value: reader.takeUint16() }
      case 'int16':
        return { type: typeName, value: reader.takeInt16() }
      case 'uint32':
        return { type: typeName, value: reader.takeUint32() }
      case 'int32':
        return { type: typeName, value: reader.takeInt32() }
      case 'float32':
        return { type: typeName, value: reader.takeFloat32() }
      case 'float64':
        return { type: typeName, value: reader.takeFloat64() }
      case 'uint64':
        return { type: typeName, value: reader.takeUint64() }
      case 'int64':
        return { type: typeName, value: reader.takeInt64() }
      case 'bool':
        // ggml treats any non-zero byte as true.
        return { type: typeName, value: reader.takeUint8() !== 0 }
    }
  }

  private async readArray(key: string, depth: number): Promise<GgufArray> {
    const reader = this.reader
    if (depth > this.limits.maxArrayDepth) {
      throw new GgufError(
        'COUNT_TOO_LARGE',
        `Metadata "${key}" nests arrays deeper than ${this.limits.maxArrayDepth} levels`,
      )
    }
    await reader.ensure(4 + 8, `array header of "${key}"`)
    const elementTypeId = reader.takeUint32()
    const elementType = ggufValueTypeName(elementTypeId)
    if (elementType === undefined) {
      throw new GgufError('UNKNOWN_VALUE_TYPE', `Array "${key}" has unknown element type id ${elementTypeId}`)
    }
    const rawCount = reader.takeUint64()
    const minBytesEach =
      elementType === 'string' ? 8 : elementType === 'array' ? 12 : (fixedValueSizes[elementType] ?? 1)
    const count = this.checkedCount(
      rawCount,
      `element count of array "${key}"`,
      this.limits.maxArrayElements,
      minBytesEach,
    )

    switch (elementType) {
      case 'string': {
        const values = new Array<string>(count)
        for (let index = 0; index < count; index++) {
          values[index] = await this.readString(`element ${index} of "${key}"`)
        }
        return { elementType, values }
      }
      case 'array': {
        const values = new Array<GgufArray>(count)
        for (let index = 0; index < count; index++) {
          values[index] = await this.readArray(`${key}[${index}]`, depth + 1)
        }
        return { elementType, values }
      }
      case 'bool': {
        const bytes = new Uint8Array(count)
        await reader.readInto(bytes, `array "${key}"`)
        return { elementType, values: Array.from(bytes, (byte) => byte !== 0) }
      }
      default: {
        const bytes = new Uint8Array(count * minBytesEach)
        await reader.readInto(bytes, `array "${key}"`)
        return numericArrayFromLittleEndian(elementType, bytes)
      }
    }
  }

  private alignmentFrom(metadata: GgufMetadata): number {
    const value = metadata.get('general.alignment')
    if (value === undefined) return GGUF_DEFAULT_ALIGNMENT
    if (value.type !== 'uint32') {
      throw new GgufError('INVALID_ALIGNMENT', `general.alignment must be a uint32, found ${value.type}`)
    }
    const alignment = value.value
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      throw new GgufError('INVALID_ALIGNMENT', `general.alignment ${alignment} is not a power of two`)
    }
    return alignment
  }

  private async readTensorInfo(index: number): Promise<Omit<GgufTensorInfo, 'offset'>> {
    const reader = this.reader
    const name = await this.readString(`name of tensor ${index}`)
    await reader.ensure(4, `dimension count of tensor "${name}"`)
    const dimensionCount = reader.takeUint32()
    if (dimensionCount > GGML_MAX_DIMS) {
      throw new GgufError(
        'INVALID_TENSOR_INFO',
        `Tensor "${name}" has ${dimensionCount} dimensions (at most ${GGML_MAX_DIMS} are allowed)`,
      )
    }
    await reader.ensure(dimensionCount * 8 + 4 + 8, `shape of tensor "${name}"`)
    const dims: number[] = []
    let elements = 1n
    for (let dimension = 0; dimension < dimensionCount; dimension++) {
      const raw = reader.takeInt64()
      if (raw < 0n) {
        throw new GgufError('INVALID_TENSOR_INFO', `Tensor "${name}" has negative dimension ${raw}`)
      }
      elements *= raw
      dims.push(Number(raw))
    }
    if (elements > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new GgufError(
        'INVALID_TENSOR_INFO',
        `Tensor "${name}" claims ${elements} elements, which is not a plausible size`,
      )
    }
    const typeId = reader.takeUint32()
    const traits = (() => {
      try {
        return requireGgmlTypeTraits(typeId)
      } catch (error) {
        throw new GgufError('UNKNOWN_TENSOR_TYPE', `Tensor "${name}" has unknown or removed ggml type id ${typeId}`, {
          cause: error,
        })
      }
    })()
    const rowLength = dims[0] ?? 1
    if (rowLength % traits.blockSize !== 0) {
      throw new GgufError(
        'INVALID_TENSOR_INFO',
        `Tensor "${name}" has rows of ${rowLength} elements, not a multiple of the ${traits.name} block size ${traits.blockSize}`,
      )
    }
    const elementCount = Number(elements)
    const byteSize = (elementCount / traits.blockSize) * traits.blockBytes
    const rawOffset = reader.takeUint64()
    if (rawOffset > BigInt(reader.fileSize)) {
      throw new GgufError(
        'TENSOR_OUT_OF_BOUNDS',
        `Tensor "${name}" has data offset ${rawOffset}, beyond the end of the file (${reader.fileSize} bytes)`,
      )
    }
    return {
      name,
      dims,
      type: traits.id,
      typeName: traits.name,
      elementCount,
      relativeOffset: Number(rawOffset),
      byteSize,
    }
  }
}

export function alignUp(value: number, alignment: number): number {
  const remainder = value % alignment
  return remainder === 0 ? value : value + alignment - remainder
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

type NumericElementType = Exclude<GgufValueTypeName, 'string' | 'array' | 'bool'>

/** Builds a typed array from little-endian file bytes (copied, so the result is properly aligned). */
function numericArrayFromLittleEndian(elementType: NumericElementType, bytes: Uint8Array): GgufArray {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  if (!hostIsLittleEndian) swapBytesInPlace(new Uint8Array(buffer), fixedValueSizes[elementType] ?? 1)
  switch (elementType) {
    case 'uint8':
      return { elementType, values: new Uint8Array(buffer) }
    case 'int8':
      return { elementType, values: new Int8Array(buffer) }
    case 'uint16':
      return { elementType, values: new Uint16Array(buffer) }
    case 'int16':
      return { elementType, values: new Int16Array(buffer) }
    case 'uint32':
      return { elementType, values: new Uint32Array(buffer) }
    case 'int32':
      return { elementType, values: new Int32Array(buffer) }
    case 'float32':
      return { elementType, values: new Float32Array(buffer) }
    case 'float64':
      return { elementType, values: new Float64Array(buffer) }
    case 'uint64':
      return { elementType, values: new BigUint64Array(buffer) }
    case 'int64':
      return { elementType, values: new BigInt64Array(buffer) }
  }
}

export function swapBytesInPlace(bytes: Uint8Array, width: number): void {
  if (width === 1) return
  for (let start = 0; start < bytes.length; start += width) {
    bytes.subarray(start, start + width).reverse()
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor data access
// ---------------------------------------------------------------------------------------------

export interface TensorRowChunk {
  readonly firstRow: number
  readonly rowCount: number
  /** Raw tensor bytes for rows [firstRow, firstRow + rowCount). Reused between iterations. */
  readonly bytes: Uint8Array
}

export interface TensorRowReadOptions {
  /** Upper bound for one chunk; at least one whole row is always returned. */
  maxChunkBytes?: number
  signal?: AbortSignal
}

export function tensorRowCount(tensor: GgufTensorInfo): number {
  const rowLength = tensor.dims[0] ?? 1
  return rowLength === 0 ? 0 : tensor.elementCount / rowLength
}

/**
 * Streams a tensor's data as groups of whole rows, so large tensors are processed with bounded
 * memory. The yielded buffer is reused: consume or copy it before asking for the next chunk.
 */
export async function* readTensorRows(
  handle: FileHandle,
  tensor: GgufTensorInfo,
  options: TensorRowReadOptions = {},
): AsyncGenerator<TensorRowChunk> {
  const rows = tensorRowCount(tensor)
  if (rows === 0 || tensor.byteSize === 0) return
  const rowBytes = tensor.byteSize / rows
  const rowsPerChunk = Math.max(1, Math.floor((options.maxChunkBytes ?? 4 * 1024 * 1024) / rowBytes))
  // A fresh ArrayBuffer (offset 0) so callers can view F32/F16 rows as typed arrays without copying.
  const buffer = new Uint8Array(Math.min(rows, rowsPerChunk) * rowBytes)
  for (let firstRow = 0; firstRow < rows; firstRow += rowsPerChunk) {
    throwIfAborted(options.signal, `Reading tensor "${tensor.name}"`)
    const rowCount = Math.min(rowsPerChunk, rows - firstRow)
    const bytes = buffer.subarray(0, rowCount * rowBytes)
    await readExactly(handle, bytes, tensor.offset + firstRow * rowBytes, `tensor "${tensor.name}"`)
    yield { firstRow, rowCount, bytes }
  }
}

/** Reads a whole tensor into memory; meant for small tensors (norms, tests), not for weights. */
export async function readTensorBytes(handle: FileHandle, tensor: GgufTensorInfo): Promise<Uint8Array> {
  const bytes = new Uint8Array(tensor.byteSize)
  await readExactly(handle, bytes, tensor.offset, `tensor "${tensor.name}"`)
  return bytes
}

async function readExactly(handle: FileHandle, target: Uint8Array, position: number, what: string): Promise<void> {
  let done = 0
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done)
    if (bytesRead === 0) {
      throw new GgufError('TRUNCATED', `File ends while reading ${what} at offset ${position + done}`)
    }
    done += bytesRead
  }
}
