// validateLoraAdapter against llama-adapter.cpp's rules, on files written and read back by the project's GGUF code.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import { readGgufFile, validateLoraAdapter, writeTinyLlamaGguf, writeTinyLoraGguf } from './index'
import { GgmlType, gguf, type GgufValue } from './types'
import { writeGgufFile } from './writer'

const f32 = (name: string, dims: number[]) => ({
  name,
  dims,
  type: GgmlType.F32,
  data: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)),
})

async function adapterWith(tensors: ReturnType<typeof f32>[], metadata: [string, GgufValue][] = []) {
  const path = join(tempDir(), 'adapter.gguf')
  await writeGgufFile(path, {
    metadata: [
      ['general.architecture', gguf.string('llama')],
      ['general.type', gguf.string('adapter')],
      ['adapter.type', gguf.string('lora')],
      ...metadata,
    ],
    tensors,
  })
  return readGgufFile(path)
}

describe('validateLoraAdapter', () => {
  it('accepts an adapter shaped for its base and says what it is', async () => {
    const dir = tempDir()
    await writeTinyLlamaGguf(join(dir, 'base.gguf'))
    await writeTinyLoraGguf(join(dir, 'lora.gguf'), { rank: 8, alpha: 16, targets: ['attn_q', 'ffn_down'] })
    const { problems, info } = validateLoraAdapter(
      await readGgufFile(join(dir, 'lora.gguf')),
      await readGgufFile(join(dir, 'base.gguf')),
    )
    expect(problems).toEqual([])
    expect(info).toMatchObject({ architecture: 'llama', alpha: 16, rank: 8, adaptedTensors: 4 })
  })

  it('names every rule llama.cpp would refuse or abort on', async () => {
    const dir = tempDir()
    await writeTinyLlamaGguf(join(dir, 'base.gguf'))
    const base = await readGgufFile(join(dir, 'base.gguf'))
    const codes = async (tensors: ReturnType<typeof f32>[], metadata: [string, GgufValue][] = []) =>
      validateLoraAdapter(await adapterWith(tensors, metadata), base).problems.map((p) => p.code)
    const q = 'blk.0.attn_q.weight'
    expect(await codes([f32(`${q}.lora_a`, [64, 4])])).toContain('INCOMPLETE_PAIR')
    expect(await codes([f32(`${q}.lora_a`, [64, 4]), f32(`${q}.lora_b`, [8, 64])])).toContain('RANK_MISMATCH')
    expect(await codes([f32(`${q}.lora_a`, [4, 64]), f32(`${q}.lora_b`, [64, 4])])).toContain('SHAPE_MISMATCH')
    expect(await codes([f32('blk.0.attn_q.bias', [64])])).toEqual(['UNEXPECTED_TENSOR', 'NO_LORA_TENSORS'])
    const pair = [f32(`${q}.lora_a`, [64, 4]), f32(`${q}.lora_b`, [4, 64])]
    expect(await codes(pair)).toEqual([])
    // Norm vectors are skipped by llama.cpp, not refused.
    expect(await codes([...pair, f32('blk.0.attn_norm.weight', [64])])).toEqual([])
    expect(await codes(pair, [['adapter.lora.alpha', gguf.uint32(16)]])).toEqual(['WRONG_TYPE'])
    // The token embedding's pair is stored the other way round (llm_build_inp_embd).
    const embd = 'token_embd.weight'
    expect(await codes([f32(`${embd}.lora_a`, [4, 260]), f32(`${embd}.lora_b`, [4, 64])])).toEqual([])
    const notLora = await adapterWith(pair)
    notLora.metadata.set('adapter.type', gguf.string('control_vector'))
    expect(validateLoraAdapter(notLora, base).problems.map((p) => p.code)).toEqual(['NOT_LORA'])
    const model = validateLoraAdapter(base, base)
    expect(model.problems.map((p) => p.code)).toEqual(['NOT_ADAPTER'])
    expect(model.info).toBeUndefined()
  })
})
