import { existsSync } from 'node:fs'
import { open, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { GgufError } from './errors.js'
import { readGgufFile, readTensorBytes, readTensorRows } from './reader.js'
import { everyValueTypeMetadata, sampleTensors, withTemporaryDirectory } from './test-support.js'
import { gguf, GgmlType, type GgufValue } from './types.js'
import { encodeGgufHeader, writeGgufFile, type GgufWriteProgress, type TensorDataSource } from './writer.js'

async function bytesOf(source: TensorDataSource): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source
  const parts: Uint8Array[] = []
  for await (const part of source()) parts.push(Uint8Array.from(part))
  return Buffer.concat(parts)
}

describe('GGUF writer -> reader round trip', () => {
  it('preserves every metadata value type exactly, including nested arrays and edge values', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'all-types.gguf')
      const metadata = everyValueTypeMetadata({ includeNestedArrays: true })
      await writeGgufFile(path, { metadata, tensors: sampleTensors() })
      const file = await readGgufFile(path)
      expect(file.version).toBe(3)
      expect([...file.metadata.keys()]).toEqual(metadata.map(([key]) => key))
      for (const [key, value] of metadata) {
        expect(file.metadata.get(key), key).toEqual(value)
      }
      // toEqual treats -0 and 0 alike for typed arrays; check the float32 bit patterns directly.
      const floats = file.metadata.get('test.array.float32')
      expect(
        floats?.type === 'array' && floats.value.elementType === 'float32' && Object.is(floats.value.values[1], -0),
      ).toBe(true)
      expect(file.warnings).toEqual([])
    })
  })

  it('handles headers far larger than the initial buffers (big vocabularies, long strings)', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'big-header.gguf')
      const tokens = Array.from({ length: 50_000 }, (_, index) => `token_${index}_✓`)
      const metadata: Array<[string, GgufValue]> = [
        ['tokenizer.ggml.tokens', gguf.stringArray(tokens)],
        ['tokenizer.ggml.scores', gguf.float32Array(Float32Array.from(tokens, (_, index) => -index / 7))],
        ['tokenizer.chat_template', gguf.string('x'.repeat(300_000))],
      ]
      await writeGgufFile(path, { metadata, tensors: sampleTensors() })
      const file = await readGgufFile(path, { chunkSize: 4096 })
      expect(file.dataStart).toBeGreaterThan(1_000_000)
      for (const [key, value] of metadata) expect(file.metadata.get(key), key).toEqual(value)
      expect(file.tensors).toHaveLength(sampleTensors().length)
    })
  })

  it('computes aligned data offsets and reads back tensor bytes, whole and in row chunks', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'tensors.gguf')
      const tensors = sampleTensors()
      const result = await writeGgufFile(path, { metadata: [['general.architecture', gguf.string('test')]], tensors })
      const file = await readGgufFile(path)
      expect(file.alignment).toBe(32)
      expect(file.dataStart % 32).toBe(0)
      expect(file.dataStart).toBe(result.dataStart)
      expect(file.fileSize).toBe(result.fileSize)
      expect(file.tensors.map((tensor) => tensor.name)).toEqual(tensors.map((tensor) => tensor.name))
      expect(file.tensors.map((tensor) => tensor.relativeOffset)).toEqual(result.tensorOffsets)
      const handle = await open(path, 'r')
      try {
        for (const [index, tensor] of file.tensors.entries()) {
          const written = tensors[index]
          if (!written) throw new Error('missing tensor')
          expect(tensor.offset % 32).toBe(0)
          expect(tensor.dims).toEqual(written.dims)
          expect(tensor.type).toBe(written.type)
          const expected = await bytesOf(written.data)
          expect(tensor.byteSize).toBe(expected.length)
          expect(Buffer.from(await readTensorBytes(handle, tensor)).equals(Buffer.from(expected))).toBe(true)
          // Chunked reading with a chunk smaller than one row still yields whole rows.
          const chunks: Uint8Array[] = []
          for await (const chunk of readTensorRows(handle, tensor, { maxChunkBytes: 1 }))
            chunks.push(Uint8Array.from(chunk.bytes))
          expect(Buffer.concat(chunks).equals(Buffer.from(expected))).toBe(true)
        }
      } finally {
        await handle.close()
      }
      const q8 = file.tensors.find((tensor) => tensor.name === 'cube.q8_0')
      expect(q8?.elementCount).toBe(192)
      expect(q8?.byteSize).toBe(6 * 34)
    })
  })

  it('honours a custom general.alignment for the data section and every tensor', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'aligned.gguf')
      await writeGgufFile(path, { metadata: [['general.alignment', gguf.uint32(256)]], tensors: sampleTensors() })
      const file = await readGgufFile(path)
      expect(file.alignment).toBe(256)
      expect(file.dataStart % 256).toBe(0)
      for (const tensor of file.tensors) expect(tensor.offset % 256).toBe(0)
    })
  })

  it('writes the GGUF v3 header layout byte for byte', () => {
    const header = encodeGgufHeader({
      metadata: [['k', gguf.uint8(7)]],
      tensors: [{ name: 't', dims: [2], type: GgmlType.F32 }],
    })
    const expected = Buffer.concat([
      Buffer.from('GGUF', 'latin1'),
      Buffer.from([3, 0, 0, 0]), // version
      Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), // tensor count
      Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), // kv count
      Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from('k'),
      Buffer.from([0, 0, 0, 0]),
      Buffer.from([7]), // "k": uint8 7
      Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]),
      Buffer.from('t'), // tensor name
      Buffer.from([1, 0, 0, 0]),
      Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), // n_dims, ne[0]
      Buffer.from([0, 0, 0, 0]),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), // type F32, offset 0
    ])
    expect(Buffer.from(header.bytes.subarray(0, expected.length)).equals(expected)).toBe(true)
    expect(header.bytes.length).toBe(Math.ceil(expected.length / 32) * 32)
    expect(header.bytes.subarray(expected.length).every((byte) => byte === 0)).toBe(true)
  })

  it('reads GGUF v2 files (same layout as v3 for little-endian files)', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'v2.gguf')
      await writeGgufFile(path, {
        metadata: everyValueTypeMetadata({ includeNestedArrays: false }),
        tensors: sampleTensors(),
      })
      const bytes = await readFile(path)
      bytes.writeUInt32LE(2, 4)
      await writeFile(path, bytes)
      const file = await readGgufFile(path)
      expect(file.version).toBe(2)
      expect(file.tensors.length).toBe(sampleTensors().length)
    })
  })

  it('parses correctly when values straddle the read window (tiny chunk size)', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'window.gguf')
      const metadata = everyValueTypeMetadata({ includeNestedArrays: true })
      await writeGgufFile(path, { metadata, tensors: sampleTensors() })
      const reference = await readGgufFile(path)
      for (const chunkSize of [1, 3, 7, 64]) {
        const file = await readGgufFile(path, { chunkSize })
        expect(file.metadata).toEqual(reference.metadata)
        expect(file.tensors).toEqual(reference.tensors)
      }
    })
  })

  it('streams progress per tensor and leaves no file behind when a tensor supplies the wrong byte count', async () => {
    await withTemporaryDirectory(async (directory) => {
      const progress: GgufWriteProgress[] = []
      const path = join(directory, 'ok.gguf')
      await writeGgufFile(
        path,
        { metadata: [], tensors: sampleTensors() },
        { onProgress: (step) => progress.push(step) },
      )
      expect(progress.map((step) => step.tensorsWritten)).toEqual([1, 2, 3, 4, 5, 6])
      expect(progress.at(-1)?.bytesWritten).toBe(progress.at(-1)?.totalBytes)

      const badPath = join(directory, 'bad.gguf')
      const short = { name: 'short', dims: [8], type: GgmlType.F32, data: new Uint8Array(31) }
      await expect(writeGgufFile(badPath, { metadata: [], tensors: [short] })).rejects.toMatchObject({
        code: 'TENSOR_DATA_SIZE_MISMATCH',
      })
      expect(existsSync(badPath)).toBe(false)
      expect((await readdir(directory)).sort()).toEqual(['ok.gguf'])
    })
  })

  it('stops on abort and removes the partial file', async () => {
    await withTemporaryDirectory(async (directory) => {
      const controller = new AbortController()
      const path = join(directory, 'aborted.gguf')
      const tensors = sampleTensors()
      const write = writeGgufFile(
        path,
        { metadata: [], tensors },
        { signal: controller.signal, onProgress: () => controller.abort() },
      )
      await expect(write).rejects.toMatchObject({ code: 'ABORTED' })
      expect(await readdir(directory)).toEqual([])
    })
  })

  it('rejects invalid input before writing anything', async () => {
    const cases: Array<[string, Parameters<typeof encodeGgufHeader>[0], string]> = [
      [
        'duplicate tensor',
        {
          metadata: [],
          tensors: [
            { name: 'a', dims: [1], type: GgmlType.F32 },
            { name: 'a', dims: [1], type: GgmlType.F32 },
          ],
        },
        'DUPLICATE_TENSOR',
      ],
      [
        'duplicate key',
        {
          metadata: [
            ['a', gguf.uint8(1)],
            ['a', gguf.uint8(2)],
          ],
          tensors: [],
        },
        'DUPLICATE_KEY',
      ],
      ['empty key', { metadata: [['', gguf.uint8(1)]], tensors: [] }, 'INVALID_METADATA'],
      ['bad alignment', { metadata: [['general.alignment', gguf.uint32(48)]], tensors: [] }, 'INVALID_ALIGNMENT'],
      [
        'alignment of wrong type',
        { metadata: [['general.alignment', gguf.uint64(32n)]], tensors: [] },
        'INVALID_ALIGNMENT',
      ],
      [
        'row not a whole block',
        { metadata: [], tensors: [{ name: 'q', dims: [33], type: GgmlType.Q4_0 }] },
        'INVALID_TENSOR_INFO',
      ],
      [
        'five dimensions',
        { metadata: [], tensors: [{ name: 'q', dims: [1, 1, 1, 1, 1], type: GgmlType.F32 }] },
        'INVALID_TENSOR_INFO',
      ],
      ['uint8 out of range', { metadata: [['x', gguf.uint8(256)]], tensors: [] }, 'INVALID_METADATA'],
      ['int32 not an integer', { metadata: [['x', gguf.int32(1.5)]], tensors: [] }, 'INVALID_METADATA'],
      ['uint64 negative', { metadata: [['x', gguf.uint64(-1n)]], tensors: [] }, 'INVALID_METADATA'],
      [
        'unknown tensor type',
        { metadata: [], tensors: [{ name: 'q', dims: [1], type: 4 as never }] },
        'UNKNOWN_TENSOR_TYPE',
      ],
    ]
    for (const [label, input, code] of cases) {
      let caught: unknown
      try {
        encodeGgufHeader(input)
      } catch (error) {
        caught = error
      }
      expect(caught, label).toBeInstanceOf(GgufError)
      expect((caught as GgufError).code, label).toBe(code)
    }
  })

  it('keeps float32 metadata as float32 (values are rounded like the file stores them)', async () => {
    await withTemporaryDirectory(async (directory) => {
      const path = join(directory, 'f32.gguf')
      const value: GgufValue = { type: 'float32', value: 0.1 }
      await writeGgufFile(path, { metadata: [['x', value]], tensors: [] })
      const file = await readGgufFile(path)
      expect(file.metadata.get('x')).toEqual({ type: 'float32', value: Math.fround(0.1) })
      expect(file.tensors).toEqual([])
    })
  })
})
