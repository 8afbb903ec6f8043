/**
 * Corrupt and hostile files must produce a GgufError with a meaningful code: never a crash, a
 * RangeError from deep inside a DataView, or an attempt to allocate what a corrupt count claims.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { GgufError, type GgufErrorCode } from './errors.js'
import { readGgufFile } from './reader.js'
import { createSeededRandom } from './tiny-model.js'
import { withTemporaryDirectory } from './test-support.js'
import { gguf, GgmlType } from './types.js'
import { encodeGgufHeader } from './writer.js'

/** Hand-assembles GGUF bytes so tests can write what no valid writer would. */
class RawGguf {
  private readonly parts: Buffer[] = []
  u8(value: number): this {
    this.parts.push(Buffer.from([value]))
    return this
  }
  u32(value: number): this {
    const part = Buffer.alloc(4)
    part.writeUInt32LE(value >>> 0)
    this.parts.push(part)
    return this
  }
  u64(value: bigint): this {
    const part = Buffer.alloc(8)
    part.writeBigUInt64LE(BigInt.asUintN(64, value))
    this.parts.push(part)
    return this
  }
  i64(value: bigint): this {
    return this.u64(BigInt.asUintN(64, value))
  }
  str(text: string): this {
    const bytes = Buffer.from(text, 'utf8')
    return this.u64(BigInt(bytes.length)).bytes(bytes)
  }
  bytes(bytes: Uint8Array): this {
    this.parts.push(Buffer.from(bytes))
    return this
  }
  header(tensorCount: bigint, kvCount: bigint, version = 3): this {
    return this.bytes(Buffer.from('GGUF', 'latin1')).u32(version).u64(tensorCount).u64(kvCount)
  }
  build(): Buffer {
    return Buffer.concat(this.parts)
  }
}

async function readBytes(directory: string, bytes: Uint8Array, name = 'case.gguf'): Promise<unknown> {
  const path = join(directory, name)
  await writeFile(path, bytes)
  try {
    return await readGgufFile(path, { chunkSize: 64 })
  } catch (error) {
    return error
  }
}

async function expectCode(directory: string, bytes: Uint8Array, code: GgufErrorCode, label: string): Promise<void> {
  const started = Date.now()
  const outcome = await readBytes(directory, bytes)
  expect(outcome, `${label}: ${String(outcome)}`).toBeInstanceOf(GgufError)
  expect((outcome as GgufError).code, `${label}: ${(outcome as GgufError).message}`).toBe(code)
  expect((outcome as GgufError).message.length, label).toBeGreaterThan(10)
  // Rejections must not first try to honour absurd sizes.
  expect(Date.now() - started, label).toBeLessThan(1000)
}

/** A small valid file: a few metadata values and two tensors with data. */
function validFile(): Buffer {
  const header = encodeGgufHeader({
    metadata: [
      ['general.architecture', gguf.string('test')],
      ['test.count', gguf.uint32(3)],
      ['test.names', gguf.stringArray(['a', 'bb'])],
      ['test.weights', gguf.float32Array(Float32Array.from([1, 2]))],
    ],
    tensors: [
      { name: 'a', dims: [4], type: GgmlType.F32 },
      { name: 'b', dims: [32, 2], type: GgmlType.Q8_0 },
    ],
  })
  return Buffer.concat([Buffer.from(header.bytes), Buffer.alloc(header.dataBytes, 7)])
}

describe('malformed GGUF files give GgufError, not crashes', () => {
  it('rejects files that are not GGUF', async () => {
    await withTemporaryDirectory(async (directory) => {
      await expectCode(directory, Buffer.alloc(0), 'BAD_MAGIC', 'empty file')
      await expectCode(directory, Buffer.from('GGU'), 'BAD_MAGIC', 'three bytes')
      await expectCode(directory, Buffer.from('GGML\x03\x00\x00\x00'), 'BAD_MAGIC', 'old ggml magic')
      await expectCode(directory, Buffer.from('{"not": "a model"}'), 'BAD_MAGIC', 'json')
    })
  })

  it('rejects unsupported and byte-swapped versions', async () => {
    await withTemporaryDirectory(async (directory) => {
      for (const version of [0, 1, 4, 0x03000000]) {
        await expectCode(
          directory,
          new RawGguf().header(0n, 0n, version).build(),
          'UNSUPPORTED_VERSION',
          `version ${version}`,
        )
      }
    })
  })

  it('reports truncation at every possible cut of a valid file', async () => {
    await withTemporaryDirectory(async (directory) => {
      const complete = validFile()
      const parsed = await readBytes(directory, complete)
      expect(parsed).not.toBeInstanceOf(Error)
      // Only the padding after the last tensor may be cut: like ggml, the reader needs tensor bytes, not padding.
      const { tensors } = parsed as Awaited<ReturnType<typeof readGgufFile>>
      const dataEnd = Math.max(...tensors.map((tensor) => tensor.offset + tensor.byteSize))
      expect(dataEnd).toBeLessThan(complete.length)
      const allowed = new Set<GgufErrorCode>(['BAD_MAGIC', 'TRUNCATED', 'COUNT_TOO_LARGE', 'TENSOR_OUT_OF_BOUNDS'])
      for (let length = 0; length < dataEnd; length++) {
        const outcome = await readBytes(directory, complete.subarray(0, length))
        expect(outcome, `cut at ${length}`).toBeInstanceOf(GgufError)
        expect(allowed.has((outcome as GgufError).code), `cut at ${length}: ${(outcome as GgufError).code}`).toBe(true)
      }
    })
  })

  it('refuses absurd counts and lengths without allocating for them', async () => {
    await withTemporaryDirectory(async (directory) => {
      const huge = 1n << 62n
      await expectCode(directory, new RawGguf().header(huge, 0n).build(), 'COUNT_TOO_LARGE', 'tensor count 2^62')
      await expectCode(
        directory,
        new RawGguf().header(0n, 0xffffffffffffffffn).build(),
        'COUNT_TOO_LARGE',
        'kv count 2^64-1',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 100_000n).build(),
        'COUNT_TOO_LARGE',
        'kv count larger than the file can hold',
      )
      const filler = Buffer.alloc(64)
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).u64(huge).bytes(filler).build(),
        'STRING_TOO_LONG',
        'key length 2^62',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).u64(1000n).bytes(filler).build(),
        'TRUNCATED',
        'key longer than the file',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(8).u64(huge).build(),
        'STRING_TOO_LONG',
        'string value 2^62',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(9).u32(6).u64(huge).build(),
        'COUNT_TOO_LARGE',
        'float array 2^62',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(9).u32(8).u64(50_000_000n).build(),
        'COUNT_TOO_LARGE',
        'string array larger than file',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(9).u32(9).u64(huge).build(),
        'COUNT_TOO_LARGE',
        'array of arrays 2^62',
      )
      const deep = new RawGguf().header(0n, 1n).str('k').u32(9)
      for (let level = 0; level < 20; level++) deep.u32(9).u64(1n)
      await expectCode(directory, deep.u32(0).u64(0n).build(), 'COUNT_TOO_LARGE', 'arrays nested 20 deep')
    })
  })

  it('rejects unknown value types and tensor types', async () => {
    await withTemporaryDirectory(async (directory) => {
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(13).u8(0).build(),
        'UNKNOWN_VALUE_TYPE',
        'value type 13',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(0xffffffff).build(),
        'UNKNOWN_VALUE_TYPE',
        'value type 2^32-1',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('k').u32(9).u32(77).u64(1n).build(),
        'UNKNOWN_VALUE_TYPE',
        'array element type 77',
      )
      const tensorWithType = (type: number): Buffer =>
        new RawGguf().header(1n, 0n).str('t').u32(1).i64(32n).u32(type).u64(0n).bytes(Buffer.alloc(256)).build()
      await expectCode(directory, tensorWithType(4), 'UNKNOWN_TENSOR_TYPE', 'removed type Q4_2')
      await expectCode(directory, tensorWithType(31), 'UNKNOWN_TENSOR_TYPE', 'removed type Q4_0_4_4')
      await expectCode(directory, tensorWithType(1000), 'UNKNOWN_TENSOR_TYPE', 'type 1000')
    })
  })

  it('rejects impossible tensor shapes and data outside the file', async () => {
    await withTemporaryDirectory(async (directory) => {
      const tensor = (dims: bigint[], type: number, offset: bigint, dataBytes = 256): Buffer => {
        const raw = new RawGguf().header(1n, 0n).str('t').u32(dims.length)
        for (const dim of dims) raw.i64(dim)
        return raw.u32(type).u64(offset).bytes(Buffer.alloc(dataBytes)).build()
      }
      await expectCode(
        directory,
        tensor([1n, 1n, 1n, 1n, 1n], GgmlType.F32, 0n),
        'INVALID_TENSOR_INFO',
        'five dimensions',
      )
      await expectCode(directory, tensor([-4n], GgmlType.F32, 0n), 'INVALID_TENSOR_INFO', 'negative dimension')
      await expectCode(
        directory,
        tensor([1n << 40n, 1n << 40n], GgmlType.F32, 0n),
        'INVALID_TENSOR_INFO',
        'element count overflow',
      )
      await expectCode(directory, tensor([33n], GgmlType.Q4_0, 0n), 'INVALID_TENSOR_INFO', 'row not a whole Q4_0 block')
      await expectCode(directory, tensor([64n], GgmlType.F32, 0n, 100), 'TENSOR_OUT_OF_BOUNDS', 'data ends past EOF')
      await expectCode(directory, tensor([4n], GgmlType.F32, 1n << 40n), 'TENSOR_OUT_OF_BOUNDS', 'offset far past EOF')
      await expectCode(directory, tensor([4n], GgmlType.F32, 250n), 'TENSOR_OUT_OF_BOUNDS', 'offset near EOF')
    })
  })

  it('rejects bad alignment values and duplicate names', async () => {
    await withTemporaryDirectory(async (directory) => {
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('general.alignment').u32(4).u32(0).build(),
        'INVALID_ALIGNMENT',
        'alignment 0',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('general.alignment').u32(4).u32(24).build(),
        'INVALID_ALIGNMENT',
        'alignment 24',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 1n).str('general.alignment').u32(10).u64(32n).build(),
        'INVALID_ALIGNMENT',
        'alignment as uint64',
      )
      await expectCode(
        directory,
        new RawGguf().header(0n, 2n).str('k').u32(0).u8(1).str('k').u32(0).u8(2).build(),
        'DUPLICATE_KEY',
        'duplicate key',
      )
      const twoTensors = new RawGguf()
        .header(2n, 0n)
        .str('t')
        .u32(1)
        .i64(1n)
        .u32(0)
        .u64(0n)
        .str('t')
        .u32(1)
        .i64(1n)
        .u32(0)
        .u64(32n)
        .bytes(Buffer.alloc(128))
        .build()
      await expectCode(directory, twoTensors, 'DUPLICATE_TENSOR', 'duplicate tensor')
    })
  })

  it('keeps parsing strings that are not UTF-8, with a warning', async () => {
    await withTemporaryDirectory(async (directory) => {
      const raw = new RawGguf()
        .header(0n, 1n)
        .str('k')
        .u32(8)
        .u64(2n)
        .bytes(Buffer.from([0xff, 0xfe]))
        .build()
      const outcome = await readBytes(directory, raw)
      expect(outcome).not.toBeInstanceOf(Error)
      expect((outcome as { warnings: string[] }).warnings[0]).toMatch(/not valid UTF-8/)
    })
  })

  it('survives random corruption of the header (fuzz): parses or throws GgufError, nothing else', async () => {
    await withTemporaryDirectory(async (directory) => {
      const complete = validFile()
      const random = createSeededRandom(99)
      const headerLength = complete.length - 128
      const codes = new Map<string, number>()
      for (let round = 0; round < 300; round++) {
        const mutated = Buffer.from(complete)
        const flips = 1 + Math.floor(random() * 4)
        for (let flip = 0; flip < flips; flip++) {
          const at = Math.floor(random() * headerLength)
          mutated[at] =
            random() < 0.5 ? Math.floor(random() * 256) : (mutated[at] as number) ^ (1 << Math.floor(random() * 8))
        }
        const outcome = await readBytes(directory, mutated)
        if (outcome instanceof Error) {
          expect(outcome, `round ${round}: ${outcome.stack}`).toBeInstanceOf(GgufError)
          const code = (outcome as GgufError).code
          codes.set(code, (codes.get(code) ?? 0) + 1)
        } else {
          codes.set('parsed', (codes.get('parsed') ?? 0) + 1)
        }
      }
      // The mutations must actually exercise several failure paths.
      expect(codes.size).toBeGreaterThan(3)
    })
  })
})
