/**
 * Shared fixtures for this folder's tests (not exported from index.ts). Files are generated at
 * test time into temporary directories; nothing is checked in.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { ImatrixContents, ImatrixStatistics } from './imatrix.js'
import { createSeededRandom } from './tiny-model.js'
import { gguf, GgmlType, type GgufFile, type GgufValue } from './types.js'
import type { GgufTensorToWrite } from './writer.js'

export async function withTemporaryDirectory<T>(run: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'larder-gguf-'))
  try {
    return await run(directory)
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

/** One entry for every GGUF value type, including edge values and arrays of every element type. */
export function everyValueTypeMetadata(options: { includeNestedArrays: boolean }): Array<[string, GgufValue]> {
  const entries: Array<[string, GgufValue]> = [
    ['general.architecture', gguf.string('test')],
    ['test.uint8', gguf.uint8(255)],
    ['test.int8', gguf.int8(-128)],
    ['test.uint16', gguf.uint16(65535)],
    ['test.int16', gguf.int16(-32768)],
    ['test.uint32', gguf.uint32(4294967295)],
    ['test.int32', gguf.int32(-2147483648)],
    ['test.float32', gguf.float32(-1.5e-42)], // a float32 subnormal
    ['test.float32.infinity', gguf.float32(Number.NEGATIVE_INFINITY)],
    ['test.float64', gguf.float64(Math.PI)],
    ['test.uint64', gguf.uint64(18446744073709551615n)],
    ['test.int64', gguf.int64(-9223372036854775808n)],
    ['test.bool.true', gguf.bool(true)],
    ['test.bool.false', gguf.bool(false)],
    ['test.string', gguf.string('héllo wörld ✓ 🚀 \u0000 nul inside')],
    ['test.string.empty', gguf.string('')],
    ['test.array.uint8', gguf.array({ elementType: 'uint8', values: Uint8Array.from([0, 1, 255]) })],
    ['test.array.int8', gguf.array({ elementType: 'int8', values: Int8Array.from([-128, 0, 127]) })],
    ['test.array.uint16', gguf.array({ elementType: 'uint16', values: Uint16Array.from([0, 65535]) })],
    ['test.array.int16', gguf.array({ elementType: 'int16', values: Int16Array.from([-32768, 32767]) })],
    ['test.array.uint32', gguf.array({ elementType: 'uint32', values: Uint32Array.from([0, 4294967295]) })],
    ['test.array.int32', gguf.array({ elementType: 'int32', values: Int32Array.from([-2147483648, 7]) })],
    [
      'test.array.float32',
      gguf.array({
        elementType: 'float32',
        values: Float32Array.from([0.1, -0, Number.POSITIVE_INFINITY, 3.4028234663852886e38]),
      }),
    ],
    [
      'test.array.float64',
      gguf.array({ elementType: 'float64', values: Float64Array.from([Number.MIN_VALUE, -1e308]) }),
    ],
    [
      'test.array.uint64',
      gguf.array({ elementType: 'uint64', values: BigUint64Array.from([0n, 18446744073709551615n]) }),
    ],
    [
      'test.array.int64',
      gguf.array({ elementType: 'int64', values: BigInt64Array.from([-9223372036854775808n, 9223372036854775807n]) }),
    ],
    ['test.array.bool', gguf.array({ elementType: 'bool', values: [true, false, true] })],
    ['test.array.string', gguf.array({ elementType: 'string', values: ['a', '', 'ü✓', 'x'.repeat(3000)] })],
    ['test.array.empty', gguf.array({ elementType: 'float32', values: new Float32Array(0) })],
  ]
  if (options.includeNestedArrays) {
    entries.push([
      'test.array.nested',
      gguf.array({
        elementType: 'array',
        values: [
          { elementType: 'int32', values: Int32Array.from([1, 2, 3]) },
          { elementType: 'string', values: ['deep'] },
          { elementType: 'array', values: [{ elementType: 'bool', values: [true] }] },
        ],
      }),
    ])
  }
  return entries
}

/** A few small tensors of several types and ranks with recognizable bytes. */
export function sampleTensors(): GgufTensorToWrite[] {
  const bytes = (count: number, seed: number): Uint8Array =>
    Uint8Array.from({ length: count }, (_, index) => (index * 31 + seed) & 0xff)
  return [
    { name: 'vector.f32', dims: [5], type: GgmlType.F32, data: bytes(20, 1) },
    { name: 'matrix.f16', dims: [3, 7], type: GgmlType.F16, data: bytes(42, 2) },
    { name: 'matrix.q4_0', dims: [64, 3], type: GgmlType.Q4_0, data: bytes(6 * 18, 3) },
    // Streamed in uneven pieces to exercise chunked writing.
    {
      name: 'cube.q8_0',
      dims: [32, 2, 3],
      type: GgmlType.Q8_0,
      data: function* () {
        const all = bytes(6 * 34, 4)
        yield all.subarray(0, 1)
        yield all.subarray(1, 100)
        yield all.subarray(100)
      },
    },
    { name: 'empty.f32', dims: [0, 4], type: GgmlType.F32, data: new Uint8Array(0) },
    { name: 'ids.i32', dims: [3], type: GgmlType.I32, data: bytes(12, 5) },
  ]
}

/** Metadata and tensor edits applied to a GGUF file by `rewriteGguf`. */
export interface GgufEdits {
  set?: Array<[string, GgufValue]>
  drop?: string[]
  dropTensors?: string[]
  extraTensors?: GgufTensorToWrite[]
  renameTensors?: Record<string, string>
}

/** Re-writes `source` into `target` with the edits (the tensors' bytes are copied unchanged). */
export async function rewriteGguf(source: string, target: string, edits: GgufEdits): Promise<void> {
  const { readGgufFile, readTensorBytes } = await import('./reader.js')
  const { writeGgufFile } = await import('./writer.js')
  const { open } = await import('node:fs/promises')
  const file = await readGgufFile(source)
  const metadata = new Map(file.metadata)
  for (const key of edits.drop ?? []) metadata.delete(key)
  for (const [key, value] of edits.set ?? []) metadata.set(key, value)
  const handle = await open(source, 'r')
  const tensors: GgufTensorToWrite[] = []
  try {
    for (const tensor of file.tensors) {
      if (edits.dropTensors?.includes(tensor.name)) continue
      tensors.push({
        name: edits.renameTensors?.[tensor.name] ?? tensor.name,
        dims: tensor.dims,
        type: tensor.type,
        data: await readTensorBytes(handle, tensor),
      })
    }
  } finally {
    await handle.close()
  }
  tensors.push(...(edits.extraTensors ?? []))
  await writeGgufFile(target, { metadata, tensors })
}

/**
 * 256-value blocks (two per 512-value row) chosen to hit every rule of ggml's k-quant and weighted
 * quantizers: random data at many scales, sub-blocks that are zero or constant, exact ties on the level
 * grid of every type, extremes whose squares or cubes overflow float32, and subnormals.
 */
export function kQuantParityInputs(random: () => number): Float32Array {
  const blocks: number[][] = []
  const block = (fill: (index: number) => number): void => {
    blocks.push(Array.from({ length: 256 }, (_, index) => Math.fround(fill(index))))
  }
  // Random data at several scales, uniform and heavy-tailed.
  for (const scale of [1e-3, 0.02, 1, 37, 1000]) {
    for (let repeat = 0; repeat < 6; repeat++) block(() => (random() * 2 - 1) * scale)
    block(() => (random() - 0.5) * scale * (random() < 0.05 ? 40 : 1))
    block(() => random() * scale) // positive only: the min clamps to 0
    block(() => -random() * scale) // negative only
  }
  // Sub-blocks of 16 that are zero, constant, a ramp or random, mixed within one block.
  for (let repeat = 0; repeat < 24; repeat++) {
    const kinds = Array.from({ length: 16 }, () => Math.floor(random() * 5))
    const constants = Array.from({ length: 16 }, () => (random() - 0.5) * 4)
    block((index) => {
      const group = index >> 4
      switch (kinds[group]) {
        case 0:
          return 0
        case 1:
          return constants[group] as number
        case 2:
          return ((index & 15) - 7.5) * (constants[group] as number)
        case 3:
          return -0
        default:
          return random() * 2 - 1
      }
    })
  }
  block(() => 0)
  block(() => -0)
  block(() => 1.5)
  block(() => -2.25)
  block((index) => (index % 2 ? 3 : -3))
  block((index) => (index === 77 ? 5 : 0)) // a single non-zero value
  block((index) => (index === 200 ? -1e-3 : 1e-30))
  // Exact ties: values on half-steps of power-of-two grids, the range pinned by the first two values.
  for (const step of [1, 0.5, 0.125, 1 / 64]) {
    for (const levels of [3, 4, 7, 8, 15, 16, 31, 32, 63, 127]) {
      block((index) =>
        index === 0
          ? 0
          : index === 1
            ? levels * step
            : (Math.floor(random() * levels) + (index % 3 === 0 ? 0.5 : 0)) * step,
      )
      block((index) =>
        index === 0 ? -levels * step : (Math.floor(random() * 2 * levels) - levels + (index % 2 ? 0.5 : 0)) * step,
      )
    }
  }
  // Extremes: fp16 overflow of scales, squares (|x| > 1.8e19) and cubes (|x| > 7e12) overflowing float32.
  block((index) => (index % 2 ? 65504 : -65504))
  block((index) => (index === 5 ? 1e6 : index))
  block((index) => (index === 9 ? 1e13 : (random() - 0.5) * 10))
  block((index) => (index % 16 === 3 ? -2e19 : random()))
  block((index) => (index === 0 ? 3.4028234663852886e38 : index === 1 ? -3.4028234663852886e38 : index))
  block((index) => (index % 7 === 0 ? 1e30 : 0))
  // Subnormals and tiny normals (inverse scales overflow to infinity).
  block((index) => (index % 3 === 0 ? 1e-40 : index % 3 === 1 ? -3e-41 : 0))
  block((index) => (index % 2 ? 1.4e-45 : 0))
  block((index) => (index === 7 ? 1e-38 : index * 1e-39))
  block((index) => (index === 0 ? 2e-37 : -index * 1e-39))
  block((index) => (index % 4 === 0 ? 6e-8 : 3e-8))
  block((index) => (index % 2 ? 2 ** -24 : -(2 ** -25)))
  block((index) => (index < 128 ? 1e-20 : (random() - 0.5) * 1e-10))
  if (blocks.length % 2 !== 0) block(() => random() - 0.5)
  return Float32Array.from(blocks.flat())
}

/** Importance weights for 512-column rows: zeros, tiny, ordinary and huge values, and a run of equal ones. */
export function kQuantParityImportance(random: () => number): Float32Array {
  return Float32Array.from({ length: 512 }, (_, index) => {
    if (index % 37 === 0) return 0
    if (index >= 96 && index < 112) return 0 // a whole 16-value group without importance
    if (index % 53 === 0) return 1e-20
    if (index % 61 === 0) return 1e6
    if (index >= 256 && index < 288) return 1
    return random() * 5
  })
}

/**
 * An importance matrix shaped like the one llama-imatrix would record for `file`: one entry per matrix
 * multiplication weight (every 2-D *weight except token_embd, which is a lookup, and norms), with
 * positive sums of squares and token counts. The values are random: real ones need activations.
 */
export function syntheticImatrix(file: GgufFile, seed: number): ImatrixContents {
  const random = createSeededRandom(seed)
  const chunkSize = 64
  const chunkCount = 3
  const entries = new Map<string, ImatrixStatistics>()
  for (const tensor of file.tensors) {
    if (tensor.dims.length < 2 || !tensor.name.endsWith('.weight') || tensor.name.includes('norm')) continue
    if (tensor.name === 'token_embd.weight') continue
    const columns = tensor.dims[0] as number
    const experts = tensor.dims[2] ?? 1
    const tokens = chunkSize * chunkCount
    const sums = Float32Array.from({ length: columns * experts }, () => (0.05 + random() * random() * 4) * tokens)
    entries.set(tensor.name, { sums, counts: Array.from({ length: experts }, () => tokens) })
  }
  return { entries, datasets: ['calibration.txt'], chunkCount, chunkSize }
}
