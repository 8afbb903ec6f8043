import { GgufError } from './errors.js'

/**
 * ggml tensor types by id, as in ggml.h of the llama.cpp build that node-llama-cpp 3.21.1 ships
 * (GGML_TYPE_COUNT = 43). Ids 4, 5, 31-33 and 36-38 were removed upstream and are not valid in files.
 * Block sizes and byte sizes were checked against that library's ggml_blck_size/ggml_type_size
 * (see ggml-parity.test.ts).
 */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const

export type GgmlTypeName = keyof typeof GgmlType
export type GgmlTypeId = (typeof GgmlType)[GgmlTypeName]

export interface GgmlTypeTraits {
  readonly id: GgmlTypeId
  readonly name: GgmlTypeName
  /** Elements per block; 1 for plain (non-block) types. */
  readonly blockSize: number
  /** Bytes per block. */
  readonly blockBytes: number
  readonly isQuantized: boolean
}

const traitsRows: ReadonlyArray<[GgmlTypeName, number, number, boolean]> = [
  ['F32', 1, 4, false],
  ['F16', 1, 2, false],
  ['Q4_0', 32, 18, true],
  ['Q4_1', 32, 20, true],
  ['Q5_0', 32, 22, true],
  ['Q5_1', 32, 24, true],
  ['Q8_0', 32, 34, true],
  ['Q8_1', 32, 36, true],
  ['Q2_K', 256, 84, true],
  ['Q3_K', 256, 110, true],
  ['Q4_K', 256, 144, true],
  ['Q5_K', 256, 176, true],
  ['Q6_K', 256, 210, true],
  ['Q8_K', 256, 292, true],
  ['IQ2_XXS', 256, 66, true],
  ['IQ2_XS', 256, 74, true],
  ['IQ3_XXS', 256, 98, true],
  ['IQ1_S', 256, 50, true],
  ['IQ4_NL', 32, 18, true],
  ['IQ3_S', 256, 110, true],
  ['IQ2_S', 256, 82, true],
  ['IQ4_XS', 256, 136, true],
  ['I8', 1, 1, false],
  ['I16', 1, 2, false],
  ['I32', 1, 4, false],
  ['I64', 1, 8, false],
  ['F64', 1, 8, false],
  ['IQ1_M', 256, 56, true],
  ['BF16', 1, 2, false],
  ['TQ1_0', 256, 54, true],
  ['TQ2_0', 256, 66, true],
  ['MXFP4', 32, 17, true],
  ['NVFP4', 64, 36, true],
  ['Q1_0', 128, 18, true],
  ['Q2_0', 64, 18, true],
]

const traitsById = new Map<number, GgmlTypeTraits>(
  traitsRows.map(([name, blockSize, blockBytes, isQuantized]) => [
    GgmlType[name],
    { id: GgmlType[name], name, blockSize, blockBytes, isQuantized },
  ]),
)

export function ggmlTypeTraits(type: number): GgmlTypeTraits | undefined {
  return traitsById.get(type)
}

export function requireGgmlTypeTraits(type: number): GgmlTypeTraits {
  const traits = traitsById.get(type)
  if (!traits) {
    throw new GgufError('UNKNOWN_TENSOR_TYPE', `Unknown or removed ggml tensor type id ${type}`)
  }
  return traits
}

export function ggmlTypeName(type: number): string {
  return traitsById.get(type)?.name ?? `UNKNOWN(${type})`
}

export function isGgmlTypeName(name: string): name is GgmlTypeName {
  return Object.hasOwn(GgmlType, name)
}

/** All ggml type ids this module knows, in id order. */
export function knownGgmlTypes(): GgmlTypeTraits[] {
  return [...traitsById.values()].sort((left, right) => left.id - right.id)
}

/** Byte size of a tensor, or an error when its row length is not a whole number of blocks. */
export function tensorByteSize(type: number, dims: readonly number[]): number {
  const traits = requireGgmlTypeTraits(type)
  const rowLength = dims[0] ?? 1
  if (rowLength % traits.blockSize !== 0) {
    throw new GgufError(
      'INVALID_TENSOR_INFO',
      `Row length ${rowLength} is not a multiple of the ${traits.name} block size ${traits.blockSize}`,
    )
  }
  const elements = elementCount(dims)
  return (elements / traits.blockSize) * traits.blockBytes
}

export function elementCount(dims: readonly number[]): number {
  let count = 1
  for (const dim of dims) count *= dim
  return count
}

/** Number of dimensions ignoring trailing 1s, like ggml_n_dims (a [64, 1] tensor is 1-D). */
export function effectiveDimensionCount(dims: readonly number[]): number {
  for (let index = dims.length - 1; index >= 1; index--) {
    if (dims[index] !== 1) return index + 1
  }
  return 1
}

/**
 * llama_ftype values written to `general.file_type` (llama.h). Numbers are part of the file format;
 * 4-6 and 33-35 were removed upstream.
 */
export const LlamaFileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q4_1: 3,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q5_1: 9,
  MOSTLY_Q2_K: 10,
  MOSTLY_Q3_K_S: 11,
  MOSTLY_Q3_K_M: 12,
  MOSTLY_Q3_K_L: 13,
  MOSTLY_Q4_K_S: 14,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16,
  MOSTLY_Q5_K_M: 17,
  MOSTLY_Q6_K: 18,
  MOSTLY_IQ2_XXS: 19,
  MOSTLY_IQ2_XS: 20,
  MOSTLY_Q2_K_S: 21,
  MOSTLY_IQ3_XS: 22,
  MOSTLY_IQ3_XXS: 23,
  MOSTLY_IQ1_S: 24,
  MOSTLY_IQ4_NL: 25,
  MOSTLY_IQ3_S: 26,
  MOSTLY_IQ3_M: 27,
  MOSTLY_IQ2_S: 28,
  MOSTLY_IQ2_M: 29,
  MOSTLY_IQ4_XS: 30,
  MOSTLY_IQ1_M: 31,
  MOSTLY_BF16: 32,
  MOSTLY_TQ1_0: 36,
  MOSTLY_TQ2_0: 37,
  MOSTLY_MXFP4_MOE: 38,
  MOSTLY_NVFP4: 39,
  MOSTLY_Q1_0: 40,
  MOSTLY_Q2_0: 41,
} as const

export type LlamaFileTypeName = keyof typeof LlamaFileType

const fileTypeNamesById = new Map<number, LlamaFileTypeName>(
  (Object.keys(LlamaFileType) as LlamaFileTypeName[]).map((name) => [LlamaFileType[name], name]),
)

export function llamaFileTypeName(fileType: number): string {
  return fileTypeNamesById.get(fileType) ?? `UNKNOWN(${fileType})`
}

// ---------------------------------------------------------------------------------------------
// GGUF metadata values
// ---------------------------------------------------------------------------------------------

/** On-disk ids of GGUF metadata value types. */
export const GgufValueTypeId = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const

export type GgufValueTypeName = keyof typeof GgufValueTypeId

const valueTypeNamesById = new Map<number, GgufValueTypeName>(
  (Object.keys(GgufValueTypeId) as GgufValueTypeName[]).map((name) => [GgufValueTypeId[name], name]),
)

export function ggufValueTypeName(id: number): GgufValueTypeName | undefined {
  return valueTypeNamesById.get(id)
}

export type GgufNumberTypeName = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'float64'
export type GgufBigIntTypeName = 'uint64' | 'int64'

export type GgufScalarValue =
  | { readonly type: GgufNumberTypeName; readonly value: number }
  | { readonly type: GgufBigIntTypeName; readonly value: bigint }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }

/**
 * Array element storage per element type. Numeric arrays use typed arrays because tokenizer
 * arrays (scores, token types) have hundreds of thousands of entries.
 */
export interface GgufArrayStorage {
  uint8: Uint8Array
  int8: Int8Array
  uint16: Uint16Array
  int16: Int16Array
  uint32: Uint32Array
  int32: Int32Array
  float32: Float32Array
  float64: Float64Array
  uint64: BigUint64Array
  int64: BigInt64Array
  bool: boolean[]
  string: string[]
  array: GgufArray[]
}

export type GgufArray = {
  [ElementType in keyof GgufArrayStorage]: {
    readonly elementType: ElementType
    readonly values: GgufArrayStorage[ElementType]
  }
}[keyof GgufArrayStorage]

export type GgufValue = GgufScalarValue | { readonly type: 'array'; readonly value: GgufArray }

export type GgufMetadata = Map<string, GgufValue>

/** Small constructors so metadata reads naturally where it is built (writer callers, tests). */
export const gguf = {
  uint8: (value: number): GgufValue => ({ type: 'uint8', value }),
  int8: (value: number): GgufValue => ({ type: 'int8', value }),
  uint16: (value: number): GgufValue => ({ type: 'uint16', value }),
  int16: (value: number): GgufValue => ({ type: 'int16', value }),
  uint32: (value: number): GgufValue => ({ type: 'uint32', value }),
  int32: (value: number): GgufValue => ({ type: 'int32', value }),
  float32: (value: number): GgufValue => ({ type: 'float32', value: Math.fround(value) }),
  float64: (value: number): GgufValue => ({ type: 'float64', value }),
  uint64: (value: bigint): GgufValue => ({ type: 'uint64', value }),
  int64: (value: bigint): GgufValue => ({ type: 'int64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  array: (value: GgufArray): GgufValue => ({ type: 'array', value }),
  stringArray: (values: string[]): GgufValue => ({ type: 'array', value: { elementType: 'string', values } }),
  float32Array: (values: Float32Array): GgufValue => ({ type: 'array', value: { elementType: 'float32', values } }),
  int32Array: (values: Int32Array): GgufValue => ({ type: 'array', value: { elementType: 'int32', values } }),
} as const

// ---------------------------------------------------------------------------------------------
// Parsed file structure
// ---------------------------------------------------------------------------------------------

export interface GgufTensorInfo {
  readonly name: string
  /** ggml order: dims[0] is the row length (innermost, contiguous). */
  readonly dims: readonly number[]
  readonly type: GgmlTypeId
  readonly typeName: GgmlTypeName
  readonly elementCount: number
  /** Offset relative to the start of the data section, as stored in the file. */
  readonly relativeOffset: number
  /** Absolute file offset of the first byte of the tensor's data. */
  readonly offset: number
  readonly byteSize: number
}

export interface GgufFile {
  readonly version: number
  readonly metadata: GgufMetadata
  readonly tensors: readonly GgufTensorInfo[]
  readonly alignment: number
  /** File offset right after the tensor info table (before alignment padding). */
  readonly headerEnd: number
  /** Absolute offset of the tensor data section. */
  readonly dataStart: number
  readonly fileSize: number
  /** Non-fatal oddities found while parsing (for example strings that are not valid UTF-8). */
  readonly warnings: readonly string[]
}

export const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian uint32
export const GGUF_DEFAULT_ALIGNMENT = 32
export const GGML_MAX_DIMS = 4
/** llama.cpp rejects tensor names of 64 bytes or more (GGML_MAX_NAME). */
export const GGML_MAX_NAME = 64
