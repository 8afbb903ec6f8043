/** `larder pipelines ...` and `larder bench ...`. */
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import type { Job, PipelineRun } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../../backend/backend'
import { benchBatch } from '../../backend/bench/batch'
import { benchGateway, type GatewayBenchResult, type Percentiles } from '../../backend/bench/gateway'
import { benchPipelines } from '../../backend/bench/pipelines'
import { benchQuantize } from '../../backend/bench/quantize'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'

export function registerPipelineCommands(program: Command, context: CliContext): void {
  const { io } = context
  const group = program.command('pipelines').description('Pipelines of small models: import, run, list.')
  const { withBackend } = context
  const idOf = (backend: Backend, name: string): number => {
    const found = backend.pipelines.byName(name) ?? (Number.isInteger(Number(name)) ? { id: Number(name) } : undefined)
    if (!found)
      throw new ApiError({ code: 'not_found', message: `No pipeline named "${name}". See \`larder pipelines list\`.` })
    return found.id
  }

  group
    .command('list')
    .description('List pipelines with their current version and last run.')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        const { items } = (await backend.call('pipelines.list', {})) as {
          items: {
            id: number
            name: string
            currentVersion: number
            nodeCount: number
            lastRun: { status: string; startedAt: string } | null
          }[]
        }
        if (options.json) {
          io.out(`${JSON.stringify(items, null, 2)}\n`)
          return
        }
        if (items.length === 0) io.out('No pipelines yet: larder pipelines import FILE, or build one in the console.\n')
        for (const p of items) {
          io.out(
            `${String(p.id).padStart(4)}  ${p.name.padEnd(28)} v${p.currentVersion}  ${p.nodeCount} nodes  last run: ${p.lastRun ? `${p.lastRun.status} ${p.lastRun.startedAt}` : 'never'}\n`,
          )
        }
      }),
    )

  group
    .command('import')
    .description(
      'Import a pipeline exported from Larder (the format is in docs/pipelines.md); a new version if it exists.',
    )
    .argument('<file>', 'pipeline .json file')
    .option('--tenant <name>', 'the tenant that owns it (default: unchanged, or "default" for a new pipeline)')
    .action(async (file: string, options: { tenant?: string }, command: Command) =>
      withBackend(command, async (backend) => {
        const text = readFileSync(resolve(file), 'utf8')
        let existing: number | undefined
        try {
          const name = (JSON.parse(text) as { name?: unknown }).name
          if (typeof name === 'string') existing = backend.pipelines.byName(name)?.id
        } catch {
          // Parsed again below, where a broken file gets its clear message.
        }
        const saved = (await backend.call('pipelines.save', {
          definition: parseOrThrow(text),
          ...(existing ? { id: existing } : {}),
          ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
          note: `imported from ${file}`,
        })) as {
          pipeline: { name: string; tenant: string }
          version: number
          problems: { message: string }[]
        }
        io.out(`Imported ${saved.pipeline.name} (tenant ${saved.pipeline.tenant}) as version ${saved.version}.\n`)
        for (const problem of saved.problems) io.out(`  needs attention: ${problem.message}\n`)
      }),
    )

  group
    .command('export')
    .description('Write a pipeline to a JSON file.')
    .argument('<name>', 'pipeline name or id')
    .argument('<file>', 'output .json file')
    .option('--version <n>', 'a specific version', positiveInt)
    .action(async (name: string, file: string, options: { version?: number }, command: Command) =>
      withBackend(command, async (backend) => {
        const { definition } = (await backend.call('pipelines.export', {
          id: idOf(backend, name),
          ...(options.version ? { version: options.version } : {}),
        })) as {
          definition: unknown
        }
        writeFileSync(resolve(file), `${JSON.stringify(definition, null, 2)}\n`)
        io.out(`Wrote ${file}.\n`)
      }),
    )

  group
    .command('run')
    .description('Run a pipeline once and print its output and per-node trace.')
    .argument('<name>', 'pipeline name or id')
    .requiredOption('--input <text>', 'the input: text, or JSON (a string or an object with "input")')
    .option('--json', 'print the run with its trace as JSON')
    .action(async (name: string, options: { input: string; json?: boolean }, command: Command) =>
      withBackend(command, async (backend) => {
        let input = options.input
        try {
          const parsed = JSON.parse(options.input) as unknown
          if (typeof parsed === 'string') input = parsed
          else if (parsed && typeof parsed === 'object' && typeof (parsed as { input?: unknown }).input === 'string')
            input = (parsed as { input: string }).input
          else input = JSON.stringify(parsed)
        } catch {
          // Plain text input.
        }
        let jobId = 0
        const code = await context.runJobHere(
          backend,
          async () => {
            const { job } = (await backend.call('pipelines.run', {
              id: idOf(backend, name),
              input,
              source: 'cli',
            })) as { job: Job }
            jobId = job.id
            return job
          },
          false,
          // With --json, stdout carries the run's JSON and nothing else.
          { statusToStderr: options.json === true },
        )
        const runId = backend.pipelines.runIdForJob(jobId)
        if (runId !== undefined) {
          const run = (await backend.call('pipelines.runs.get', { runId })) as PipelineRun
          if (options.json) io.out(`${JSON.stringify(run, null, 2)}\n`)
          else {
            io.out(`\n${run.output ?? ''}\n\n`)
            for (const nodeId of Object.keys(run.trace.nodes)) {
              const node = run.trace.nodes[nodeId]!
              const tokens = node.calls.reduce((sum, c) => [sum[0]! + c.tokensIn, sum[1]! + c.tokensOut], [0, 0])
              io.out(
                `  ${nodeId.padEnd(16)} ${node.status.padEnd(9)} ${node.durationMs === null ? '' : `${node.durationMs.toFixed(0)} ms`.padStart(8)}  tokens ${tokens[0]} in / ${tokens[1]} out${node.warning ? `  (${node.warning})` : ''}${node.error ? `  error: ${node.error}` : ''}\n`,
              )
            }
          }
        }
        if (code !== EXIT.ok) throw new CliExit(code)
      }),
    )

  const bench = program.command('bench').description('Benchmarks that print numbers (run them on a quiet machine).')
  bench
    .command('quantize')
    .description(
      "Quantization throughput (MB/s of F32 input) per type, single thread, beside ggml's C quantizer on the same data; whole-file.",
    )
    .option('--mb <n>', 'size of the in-memory tensor in MB', positiveInt, 16)
    .option('--json', 'print one JSON object')
    .action(async (options: { mb: number; json?: boolean }) => {
      const { rows, referenceSkipped } = await benchQuantize({ tensorMegabytes: options.mb })
      if (options.json) {
        io.out(`${JSON.stringify({ node: process.version, arch: process.arch, rows, referenceSkipped })}\n`)
        return
      }
      if (referenceSkipped) io.out(`No C reference: ${referenceSkipped}\n`)
      io.out(
        `${'what'.padEnd(42)} ${'MB'.padStart(7)} ${'ms'.padStart(8)} ${'MB/s'.padStart(8)} ${'C MB/s'.padStart(8)} ratio  goal\n`,
      )
      for (const row of rows) {
        const reference = row.referenceMegabytesPerSecond?.toFixed(1) ?? ''
        const ratio = row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}x`
        const goal =
          row.goal === undefined
            ? ''
            : `${row.goal}x${row.ratio !== undefined && row.ratio < row.goal ? ' (below)' : ''}`
        io.out(
          `${row.label.padEnd(42)} ${row.megabytes.toFixed(1).padStart(7)} ${row.milliseconds.toFixed(0).padStart(8)} ${row.megabytesPerSecond.toFixed(1).padStart(8)} ${reference.padStart(8)} ${ratio.padStart(6)} ${goal}\n`,
        )
      }
    })

  bench
    .command('batch')
    .description('Batched generation on the tiny model: total tokens/s at 1, 4 and 8 parallel sequences.')
    .option('--threads <n>', 'CPU threads', positiveInt, 1)
    .option('--tokens <n>', 'tokens per sequence', positiveInt, 96)
    .option('--model <file>', 'a GGUF file instead of the tiny test model')
    .option('--gpu', 'offload to the GPU when there is one')
    .option('--json', 'print one JSON object')
    .action(async (options: { threads: number; tokens: number; model?: string; gpu?: boolean; json?: boolean }) => {
      const result = await benchBatch({
        threads: options.threads,
        tokens: options.tokens,
        gpu: options.gpu ? 'auto' : false,
        ...(options.model ? { modelPath: resolve(options.model) } : {}),
      })
      if (options.json) {
        io.out(`${JSON.stringify(result)}\n`)
        return
      }
      io.out(
        `${result.model}, ${options.threads} thread(s)\nsequences  prompt tok/s  generation tok/s  per-sequence tok/s\n`,
      )
      for (const row of result.rows) {
        io.out(
          `${String(row.sequences).padStart(9)}  ${row.promptTokensPerSecond.toFixed(1).padStart(12)}  ${row.generationTokensPerSecond.toFixed(1).padStart(16)}  ${row.perSequenceTokensPerSecond.toFixed(1).padStart(18)}\n`,
        )
      }
      io.out(`8 sequences vs 1: ${result.ratio8to1.toFixed(2)}x total tokens/s\n`)
    })

  bench
    .command('pipelines')
    .description('Engine overhead per node on a 20-node graph, and whether independent branches run concurrently.')
    .option('--runs <n>', 'runs of the 20-node graph', positiveInt, 300)
    .option('--json', 'print one JSON object')
    .action(async (options: { runs: number; json?: boolean }) => {
      const result = await benchPipelines({ runs: options.runs })
      if (options.json) {
        io.out(`${JSON.stringify(result)}\n`)
        return
      }
      io.out(`Engine overhead per node (${result.nodes}-node graph, ${result.runs} runs, instant in-process models):\n`)
      io.out(
        `  mean ${result.overheadPerNodeMs.mean.toFixed(3)} ms, p50 ${result.overheadPerNodeMs.p50.toFixed(3)} ms, p95 ${result.overheadPerNodeMs.p95.toFixed(3)} ms (goal < 1 ms)\n`,
      )
      io.out(
        `Two independent branches with models that take ${result.branches.sleepMs} ms each: ${result.branches.twoBranchMs.toFixed(0)} ms\n`,
      )
      io.out(
        `The same two calls one after the other:                      ${result.branches.sequentialMs.toFixed(0)} ms (ratio ${result.branches.ratio.toFixed(2)})\n`,
      )
    })

  bench
    .command('gateway')
    .description(
      'The cache-hit path over HTTP against a raw node:http server (autocannon), exact lookups on a Zipf stream, and semantic lookups against brute force and sqlite-vec.',
    )
    .option('--only <parts>', `comma-separated parts: ${BENCH_PARTS.join(', ')}`, benchParts)
    .option('--seconds <n>', 'seconds per autocannon run', positiveInt, 5)
    .option('--rounds <n>', 'autocannon runs per server (alternating)', positiveInt, 3)
    .option('--connections <n>', 'autocannon connections', positiveInt, 10)
    .option('--entries <n>', 'cache entries for the lookup benchmarks', positiveInt, 100_000)
    .option('--queries <n>', 'semantic queries', positiveInt, 1000)
    .option('--cpu-prof <dir>', "write a V8 CPU profile of the gateway's process into this folder")
    .option('--json', 'print one JSON object')
    .action(
      async (options: {
        only?: BenchPart[]
        seconds: number
        rounds: number
        connections: number
        entries: number
        queries: number
        cpuProf?: string
        json?: boolean
      }) => {
        const result = await benchGateway({
          ...(options.only ? { only: options.only } : {}),
          seconds: options.seconds,
          rounds: options.rounds,
          connections: options.connections,
          entries: options.entries,
          queries: options.queries,
          ...(options.cpuProf ? { cpuProfileDir: resolve(options.cpuProf) } : {}),
        })
        io.out(options.json ? `${JSON.stringify(result)}\n` : describeGatewayBench(result))
      },
    )
  bench
    .command('gateway-workers')
    .description(
      'Cache-hit req/s through `larder serve --workers N` at N = 1 and 2 over one workspace, and the scaling ratio.',
    )
    .option('--seconds <n>', 'seconds per autocannon run', positiveInt, 5)
    .option('--rounds <n>', 'autocannon runs per N (alternating)', positiveInt, 3)
    .option('--connections <n>', 'autocannon connections', positiveInt, 10)
    .option('--json', 'print one JSON object')
    .action(async (options: { seconds: number; rounds: number; connections: number; json?: boolean }) => {
      const { benchWorkers, describeWorkersBench } = await import('../../backend/bench/gateway-workers')
      const result = await benchWorkers(options)
      io.out(options.json ? `${JSON.stringify(result)}\n` : describeWorkersBench(result))
    })
  bench
    .command('crash-gateway')
    .description(
      'SIGKILL loop over gateway writes: kills a live gateway N times under traffic and checks that every answered entry was kept, integrity_check, and how many write-behind log rows a kill loses.',
    )
    .option('--kills <n>', 'how many times to kill the gateway', positiveInt, 100)
    .option('--clients <n>', 'concurrent clients', positiveInt, 8)
    .option('--worst-case', 'kill the instant the first answer of each round was written')
    .option('--json', 'print one JSON object')
    .action(async (options: { kills: number; clients: number; worstCase?: boolean; json?: boolean }) => {
      const { crashGateway, describeCrashGateway } = await import('../../backend/bench/crash-gateway')
      const result = await crashGateway({
        kills: options.kills,
        clients: options.clients,
        killAfterAnswer: options.worstCase === true,
        ...(options.json
          ? {}
          : {
              // The figures so far every 50 kills, so a long run can be stopped with numbers in hand.
              onRound: (round, soFar) => {
                if (round.round % 50 === 0) io.out(`after ${round.round} kills: ${describeCrashGateway(soFar, true)}\n`)
              },
            }),
      })
      io.out(options.json ? `${JSON.stringify(result)}\n` : `${describeCrashGateway(result, false)}\n`)
      if (result.lostEntries > 0 || result.integrityFailures > 0) throw new CliExit(EXIT.failed)
    })
}

const BENCH_PARTS = ['http', 'steps', 'exact', 'semantic'] as const
type BenchPart = (typeof BENCH_PARTS)[number]

function benchParts(value: string): BenchPart[] {
  const parts = value.split(',').map((part) => part.trim())
  for (const part of parts) {
    if (!(BENCH_PARTS as readonly string[]).includes(part))
      throw new InvalidArgumentError(`parts are ${BENCH_PARTS.join(', ')} (comma-separated)`)
  }
  return parts as BenchPart[]
}

/** The gateway benchmark's report, for people. */
function describeGatewayBench(result: GatewayBenchResult): string {
  const lines: string[] = [`node ${result.node} ${result.arch}, ${result.cpus} CPUs`]
  const us = (p: Percentiles): string =>
    `p50 ${p.p50.toFixed(2)} us, p90 ${p.p90.toFixed(2)} us, p99 ${p.p99.toFixed(2)} us`
  const ms = (p: Percentiles): string =>
    `p50 ${p.p50.toFixed(2)} ms, p90 ${p.p90.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms`
  if (result.http) {
    const h = result.http
    lines.push(
      '',
      `Cache-hit path over HTTP (autocannon on 127.0.0.1: ${h.settings.connections} connections, pipelining ${h.settings.pipelining}, ${h.settings.rounds} x ${h.settings.seconds} s each, alternating; each server in its own child process):`,
      `  bare node:http, same bytes          ${h.raw.reqPerSec.toFixed(0).padStart(7)} req/s  (server CPU ${h.raw.serverCpuUsPerRequest.toFixed(1)} us/request, ${h.raw.serverSystemUsPerRequest.toFixed(1)} of it system)`,
      `  bare node:http + JSON.parse(body)   ${h.rawParse.reqPerSec.toFixed(0).padStart(7)} req/s  (server CPU ${h.rawParse.serverCpuUsPerRequest.toFixed(1)} us/request, ${h.rawParse.serverSystemUsPerRequest.toFixed(1)} of it system)`,
      `  Larder gateway (hit)                ${h.gateway.reqPerSec.toFixed(0).padStart(7)} req/s  (server CPU ${h.gateway.serverCpuUsPerRequest.toFixed(1)} us/request, ${h.gateway.serverSystemUsPerRequest.toFixed(1)} of it system)`,
      `  hit / bare with parse ${h.ratio.toFixed(2)}x (goal >= 0.8x); hit / bare without parse ${h.ratioNoParse.toFixed(2)}x`,
      `  gateway CPU added per hit over the parsing bare server: ${h.cpuAddedUsPerHit.toFixed(1)} us (goal <= 10 us); from the least disturbed runs ${h.cpuAddedUsPerHitMin.toFixed(1)} us`,
      ...(h.cpuProfileDir ? [`  CPU profile of the gateway process: ${h.cpuProfileDir}`] : []),
      `  logged by the gateway: ${h.gatewayLogged.requestLogRows} request-log rows, hit counter ${h.gatewayLogged.entryHitCount} (autocannon counted ${h.gatewayLogged.answered} answers)`,
    )
  }
  if (result.steps) {
    lines.push('', `The hit path's steps in process (CPU per call, median of 5 batches of ${result.steps.calls}):`)
    for (const [step, us] of Object.entries(result.steps.us))
      lines.push(`  ${step.padEnd(56)} ${us.toFixed(2).padStart(7)} us`)
  }
  if (result.exact) {
    const e = result.exact
    lines.push(
      '',
      `Exact lookup, Zipf(${e.zipf}) over ${e.entries} entries, ${e.lookups} lookups:`,
      `  Larder (normalise + hash + front/SQLite)  ${us(e.larderUs)} (goal p50 <= 10 us; front hit rate ${(e.front.hitRate * 100).toFixed(1)} %, ${e.front.size} entries held)`,
      `  JS Map, key precomputed                   ${us(e.mapUs)}`,
      `  normalise + hash + JS Map                 ${us(e.keyAndMapUs)}`,
      `  prepared SQLite get, key precomputed      ${us(e.sqliteUs)}`,
      `  before (Web Crypto + SQLite)              ${us(e.beforeUs)}`,
    )
  }
  if (result.semantic) {
    const s = result.semantic
    lines.push(
      '',
      `Semantic lookup over ${s.entries} entries x ${s.dims} dimensions, threshold ${s.threshold}, ${s.queries.total} queries (${s.queries.nearDuplicates} with a near duplicate):`,
      `  Larder (in-memory index, whole lookup)    ${ms(s.larderMs)} (goal p50 <= 2 ms; index built in ${s.indexBuildMs.toFixed(0)} ms)`,
      `    near duplicates found: ${(s.recall * 100).toFixed(2)} % (goal >= 99 %); served without a near duplicate: ${s.falseHits} (must be 0)`,
      `  brute-force Float32Array scan             ${ms(s.bruteForceMs)}`,
      `  sqlite-vec vec_distance_cosine scan       ${ms(s.sqliteVecScanMs)} (${s.slowSample} queries)`,
      `  sqlite-vec vec0 exact, k = 5              ${ms(s.vec0Ms)} (${s.slowSample} queries)`,
      `  sqlite-vec vec0 bit-quantized, k = 1      ${ms(s.vec0BitMs)} (${s.slowSample} queries)`,
    )
  }
  return `${lines.join('\n')}\n`
}

function parseOrThrow(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new ApiError({
      code: 'invalid_input',
      message: `The pipeline file is not valid JSON: ${(error as Error).message}`,
    })
  }
}
