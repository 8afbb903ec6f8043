/**
 * Throughput numbers for the GGUF toolkit. Run: `npx tsx src/backend/gguf/bench.ts [--mb 32]`
 * (`--mb` sets the size of the in-memory tensor; the file benchmark uses a ~100 MB model).
 * Prints plain lines: what was measured, the size, the time and MB/s of F32 input.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { fp32ArrayToFp16 } from './fp16.js'
import { quantizeRow, type LegacyQuantTypeName } from './quant-blocks.js'
import { quantizeGgufFile } from './quantize.js'
import { readGgufFile } from './reader.js'
import { createSeededRandom, writeTinyLlamaGguf } from './tiny-model.js'
import { gguf, GgmlType } from './types.js'
import { writeGgufFile } from './writer.js'

const megabyte = 1024 * 1024

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`)
  const value = index >= 0 ? Number(process.argv[index + 1]) : Number.NaN
  return Number.isFinite(value) && value > 0 ? value : fallback
}

function report(label: string, inputBytes: number, milliseconds: number): void {
  const rate = inputBytes / megabyte / (milliseconds / 1000)
  console.log(
    `${label.padEnd(44)} ${(inputBytes / megabyte).toFixed(1).padStart(7)} MB  ${milliseconds.toFixed(0).padStart(6)} ms  ${rate.toFixed(1).padStart(7)} MB/s`,
  )
}

function time<T>(run: () => T): [T, number] {
  const started = performance.now()
  const result = run()
  return [result, performance.now() - started]
}

async function timeAsync<T>(run: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now()
  const result = await run()
  return [result, performance.now() - started]
}

async function main(): Promise<void> {
  const tensorMegabytes = argument('mb', 32)
  const random = createSeededRandom(2024)
  const values = Float32Array.from(
    { length: Math.floor((tensorMegabytes * megabyte) / 4 / 32) * 32 },
    () => (random() * 2 - 1) * 0.05,
  )
  console.log(`node ${process.version}, ${process.arch}; in-memory tensor: ${values.length} floats`)

  // Warm up the JIT on a small slice so the timed runs measure steady-state code.
  for (const type of ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const) quantizeRow(type, values.subarray(0, 32 * 4096))
  fp32ArrayToFp16(values.subarray(0, 32 * 4096))

  report('fp32 -> fp16 (row)', values.byteLength, time(() => fp32ArrayToFp16(values))[1])
  const types: LegacyQuantTypeName[] = ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1']
  for (const type of types)
    report(`quantize ${type} (row)`, values.byteLength, time(() => quantizeRow(type, values))[1])

  const directory = await mkdtemp(join(tmpdir(), 'larder-gguf-bench-'))
  try {
    // A ~100 MB F32 llama-shaped model, then whole-file quantization through the streaming path.
    const source = join(directory, 'model-f32.gguf')
    const [, writeMs] = await timeAsync(() =>
      writeTinyLlamaGguf(source, {
        blockCount: 8,
        embeddingLength: 512,
        headCount: 8,
        feedForwardLength: 1408,
        contextLength: 2048,
      }),
    )
    const sourceBytes = (await stat(source)).size
    report('write F32 model (generate + stream)', sourceBytes, writeMs)
    for (const target of ['Q8_0', 'Q4_0', 'F16'] as const) {
      const destination = join(directory, `model-${target}.gguf`)
      const rssBefore = process.memoryUsage().rss
      let peakRss = rssBefore
      const [, quantizeMs] = await timeAsync(() =>
        quantizeGgufFile(source, destination, {
          target,
          onProgress: () => {
            peakRss = Math.max(peakRss, process.memoryUsage().rss)
          },
        }),
      )
      report(
        `quantize file -> ${target} (RSS +${((peakRss - rssBefore) / megabyte).toFixed(0)} MB)`,
        sourceBytes,
        quantizeMs,
      )
    }

    // Header parsing with a realistic vocabulary (150k tokens, scores, types, merges).
    const vocabulary = 150_000
    const tokens = Array.from({ length: vocabulary }, (_, index) => `tok_${index.toString(36)}`)
    const merges = Array.from({ length: vocabulary }, (_, index) => `m${index % 977} n${index}`)
    const header = join(directory, 'big-vocab.gguf')
    await writeGgufFile(header, {
      metadata: [
        ['general.architecture', gguf.string('llama')],
        ['tokenizer.ggml.model', gguf.string('gpt2')],
        ['tokenizer.ggml.tokens', gguf.stringArray(tokens)],
        ['tokenizer.ggml.scores', gguf.float32Array(new Float32Array(vocabulary))],
        ['tokenizer.ggml.token_type', gguf.int32Array(new Int32Array(vocabulary).fill(1))],
        ['tokenizer.ggml.merges', gguf.stringArray(merges)],
      ],
      tensors: [{ name: 'x.weight', dims: [32], type: GgmlType.F32, data: new Uint8Array(128) }],
    })
    const headerBytes = (await stat(header)).size
    await readGgufFile(header)
    const [, parseMs] = await timeAsync(() => readGgufFile(header))
    report('parse header (150k tokens + 150k merges)', headerBytes, parseMs)
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

await main()
