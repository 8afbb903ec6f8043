/**
 * Byte-identity proof against the real ggml: compiles a small C harness (ggml-harness.ts) that links the
 * libggml-base.so shipped by node-llama-cpp (the same library that loads our models), runs
 * ggml_quantize_chunk (with and without importance weights), the quantize_row_*_ref functions, the
 * dequantizers and the fp16 row converters on the same inputs as our TypeScript code, and compares
 * every byte.
 */
import { readFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { dequantizeTensor } from './dequantize.js'
import { fp16ArrayToFp32, fp16BitsToFp32, fp32ArrayToFp16 } from './fp16.js'
import { compileGgmlHarness, ggmlHarnessSkipReason, HARNESS_TYPES, type GgmlHarness } from './ggml-harness.js'
import { kQuantBlockBytes, quantizeKRows } from './k-quants.js'
import { legacyQuantBlockBytes, quantizeRow, type LegacyQuantTypeName } from './quant-blocks.js'
import { encodedScalesAreFinite, quantizeRows, type WritableTensorType } from './quantize-rows.js'
import { quantizeGgufFile } from './quantize.js'
import { readGgufFile } from './reader.js'
import { everyValueTypeMetadata, kQuantParityImportance, kQuantParityInputs, sampleTensors } from './test-support.js'
import { CHATML_TEMPLATE, createSeededRandom, writeTinyLlamaGguf } from './tiny-model.js'
import { gguf, knownGgmlTypes } from './types.js'
import { validateGguf } from './validate.js'
import { writeGgufFile } from './writer.js'

const reason = ggmlHarnessSkipReason()
if (reason) console.warn(`[skip] ${reason}`)

/** Blocks chosen to hit every rule in the reference code: ties, extremes, zeros, subnormals. */
function quantizationInputs(): Float32Array {
  const random = createSeededRandom(1234)
  const blocks: number[][] = []
  const block = (fill: (index: number) => number): void => {
    blocks.push(Array.from({ length: 32 }, (_, index) => fill(index)))
  }
  // Random data at several scales.
  for (const scale of [1e-3, 0.02, 1, 37, 1000]) {
    for (let repeat = 0; repeat < 100; repeat++) block(() => (random() * 2 - 1) * scale)
  }
  // Near-ties with awkward scales: values sit within float32 rounding of a quantization boundary,
  // so skipping any single float32 rounding step (or rounding the wrong way) changes a level.
  for (let repeat = 0; repeat < 200; repeat++) {
    const low = Math.fround(-random() * 3)
    const high = Math.fround(random() * 3)
    for (const levels of [15, 31]) {
      const step = Math.fround(Math.fround(high - low) / levels)
      block((index) =>
        index === 0 ? low : index === 1 ? high : Math.fround(low + (Math.floor(random() * levels) + 0.5) * step),
      )
    }
    for (const halfLevels of [8, 16]) {
      const step = Math.fround(high / halfLevels)
      block((index) =>
        index === 0 ? -high : Math.fround((Math.floor(random() * 2 * halfLevels) - halfLevels + 0.5) * step),
      )
    }
    const step = Math.fround(high / 127)
    block((index) => (index === 0 ? high : Math.fround((Math.floor(random() * 254) - 127 + 0.5) * step)))
  }
  block(() => 0) // all-zero block: Q4_0/Q5_0 scale is -0 (0x8000)
  block(() => -0)
  block(() => 1.5) // constant block: Q4_1/Q5_1 range is zero
  block(() => -2.25)
  // Exact ties: scale 1 so x*id lands on .5 boundaries.
  block((index) => (index === 0 ? -8 : index % 2 ? index / 2 - 8 + 0.5 : -(index % 8) - 0.5)) // Q4_0 d = 1
  block((index) => (index === 0 ? 8 : (index % 16) - 7.5)) // Q4_0 d = -1
  block((index) => (index === 0 ? -16 : (index % 32) - 15.5)) // Q5_0 d = 1
  block((index) => (index === 0 ? 127 : ((index * 7) % 255) - 127 + 0.5)) // Q8_0 d = 1
  block((index) => (index === 0 ? -127 : -(((index * 5) % 120) + 0.5))) // Q8_0 negative halves
  block((index) => (index === 0 ? 0 : index === 1 ? 15 : (index % 15) + 0.5)) // Q4_1 d = 1
  block((index) => (index === 0 ? 0 : index === 1 ? 31 : (index % 31) + 0.5)) // Q5_1 d = 1
  block((index) => -(index % 8) - 0.5) // negative halves only
  // Equal magnitudes of both signs: the first one wins in Q4_0/Q5_0.
  block((index) => (index === 3 ? 3 : index === 9 ? -3 : index / 20))
  block((index) => (index === 3 ? -3 : index === 9 ? 3 : index / 20))
  block((index) => (index % 2 ? 5 : -5))
  // +/- extremes and big values (scales beyond fp16 range become inf, as in C).
  block((index) => (index % 2 ? 65504 : -65504))
  block((index) => (index === 5 ? 1e6 : index))
  block((index) => (index === 0 ? 3.4028234663852886e38 : index === 1 ? -3.4028234663852886e38 : index))
  // Subnormals and tiny normals: inverse scales overflow to infinity here.
  block((index) => (index % 3 === 0 ? 1e-40 : index % 3 === 1 ? -3e-41 : 0))
  block((index) => (index % 2 ? 1.4e-45 : 0))
  block((index) => (index === 7 ? 1e-38 : index * 1e-39))
  block((index) => (index === 0 ? 2e-37 : -index * 1e-39))
  block((index) => (index % 4 === 0 ? 6e-8 : 3e-8)) // around the smallest fp16 subnormal
  block((index) => (index % 2 ? 2 ** -24 : -(2 ** -25))) // smallest fp16 subnormal and its half (a tie)
  // Pad to whole 256-element rows.
  while (blocks.length % 8 !== 0) block(() => random() - 0.5)
  return Float32Array.from(blocks.flat())
}

/** Every fp16 value plus the float32 values just around each rounding midpoint, and specials. */
function halfConversionInputs(quantInputs: Float32Array): Float32Array {
  const values: number[] = Array.from(quantInputs)
  const bits = new Uint32Array(1)
  const asFloat = new Float32Array(bits.buffer)
  const addBits = (pattern: number): void => {
    bits[0] = pattern >>> 0
    values.push(asFloat[0] as number)
  }
  for (let half = 0; half < 0x7c00; half++) {
    const low = fp16BitsToFp32(half)
    const high = fp16BitsToFp32(half + 1)
    asFloat[0] = (low + high) / 2 // exact: fp16 values have 11 significant bits
    const midpoint = bits[0] as number
    for (const delta of [-1, 0, 1]) {
      addBits(midpoint + delta)
      addBits((midpoint + delta) | 0x80000000)
    }
    values.push(low, -low)
  }
  for (const pattern of [
    0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xffffffff, 0x7f7fffff, 0x00000001,
    0x80000001, 0x00800000,
  ]) {
    addBits(pattern)
  }
  values.push(65504, 65519.99, 65520, 65536, 1e10, -1e10, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 2 ** -15)
  return Float32Array.from(values)
}

describe.skipIf(reason !== undefined)('byte identity with the ggml library shipped by node-llama-cpp', () => {
  let harness: GgmlHarness
  let workDirectory = ''
  let harnessOutput = ''
  let kQuantOutput = ''
  let kDirectory = ''
  const quantInputs = quantizationInputs()
  const halfInputs = halfConversionInputs(quantInputs)
  const random = createSeededRandom(99)
  const kInputs = kQuantParityInputs(random)
  const kImportance = kQuantParityImportance(random)

  beforeAll(async () => {
    harness = await compileGgmlHarness()
    workDirectory = harness.directory
    await writeFile(join(workDirectory, 'quant.f32'), new Uint8Array(quantInputs.buffer))
    await writeFile(join(workDirectory, 'fp16.f32'), new Uint8Array(halfInputs.buffer))
    harnessOutput = harness.run([
      'quant',
      join(workDirectory, 'quant.f32'),
      join(workDirectory, 'fp16.f32'),
      workDirectory,
    ]).stdout
    kDirectory = join(workDirectory, 'k')
    await mkdir(kDirectory)
    await writeFile(join(workDirectory, 'k.f32'), new Uint8Array(kInputs.buffer))
    await writeFile(join(workDirectory, 'k-importance.f32'), new Uint8Array(kImportance.buffer))
    kQuantOutput = harness.run([
      'kquant',
      join(workDirectory, 'k.f32'),
      join(workDirectory, 'k-importance.f32'),
      String(kImportance.length),
      kDirectory,
    ]).stdout
  }, 60_000)

  afterAll(async () => {
    await harness?.close()
  })

  const types: LegacyQuantTypeName[] = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']
  for (const type of types) {
    it(`${type}: TypeScript, ggml_quantize_chunk and quantize_row_${type.toLowerCase()}_ref agree byte for byte`, async () => {
      const fromChunk = new Uint8Array(await readFile(join(workDirectory, `${type}.chunk`)))
      const fromReference = new Uint8Array(await readFile(join(workDirectory, `${type}.ref`)))
      const ours = quantizeRow(type, quantInputs)
      // Without an importance matrix the library's chunk path is the reference path.
      expect(Buffer.compare(fromChunk, fromReference)).toBe(0)
      expect(harnessOutput).toContain(`imatrix ${type} 0`)
      expect(ours.length).toBe(fromChunk.length)
      const firstDifference = ours.findIndex((byte, index) => byte !== fromChunk[index])
      expect(firstDifference, `first differing byte at ${firstDifference}`).toBe(-1)
    })
  }

  /** Index of the first differing block, or -1. */
  function firstDifferentBlock(ours: Uint8Array, theirs: Uint8Array, blockBytes: number): number {
    const index = ours.findIndex((byte, at) => byte !== theirs[at])
    return index === -1 ? -1 : Math.floor(index / blockBytes)
  }

  const blockBytesOf = (name: string): number =>
    (kQuantBlockBytes as Record<string, number>)[name] ?? (legacyQuantBlockBytes as Record<string, number>)[name] ?? 0

  for (const { name, chunk } of HARNESS_TYPES.filter((type) => type.chunk)) {
    const type = name as WritableTensorType
    it(`${name}: ours, ggml_quantize_chunk and quantize_row_${name.toLowerCase()}_ref agree without importance weights`, async () => {
      const fromChunk = new Uint8Array(await readFile(join(kDirectory, `${name}.plain`)))
      const fromReference = new Uint8Array(await readFile(join(kDirectory, `${name}.ref`)))
      const ours = quantizeRows(type, kInputs, kImportance.length)
      expect(chunk).toBe(true)
      expect(ours.length).toBe(fromChunk.length)
      expect(Buffer.compare(fromChunk, fromReference)).toBe(0)
      expect(firstDifferentBlock(ours, fromChunk, blockBytesOf(name)), 'first differing block').toBe(-1)
      expect(kQuantOutput).toContain(`requires_imatrix ${name} 0`)
    })
    it(`${name}: ours and ggml_quantize_chunk agree with importance weights`, async () => {
      const fromChunk = new Uint8Array(await readFile(join(kDirectory, `${name}.weighted`)))
      const ours = quantizeRows(type, kInputs, kImportance.length, kImportance)
      expect(ours.length).toBe(fromChunk.length)
      expect(firstDifferentBlock(ours, fromChunk, blockBytesOf(name)), 'first differing block').toBe(-1)
      if (name !== 'Q8_0') {
        // The weights change the result (Q8_0 ignores them in ggml, and so do we).
        expect(Buffer.compare(ours, quantizeRows(type, kInputs, kImportance.length))).not.toBe(0)
      }
    })
  }

  it('Q8_K: ours and quantize_row_q8_k_ref agree', async () => {
    const fromReference = new Uint8Array(await readFile(join(kDirectory, 'Q8_K.ref')))
    const ours = new Uint8Array(fromReference.length)
    quantizeKRows('Q8_K', kInputs, kImportance.length, ours)
    expect(firstDifferentBlock(ours, fromReference, 292), 'first differing block').toBe(-1)
  })

  for (const { name } of HARNESS_TYPES) {
    it(`${name}: dequantizeTensor matches dequantize_row_${name.toLowerCase()} bit for bit`, async () => {
      const encoded = new Uint8Array(await readFile(join(kDirectory, `${name}.ref`)))
      const expected = new Uint32Array(new Uint8Array(await readFile(join(kDirectory, `${name}.dequant`))).buffer)
      const ours = new Uint32Array(dequantizeTensor(name as WritableTensorType, encoded, kInputs.length).buffer)
      expect(ours.length).toBe(expected.length)
      expect(ours.findIndex((bits, index) => bits !== expected[index])).toBe(-1)
    })
  }

  it('the k-quant inputs reach the extreme paths (some blocks overflow to non-finite scales, as in ggml)', () => {
    for (const type of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'] as const) {
      const bytes = quantizeRows(type, kInputs, kImportance.length)
      const blockBytes = kQuantBlockBytes[type]
      let nonFinite = 0
      for (let at = 0; at < bytes.length; at += blockBytes) {
        if (!encodedScalesAreFinite(type, bytes.subarray(at, at + blockBytes))) nonFinite++
      }
      expect(nonFinite, type).toBeGreaterThan(0)
      expect(nonFinite, type).toBeLessThan(8)
    }
  })

  it('fp32 -> fp16 matches ggml_fp32_to_fp16_row on every rounding midpoint and special value', async () => {
    const expected = new Uint16Array(new Uint8Array(await readFile(join(workDirectory, 'fp16'))).buffer)
    const ours = fp32ArrayToFp16(halfInputs)
    const firstDifference = ours.findIndex((half, index) => half !== expected[index])
    expect(firstDifference, `first difference at input ${halfInputs[firstDifference]}`).toBe(-1)
    expect(ours.length).toBe(expected.length)
  })

  it('fp16 -> fp32 matches ggml_fp16_to_fp32_row for all 65536 bit patterns (NaN payloads included)', async () => {
    const expected = new Uint32Array(new Uint8Array(await readFile(join(workDirectory, 'fp32-from-fp16'))).buffer)
    const ours = new Uint32Array(fp16ArrayToFp32(Uint16Array.from({ length: 65536 }, (_, half) => half)).buffer)
    const firstDifference = ours.findIndex((bits, index) => bits !== expected[index])
    expect(firstDifference, `first difference at half 0x${firstDifference.toString(16)}`).toBe(-1)
  })

  /** Runs ggml's gguf parser on a file; returns its re-serialized header, or undefined if it refused. */
  function ggmlHeaderOf(path: string): { header: Buffer; report: string } | undefined {
    const metaPath = `${path}.ggml-meta`
    const run = harness.run(['gguf', path, metaPath], { allowFailure: true })
    if (run.status === 4) return undefined
    if (run.status !== 0) throw new Error(`harness gguf failed (${run.status}): ${run.stderr}`)
    return { header: readFileSync(metaPath), report: run.stdout }
  }

  it('ggml parses our files and re-serializes exactly our header bytes (all value types, tiny model, quantized model)', async () => {
    const allTypes = join(workDirectory, 'all-types.gguf')
    await writeGgufFile(allTypes, {
      metadata: everyValueTypeMetadata({ includeNestedArrays: false }),
      tensors: sampleTensors(),
    })
    const tiny = join(workDirectory, 'tiny.gguf')
    await writeTinyLlamaGguf(tiny, { chatTemplate: CHATML_TEMPLATE })
    const quantized = join(workDirectory, 'tiny-q4_0.gguf')
    await quantizeGgufFile(tiny, quantized, { fileType: 'Q4_0' })
    const aligned = join(workDirectory, 'aligned.gguf')
    await writeGgufFile(aligned, { metadata: [['general.alignment', gguf.uint32(64)]], tensors: sampleTensors() })
    for (const path of [allTypes, tiny, quantized, aligned]) {
      const ours = await readGgufFile(path)
      const fromGgml = ggmlHeaderOf(path)
      expect(fromGgml, path).toBeDefined()
      const fileBytes = readFileSync(path)
      expect(fromGgml?.header.length, path).toBe(ours.dataStart)
      expect(fromGgml?.header.equals(fileBytes.subarray(0, ours.dataStart)), path).toBe(true)
      expect(fromGgml?.report).toContain(`data_offset ${ours.dataStart}\n`)
      for (const [index, tensor] of ours.tensors.entries())
        expect(fromGgml?.report).toContain(`tensor ${index} ${tensor.relativeOffset}\n`)
    }
  })

  it('ggml refuses nested arrays, as validateGguf reports', async () => {
    const nested = join(workDirectory, 'nested.gguf')
    await writeGgufFile(nested, {
      metadata: everyValueTypeMetadata({ includeNestedArrays: true }),
      tensors: sampleTensors(),
    })
    expect(validateGguf(await readGgufFile(nested)).map((problem) => problem.code)).toContain('NESTED_ARRAY')
    expect(ggmlHeaderOf(nested)).toBeUndefined()
  })

  it('ggml type table (block size and bytes) matches ggml_blck_size / ggml_type_size', () => {
    for (const traits of knownGgmlTypes()) {
      expect(harnessOutput).toContain(
        `type ${traits.id} ${traits.name.toLowerCase().replace('_k', '_K')} ${traits.blockSize} ${traits.blockBytes}\n`,
      )
    }
  })
})
