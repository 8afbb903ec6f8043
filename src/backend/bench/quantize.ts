/**
 * Quantization throughput: each block type on an in-memory F32 tensor, whole-file quantization of a ~100 MB
 * llama-shaped model through the streaming path (with its extra memory), and header parsing with a large vocabulary.
 * MB/s are of F32 input. Run with `npm run bench -- quantize [--json]`.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fp32ArrayToFp16 } from '../gguf/fp16'
import { quantizeRow, type LegacyQuantTypeName } from '../gguf/quant-blocks'
import { quantizeGgufFile } from '../gguf/quantize'
import { readGgufFile } from '../gguf/reader'
import { createSeededRandom, writeTinyLlamaGguf } from '../gguf/tiny-model'
import { gguf, GgmlType } from '../gguf/types'
import { writeGgufFile } from '../gguf/writer'

const megabyte = 1024 * 1024

export interface QuantizeBenchRow {
  label: string
  megabytes: number
  milliseconds: number
  megabytesPerSecond: number
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

export async function benchQuantize(options: { tensorMegabytes?: number } = {}): Promise<QuantizeBenchRow[]> {
  const tensorMegabytes = options.tensorMegabytes ?? 32
  const rows: QuantizeBenchRow[] = []
  const report = (label: string, inputBytes: number, milliseconds: number): void => {
    rows.push({
      label,
      megabytes: inputBytes / megabyte,
      milliseconds,
      megabytesPerSecond: inputBytes / megabyte / (milliseconds / 1000),
    })
  }
  const random = createSeededRandom(2024)
  const values = Float32Array.from(
    { length: Math.floor((tensorMegabytes * megabyte) / 4 / 32) * 32 },
    () => (random() * 2 - 1) * 0.05,
  )

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
          fileType: target,
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
  return rows
}
