/**
 * `npm run bench -- gateway-workers`: requests/s of cache hits through `larder serve --workers N` (the real CLI in
 * its own process tree) at N = 1 and N = 2 over one workspace, autocannon here, the runs alternating N = 1, N = 2,
 * ... and the medians compared. Numbers, never assertions.
 *
 * On a machine with C cores the load generator needs a share of them too: the scaling ratio is bounded by what is
 * left for the servers (on 2 cores, well under 2x).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Backend } from '../backend'
import { BENCH_BODY, seedBenchWorkspace } from './gateway'

const requireHere = createRequire(import.meta.url)
const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../cli/index.ts')

interface AutocannonResult {
  requests: { total: number }
  duration: number
  errors: number
  timeouts: number
  non2xx: number
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>

export interface WorkersRun {
  workers: number
  reqPerSec: number
  errors: number
  non2xx: number
}

export interface WorkersBenchResult {
  node: string
  cpus: number
  settings: { connections: number; seconds: number; rounds: number }
  one: { reqPerSec: number; runs: WorkersRun[] }
  two: { reqPerSec: number; runs: WorkersRun[] }
  /** req/s at N = 2 over N = 1 (medians). */
  scaling: number
  /** Processes that answered at N = 2 (x-larder-worker), from a sample of requests on fresh connections. */
  answeringPids: number
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function startServe(home: string, workers: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'serve', '--home', home, '--port', '0', '--workers', String(workers)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()))
  const ready = workers > 1 ? /worker processes: / : /Press Ctrl-C/
  const deadline = Date.now() + 120_000
  while (!ready.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start: ${out}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const url = /OpenAI-compatible gateway: (http:\/\/[^/\s]+)\/v1/.exec(out)![1]!
  return { child, url: `${url}/v1/chat/completions` }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGINT')
  await exited
}

/** How many distinct processes answer `count` requests, each on a new connection. */
async function answeringPids(url: string, headers: Record<string, string>, count: number): Promise<number> {
  const pids = new Set<string>()
  const { request } = await import('node:http')
  for (let i = 0; i < count; i++) {
    pids.add(
      await new Promise<string>((resolve, reject) => {
        const req = request(url, { method: 'POST', agent: false, headers }, (response) => {
          response.resume()
          response.on('end', () => resolve(String(response.headers['x-larder-worker'])))
        })
        req.on('error', reject)
        req.end(BENCH_BODY)
      }),
    )
  }
  return pids.size
}

export async function benchWorkers(
  options: { seconds?: number; rounds?: number; connections?: number } = {},
): Promise<WorkersBenchResult> {
  const autocannon = requireHere('autocannon') as Autocannon
  const settings = {
    connections: options.connections ?? 10,
    seconds: options.seconds ?? 5,
    rounds: options.rounds ?? 3,
  }
  const home = mkdtempSync(join(tmpdir(), 'larder-bench-workers-'))
  const children: ChildProcess[] = []
  try {
    const backend = Backend.open({ home, models: { cpuOnly: true } })
    const { secret } = await seedBenchWorkspace(backend)
    await backend.close()
    const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }
    const one = await startServe(home, 1)
    children.push(one.child)
    const two = await startServe(home, 2)
    children.push(two.child)
    const run = async (url: string, workers: number, seconds: number): Promise<WorkersRun> => {
      const result = await autocannon({
        url,
        method: 'POST',
        headers,
        body: BENCH_BODY,
        connections: settings.connections,
        duration: seconds,
      })
      return {
        workers,
        reqPerSec: result.requests.total / result.duration,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
      }
    }
    await run(one.url, 1, 1)
    await run(two.url, 2, 1)
    const runs = { one: [] as WorkersRun[], two: [] as WorkersRun[] }
    for (let round = 0; round < settings.rounds; round++) {
      runs.one.push(await run(one.url, 1, settings.seconds))
      runs.two.push(await run(two.url, 2, settings.seconds))
    }
    const pids = await answeringPids(two.url, headers, 8)
    const oneRps = median(runs.one.map((r) => r.reqPerSec))
    const twoRps = median(runs.two.map((r) => r.reqPerSec))
    return {
      node: process.version,
      cpus: cpus().length,
      settings,
      one: { reqPerSec: oneRps, runs: runs.one },
      two: { reqPerSec: twoRps, runs: runs.two },
      scaling: twoRps / oneRps,
      answeringPids: pids,
    }
  } finally {
    for (const child of children) await stop(child)
    rmSync(home, { recursive: true, force: true })
  }
}

export function describeWorkersBench(result: WorkersBenchResult): string {
  const s = result.settings
  return [
    `node ${result.node}, ${result.cpus} CPUs; autocannon here, ${s.connections} connections, ${s.rounds} x ${s.seconds} s each, alternating`,
    `  larder serve --workers 1   ${result.one.reqPerSec.toFixed(0).padStart(7)} req/s (cache hits)`,
    `  larder serve --workers 2   ${result.two.reqPerSec.toFixed(0).padStart(7)} req/s (cache hits; ${result.answeringPids} processes answered)`,
    `  scaling N=2 / N=1: ${result.scaling.toFixed(2)}x`,
    '',
  ].join('\n')
}
