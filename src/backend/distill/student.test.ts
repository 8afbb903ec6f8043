import { writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import {
  CHATML_TEMPLATE,
  GgmlType,
  fp16ArrayToFp32,
  gguf,
  metadataString,
  quantizeGgufFile,
  readGgufFile,
  readTensorBytes,
  UnsupportedTensorTypeError,
  writeGgufFile,
  writeTinyLlamaGguf,
  type GgufTensorInfo,
} from '../gguf/index'
import { dequantizerFor } from '../gguf/dequantize'
import { checkStudent, needsConversion, StudentError, writeScratchStudent, writeTrainableStudent } from './student'

async function floats(path: string, tensor: GgufTensorInfo): Promise<Float32Array> {
  const handle = await open(path, 'r')
  try {
    const bytes = await readTensorBytes(handle, tensor)
    return dequantizerFor(tensor.name, tensor.type)(bytes)
  } finally {
    await handle.close()
  }
}

describe('students', () => {
  it('makes a trainable student from scratch: untied, all F32, sized as asked, with a chat template', async () => {
    const path = join(tempDir(), 'student.gguf')
    const written = await writeScratchStudent(path, {
      embeddingLength: 32,
      blockCount: 3,
      headCount: 2,
      feedForwardLength: 48,
      contextLength: 512,
      chatTemplate: CHATML_TEMPLATE,
    })
    const check = await checkStudent(path)
    expect(check.tied).toBe(false)
    expect(check.convertTypes).toEqual({})
    expect(needsConversion(check)).toBe(false)
    expect(check.blockCount).toBe(3)
    expect(check.contextLength).toBe(512)
    expect(check.parameterCount).toBe(written.parameterCount)
    expect(metadataString(check.file.metadata, 'tokenizer.chat_template')).toBe(CHATML_TEMPLATE)
    await expect(
      writeScratchStudent(join(tempDir(), 'bad.gguf'), {
        embeddingLength: 30,
        blockCount: 1,
        headCount: 4,
        feedForwardLength: 8,
        contextLength: 256,
      }),
    ).rejects.toThrowError(/multiple of the head count/)
  })

  it('reuses another model’s vocabulary (--vocab-from)', async () => {
    const dir = tempDir()
    const teacher = join(dir, 'teacher.gguf')
    await writeTinyLlamaGguf(teacher, { chatTemplate: 'teacher template' })
    const path = join(dir, 'student.gguf')
    await writeScratchStudent(path, {
      embeddingLength: 32,
      blockCount: 1,
      headCount: 2,
      feedForwardLength: 32,
      contextLength: 256,
      vocabularyFrom: teacher,
    })
    const student = await readGgufFile(path)
    expect(metadataString(student.metadata, 'tokenizer.chat_template')).toBe('teacher template')
    expect(student.tensors.find((tensor) => tensor.name === 'output.weight')!.dims).toEqual([32, 260])
  })

  it('unties and dequantizes an F16 model with tied embeddings', async () => {
    const dir = tempDir()
    const source = join(dir, 'tied-f16.gguf')
    await writeTinyLlamaGguf(source, { weightType: 'F16', tiedEmbeddings: true, chatTemplate: CHATML_TEMPLATE })
    const check = await checkStudent(source)
    expect(check.tied).toBe(true)
    expect(check.convertTypes).toEqual({ F16: 15 })
    const destination = join(dir, 'trainable.gguf')
    await writeTrainableStudent(check, source, destination)
    const converted = await checkStudent(destination)
    expect(needsConversion(converted)).toBe(false)
    expect(metadataString(converted.file.metadata, 'tokenizer.chat_template')).toBe(CHATML_TEMPLATE)
    const embedding = check.file.tensors.find((tensor) => tensor.name === 'token_embd.weight')!
    const output = converted.file.tensors.find((tensor) => tensor.name === 'output.weight')!
    const half = await open(source, 'r')
    const expected = fp16ArrayToFp32(new Uint16Array((await readTensorBytes(half, embedding)).buffer))
    await half.close()
    expect(Array.from(await floats(destination, output))).toEqual(Array.from(expected))
  })

  it('dequantizes Q8_0, Q4_0 and Q4_K_M students to F32 close to the original weights', async () => {
    const dir = tempDir()
    const original = join(dir, 'f32.gguf')
    // 256-wide rows, so Q4_K_M really stores K-quant blocks (narrower rows fall back to legacy types).
    await writeTinyLlamaGguf(original, { seed: 5, embeddingLength: 256, feedForwardLength: 256, blockCount: 1 })
    for (const [type, tensorType, tolerance] of [
      ['Q8_0', 'Q8_0', 0.01],
      ['Q4_0', 'Q4_0', 0.08],
      ['Q4_K_M', 'Q4_K', 0.08],
    ] as const) {
      const quantized = join(dir, `${type}.gguf`)
      await quantizeGgufFile(original, quantized, { fileType: type })
      const check = await checkStudent(quantized)
      expect(Object.keys(check.convertTypes)).toContain(tensorType)
      const trainable = join(dir, `${type}-f32.gguf`)
      await writeTrainableStudent(check, quantized, trainable)
      const after = await readGgufFile(trainable)
      const before = await readGgufFile(original)
      const name = 'blk.0.ffn_up.weight'
      const a = await floats(
        original,
        before.tensors.find((tensor) => tensor.name === name)!,
      )
      const b = await floats(
        trainable,
        after.tensors.find((tensor) => tensor.name === name)!,
      )
      expect(after.tensors.every((tensor) => tensor.type === GgmlType.F32)).toBe(true)
      const worst = a.reduce((max, value, index) => Math.max(max, Math.abs(value - b[index]!)), 0)
      expect(worst).toBeGreaterThan(0)
      expect(worst).toBeLessThan(tolerance)
    }
  })

  it('refuses types it cannot dequantize, other architectures and files that are not GGUF, saying which', async () => {
    const dir = tempDir()
    const iquant = join(dir, 'iq4xs.gguf')
    const tiny = await readGgufFile(
      await (async () => {
        const path = join(dir, 'tiny.gguf')
        await writeTinyLlamaGguf(path, { embeddingLength: 256, feedForwardLength: 256, blockCount: 1 })
        return path
      })(),
    )
    await writeGgufFile(iquant, {
      metadata: [...tiny.metadata],
      tensors: tiny.tensors.map((tensor) =>
        tensor.name === 'blk.0.ffn_up.weight'
          ? { name: tensor.name, dims: tensor.dims, type: GgmlType.IQ4_XS, data: new Uint8Array(136 * 256) }
          : { name: tensor.name, dims: tensor.dims, type: tensor.type, data: new Uint8Array(tensor.byteSize) },
      ),
    })
    await expect(checkStudent(iquant)).rejects.toThrowError(UnsupportedTensorTypeError)
    await expect(checkStudent(iquant)).rejects.toThrowError(
      /"blk\.0\.ffn_up\.weight" is IQ4_XS, which Larder cannot dequantize/,
    )

    const qwen = join(dir, 'qwen.gguf')
    await writeGgufFile(qwen, {
      metadata: [...tiny.metadata].map(([key, value]) =>
        key === 'general.architecture' ? [key, gguf.string('qwen2')] : [key.replace(/^llama\./, 'qwen2.'), value],
      ),
      tensors: tiny.tensors.map((tensor) => ({
        name: tensor.name,
        dims: tensor.dims,
        type: tensor.type,
        data: new Uint8Array(tensor.byteSize),
      })),
    })
    await expect(checkStudent(qwen)).rejects.toThrowError(StudentError)
    await expect(checkStudent(qwen)).rejects.toThrowError(
      /"qwen2" model; the built-in trainer trains llama-architecture students only/,
    )

    const text = join(dir, 'notes.gguf')
    writeFileSync(text, 'hello, not a model')
    await expect(checkStudent(text)).rejects.toThrowError(/is not a GGUF model/)
  })
})
