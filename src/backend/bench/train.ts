/**
 * Training throughput: the built-in trainer (TypeScript worker -> koffi -> llama.cpp's training API) beside
 * llama.cpp's own examples/training/finetune.cpp, on the same students, data, windows and settings, 1 thread, in
 * the same run. finetune.cpp is compiled at bench time from the llama.cpp source node-llama-cpp ships
 * (llama/gitRelease.bundle, cloned into a temporary folder) against node-llama-cpp's prebuilt libraries; nothing
 * of that source is kept. Where git or a C++ compiler is missing, only Larder's numbers are reported, and why.
 *
 * Both run llama.cpp finetune's data layout (one BOS-prefixed stream, windows every context/2 tokens, the last 5%
 * for validation, no shuffling) with constant AdamW lr, so the loss per epoch must agree; tokens/s is the training
 * windows' wall time per epoch (finetune's from its per-step log timestamps), the best epoch of alternating rounds.
 * `npm run bench -- train [--json] [--rounds N]`.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { BuiltinTrainer } from '../distill/builtin-trainer'
import { formatPlain } from '../distill/data'
import { findLlamaLibraries, packageRoot } from '../distill/native/bins'
import { writeScratchStudent, type ScratchStudentSpec } from '../distill/student'
import { triageExamples } from '../distill/synthetic'
import type { EpochStats } from '../distill/worker/protocol'

const CONTEXT = 256
const LR = 3e-4
const VAL_SPLIT = 0.05

export interface TrainerNumbers {
  /** The best epoch of all rounds: on a shared machine the least disturbed one is the closest to the truth. */
  tokensPerSecond: number
  /** Every epoch's tokens/s, all rounds. */
  samples: number[]
  epochs: Array<{ epoch: number; loss: number; valLoss: number | null; tokensPerSecond: number }>
}

export interface TrainBenchRow {
  student: string
  parameters: number
  tokens: number
  epochs: number
  larder: TrainerNumbers
  finetune: TrainerNumbers | null
  /** Larder's tokens/s over finetune's (goal >= 0.9). */
  speedRatio: number | null
  /** Largest difference of a per-epoch training or validation loss, in percent of finetune's (goal <= 1). */
  maxLossDifferencePercent: number | null
}

export interface TrainBench {
  threads: number
  finetune: { available: boolean; reason: string | null; compileSeconds: number | null }
  rows: TrainBenchRow[]
}

const STUDENTS: Array<{ label: string; spec: ScratchStudentSpec; examples: number }> = [
  {
    label: 'tiny (64 x 2 blocks)',
    spec: { embeddingLength: 64, blockCount: 2, headCount: 4, feedForwardLength: 128, contextLength: CONTEXT },
    examples: 900,
  },
  {
    label: '~2M (256 x 3 blocks)',
    spec: { embeddingLength: 256, blockCount: 3, headCount: 8, feedForwardLength: 512, contextLength: CONTEXT },
    examples: 200,
  },
]

function has(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0
}

/** Compiles finetune.cpp from the bundled llama.cpp source into `dir`, or says why it cannot. */
function buildFinetune(dir: string): { binary: string | null; reason: string | null; seconds: number | null } {
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    return {
      binary: null,
      reason: `finetune is only built on Linux and macOS here (${process.platform})`,
      seconds: null,
    }
  }
  const compiler = ['g++', 'clang++', 'c++'].find(has)
  if (!compiler) return { binary: null, reason: 'no C++ compiler (g++ or clang++) on this machine', seconds: null }
  if (!has('git')) return { binary: null, reason: 'git is needed to read the bundled llama.cpp source', seconds: null }
  const require = createRequire(import.meta.url)
  const root = packageRoot(require, 'node-llama-cpp')
  const bundle = join(root ?? '.', 'llama', 'gitRelease.bundle')
  if (!existsSync(bundle)) return { binary: null, reason: `no llama.cpp source bundle at ${bundle}`, seconds: null }
  const started = performance.now()
  const source = join(dir, 'llama-src')
  const clone = spawnSync('git', ['clone', '-q', '--no-checkout', bundle, source], { stdio: 'pipe' })
  const paths = ['include', 'ggml/include', 'common', 'vendor', 'examples/training']
  const checkout = spawnSync('git', ['-C', source, 'checkout', '-q', 'HEAD', '--', ...paths], { stdio: 'pipe' })
  if (clone.status !== 0 || checkout.status !== 0) {
    return {
      binary: null,
      reason: `could not read the source bundle: ${String(clone.stderr || checkout.stderr)}`,
      seconds: null,
    }
  }
  const libraries = findLlamaLibraries()[0]!
  const common = readdirSync(libraries.dir).find((file) => /^libllama-common\.(so|dylib)$/.test(file))
  if (!common) return { binary: null, reason: 'the prebuilt libraries have no libllama-common', seconds: null }
  const binary = join(dir, 'finetune')
  const compile = spawnSync(
    compiler,
    [
      '-std=c++17',
      '-O2',
      ...['include', 'ggml/include', 'common', 'vendor'].map((path) => `-I${join(source, path)}`),
      join(source, 'examples/training/finetune.cpp'),
      '-o',
      binary,
      join(libraries.dir, common),
      libraries.llama,
      libraries.ggml,
      libraries.ggmlBase,
      `-Wl,-rpath,${libraries.dir}`,
    ],
    { stdio: 'pipe' },
  )
  rmSync(source, { recursive: true, force: true })
  if (compile.status !== 0) {
    return {
      binary: null,
      reason: `finetune.cpp did not compile: ${String(compile.stderr).slice(0, 500)}`,
      seconds: null,
    }
  }
  // ggml_backend_load_all() looks for the CPU backends next to the executable: link them there.
  for (const file of readdirSync(libraries.dir)) {
    if (/^libggml-(cpu|blas|vulkan|cuda|metal)/.test(file)) symlinkSync(join(libraries.dir, file), join(dir, file))
  }
  return { binary, reason: null, seconds: (performance.now() - started) / 1000 }
}

async function runLarder(student: string, text: string, dir: string, epochs: number): Promise<EpochStats[]> {
  const outcome = await new BuiltinTrainer().train(
    {
      studentPath: student,
      runDir: dir,
      examples: [{ line: 1, kind: 'text', text, split: 'train' }],
      format: 'text',
      context: CONTEXT,
      batch: CONTEXT,
      threads: 1,
      gpuLayers: 0,
      epochs,
      startEpoch: 0,
      startStep: 0,
      schedule: { lr: LR, kind: 'constant', warmupSteps: 0, minLrRatio: 1 },
      weightDecay: 0,
      layers: 'all',
      seed: 1,
      shuffle: false,
      valWindowsMax: 1_000_000,
      answerExamples: 0,
      samples: 0,
      provenance: {},
      layout: { kind: 'finetune', valSplit: VAL_SPLIT },
    },
    { log: () => {}, prepared: () => {}, point: () => {}, checkpoint: () => {} },
    new AbortController().signal,
  )
  return outcome.epochs
}

interface FinetuneEpoch {
  stepTimes: number[]
  loss?: number
  valLoss?: number
}

function parseFinetune(output: string, epochs: number): FinetuneEpoch[] {
  const result: FinetuneEpoch[] = Array.from({ length: epochs }, () => ({ stepTimes: [] }))
  let trainDone = 0
  let valDone = 0
  for (const line of output.split(/[\r\n]+/)) {
    const step = /^(\d+)\.(\d+)\.(\d+)\.(\d+) I epoch (\d+) lr=/.exec(line)
    if (step) {
      const [minutes, seconds, millis, micros, epoch] = step.slice(1).map(Number) as [
        number,
        number,
        number,
        number,
        number,
      ]
      result[epoch]?.stepTimes.push(minutes * 60 + seconds + millis / 1e3 + micros / 1e6)
      continue
    }
    const progress = /^(train|val):.*data=(\d+)\/(\d+) loss=([\d.]+)/.exec(line)
    if (progress && progress[2] === progress[3]) {
      if (progress[1] === 'train' && result[trainDone]) result[trainDone++]!.loss = Number(progress[4])
      else if (progress[1] === 'val' && result[valDone]) result[valDone++]!.valLoss = Number(progress[4])
    }
  }
  return result
}

function runFinetune(binary: string, student: string, data: string, epochs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      binary,
      ['-m', student, '-f', data, '-c', String(CONTEXT), '-b', String(CONTEXT), '-ub', String(CONTEXT)]
        .concat(['-t', '1', '-epochs', String(epochs), '-lr', String(LR), '-val-split', String(VAL_SPLIT)])
        .concat(['-ngl', '0', '-o', join(dirname(binary), `finetuned-${basename(student)}`)]),
      { cwd: dirname(binary), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`finetune exited with ${code}: ${output.slice(-600)}`)),
    )
  })
}

function combine(rounds: TrainerNumbers[]): TrainerNumbers {
  const samples = rounds.flatMap((round) => round.samples)
  return { tokensPerSecond: Math.max(...samples), samples, epochs: rounds[0]!.epochs }
}

function finetuneNumbers(epochs: FinetuneEpoch[]): TrainerNumbers {
  const perEpoch = epochs.map((epoch, index) => {
    const times = epoch.stepTimes
    // One log line per optimizer step (one window of CONTEXT tokens); the first marks the end of the first window.
    const seconds = times.length > 1 ? times.at(-1)! - times[0]! : NaN
    return {
      epoch: index + 1,
      loss: epoch.loss ?? NaN,
      valLoss: epoch.valLoss ?? null,
      tokensPerSecond: ((times.length - 1) * CONTEXT) / seconds,
    }
  })
  const samples = perEpoch.map((epoch) => epoch.tokensPerSecond)
  return { tokensPerSecond: Math.max(...samples), samples, epochs: perEpoch }
}

function larderNumbers(epochs: EpochStats[]): TrainerNumbers {
  const perEpoch = epochs.map((epoch) => ({
    epoch: epoch.epoch,
    loss: epoch.loss,
    valLoss: epoch.valLoss,
    tokensPerSecond: (epoch.windows * CONTEXT) / epoch.trainSeconds,
  }))
  const samples = perEpoch.map((epoch) => epoch.tokensPerSecond)
  return { tokensPerSecond: Math.max(...samples), samples, epochs: perEpoch }
}

function lossDifference(larder: TrainerNumbers, finetune: TrainerNumbers): number {
  let worst = 0
  larder.epochs.forEach((epoch, index) => {
    const theirs = finetune.epochs[index]
    if (!theirs) return
    worst = Math.max(worst, (Math.abs(epoch.loss - theirs.loss) / theirs.loss) * 100)
    if (epoch.valLoss !== null && theirs.valLoss !== null) {
      worst = Math.max(worst, (Math.abs(epoch.valLoss - theirs.valLoss) / theirs.valLoss) * 100)
    }
  })
  return worst
}

export async function benchTrain(options: { epochs?: number; rounds?: number } = {}): Promise<TrainBench> {
  const epochs = options.epochs ?? 2
  const rounds = options.rounds ?? 2
  const dir = mkdtempSync(join(tmpdir(), 'larder-bench-train-'))
  try {
    const finetune = buildFinetune(dir)
    const rows: TrainBenchRow[] = []
    for (const [index, student] of STUDENTS.entries()) {
      const path = join(dir, `student-${index}.gguf`)
      const written = await writeScratchStudent(path, { ...student.spec, seed: 5 })
      const text = triageExamples(student.examples, 3)
        .map((example) => formatPlain(example.messages, false))
        .join('\n')
      const data = join(dir, `data-${index}.txt`)
      writeFileSync(data, text)
      // Alternating rounds, so a busy moment on the machine does not land on one side only.
      const ours: TrainerNumbers[] = []
      const others: TrainerNumbers[] = []
      for (let round = 0; round < rounds; round++) {
        ours.push(larderNumbers(await runLarder(path, text, mkdtempSync(join(dir, 'run-')), epochs)))
        if (finetune.binary) {
          others.push(finetuneNumbers(parseFinetune(await runFinetune(finetune.binary, path, data, epochs), epochs)))
        }
      }
      const larder = combine(ours)
      const theirs = others.length > 0 ? combine(others) : null
      rows.push({
        student: student.label,
        parameters: written.parameterCount,
        tokens: Buffer.byteLength(text),
        epochs,
        larder,
        finetune: theirs,
        speedRatio: theirs ? larder.tokensPerSecond / theirs.tokensPerSecond : null,
        maxLossDifferencePercent: theirs ? lossDifference(larder, theirs) : null,
      })
    }
    return {
      threads: 1,
      finetune: { available: finetune.binary !== null, reason: finetune.reason, compileSeconds: finetune.seconds },
      rows,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function describeTrainBench(result: TrainBench): string {
  const lines: string[] = []
  lines.push(
    result.finetune.available
      ? `llama.cpp finetune.cpp compiled from the bundled source in ${result.finetune.compileSeconds!.toFixed(1)} s; 1 thread, same windows and settings.`
      : `finetune.cpp not built: ${result.finetune.reason}. Larder's numbers only.`,
  )
  for (const row of result.rows) {
    lines.push(
      `\n${row.student}: ${row.parameters.toLocaleString('en')} parameters, ${row.tokens.toLocaleString('en')} tokens, ${row.epochs} epochs`,
    )
    lines.push('  epoch   larder loss / val   tok/s      finetune loss / val   tok/s')
    row.larder.epochs.forEach((epoch, index) => {
      const theirs = row.finetune?.epochs[index]
      lines.push(
        `  ${String(epoch.epoch).padStart(5)}   ${epoch.loss.toFixed(4)} / ${epoch.valLoss?.toFixed(4) ?? '-'}   ${epoch.tokensPerSecond.toFixed(0).padStart(6)}` +
          (theirs
            ? `     ${theirs.loss.toFixed(4)} / ${theirs.valLoss?.toFixed(4) ?? '-'}   ${theirs.tokensPerSecond.toFixed(0).padStart(6)}`
            : ''),
      )
    })
    if (row.speedRatio !== null) {
      lines.push(
        `  tokens/s (best epoch of ${row.larder.samples.length}): larder ${row.larder.tokensPerSecond.toFixed(0)} vs finetune ${row.finetune!.tokensPerSecond.toFixed(0)} = ${row.speedRatio.toFixed(3)}x (goal >= 0.9); largest loss difference ${row.maxLossDifferencePercent!.toFixed(4)}% (goal <= 1%)`,
      )
    }
  }
  return `${lines.join('\n')}\n`
}
