/**
 * Whole-file parity with llama.cpp itself: the C harness (ggml-harness.ts) calls `llama_model_quantize`
 * from the libllama node-llama-cpp ships, loading importance matrices as llama-quantize does, and we
 * compare its output file with ours byte for byte (header, tensor order, types, data).
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { compileGgmlHarness, ggmlHarnessSkipReason, type GgmlHarness } from './ggml-harness.js'
import { encodeLegacyImatrix, readImportanceMatrix, writeGgufImatrix } from './imatrix.js'
import {
  fileTypeInfo,
  planQuantization,
  type QuantizationFileType,
  type QuantizationPlanOptions,
} from './quant-plan.js'
import { quantizeGgufFile } from './quantize.js'
import type { WritableTensorType } from './quantize-rows.js'
import { readGgufFile } from './reader.js'
import { syntheticImatrix } from './test-support.js'
import { writeTinyLlamaGguf, type TinyLlamaOptions } from './tiny-model.js'
import { GgmlType } from './types.js'

const reason = ggmlHarnessSkipReason()
if (reason) console.warn(`[skip] ${reason}`)

interface Case {
  readonly model: string
  readonly fileType: QuantizationFileType
  readonly options?: Omit<QuantizationPlanOptions, 'hasImatrix'>
  readonly imatrix?: 'gguf' | 'legacy'
}

const models: Record<string, TinyLlamaOptions> = {
  tiny: { seed: 11 },
  wide: { seed: 12, embeddingLength: 256, feedForwardLength: 512 },
  'wide-gqa': { seed: 13, embeddingLength: 256, feedForwardLength: 512, headCount: 4, headCountKv: 1 },
  'wide-tied': { seed: 14, embeddingLength: 256, feedForwardLength: 256, tiedEmbeddings: true },
  deep: { seed: 15, blockCount: 8, embeddingLength: 256, feedForwardLength: 256, headCount: 4, headCountKv: 2 },
  'tiny-f16': { seed: 16, weightType: 'F16' },
}

const everyType: QuantizationFileType[] = Object.keys(fileTypeInfo) as QuantizationFileType[]
const kTypes: QuantizationFileType[] = [
  'Q2_K',
  'Q3_K_S',
  'Q3_K_M',
  'Q3_K_L',
  'Q4_K_S',
  'Q4_K_M',
  'Q5_K_S',
  'Q5_K_M',
  'Q6_K',
]
const needsImatrix = (fileType: QuantizationFileType): 'gguf' | undefined =>
  fileTypeInfo[fileType].requiresImatrix ? 'gguf' : undefined

/** Cases compared byte for byte (ours and llama_model_quantize both run). */
const fileCases: Case[] = [
  ...everyType.map((fileType) => ({ model: 'tiny', fileType, imatrix: needsImatrix(fileType) })),
  ...[...kTypes, 'Q2_K_S' as const].map((fileType) => ({ model: 'wide', fileType, imatrix: needsImatrix(fileType) })),
  { model: 'wide-gqa', fileType: 'Q2_K' },
  { model: 'wide-tied', fileType: 'Q4_K_M' },
  { model: 'tiny-f16', fileType: 'Q5_K_M' },
  { model: 'wide', fileType: 'Q4_K_M', imatrix: 'gguf' },
  { model: 'wide', fileType: 'Q3_K_M', imatrix: 'legacy' },
  { model: 'wide', fileType: 'Q6_K', imatrix: 'legacy' },
  { model: 'tiny', fileType: 'Q4_0', imatrix: 'gguf' },
  { model: 'wide', fileType: 'Q5_K_M', options: { pure: true } },
  { model: 'wide', fileType: 'Q4_K_M', options: { leaveOutputTensor: true } },
  { model: 'wide', fileType: 'Q4_K_S', options: { outputTensorType: 'Q5_K', tokenEmbeddingType: 'Q4_K' } },
  { model: 'wide-tied', fileType: 'Q3_K_L', options: { outputTensorType: 'Q8_0' } },
  { model: 'tiny', fileType: 'Q4_K_M', options: { tokenEmbeddingType: 'F16' } },
  { model: 'wide-q8', fileType: 'Q4_K_M', options: { allowRequantize: true } },
  { model: 'wide-q8', fileType: 'Q8_0' },
]

/** Cases where only the tensor types are compared (llama_model_quantize runs, ours plans). */
const typeCases: Case[] = [
  ...everyType.map((fileType) => ({ model: 'deep', fileType, imatrix: needsImatrix(fileType) })),
  { model: 'deep', fileType: 'Q4_0', imatrix: 'gguf' },
  { model: 'deep', fileType: 'Q5_0', imatrix: 'gguf' },
]

const describeCase = (c: Case): string =>
  `${c.model} ${c.fileType}${c.imatrix ? ` + ${c.imatrix} imatrix` : ''}${c.options ? ` ${JSON.stringify(c.options)}` : ''}`

describe.skipIf(reason !== undefined)('whole files equal llama_model_quantize from the shipped libllama', () => {
  let harness: GgmlHarness
  let directory = ''

  beforeAll(async () => {
    harness = await compileGgmlHarness()
    directory = harness.directory
    for (const [name, options] of Object.entries(models)) {
      const path = join(directory, `${name}.gguf`)
      await writeTinyLlamaGguf(path, options)
      const contents = syntheticImatrix(await readGgufFile(path), options.seed ?? 1)
      await writeGgufImatrix(join(directory, `${name}.imatrix.gguf`), contents)
      await writeFile(join(directory, `${name}.imatrix.dat`), encodeLegacyImatrix(contents))
    }
    // An already-quantized source (Q8_0, written by us: the Q8_0 cases above prove it is llama.cpp's file).
    await quantizeGgufFile(join(directory, 'wide.gguf'), join(directory, 'wide-q8.gguf'), { fileType: 'Q8_0' })
  }, 60_000)

  afterAll(async () => {
    await harness?.close()
  })

  const typeId = (type: WritableTensorType | undefined): number => (type ? GgmlType[type] : -1)

  function runLlama(c: Case, out: string): void {
    const imatrixPath = c.imatrix ? join(directory, `${c.model}.imatrix.${c.imatrix === 'gguf' ? 'gguf' : 'dat'}`) : '-'
    harness.run([
      'llama',
      join(directory, `${c.model}.gguf`),
      out,
      String(fileTypeInfo[c.fileType].ftype),
      String(typeId(c.options?.outputTensorType)),
      String(typeId(c.options?.tokenEmbeddingType)),
      c.options?.pure ? '1' : '0',
      c.options?.leaveOutputTensor ? '1' : '0',
      c.options?.allowRequantize ? '1' : '0',
      imatrixPath,
    ])
  }

  async function runOurs(c: Case, out: string): Promise<void> {
    const imatrixPath = c.imatrix ? join(directory, `${c.model}.imatrix.${c.imatrix === 'gguf' ? 'gguf' : 'dat'}`) : ''
    await quantizeGgufFile(join(directory, `${c.model}.gguf`), out, {
      fileType: c.fileType,
      ...c.options,
      ...(c.imatrix && { imatrix: await readImportanceMatrix(imatrixPath), imatrixLabel: imatrixPath }),
    })
  }

  it.each(fileCases.map((c) => [describeCase(c), c] as const))('%s', async (_label, c) => {
    const theirs = join(directory, `${describeCase(c).replace(/\W+/g, '-')}.llama.gguf`)
    const ours = join(directory, `${describeCase(c).replace(/\W+/g, '-')}.ours.gguf`)
    runLlama(c, theirs)
    await runOurs(c, ours)
    const [theirFile, ourFile] = [await readGgufFile(theirs), await readGgufFile(ours)]
    // Types and order first: the clearest message when the mixture differs.
    expect(ourFile.tensors.map((t) => `${t.name}:${t.typeName}`)).toEqual(
      theirFile.tensors.map((t) => `${t.name}:${t.typeName}`),
    )
    const [theirBytes, ourBytes] = [readFileSync(theirs), readFileSync(ours)]
    expect(ourBytes.subarray(0, ourFile.dataStart).equals(theirBytes.subarray(0, theirFile.dataStart)), 'header').toBe(
      true,
    )
    for (const tensor of ourFile.tensors) {
      const start = tensor.offset
      const same = ourBytes
        .subarray(start, start + tensor.byteSize)
        .equals(theirBytes.subarray(start, start + tensor.byteSize))
      expect(same, `${tensor.name} (${tensor.typeName}) bytes`).toBe(true)
    }
    expect(ourBytes.length).toBe(theirBytes.length)
    expect(ourBytes.equals(theirBytes)).toBe(true)
  })

  it.each(typeCases.map((c) => [describeCase(c), c] as const))('%s: tensor types (8 layers)', async (_label, c) => {
    const theirs = join(directory, `${describeCase(c).replace(/\W+/g, '-')}.llama.gguf`)
    runLlama(c, theirs)
    const theirFile = await readGgufFile(theirs)
    const plan = planQuantization(await readGgufFile(join(directory, `${c.model}.gguf`)), c.fileType, {
      ...c.options,
      hasImatrix: c.imatrix !== undefined,
    })
    expect(plan.map((p) => `${p.name}:${p.targetType}`)).toEqual(
      theirFile.tensors.map((t) => `${t.name}:${t.typeName}`),
    )
  })

  it('llama-quantize refuses an imatrix for another model as we do (size mismatch)', async () => {
    const out = join(directory, 'mismatch.llama.gguf')
    const wrongImatrix = join(directory, 'tiny.imatrix.gguf')
    const run = harness.run(
      [
        'llama',
        join(directory, 'wide.gguf'),
        out,
        String(fileTypeInfo.Q4_K_M.ftype),
        '-1',
        '-1',
        '0',
        '0',
        '0',
        wrongImatrix,
      ],
      { allowFailure: true },
    )
    expect(run.status).not.toBe(0)
    expect(run.stderr).toMatch(/imatrix size \d+ is different from tensor size \d+/)
    await expect(
      quantizeGgufFile(join(directory, 'wide.gguf'), join(directory, 'mismatch.ours.gguf'), {
        fileType: 'Q4_K_M',
        imatrix: await readImportanceMatrix(wrongImatrix),
      }),
    ).rejects.toMatchObject({ code: 'IMATRIX_MISMATCH', message: expect.stringMatching(/another model/) })
  })
})
