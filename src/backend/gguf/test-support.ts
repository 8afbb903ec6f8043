/**
 * Shared fixtures for this folder's tests (not exported from index.ts). Files are generated at
 * test time into temporary directories; nothing is checked in.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { gguf, GgmlType, type GgufValue } from './types.js'
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
