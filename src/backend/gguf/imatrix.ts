/**
 * Importance matrices, the files llama.cpp's `llama-imatrix` writes: per weight tensor, the mean squared
 * activation of each input column over a calibration text. Quantizers weight each column's error by it.
 *
 * Two formats, both read here the way llama-quantize reads them (common/imatrix-loader.cpp and
 * tools/quantize/quantize.cpp), so the weights are the same floats:
 * - GGUF (the default since 2025): general.type = "imatrix", `imatrix.datasets`, `imatrix.chunk_count`,
 *   `imatrix.chunk_size`, and per tensor `<name>.in_sum2` (F32 [columns, experts]) and `<name>.counts`
 *   (F32 [1, experts]). Weight = in_sum2 / round(count), or 1 for an expert that saw no tokens.
 * - legacy `.dat`: int32 entry count; per entry int32 name length, name, int32 ncall, int32 value count,
 *   float32 values (already mean * ncall); then optionally int32 chunk count, int32 length, dataset name.
 *   Weight = value / ncall.
 *
 * Larder cannot make one itself: computing it needs every layer's input activations, which node-llama-cpp
 * does not expose. docs/quantization.md shows how to make one with llama.cpp.
 */
import { open, readFile } from 'node:fs/promises'

import { GgufError } from './errors.js'
import { metadataNumber, metadataStringArray } from './metadata.js'
import { readGguf, readTensorBytes } from './reader.js'
import { roundHalfAwayFromZero } from './quant-common.js'
import { elementCount, GgmlType, gguf, GGUF_MAGIC, type GgufTensorInfo } from './types.js'
import { writeGgufFile, type GgufTensorToWrite } from './writer.js'

export interface ImportanceMatrix {
  readonly format: 'gguf' | 'legacy'
  /** Weights per tensor name (columns × experts), normalized exactly as llama-quantize does. */
  readonly entries: ReadonlyMap<string, Float32Array>
  readonly datasets: readonly string[]
  /** Calibration chunks it was computed on (0 when the file does not say). */
  readonly chunkCount: number
}

const f = Math.fround

export async function readImportanceMatrix(path: string): Promise<ImportanceMatrix> {
  const handle = await open(path, 'r')
  try {
    const magic = new Uint8Array(4)
    const { bytesRead } = await handle.read(magic, 0, 4, 0)
    if (bytesRead === 4 && new DataView(magic.buffer).getUint32(0, true) === GGUF_MAGIC) {
      return await readGgufImatrix(handle, path)
    }
  } finally {
    await handle.close()
  }
  return parseLegacyImatrix(new Uint8Array(await readFile(path)), path)
}

async function readGgufImatrix(handle: Awaited<ReturnType<typeof open>>, path: string): Promise<ImportanceMatrix> {
  const file = await readGguf(handle).catch((error: unknown) => {
    throw new GgufError('INVALID_IMATRIX', `${path} is not a readable GGUF imatrix: ${(error as Error).message}`)
  })
  const datasets = metadataStringArray(file.metadata, 'imatrix.datasets')
  const chunkCount = metadataNumber(file.metadata, 'imatrix.chunk_count')
  const chunkSize = metadataNumber(file.metadata, 'imatrix.chunk_size')
  if (!datasets || chunkCount === undefined || chunkSize === undefined) {
    throw new GgufError(
      'INVALID_IMATRIX',
      `${path} has no imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size): it is not an importance matrix written by llama-imatrix`,
    )
  }
  if (file.tensors.length === 0) throw new GgufError('INVALID_IMATRIX', `${path} holds no importance data`)
  const pairs = new Map<string, { sums?: GgufTensorInfo; counts?: GgufTensorInfo }>()
  for (const tensor of file.tensors) {
    const match = /^(.*)\.(in_sum2|counts)$/.exec(tensor.name)
    if (!match) continue
    const pair = pairs.get(match[1] as string) ?? {}
    if (match[2] === 'in_sum2') pair.sums = tensor
    else pair.counts = tensor
    pairs.set(match[1] as string, pair)
  }
  const entries = new Map<string, Float32Array>()
  for (const name of [...pairs.keys()].sort()) {
    const { sums, counts } = pairs.get(name) as { sums?: GgufTensorInfo; counts?: GgufTensorInfo }
    if (!sums || !counts)
      throw new GgufError('INVALID_IMATRIX', `${path}: "${name}" has sums without counts or counts without sums`)
    if (sums.typeName !== 'F32' || counts.typeName !== 'F32') {
      throw new GgufError('INVALID_IMATRIX', `${path}: sums and counts of "${name}" must be F32`)
    }
    const values = toFloats(await readTensorBytes(handle, sums))
    const countValues = toFloats(await readTensorBytes(handle, counts))
    const experts = elementCount(counts.dims)
    if (experts === 0 || values.length % experts !== 0) {
      throw new GgufError('INVALID_IMATRIX', `${path}: "${name}" has ${values.length} values for ${experts} experts`)
    }
    const columns = values.length / experts
    const weights = new Float32Array(values.length)
    for (let expert = 0; expert < experts; expert++) {
      const count = roundHalfAwayFromZero(countValues[expert] as number) // std::lround, then (float)
      for (let column = 0; column < columns; column++) {
        const at = expert * columns + column
        weights[at] = count > 0 ? f((values[at] as number) / count) : 1
      }
    }
    entries.set(name, checkFinite(weights, name, path))
  }
  return { format: 'gguf', entries, datasets, chunkCount }
}

function toFloats(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
}

function checkFinite(weights: Float32Array, name: string, path: string): Float32Array {
  const bad = weights.findIndex((value) => !Number.isFinite(value))
  if (bad !== -1) {
    throw new GgufError(
      'INVALID_IMATRIX',
      `${path}: "${name}" has a non-finite weight (${weights[bad]}) at column ${bad}`,
    )
  }
  return weights
}

/** Parses a legacy `.dat` importance matrix. */
export function parseLegacyImatrix(bytes: Uint8Array, path = 'imatrix'): ImportanceMatrix {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  const need = (count: number, what: string): void => {
    if (at + count > bytes.length) {
      throw new GgufError(
        'INVALID_IMATRIX',
        `${path} is truncated: it ends at byte ${bytes.length}, inside ${what} (bytes ${at}..${at + count}); make it again with llama-imatrix`,
      )
    }
  }
  const int32 = (what: string): number => {
    need(4, what)
    const value = view.getInt32(at, true)
    at += 4
    return value
  }
  const entryCount = bytes.length >= 4 ? view.getInt32(0, true) : 0
  if (entryCount < 1) {
    throw new GgufError(
      'INVALID_IMATRIX',
      `${path} holds no importance data (neither a GGUF imatrix nor a legacy .dat one)`,
    )
  }
  at = 4
  const utf8 = new TextDecoder('utf-8', { fatal: false })
  const entries = new Map<string, Float32Array>()
  for (let entry = 0; entry < entryCount; entry++) {
    const length = int32(`the name length of entry ${entry + 1} of ${entryCount}`)
    if (length < 0 || length > 4096) {
      throw new GgufError(
        'INVALID_IMATRIX',
        `${path}: entry ${entry + 1} has a name length of ${length}; the file is damaged`,
      )
    }
    need(length, `the name of entry ${entry + 1} of ${entryCount}`)
    const name = utf8.decode(bytes.subarray(at, at + length))
    at += length
    const calls = int32(`the call count of "${name}"`)
    const valueCount = int32(`the value count of "${name}"`)
    if (valueCount < 1) throw new GgufError('INVALID_IMATRIX', `${path}: "${name}" has ${valueCount} values`)
    need(valueCount * 4, `the ${valueCount} values of "${name}" (entry ${entry + 1} of ${entryCount})`)
    const weights = new Float32Array(valueCount)
    for (let index = 0; index < valueCount; index++) {
      const sum = view.getFloat32(at + index * 4, true)
      weights[index] = calls > 0 ? f(sum / calls) : sum
    }
    at += valueCount * 4
    entries.set(name, checkFinite(weights, name, path))
  }
  // Optional trailer: chunk count and the calibration file's name.
  let chunkCount = 0
  const datasets: string[] = []
  if (at + 4 <= bytes.length) {
    chunkCount = view.getInt32(at, true)
    at += 4
    if (at + 4 <= bytes.length) {
      const length = view.getInt32(at, true)
      at += 4
      if (length > 0 && at + length <= bytes.length) datasets.push(utf8.decode(bytes.subarray(at, at + length)))
    }
  }
  return { format: 'legacy', entries, datasets, chunkCount }
}

/** What llama-imatrix accumulates per tensor: sums of squared activations per column and token counts per expert. */
export interface ImatrixStatistics {
  /** columns × experts sums of squared activations. */
  readonly sums: Float32Array
  /** Tokens seen, per expert (one value for a dense tensor). */
  readonly counts: readonly number[]
}

export interface ImatrixContents {
  readonly entries: ReadonlyMap<string, ImatrixStatistics>
  readonly datasets: readonly string[]
  readonly chunkCount: number
  readonly chunkSize: number
}

/** Writes a GGUF importance matrix laid out as llama-imatrix writes it (for tests and external tools). */
export async function writeGgufImatrix(path: string, contents: ImatrixContents): Promise<void> {
  const tensors: GgufTensorToWrite[] = []
  for (const name of [...contents.entries.keys()].sort()) {
    const { sums, counts } = contents.entries.get(name) as ImatrixStatistics
    const experts = counts.length
    tensors.push({
      name: `${name}.in_sum2`,
      dims: [sums.length / experts, experts],
      type: GgmlType.F32,
      data: new Uint8Array(Float32Array.from(sums).buffer),
    })
    tensors.push({
      name: `${name}.counts`,
      dims: [1, experts],
      type: GgmlType.F32,
      data: new Uint8Array(Float32Array.from(counts).buffer),
    })
  }
  await writeGgufFile(path, {
    metadata: [
      ['general.type', gguf.string('imatrix')],
      ['imatrix.datasets', gguf.stringArray([...contents.datasets])],
      ['imatrix.chunk_count', gguf.uint32(contents.chunkCount)],
      ['imatrix.chunk_size', gguf.uint32(contents.chunkSize)],
    ],
    tensors,
  })
}

/** Encodes a legacy `.dat` importance matrix as llama-imatrix's save_imatrix_legacy does. */
export function encodeLegacyImatrix(contents: ImatrixContents): Uint8Array {
  const encoder = new TextEncoder()
  const parts: Uint8Array[] = []
  const int32 = (value: number): Uint8Array => new Uint8Array(Int32Array.of(value).buffer)
  const names = [...contents.entries.keys()].sort()
  parts.push(int32(names.length))
  for (const name of names) {
    const { sums, counts } = contents.entries.get(name) as ImatrixStatistics
    const nameBytes = encoder.encode(name)
    parts.push(int32(nameBytes.length), nameBytes)
    const calls = Math.trunc((Math.max(...counts) + (contents.chunkSize - 1)) / contents.chunkSize)
    parts.push(int32(calls), int32(sums.length))
    const perExpert = sums.length / counts.length
    const values = new Float32Array(sums.length)
    for (let index = 0; index < sums.length; index++) {
      let count = f(counts[Math.trunc(index / perExpert)] as number)
      let value = sums[index] as number
      if (count === 0) {
        value = 1
        count = 1
      }
      values[index] = f(f(value / count) * calls)
    }
    parts.push(new Uint8Array(values.buffer))
  }
  parts.push(int32(contents.chunkCount))
  const dataset = encoder.encode(contents.datasets.at(-1) ?? '')
  parts.push(int32(dataset.length), dataset)
  const output = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    output.set(part, at)
    at += part.length
  }
  return output
}
