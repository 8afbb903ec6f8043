import { existsSync } from 'node:fs'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { GgufError } from './errors.js'
import { fp16ArrayToFp32 } from './fp16.js'
import { metadataNumber } from './metadata.js'
import { quantizeRow } from './quant-blocks.js'
import { fileTypeInfo, planQuantization } from './quant-plan.js'
import { quantizeGgufFile, type QuantizeProgress } from './quantize.js'
import { readGgufFile, readTensorBytes } from './reader.js'
import { summarizeGguf } from './summary.js'
import { withTemporaryDirectory } from './test-support.js'
import { writeTinyLlamaGguf } from './tiny-model.js'
import { gguf, GgmlType, type GgufFile, type GgufTensorInfo } from './types.js'
import { validateGguf } from './validate.js'
import { writeGgufFile, type GgufTensorToWrite } from './writer.js'

async function tensorFloats(path: string, tensor: GgufTensorInfo): Promise<Float32Array> {
  const handle = await open(path, 'r')
  try {
    const bytes = await readTensorBytes(handle, tensor)
    return tensor.typeName === 'F16' ? fp16ArrayToFp32(new Uint16Array(bytes.buffer)) : new Float32Array(bytes.buffer)
  } finally {
    await handle.close()
  }
}

async function tensorBytes(path: string, tensor: GgufTensorInfo): Promise<Buffer> {
  const handle = await open(path, 'r')
  try {
    return Buffer.from(await readTensorBytes(handle, tensor))
  } finally {
    await handle.close()
  }
}

function typesByName(file: GgufFile): Record<string, string> {
  return Object.fromEntries(file.tensors.map((tensor) => [tensor.name, tensor.typeName]))
}

describe('quantizeGgufFile on the tiny llama model', () => {
  it.each(['Q8_0', 'Q5_1', 'Q5_0', 'Q4_1', 'Q4_0', 'F16'] as const)(
    '%s: follows llama.cpp type rules, sets general.file_type, and is byte-exact per tensor',
    async (target) => {
      await withTemporaryDirectory(async (directory) => {
        const sourcePath = join(directory, 'tiny-f32.gguf')
        const destinationPath = join(directory, `tiny-${target}.gguf`)
        await writeTinyLlamaGguf(sourcePath, { seed: 3 })
        const result = await quantizeGgufFile(sourcePath, destinationPath, { fileType: target, chunkBytes: 4096 })
        const source = await readGgufFile(sourcePath)
        const output = await readGgufFile(destinationPath)

        expect(result.fileType).toBe(fileTypeInfo[target].ftype)
        expect(metadataNumber(output.metadata, 'general.file_type')).toBe(fileTypeInfo[target].ftype)
        expect(metadataNumber(output.metadata, 'general.quantization_version')).toBe(2)
        expect(validateGguf(output)).toEqual([])
        expect(summarizeGguf(output).fileType).toBe(`MOSTLY_${target}`)
        // All other metadata is carried over unchanged and in order.
        const carried = [...source.metadata.keys()].filter((key) => key !== 'general.file_type')
        expect([...output.metadata.keys()].filter((key) => carried.includes(key))).toEqual(carried)
        expect(output.metadata.get('tokenizer.ggml.tokens')).toEqual(source.metadata.get('tokenizer.ggml.tokens'))

        const types = typesByName(output)
        for (const tensor of output.tensors) {
          if (tensor.dims.length === 1) expect(types[tensor.name], tensor.name).toBe('F32')
        }
        expect(types['token_embd.weight']).toBe(target)
        expect(types['blk.0.attn_q.weight']).toBe(target)
        expect(types['blk.1.ffn_down.weight']).toBe(target)
        // llama.cpp: output.weight gets Q6_K for these types, which falls back to Q8_0 for rows of 64.
        expect(types['output.weight']).toBe(target === 'F16' ? 'F16' : 'Q8_0')
        // llama-quantize's order: tensors outside blocks first, then block by block, by name.
        expect(output.tensors.slice(0, 3).map((tensor) => tensor.name)).toEqual([
          'output.weight',
          'output_norm.weight',
          'token_embd.weight',
        ])

        // Every converted tensor equals the in-memory quantization of the source data.
        for (const tensor of output.tensors) {
          const original = source.tensors.find((candidate) => candidate.name === tensor.name) as GgufTensorInfo
          const floats = await tensorFloats(sourcePath, original)
          const actual = await tensorBytes(destinationPath, tensor)
          if (tensor.typeName === 'F32') {
            expect(actual.equals(await tensorBytes(sourcePath, original)), tensor.name).toBe(true)
          } else if (tensor.typeName === 'F16') {
            expect(
              Array.from(fp16ArrayToFp32(new Uint16Array(actual.buffer, actual.byteOffset, actual.length / 2))).every(
                (value, at) => Math.abs(value - (floats[at] as number)) < 1e-3,
              ),
            ).toBe(true)
          } else {
            const expected = quantizeRow(tensor.typeName as 'Q8_0', floats)
            expect(actual.equals(Buffer.from(expected)), tensor.name).toBe(true)
          }
        }
        expect(result.destinationFileSize).toBe(output.fileSize)
      })
    },
  )

  it('quantizes an F16 source (converted through exact fp16 -> fp32)', async () => {
    await withTemporaryDirectory(async (directory) => {
      const sourcePath = join(directory, 'tiny-f16.gguf')
      await writeTinyLlamaGguf(sourcePath, { seed: 8, weightType: 'F16' })
      await quantizeGgufFile(sourcePath, join(directory, 'q4.gguf'), { fileType: 'Q4_0' })
      const source = await readGgufFile(sourcePath)
      const output = await readGgufFile(join(directory, 'q4.gguf'))
      const sourceTensor = source.tensors.find((tensor) => tensor.name === 'blk.0.attn_k.weight') as GgufTensorInfo
      const outputTensor = output.tensors.find((tensor) => tensor.name === 'blk.0.attn_k.weight') as GgufTensorInfo
      expect(sourceTensor.typeName).toBe('F16')
      const expected = quantizeRow('Q4_0', await tensorFloats(sourcePath, sourceTensor))
      expect((await tensorBytes(join(directory, 'q4.gguf'), outputTensor)).equals(Buffer.from(expected))).toBe(true)
    })
  })

  it('with tied embeddings, token_embd.weight is treated as the output projection', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'tied.gguf'), { tiedEmbeddings: true })
      const file = await readGgufFile(join(directory, 'tied.gguf'))
      const plan = planQuantization(file, 'Q4_0')
      expect(plan.find((tensor) => tensor.name === 'token_embd.weight')?.targetType).toBe('Q8_0')
      expect(
        planQuantization(file, 'Q4_0', { pure: true }).find((tensor) => tensor.name === 'token_embd.weight')
          ?.targetType,
      ).toBe('Q4_0')
    })
  })

  it('reports progress up to the total and can be aborted, leaving no output file', async () => {
    await withTemporaryDirectory(async (directory) => {
      const sourcePath = join(directory, 'tiny.gguf')
      await writeTinyLlamaGguf(sourcePath)
      const steps: QuantizeProgress[] = []
      await quantizeGgufFile(sourcePath, join(directory, 'q8.gguf'), {
        fileType: 'Q8_0',
        chunkBytes: 2048,
        onProgress: (step) => steps.push(step),
      })
      const last = steps.at(-1) as QuantizeProgress
      expect(last.bytesDone).toBe(last.bytesTotal)
      expect(last.tensorsDone).toBe(last.tensorCount)
      expect(steps.length).toBeGreaterThan(last.tensorCount)
      for (let index = 1; index < steps.length; index++) {
        expect((steps[index] as QuantizeProgress).bytesDone).toBeGreaterThanOrEqual(
          (steps[index - 1] as QuantizeProgress).bytesDone,
        )
      }

      const controller = new AbortController()
      const aborted = quantizeGgufFile(sourcePath, join(directory, 'aborted.gguf'), {
        fileType: 'Q4_0',
        chunkBytes: 2048,
        signal: controller.signal,
        onProgress: (step) => {
          if (step.tensorsDone >= 3) controller.abort(new Error('user cancelled'))
        },
      })
      await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' })
      expect((await readdir(directory)).sort()).toEqual(['q8.gguf', 'tiny.gguf'])
    })
  })
})

describe('quantizeGgufFile refuses bad input with clear errors', () => {
  async function writeSource(
    path: string,
    values: Float32Array,
    dims: number[],
    name = 'blk.0.ffn_up.weight',
  ): Promise<void> {
    const tensors: GgufTensorToWrite[] = [
      {
        name: 'blk.0.attn_norm.weight',
        dims: [4],
        type: GgmlType.F32,
        data: new Uint8Array(new Float32Array([1, 1, 1, 1]).buffer),
      },
      { name, dims, type: GgmlType.F32, data: new Uint8Array(values.buffer) },
    ]
    await writeGgufFile(path, { metadata: [['general.architecture', gguf.string('llama')]], tensors })
  }

  it.each([
    ['NaN', Number.NaN, /contains NaN at element 70 \(row 1, column 6\)/],
    ['+Infinity', Number.POSITIVE_INFINITY, /contains \+Infinity/],
    ['-Infinity', Number.NEGATIVE_INFINITY, /contains -Infinity/],
  ])('refuses %s input, naming the tensor, and writes nothing', async (_label, bad, message) => {
    await withTemporaryDirectory(async (directory) => {
      const values = new Float32Array(64 * 4).fill(0.5)
      values[70] = bad
      await writeSource(join(directory, 'bad.gguf'), values, [64, 4])
      const outcome = quantizeGgufFile(join(directory, 'bad.gguf'), join(directory, 'out.gguf'), { fileType: 'Q8_0' })
      await expect(outcome).rejects.toBeInstanceOf(GgufError)
      await expect(outcome).rejects.toMatchObject({ code: 'NON_FINITE_VALUE', message: expect.stringMatching(message) })
      await expect(outcome).rejects.toMatchObject({ message: expect.stringContaining('"blk.0.ffn_up.weight"') })
      expect(existsSync(join(directory, 'out.gguf'))).toBe(false)
      expect(await readdir(directory)).toEqual(['bad.gguf'])
    })
  })

  it('refuses values whose block scale would overflow fp16 (llama.cpp rejects such blocks)', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeSource(
        join(directory, 'big.gguf'),
        Float32Array.from({ length: 128 }, (_, index) => (index === 3 ? 1e6 : 1)),
        [64, 2],
        'x.weight',
      )
      await expect(
        quantizeGgufFile(join(directory, 'big.gguf'), join(directory, 'out.gguf'), { fileType: 'Q4_0' }),
      ).rejects.toMatchObject({ code: 'SCALE_OVERFLOW' })
      await expect(
        quantizeGgufFile(join(directory, 'big.gguf'), join(directory, 'out.gguf'), { fileType: 'F16' }),
      ).rejects.toMatchObject({ code: 'VALUE_OUT_OF_RANGE' })
      // Q8_0 divides by 127 instead of 8: 1e6 / 127 still fits in fp16.
      await quantizeGgufFile(join(directory, 'big.gguf'), join(directory, 'out.gguf'), { fileType: 'Q8_0' })
    })
  })

  it("stores tensors whose rows are not whole 32-value blocks as F16 (llama.cpp's fallback), 1-D tensors as they are", async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeSource(join(directory, 'odd.gguf'), new Float32Array(48 * 3).fill(0.25), [48, 3])
      const file = await readGgufFile(join(directory, 'odd.gguf'))
      const plan = planQuantization(file, 'Q4_0')
      expect(plan.map((tensor) => [tensor.name, tensor.targetType])).toEqual([
        ['blk.0.attn_norm.weight', 'F32'],
        ['blk.0.ffn_up.weight', 'F16'],
      ])
      expect(plan[1]?.reason).toMatch(/not a multiple of 32/)
      expect(plan[1]?.fallback).toEqual({ from: 'Q4_0', rowLength: 48 })
      expect(plan[0]?.reason).toMatch(/one-dimensional/)
    })
  })

  it('refuses to re-quantize quantized tensors and to overwrite the source', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'tiny.gguf'))
      await quantizeGgufFile(join(directory, 'tiny.gguf'), join(directory, 'q4.gguf'), { fileType: 'Q4_0' })
      await expect(
        quantizeGgufFile(join(directory, 'q4.gguf'), join(directory, 'q8.gguf'), { fileType: 'Q8_0' }),
      ).rejects.toMatchObject({
        code: 'REQUANTIZE_REFUSED',
        message: expect.stringMatching(/already Q4_0.*compounds/),
      })
      // Same target as the existing type is a plain copy.
      await quantizeGgufFile(join(directory, 'q4.gguf'), join(directory, 'q4-again.gguf'), { fileType: 'Q4_0' })
      await expect(
        quantizeGgufFile(join(directory, 'tiny.gguf'), join(directory, 'tiny.gguf'), { fileType: 'Q8_0' }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      })
    })
  })
})
