/**
 * The tiny models must be real models: node-llama-cpp 3.21.1 (the runtime the product ships) loads
 * the F32/F16 files and our quantizations of them, tokenizes, and generates tokens.
 *
 * llama.cpp runs in a child process: a bad file can make it abort the whole process (SIGABRT),
 * which would take vitest down with it instead of failing one test.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { workBudget } from '../../../test/helpers'

import { readImportanceMatrix, writeGgufImatrix } from './imatrix.js'
import { QUANTIZATION_FILE_TYPES } from './quant-plan.js'
import { quantizeGgufFile } from './quantize.js'
import { syntheticImatrix } from './test-support.js'
import { readGgufFile, readTensorBytes } from './reader.js'
import { summarizeGguf } from './summary.js'
import { tinyByteVocabulary, writeTinyLlamaGguf } from './tiny-model.js'
import { validateGguf } from './validate.js'
import { writeGgufFile } from './writer.js'

/** Loads each model given on the command line, generates a few tokens greedily, prints JSON. */
const loaderScript = String.raw`
const { getLlama, LlamaLogLevel } = await import(process.env.NODE_LLAMA_CPP_ENTRY);
const llama = await getLlama({ gpu: false, build: 'never', maxThreads: 1, logLevel: LlamaLogLevel.error, progressLogs: false });
const prompt = 'Hello, larder!';
const results = [];
for (const modelPath of process.argv.slice(2)) {
  const started = Date.now();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 64, batchSize: 64, threads: 1 });
  const sequence = context.getSequence();
  const promptTokens = model.tokenize(prompt);
  const generated = [];
  for await (const token of sequence.evaluate(promptTokens, { temperature: 0 })) {
    generated.push(token);
    if (generated.length >= 4) break;
  }
  results.push({
    modelPath,
    trainContextSize: model.trainContextSize,
    promptTokens,
    roundTrip: model.detokenize(promptTokens),
    generated,
    milliseconds: Date.now() - started,
  });
  await context.dispose();
  await model.dispose();
}
console.log(JSON.stringify(results));
`

interface LoadResult {
  modelPath: string
  trainContextSize: number
  promptTokens: number[]
  roundTrip: string
  generated: number[]
  milliseconds: number
}

let directory = ''
let scriptPath = ''
const entry = pathToFileURL(createRequire(import.meta.url).resolve('node-llama-cpp')).href

function runLoader(modelPaths: string[]): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [scriptPath, ...modelPaths], {
    encoding: 'utf8',
    timeout: workBudget({ loads: modelPaths.length, processes: 1, tokens: 4 * modelPaths.length }),
    // An aborting llama.cpp may leave a core file in the working directory: keep it in the temp dir.
    cwd: directory,
    env: { ...process.env, NODE_LLAMA_CPP_ENTRY: entry },
  })
}

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'larder-tiny-model-'))
  scriptPath = join(directory, 'load-models.mjs')
  await writeFile(scriptPath, loaderScript)
})

afterAll(async () => {
  await rm(directory, { recursive: true, force: true })
})

describe('tiny llama models', () => {
  it(
    'node-llama-cpp loads the F32 and F16 models and every file type we write (64- and 256-wide models), and generates',
    { timeout: workBudget({ loads: 2 * QUANTIZATION_FILE_TYPES.length + 3, processes: 1, megabytes: 20 }) },
    async () => {
      const f32 = join(directory, 'tiny-f32.gguf')
      const f16 = join(directory, 'tiny-f16.gguf')
      const wide = join(directory, 'wide-f32.gguf')
      await writeTinyLlamaGguf(f32, { seed: 1 })
      await writeTinyLlamaGguf(f16, { seed: 1, weightType: 'F16' })
      await writeTinyLlamaGguf(wide, { seed: 1, embeddingLength: 256, feedForwardLength: 512 })
      const quantized: string[] = []
      for (const source of [f32, wide]) {
        const imatrixPath = `${source}.imatrix.gguf`
        await writeGgufImatrix(imatrixPath, syntheticImatrix(await readGgufFile(source), 7))
        const imatrix = await readImportanceMatrix(imatrixPath)
        for (const fileType of QUANTIZATION_FILE_TYPES) {
          const path = `${source}-${fileType}.gguf`
          await quantizeGgufFile(source, path, { fileType, ...(fileType.startsWith('Q2_K') && { imatrix }) })
          quantized.push(path)
        }
      }
      const paths = [f32, f16, wide, ...quantized]
      for (const path of paths) expect(validateGguf(await readGgufFile(path)), path).toEqual([])

      const run = runLoader(paths)
      expect(run.status, `loader failed (signal ${run.signal}):\n${String(run.stderr)}`).toBe(0)
      const results = JSON.parse(String(run.stdout).trim().split('\n').at(-1) ?? '[]') as LoadResult[]
      expect(results.map((result) => result.modelPath)).toEqual(paths)
      const vocabularySize = tinyByteVocabulary().tokens.length
      for (const result of results) {
        expect(result.trainContextSize, result.modelPath).toBe(256)
        expect(result.roundTrip, result.modelPath).toBe('Hello, larder!')
        // "▁" + 5 bytes + "," + "▁" + 7 bytes: bytes fall back to byte tokens (id = byte + 3).
        expect(result.promptTokens.slice(0, 6), result.modelPath).toEqual([
          259,
          ...Buffer.from('Hello').map((byte) => byte + 3),
        ])
        expect(result.generated, result.modelPath).toHaveLength(4)
        for (const token of result.generated) {
          expect(token).toBeGreaterThanOrEqual(0)
          expect(token).toBeLessThan(vocabularySize)
        }
      }
    },
  )

  it(
    'llama.cpp really aborts the process on a file that validateGguf rejects (missing feed_forward_length)',
    { timeout: workBudget({ loads: 1, processes: 1 }) },
    async () => {
      const good = join(directory, 'good.gguf')
      const broken = join(directory, 'no-ffn-length.gguf')
      await writeTinyLlamaGguf(good)
      const file = await readGgufFile(good)
      const handle = await open(good, 'r')
      try {
        const tensors = []
        for (const tensor of file.tensors)
          tensors.push({
            name: tensor.name,
            dims: tensor.dims,
            type: tensor.type,
            data: await readTensorBytes(handle, tensor),
          })
        const metadata = [...file.metadata].filter(([key]) => key !== 'llama.feed_forward_length')
        await writeGgufFile(broken, { metadata, tensors })
      } finally {
        await handle.close()
      }
      expect(validateGguf(await readGgufFile(broken)).map((problem) => problem.code)).toEqual(['MISSING_KEY'])
      const run = runLoader([broken])
      // A native abort (SIGABRT on Linux/macOS), not a JS exception: nothing is printed on stdout.
      expect(run.signal !== null || run.status !== 0, `status ${run.status}, signal ${run.signal}`).toBe(true)
      if (process.platform !== 'win32') expect(run.signal === 'SIGABRT' || run.status === 134).toBe(true)
      expect(String(run.stdout).trim()).toBe('')
      expect(String(run.stderr)).toMatch(/GGML_ASSERT/)
    },
  )

  it('is deterministic for a seed and different across seeds', async () => {
    const first = join(directory, 'seed-a.gguf')
    const second = join(directory, 'seed-b.gguf')
    const third = join(directory, 'seed-c.gguf')
    await writeTinyLlamaGguf(first, { seed: 11 })
    await writeTinyLlamaGguf(second, { seed: 11 })
    await writeTinyLlamaGguf(third, { seed: 12 })
    const [a, b, c] = await Promise.all([readFile(first), readFile(second), readFile(third)])
    expect(a.equals(b as Buffer)).toBe(true)
    expect(a.equals(c as Buffer)).toBe(false)
    expect(a.length).toBe(c?.length)
  })

  it('has the documented shape', async () => {
    const path = join(directory, 'shape.gguf')
    const info = await writeTinyLlamaGguf(path, { chatTemplate: '{{ bos_token }}' })
    const summary = summarizeGguf(await readGgufFile(path))
    expect(summary).toMatchObject({
      architecture: 'llama',
      contextLength: 256,
      embeddingLength: 64,
      blockCount: 2,
      tokenizerModel: 'llama',
      vocabularySize: 260,
      hasChatTemplate: true,
      fileType: 'ALL_F32',
      parameterCount: info.parameterCount,
    })
    expect(summary.tensorTypeCounts).toEqual({ F32: 21 })
    expect(info.tensorCount).toBe(21)
  })
})
