/**
 * Quantization throughput: each block type on an in-memory F32 tensor (plain, and importance-weighted for the
 * types that have a weighted quantizer) beside ggml's own C quantizer run through the parity harness on the same
 * data in the same run (ggml_quantize_chunk from node-llama-cpp's libggml-base, one thread), whole-file
 * quantization of a ~110 MB llama-shaped model through the streaming path (with its extra memory), and header
 * parsing with a large vocabulary. MB/s are of F32 input; the per-type rows count CPU time on both sides (the
 * machines this runs on are shared), the whole-file rows wall time. Run with `npm run bench -- quantize [--json]`.
 */
import { writeFile, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fp32ArrayToFp16 } from '../gguf/fp16'
import { compileGgmlHarness, ggmlHarnessSkipReason, type GgmlHarness } from '../gguf/ggml-harness'
import { quantizeGgufFile } from '../gguf/quantize'
import { quantizeRows, type WritableTensorType } from '../gguf/quantize-rows'
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
  /** ggml's C quantizer on the same data in the same run (in-memory rows only, when the harness can run). */
  referenceMegabytesPerSecond?: number
  /** ours / C. */
  ratio?: number
  /** The ratio the issue asks for (0.8 for Q8_0 and Q4_0, 0.5 for the others). */
  goal?: number
}

export interface QuantizeBenchResult {
  rows: QuantizeBenchRow[]
  /** Why there is no C reference column, when there is none. */
  referenceSkipped: string | null
}

const TYPES: readonly WritableTensorType[] = [
  'Q8_0',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q2_K',
  'Q3_K',
  'Q4_K',
  'Q5_K',
  'Q6_K',
]
const ROW_LENGTH = 4096

/** CPU milliseconds this process has used (the C harness measures CPU time too, so a busy machine skews neither). */
function cpuMilliseconds(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** MB/s of `run` over `bytes` of input per CPU second, repeating it for at least `minimumMs` after a warm-up run. */
function throughput(
  bytes: number,
  minimumMs: number,
  run: () => unknown,
): { megabytesPerSecond: number; milliseconds: number } {
  run()
  const started = cpuMilliseconds()
  let runs = 0
  do {
    run()
    runs++
  } while (cpuMilliseconds() - started < minimumMs)
  const milliseconds = (cpuMilliseconds() - started) / runs
  return { megabytesPerSecond: bytes / megabyte / (milliseconds / 1000), milliseconds }
}

function referenceThroughput(
  harness: GgmlHarness,
  paths: { values: string; importance: string | null },
  type: WritableTensorType,
  minimumMs: number,
): number {
  const output = harness.run([
    'bench',
    paths.values,
    paths.importance ?? '-',
    String(ROW_LENGTH),
    String(minimumMs),
    type,
  ]).stdout
  const match = /bench \S+ ([\d.]+)/.exec(output)
  if (!match) throw new Error(`unexpected harness output: ${output}`)
  return Number(match[1])
}

/** Ours beside C for every type, plain and (where ggml has one) importance-weighted; C measured before and after. */
async function benchRows(
  values: Float32Array,
  importance: Float32Array,
  directory: string,
  report: (row: QuantizeBenchRow) => void,
): Promise<string | null> {
  const skip = ggmlHarnessSkipReason()
  const harness = skip ? null : await compileGgmlHarness()
  const paths = { values: join(directory, 'values.f32'), importance: join(directory, 'importance.f32') }
  await writeFile(paths.values, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))
  await writeFile(paths.importance, new Uint8Array(importance.buffer))
  try {
    for (const weighted of [false, true]) {
      for (const type of TYPES) {
        if (weighted && type === 'Q8_0') continue // ggml's Q8_0 ignores importance weights
        const minimumMs = 1500
        const c1 = harness
          ? referenceThroughput(harness, { ...paths, importance: weighted ? paths.importance : null }, type, minimumMs)
          : 0
        const ours = throughput(values.byteLength, minimumMs, () =>
          quantizeRows(type, values, ROW_LENGTH, weighted ? importance : null),
        )
        const c2 = harness
          ? referenceThroughput(harness, { ...paths, importance: weighted ? paths.importance : null }, type, minimumMs)
          : 0
        const reference = (c1 + c2) / 2
        report({
          label: `quantize ${type}${weighted ? ' + imatrix' : ''} (rows)`,
          megabytes: values.byteLength / megabyte,
          milliseconds: ours.milliseconds,
          megabytesPerSecond: ours.megabytesPerSecond,
          ...(harness && { referenceMegabytesPerSecond: reference, ratio: ours.megabytesPerSecond / reference }),
          goal: !weighted && (type === 'Q8_0' || type === 'Q4_0') ? 0.8 : 0.5,
        })
      }
    }
  } finally {
    await harness?.close()
  }
  return skip ?? null
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

export async function benchQuantize(options: { tensorMegabytes?: number } = {}): Promise<QuantizeBenchResult> {
  const tensorMegabytes = options.tensorMegabytes ?? 16
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
    { length: Math.max(1, Math.floor((tensorMegabytes * megabyte) / 4 / ROW_LENGTH)) * ROW_LENGTH },
    () => (random() + random() + random() - 1.5) * 0.05,
  )
  const importance = Float32Array.from({ length: ROW_LENGTH }, () => 0.1 + random() * random() * 4)

  fp32ArrayToFp16(values.subarray(0, 32 * 4096))
  report('fp32 -> fp16 (row)', values.byteLength, time(() => fp32ArrayToFp16(values))[1])

  const directory = await mkdtemp(join(tmpdir(), 'larder-gguf-bench-'))
  try {
    const referenceSkipped = await benchRows(values, importance, directory, (row) => rows.push(row))
    // A ~110 MB F32 llama-shaped model (rows multiples of 256, so k-quants apply), then whole-file quantization through the streaming path.
    const source = join(directory, 'model-f32.gguf')
    const [, writeMs] = await timeAsync(() =>
      writeTinyLlamaGguf(source, {
        blockCount: 8,
        embeddingLength: 512,
        headCount: 8,
        feedForwardLength: 1536,
        contextLength: 2048,
      }),
    )
    const sourceBytes = (await stat(source)).size
    report('write F32 model (generate + stream)', sourceBytes, writeMs)
    for (const target of ['Q8_0', 'Q4_0', 'Q4_K_M', 'F16'] as const) {
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
    return { rows, referenceSkipped }
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}
