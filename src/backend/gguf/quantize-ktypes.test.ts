/**
 * K-quant file types without the C harness: the tensor types llama.cpp's llama-quant.cpp picks, written
 * out by hand from its code for two model shapes, importance matrices (both formats) and the bad inputs
 * the quantizer must refuse with a clear error. quantize-llama-parity.test.ts checks the same against the
 * real libllama where a C compiler is available.
 */
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { describe, expect, it } from 'vitest'

import { encodeLegacyImatrix, parseLegacyImatrix, readImportanceMatrix, writeGgufImatrix } from './imatrix.js'
import { metadataNumber, metadataString } from './metadata.js'
import { planQuantization, summarizePlan, type QuantizationFileType } from './quant-plan.js'
import { quantizeGgufFile } from './quantize.js'
import { readGgufFile } from './reader.js'
import { syntheticImatrix, withTemporaryDirectory } from './test-support.js'
import { writeTinyLlamaGguf } from './tiny-model.js'

const layerTensors = [
  'attn_k',
  'attn_norm',
  'attn_output',
  'attn_q',
  'attn_v',
  'ffn_down',
  'ffn_gate',
  'ffn_norm',
  'ffn_up',
]

/** Expected types in llama-quantize's order, from per-layer choices for attn_v and ffn_down and a default. */
function expectedTable(
  top: [string, string, string],
  layers: Array<{ attnV: string; ffnDown: string }>,
  other: string,
): string[] {
  const rows = [`output.weight:${top[0]}`, `output_norm.weight:${top[1]}`, `token_embd.weight:${top[2]}`]
  layers.forEach(({ attnV, ffnDown }, layer) => {
    for (const name of layerTensors) {
      const type = name.endsWith('norm') ? 'F32' : name === 'attn_v' ? attnV : name === 'ffn_down' ? ffnDown : other
      rows.push(`blk.${layer}.${name}.weight:${type}`)
    }
  })
  return rows
}

async function planOf(options: Parameters<typeof writeTinyLlamaGguf>[1], fileType: QuantizationFileType) {
  return withTemporaryDirectory(async (directory) => {
    await writeTinyLlamaGguf(join(directory, 'model.gguf'), options)
    const file = await readGgufFile(join(directory, 'model.gguf'))
    const plan = planQuantization(file, fileType)
    return {
      plan,
      table: plan.map((tensor) => `${tensor.name}:${tensor.targetType}`),
      summary: summarizePlan(file, fileType, plan),
    }
  })
}

describe("llama-quantize's tensor types, derived by hand from llama-quant.cpp", () => {
  // 2 layers, 256 wide: use_more_bits(i, 2) is true for layer 1 only (i >= 7*2/8), so attn_v and ffn_down of
  // layer 1 get Q6_K in Q4_K_M and Q5_K_M; output.weight gets Q6_K (rows of 256).
  const wide = { seed: 3, embeddingLength: 256, feedForwardLength: 512 }

  it('Q4_K_M on a 2-layer 256-wide llama', async () => {
    const { table, summary } = await planOf(wide, 'Q4_K_M')
    expect(table).toEqual(
      expectedTable(
        ['Q6_K', 'F32', 'Q4_K'],
        [
          { attnV: 'Q4_K', ffnDown: 'Q4_K' },
          { attnV: 'Q6_K', ffnDown: 'Q6_K' },
        ],
        'Q4_K',
      ),
    )
    expect(summary.fallbacks).toBe(0)
    expect(summary.bitsPerWeight).toBeGreaterThan(4.5)
    expect(summary.bitsPerWeight).toBeLessThan(5.5)
  })

  it('Q5_K_M on a 2-layer 256-wide llama', async () => {
    const { table } = await planOf(wide, 'Q5_K_M')
    expect(table).toEqual(
      expectedTable(
        ['Q6_K', 'F32', 'Q5_K'],
        [
          { attnV: 'Q5_K', ffnDown: 'Q5_K' },
          { attnV: 'Q6_K', ffnDown: 'Q6_K' },
        ],
        'Q5_K',
      ),
    )
  })

  it('Q3_K_M on a 2-layer 256-wide llama: attn_v Q5_K for the first two, ffn_down Q4_K, attn_output Q4_K', async () => {
    const { table } = await planOf(wide, 'Q3_K_M')
    const expected = expectedTable(
      ['Q6_K', 'F32', 'Q3_K'],
      [
        { attnV: 'Q5_K', ffnDown: 'Q4_K' },
        { attnV: 'Q5_K', ffnDown: 'Q4_K' },
      ],
      'Q3_K',
    ).map((row) => (row.includes('attn_output') ? row.replace('Q3_K', 'Q4_K') : row))
    expect(table).toEqual(expected)
  })

  it('Q4_K_M on the 64-wide tiny llama: every k-quant falls back (rows are not multiples of 256), as llama.cpp does', async () => {
    const { table, plan, summary } = await planOf({ seed: 3 }, 'Q4_K_M')
    // output.weight: Q8_0 directly (rows of 64 do not take Q4_K's block); Q4_K -> Q5_0 and Q6_K -> Q8_0 fallbacks.
    expect(table).toEqual(
      expectedTable(
        ['Q8_0', 'F32', 'Q5_0'],
        [
          { attnV: 'Q5_0', ffnDown: 'Q5_0' },
          { attnV: 'Q8_0', ffnDown: 'Q8_0' },
        ],
        'Q5_0',
      ),
    )
    expect(summary.fallbacks).toBe(15) // as llama-quantize reports: "15 of 21 tensor(s) required fallback quantization"
    const attnV = plan.find((tensor) => tensor.name === 'blk.1.attn_v.weight')
    expect(attnV?.fallback).toEqual({ from: 'Q6_K', rowLength: 64 })
    expect(attnV?.reason).toMatch(/rows of 64 are not a multiple of 256 \(needed by Q6_K\), so Q8_0/)
  })

  it('Q2_K: attn_v Q3_K (Q4_K with 4 or more query heads per KV head), ffn_down and attn_output Q3_K', async () => {
    const { table } = await planOf(wide, 'Q2_K')
    expect(table.filter((row) => /attn_v|ffn_down|attn_output/.test(row))).toEqual([
      'blk.0.attn_output.weight:Q3_K',
      'blk.0.attn_v.weight:Q3_K',
      'blk.0.ffn_down.weight:Q3_K',
      'blk.1.attn_output.weight:Q3_K',
      'blk.1.attn_v.weight:Q3_K',
      'blk.1.ffn_down.weight:Q3_K',
    ])
    const gqa = await planOf({ ...wide, headCount: 4, headCountKv: 1 }, 'Q2_K')
    expect(gqa.table.filter((row) => row.includes('attn_v'))).toEqual([
      'blk.0.attn_v.weight:Q4_K',
      'blk.1.attn_v.weight:Q4_K',
    ])
  })
})

describe('quantizeGgufFile with k-quant file types', () => {
  it('writes general.file_type and quantize.imatrix.* as llama-quantize does, and lists tensors without importance data', async () => {
    await withTemporaryDirectory(async (directory) => {
      const source = join(directory, 'wide.gguf')
      await writeTinyLlamaGguf(source, { embeddingLength: 256, feedForwardLength: 512 })
      const contents = syntheticImatrix(await readGgufFile(source), 4)
      const entries = new Map(contents.entries)
      entries.delete('blk.1.ffn_up.weight')
      await writeGgufImatrix(join(directory, 'imatrix.gguf'), { ...contents, entries })
      const imatrix = await readImportanceMatrix(join(directory, 'imatrix.gguf'))
      const result = await quantizeGgufFile(source, join(directory, 'q4km.gguf'), {
        fileType: 'Q4_K_M',
        imatrix,
        imatrixLabel: 'my-imatrix.gguf',
      })
      const output = await readGgufFile(join(directory, 'q4km.gguf'))
      expect(metadataNumber(output.metadata, 'general.file_type')).toBe(15)
      expect(metadataString(output.metadata, 'quantize.imatrix.file')).toBe('my-imatrix.gguf')
      expect(metadataString(output.metadata, 'quantize.imatrix.dataset')).toBe('calibration.txt')
      expect(metadataNumber(output.metadata, 'quantize.imatrix.entries_count')).toBe(entries.size)
      expect(metadataNumber(output.metadata, 'quantize.imatrix.chunks_count')).toBe(3)
      expect([...output.metadata.keys()].slice(-6)).toEqual([
        'general.quantization_version',
        'general.file_type',
        'quantize.imatrix.file',
        'quantize.imatrix.dataset',
        'quantize.imatrix.entries_count',
        'quantize.imatrix.chunks_count',
      ])
      // token_embd is never in an imatrix (a lookup, not a matrix multiplication).
      expect(result.imatrix?.tensorsWithoutData).toEqual(['token_embd.weight', 'blk.1.ffn_up.weight'])
      expect(result.warnings.join('\n')).toMatch(
        /no data for 2 quantized tensors \(token_embd.weight, blk.1.ffn_up.weight\)/,
      )
      expect(result.bitsPerWeight).toBeGreaterThan(4)
    })
  })

  it('says so when rows fit no k-quant and tensors fall back', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'tiny.gguf'))
      const result = await quantizeGgufFile(join(directory, 'tiny.gguf'), join(directory, 'q4km.gguf'), {
        fileType: 'Q4_K_M',
      })
      expect(result.fallbacks).toHaveLength(15)
      expect(result.warnings.join('\n')).toMatch(
        /15 of 21 tensors have rows no k-quant block fits .* fell back as llama.cpp does: token_embd.weight Q4_K→Q5_0/,
      )
    })
  })
})

describe('importance matrix files', () => {
  it('reads the GGUF and legacy formats to the same weights llama-quantize computes', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'tiny.gguf'))
      const contents = syntheticImatrix(await readGgufFile(join(directory, 'tiny.gguf')), 5)
      await writeGgufImatrix(join(directory, 'm.gguf'), contents)
      await writeFile(join(directory, 'm.dat'), encodeLegacyImatrix(contents))
      const fromGguf = await readImportanceMatrix(join(directory, 'm.gguf'))
      const fromDat = await readImportanceMatrix(join(directory, 'm.dat'))
      expect(fromGguf.format).toBe('gguf')
      expect(fromDat.format).toBe('legacy')
      expect([...fromGguf.entries.keys()]).toEqual([...contents.entries.keys()].sort())
      expect([...fromDat.entries.keys()]).toEqual([...fromGguf.entries.keys()])
      for (const [name, { sums, counts }] of contents.entries) {
        const count = counts[0] as number
        const gguf = fromGguf.entries.get(name) as Float32Array
        expect(gguf[0]).toBe(Math.fround((sums[0] as number) / count))
        // legacy stores mean * ncall and divides again: equal to within float rounding.
        const legacy = fromDat.entries.get(name) as Float32Array
        expect(Math.abs((legacy[0] as number) - (gguf[0] as number)) / (gguf[0] as number)).toBeLessThan(1e-6)
      }
      expect(fromDat.chunkCount).toBe(3)
      expect(fromDat.datasets).toEqual(['calibration.txt'])
      expect(fromGguf.datasets).toEqual(['calibration.txt'])
    })
  })

  it('refuses a truncated imatrix, naming where it ends', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'tiny.gguf'))
      const contents = syntheticImatrix(await readGgufFile(join(directory, 'tiny.gguf')), 5)
      const bytes = encodeLegacyImatrix(contents)
      for (const cut of [2, 10, 40, 300, bytes.length - 100]) {
        expect(() => parseLegacyImatrix(bytes.subarray(0, cut), 'm.dat')).toThrow(
          /m.dat (is truncated|holds no importance data)/,
        )
      }
      expect(() => parseLegacyImatrix(bytes.subarray(0, 200), 'm.dat')).toThrow(
        /ends at byte 200, inside the 64 values of "blk.0.attn_k.weight" \(entry 1 of 15\)/,
      )
      await writeGgufImatrix(join(directory, 'm.gguf'), contents)
      const whole = await readFile(join(directory, 'm.gguf'))
      await writeFile(join(directory, 'cut.gguf'), whole.subarray(0, whole.length - 1000))
      await expect(readImportanceMatrix(join(directory, 'cut.gguf'))).rejects.toMatchObject({ code: 'INVALID_IMATRIX' })
      await writeFile(join(directory, 'header-cut.gguf'), whole.subarray(0, 200))
      await expect(readImportanceMatrix(join(directory, 'header-cut.gguf'))).rejects.toMatchObject({
        code: 'INVALID_IMATRIX',
        message: expect.stringMatching(/not a readable GGUF imatrix/),
      })
    })
  })
})

describe('bad input to k-quant quantization', () => {
  it('an imatrix for another model: names the first tensor the model lacks, or the first size that differs', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'two.gguf'), { embeddingLength: 256, feedForwardLength: 512 })
      await writeTinyLlamaGguf(join(directory, 'three.gguf'), {
        blockCount: 3,
        embeddingLength: 256,
        feedForwardLength: 512,
      })
      await writeTinyLlamaGguf(join(directory, 'narrow.gguf'), { embeddingLength: 64 })
      await writeGgufImatrix(
        join(directory, 'three.imatrix'),
        syntheticImatrix(await readGgufFile(join(directory, 'three.gguf')), 1),
      )
      await writeGgufImatrix(
        join(directory, 'narrow.imatrix'),
        syntheticImatrix(await readGgufFile(join(directory, 'narrow.gguf')), 1),
      )
      const quantize = async (imatrix: string) =>
        quantizeGgufFile(join(directory, 'two.gguf'), join(directory, 'out.gguf'), {
          fileType: 'Q4_K_M',
          imatrix: await readImportanceMatrix(join(directory, imatrix)),
        })
      await expect(quantize('three.imatrix')).rejects.toMatchObject({
        code: 'IMATRIX_MISMATCH',
        message: expect.stringMatching(
          /data for "blk.2.attn_k.weight", which this model does not have: it was made for another model/,
        ),
      })
      await expect(quantize('narrow.imatrix')).rejects.toMatchObject({
        code: 'IMATRIX_MISMATCH',
        message: expect.stringMatching(/64 values for "output.weight", which has 256 columns/),
      })
      expect(existsSync(join(directory, 'out.gguf'))).toBe(false)
    })
  })

  it('a type that needs an imatrix without one (Q2_K_S with 256-wide rows); narrow rows fall back and need none', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'wide.gguf'), { embeddingLength: 256, feedForwardLength: 512 })
      await expect(
        quantizeGgufFile(join(directory, 'wide.gguf'), join(directory, 'out.gguf'), { fileType: 'Q2_K_S' }),
      ).rejects.toMatchObject({
        code: 'IMATRIX_REQUIRED',
        message: expect.stringMatching(
          /Q2_K_S needs an importance matrix \(blk.0.attn_k.weight becomes Q2_K\).*llama-imatrix/,
        ),
      })
      await writeTinyLlamaGguf(join(directory, 'tiny.gguf'))
      const result = await quantizeGgufFile(join(directory, 'tiny.gguf'), join(directory, 'tiny-q2ks.gguf'), {
        fileType: 'Q2_K_S',
      })
      expect(result.fallbacks.length).toBeGreaterThan(0)
    })
  })

  it('an already-quantized input: refused unless allowed, then re-quantized with a warning about compounding error', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'wide.gguf'), { embeddingLength: 256, feedForwardLength: 512 })
      await quantizeGgufFile(join(directory, 'wide.gguf'), join(directory, 'q8.gguf'), { fileType: 'Q8_0' })
      await expect(
        quantizeGgufFile(join(directory, 'q8.gguf'), join(directory, 'q4.gguf'), { fileType: 'Q4_K_M' }),
      ).rejects.toMatchObject({ code: 'REQUANTIZE_REFUSED', message: expect.stringMatching(/--allow-requantize/) })
      const result = await quantizeGgufFile(join(directory, 'q8.gguf'), join(directory, 'q4.gguf'), {
        fileType: 'Q4_K_M',
        allowRequantize: true,
      })
      expect(result.warnings[0]).toMatch(/already quantized \(Q8_0\).*errors compound/)
    })
  })

  it('an explicit output or embedding type whose blocks do not fit the rows', async () => {
    await withTemporaryDirectory(async (directory) => {
      await writeTinyLlamaGguf(join(directory, 'tiny.gguf'))
      await expect(
        quantizeGgufFile(join(directory, 'tiny.gguf'), join(directory, 'out.gguf'), {
          fileType: 'Q4_K_M',
          outputTensorType: 'Q6_K',
        }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(
          /--output-tensor-type Q6_K needs rows that are a multiple of 256 values, but "output.weight" has rows of 64/,
        ),
      })
    })
  })
})
