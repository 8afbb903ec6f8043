/**
 * Malformed-GGUF campaign: a corpus generated from the tiny model (truncation at header boundaries, bit flips in the
 * header, every metadata key dropped or retyped, odd keys, the semantic breakages of issue 14) goes through inspect
 * (checkModelFile), add (models.register) and load (models.load, in the real model worker) of a real backend. Every
 * outcome must be a success or a clear, structured error; the backend must answer after every file. Small N in CI
 * (gguf-corpus.test.ts), large N by hand:
 *
 *   npm run campaign -- gguf --n 400
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Model } from '../../src/shared/contract'
import { ApiError } from '../../src/shared/errors'
import { Backend } from '../../src/backend/backend'
import { checkModelFile, hasErrors, readGgufFile } from '../../src/backend/gguf/index'
import { rewriteGguf, type GgufEdits } from '../../src/backend/gguf/test-support'
import { tinyByteVocabulary, writeTinyLlamaGguf } from '../../src/backend/gguf/tiny-model'
import { gguf, type GgufValue } from '../../src/backend/gguf/types'

export interface CorpusResult {
  files: number
  /** checkModelFile threw instead of returning problems: must be 0. */
  inspectCrashes: number
  refusedByValidation: number
  registered: number
  loadAttempts: number
  loaded: number
  /** Loads refused or failed with a structured, non-internal error. */
  loadErrorsClear: number
  /** An internal error (500) or a non-ApiError anywhere: must be 0. */
  internalErrors: number
  workerExits: number
  /** The files during which the model worker died (passed validation, then llama.cpp aborted): worth a rule. */
  workerExitFiles: string[]
  /** The backend answered system.info after every file. */
  backendAlive: boolean
  problems: string[]
  seconds: number
}

/** Deterministic pseudo-random numbers (mulberry32), so a corpus is the same for the same seed. */
function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const RETYPED: GgufValue[] = [
  gguf.string('x'),
  gguf.int32(-1),
  gguf.float32(Number.NaN),
  gguf.uint64(2n ** 40n),
  gguf.bool(true),
  gguf.stringArray([]),
  gguf.uint32(0),
]

/** The semantic breakages: each key dropped, each key retyped, odd keys, and the list. */
async function semanticCases(base: string): Promise<[string, GgufEdits][]> {
  const file = await readGgufFile(base)
  const cases: [string, GgufEdits][] = []
  for (const key of file.metadata.keys()) {
    cases.push([`drop ${key}`, { drop: [key] }])
    for (const [index, value] of RETYPED.entries()) cases.push([`retype ${key} #${index}`, { set: [[key, value]] }])
  }
  const tokens = [...tinyByteVocabulary().tokens]
  tokens[10] = tokens[11]!
  cases.push(
    ['odd: empty key', { set: [['', gguf.uint32(1)]] }],
    [
      'odd: unknown keys',
      {
        set: [
          ['llama.mystery', gguf.string('?')],
          ['x'.repeat(300), gguf.bool(false)],
        ],
      },
    ],
    ['odd: arch qwen2', { set: [['general.architecture', gguf.string('qwen2')]] }],
    ['odd: arch empty', { set: [['general.architecture', gguf.string('')]] }],
    ['odd: duplicate tokens', { set: [['tokenizer.ggml.tokens', gguf.stringArray(tokens)]] }],
    ['odd: alignment 1', { set: [['general.alignment', gguf.uint32(1)]] }],
    ['odd: alignment 64', { set: [['general.alignment', gguf.uint32(64)]] }],
    ['odd: block_count 1', { set: [['llama.block_count', gguf.uint32(1)]] }],
    ['odd: block_count 3', { set: [['llama.block_count', gguf.uint32(3)]] }],
    ...[0, 1, 3, 7, 32].map((n): [string, GgufEdits] => [
      `odd: rope ${n}`,
      { set: [['llama.rope.dimension_count', gguf.uint32(n)]] },
    ]),
    ['odd: drop a tensor', { dropTensors: ['blk.0.attn_q.weight'] }],
  )
  return cases
}

export async function buildCorpus(
  dir: string,
  options: { n: number; seed: number },
): Promise<{ name: string; path: string }[]> {
  const base = join(dir, 'base.gguf')
  await writeTinyLlamaGguf(base, { seed: options.seed })
  const bytes = readFileSync(base)
  const header = await readGgufFile(base)
  const headerEnd = header.dataStart
  const next = random(options.seed)
  const files: { name: string; path: string }[] = []
  const add = (name: string, content: Buffer): void => {
    const path = join(dir, `${files.length}.gguf`)
    writeFileSync(path, content)
    files.push({ name, path })
  }
  // Truncations: n cuts spread over the header (every byte when n >= the header size), plus the data boundaries.
  const cuts = new Set([0, 3, 4, 7, 8, 15, 16, 23, 24, headerEnd - 1, headerEnd, headerEnd + 1, bytes.length - 1])
  const step = Math.max(1, Math.floor(headerEnd / Math.max(1, options.n)))
  for (let cut = 0; cut < headerEnd; cut += step) cuts.add(cut)
  for (const cut of cuts) add(`truncate at ${cut}`, bytes.subarray(0, cut))
  // Bit flips in the header (where a flip changes what llama.cpp is told, not just a weight).
  for (let i = 0; i < options.n; i++) {
    const copy = Buffer.from(bytes)
    const at = Math.floor(next() * headerEnd)
    copy[at] = copy[at]! ^ (1 << Math.floor(next() * 8))
    add(`flip byte ${at}`, copy)
  }
  // Semantic cases: all of them at large n, a deterministic sample at small n.
  const semantic = await semanticCases(base)
  const take = Math.min(semantic.length, Math.max(options.n, 30))
  const chosen =
    take === semantic.length ? semantic : semantic.filter((_, i) => i % Math.ceil(semantic.length / take) === 0)
  for (const [name, edits] of chosen) {
    const path = join(dir, `${files.length}.gguf`)
    try {
      await rewriteGguf(base, path, edits)
      files.push({ name, path })
    } catch {
      // Our writer refuses some edits (e.g. an alignment that is not a power of two): nothing to test.
    }
  }
  return files
}

export async function ggufCorpusCampaign(options: {
  n: number
  seed?: number
  log?: (line: string) => void
}): Promise<CorpusResult> {
  const started = performance.now()
  const root = mkdtempSync(join(tmpdir(), 'larder-gguf-corpus-'))
  const backend = Backend.open({ home: join(root, 'home'), models: { cpuOnly: true } })
  const result: CorpusResult = {
    files: 0,
    inspectCrashes: 0,
    refusedByValidation: 0,
    registered: 0,
    loadAttempts: 0,
    loaded: 0,
    loadErrorsClear: 0,
    internalErrors: 0,
    workerExits: 0,
    workerExitFiles: [],
    backendAlive: true,
    problems: [],
    seconds: 0,
  }
  const note = (problem: string): void => {
    if (result.problems.length < 30) result.problems.push(problem)
  }
  let current = ''
  const unsubscribe = backend.events.subscribe((name) => {
    if (name !== 'models.worker') return
    result.workerExits++
    if (result.workerExitFiles.length < 20) result.workerExitFiles.push(current)
  })
  /** A structured, non-internal ApiError is a clear refusal; anything else is a defect. */
  const clear = (name: string, step: string, error: unknown): boolean => {
    if (error instanceof ApiError && error.code !== 'internal') return true
    result.internalErrors++
    note(`${name}: ${step}: ${(error as Error).message?.slice(0, 300)}`)
    return false
  }
  try {
    const files = await buildCorpus(join(root), { n: options.n, seed: options.seed ?? 14 })
    for (const [index, { name, path }] of files.entries()) {
      result.files++
      current = name
      try {
        const check = await checkModelFile(path)
        if (!check.file || hasErrors(check.problems)) result.refusedByValidation++
      } catch (error) {
        result.inspectCrashes++
        note(`${name}: inspect threw ${(error as Error).message}`)
      }
      let model: Model | undefined
      try {
        model = (await backend.call('models.register', { path, name: `corpus-${index}` })) as Model
        result.registered++
      } catch (error) {
        clear(name, 'register', error)
      }
      if (model) {
        result.loadAttempts++
        try {
          await backend.call('models.load', { id: model.id, threads: 1, contextSize: 64 })
          result.loaded++
          await backend.call('models.unload', { id: model.id })
        } catch (error) {
          if (clear(name, 'load', error)) result.loadErrorsClear++
        }
        await backend
          .call('models.unregister', { id: model.id })
          .catch((error: unknown) => clear(name, 'unregister', error))
      }
      try {
        await backend.call('system.info', {})
      } catch {
        result.backendAlive = false
        note(`${name}: the backend stopped answering`)
        break
      }
      if ((index + 1) % 50 === 0) options.log?.(`${index + 1} of ${files.length} files`)
    }
  } finally {
    unsubscribe()
    await backend.close()
    rmSync(root, { recursive: true, force: true })
  }
  result.seconds = Math.round((performance.now() - started) / 100) / 10
  return result
}
