import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { readGgufFile, readTensorBytes } from './reader.js'
import { writeTinyLlamaGguf, type TinyLlamaOptions } from './tiny-model.js'
import { gguf, GgmlType, type GgufValue } from './types.js'
import { checkModelFile, hasErrors, validateGguf, type GgufProblem } from './validate.js'
import { writeGgufFile, type GgufTensorToWrite } from './writer.js'

let directory = ''
let counter = 0

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'larder-gguf-validate-'))
})
afterAll(async () => {
  await rm(directory, { recursive: true, force: true })
})

interface Edits {
  set?: Array<[string, GgufValue]>
  drop?: string[]
  dropTensors?: string[]
  extraTensors?: GgufTensorToWrite[]
  renameTensors?: Record<string, string>
}

/** Writes a tiny llama model, then re-writes it with metadata/tensor edits; returns the problems. */
async function problemsFor(edits: Edits = {}, options: TinyLlamaOptions = {}): Promise<GgufProblem[]> {
  const base = join(directory, `base-${counter}.gguf`)
  const edited = join(directory, `edited-${counter++}.gguf`)
  await writeTinyLlamaGguf(base, options)
  const file = await readGgufFile(base)
  const metadata = new Map(file.metadata)
  for (const key of edits.drop ?? []) metadata.delete(key)
  for (const [key, value] of edits.set ?? []) metadata.set(key, value)
  const handle = await open(base, 'r')
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
  await writeGgufFile(edited, { metadata, tensors })
  return validateGguf(await readGgufFile(edited))
}

const codes = (problems: GgufProblem[]): string[] => problems.map((problem) => `${problem.severity}:${problem.code}`)

describe('validateGguf', () => {
  it('accepts the tiny llama models (F32, F16, GQA, tied embeddings, chat template)', async () => {
    expect(await problemsFor()).toEqual([])
    expect(await problemsFor({}, { weightType: 'F16' })).toEqual([])
    expect(await problemsFor({}, { headCount: 8, headCountKv: 2 })).toEqual([])
    expect(await problemsFor({}, { tiedEmbeddings: true, chatTemplate: '{{ messages }}' })).toEqual([])
  })

  it('flags the missing keys that make llama.cpp abort the process', async () => {
    const noFeedForward = await problemsFor({ drop: ['llama.feed_forward_length'] })
    expect(codes(noFeedForward)).toEqual(['error:MISSING_KEY'])
    expect(noFeedForward[0]?.message).toMatch(/abort/)
    expect(noFeedForward[0]?.key).toBe('llama.feed_forward_length')
    expect(codes(await problemsFor({ drop: ['llama.attention.head_count'] }))).toEqual(['error:MISSING_KEY'])
    expect(codes(await problemsFor({ set: [['llama.attention.head_count', gguf.uint32(0)]] }))).toContain(
      'error:ZERO_VALUE',
    )
  })

  it('flags other required llama keys and strict key types', async () => {
    for (const key of [
      'llama.context_length',
      'llama.embedding_length',
      'llama.block_count',
      'llama.attention.layer_norm_rms_epsilon',
      'tokenizer.ggml.model',
      'tokenizer.ggml.tokens',
    ]) {
      const problems = await problemsFor({ drop: [key] })
      expect(hasErrors(problems), key).toBe(true)
      expect(
        problems.some((problem) => problem.key === key && problem.code === 'MISSING_KEY'),
        key,
      ).toBe(true)
    }
    const wrongType = await problemsFor({ set: [['llama.block_count', gguf.int32(2)]] })
    expect(codes(wrongType)).toContain('error:WRONG_TYPE')
    const epsilonAsDouble = await problemsFor({ set: [['llama.attention.layer_norm_rms_epsilon', gguf.float64(1e-5)]] })
    expect(codes(epsilonAsDouble)).toEqual(['error:WRONG_TYPE'])
  })

  it('accepts per-layer arrays and checks their length and head ratios', async () => {
    expect(
      await problemsFor({
        set: [['llama.attention.head_count', gguf.array({ elementType: 'uint32', values: Uint32Array.of(4, 4) })]],
      }),
    ).toEqual([])
    expect(
      codes(
        await problemsFor({
          set: [['llama.feed_forward_length', gguf.array({ elementType: 'int32', values: Int32Array.of(128) })]],
        }),
      ),
    ).toContain('error:WRONG_LENGTH')
    expect(codes(await problemsFor({ set: [['llama.attention.head_count_kv', gguf.uint32(3)]] }))).toContain(
      'error:BAD_HEAD_COUNT',
    )
  })

  it('checks tensor shapes against the hyperparameters', async () => {
    const problems = await problemsFor({ set: [['llama.embedding_length', gguf.uint32(128)]] })
    expect(problems.every((problem) => problem.code === 'TENSOR_SHAPE' || problem.code === 'BAD_ROPE')).toBe(true)
    expect(
      problems.some(
        (problem) => problem.tensor === 'token_embd.weight' && /\[64, 260\].*\[128, 260\]/.test(problem.message),
      ),
    ).toBe(true)
    expect(codes(await problemsFor({ set: [['llama.feed_forward_length', gguf.uint32(96)]] }))).toEqual(
      new Array(6).fill('error:TENSOR_SHAPE'),
    )
  })

  it('reports missing and unexpected tensors', async () => {
    const missing = await problemsFor({ dropTensors: ['blk.1.ffn_up.weight'] })
    expect(missing).toEqual([
      expect.objectContaining({ severity: 'error', code: 'MISSING_TENSOR', tensor: 'blk.1.ffn_up.weight' }),
    ])
    const extra = await problemsFor({
      extraTensors: [{ name: 'blk.0.mystery.weight', dims: [4], type: GgmlType.F32, data: new Uint8Array(16) }],
    })
    expect(codes(extra)).toEqual(['error:UNEXPECTED_TENSOR'])
    const tooLong = await problemsFor({ renameTensors: { 'output.weight': `output.${'x'.repeat(60)}.weight` } })
    expect(codes(tooLong)).toContain('error:TENSOR_NAME_TOO_LONG')
  })

  it('checks the tokenizer arrays and special token ids', async () => {
    expect(
      codes(await problemsFor({ set: [['tokenizer.ggml.scores', gguf.float32Array(new Float32Array(10))]] })),
    ).toEqual(['error:WRONG_LENGTH'])
    expect(
      codes(await problemsFor({ set: [['tokenizer.ggml.token_type', gguf.float32Array(new Float32Array(260))]] })),
    ).toEqual(['error:WRONG_TYPE'])
    expect(codes(await problemsFor({ set: [['tokenizer.ggml.bos_token_id', gguf.uint32(999)]] }))).toEqual([
      'error:TOKEN_ID_OUT_OF_RANGE',
    ])
    expect(codes(await problemsFor({ set: [['tokenizer.ggml.model', gguf.string('gpt2')]] }))).toEqual([
      'error:MISSING_KEY',
    ])
    expect(codes(await problemsFor({ set: [['tokenizer.ggml.model', gguf.string('mystery')]] }))).toEqual([
      'error:UNKNOWN_TOKENIZER',
    ])
  })

  it('flags nested arrays, which llama.cpp cannot read', async () => {
    const nested = gguf.array({ elementType: 'array', values: [{ elementType: 'uint8', values: Uint8Array.of(1) }] })
    expect(codes(await problemsFor({ set: [['custom.nested', nested]] }))).toEqual(['error:NESTED_ARRAY'])
  })

  it('checks tensor data offsets: aligned and in the order llama.cpp expects', async () => {
    const path = join(directory, `layout-${counter++}.gguf`)
    await writeTinyLlamaGguf(path)
    const file = await readGgufFile(path)
    const bytes = await readFile(path)
    // Tensor info: name, n_dims (u32), dims (u64 each), type (u32), offset (u64).
    const offsetField = (name: string, dims: number): number => {
      const nameAt = bytes.indexOf(Buffer.from(name, 'utf8'), 24)
      return nameAt + name.length + 4 + dims * 8 + 4
    }
    const target = file.tensors[3]
    const previous = file.tensors[2]
    if (!target || !previous) throw new Error('tiny model has too few tensors')
    const misaligned = Buffer.from(bytes)
    misaligned.writeBigUInt64LE(BigInt(target.relativeOffset + 4), offsetField(target.name, target.dims.length))
    await writeFile(path, misaligned)
    expect(codes(validateGguf(await readGgufFile(path)))).toContain('error:MISALIGNED_TENSOR')
    const overlapping = Buffer.from(bytes)
    overlapping.writeBigUInt64LE(BigInt(previous.relativeOffset), offsetField(target.name, target.dims.length))
    await writeFile(path, overlapping)
    const problems = validateGguf(await readGgufFile(path))
    expect(problems.find((problem) => problem.code === 'TENSOR_LAYOUT')?.tensor).toBe(target.name)
  })

  it('checkModelFile turns parse failures into a problem list, and checks what it can of other architectures', async () => {
    const garbage = join(directory, 'garbage.gguf')
    await writeFile(garbage, 'definitely not a model')
    const check = await checkModelFile(garbage)
    expect(check.file).toBeUndefined()
    expect(check.problems).toEqual([expect.objectContaining({ severity: 'error', code: 'BAD_MAGIC' })])

    const other = join(directory, 'other-arch.gguf')
    await writeGgufFile(other, {
      metadata: [
        ['general.architecture', gguf.string('mamba')],
        ['tokenizer.ggml.model', gguf.string('none')],
      ],
      tensors: [{ name: 'x.weight', dims: [4], type: GgmlType.F32, data: new Uint8Array(16) }],
    })
    const otherCheck = await checkModelFile(other)
    expect(codes(otherCheck.problems)).toEqual([
      'error:MISSING_KEY',
      'error:MISSING_KEY',
      'error:MISSING_KEY',
      'warning:MISSING_KEY',
      'warning:UNCHECKED_ARCHITECTURE',
      'error:NO_VOCABULARY',
    ])
    const complete = join(directory, 'other-arch-complete.gguf')
    await writeGgufFile(complete, {
      metadata: [
        ['general.architecture', gguf.string('mamba')],
        ['mamba.context_length', gguf.uint32(64)],
        ['mamba.embedding_length', gguf.uint32(4)],
        ['mamba.block_count', gguf.uint32(1)],
        ['tokenizer.ggml.model', gguf.string('gpt2')],
        ['tokenizer.ggml.tokens', gguf.stringArray(['a', 'b'])],
        ['tokenizer.ggml.merges', gguf.stringArray(['a b'])],
      ],
      tensors: [{ name: 'x.weight', dims: [4], type: GgmlType.F32, data: new Uint8Array(16) }],
    })
    const completeCheck = await checkModelFile(complete)
    expect(codes(completeCheck.problems)).toEqual(['warning:MISSING_KEY', 'warning:UNCHECKED_ARCHITECTURE'])
    expect(hasErrors(completeCheck.problems)).toBe(false)
  })
})
