/**
 * Gateway benchmark (`npm run bench -- gateway`): numbers, never assertions.
 *
 * - http: requests/s of the cache-hit path through the real `Gateway` + `startHttpServer` (key auth, namespace,
 *   lookup, hit counters and request logging all on) against a raw `node:http` server that answers the very same
 *   bytes (status, headers, body), with the same autocannon settings in the same run. Each server runs in its own
 *   child process (only one under load at a time) and autocannon runs here, so the load generator never shares a
 *   process with either server; the runs alternate raw, gateway, raw, gateway... and the medians are compared.
 * - exact: `CacheService.lookup` (normalise + hash + find, as the gateway calls it) on a Zipf(1.0) stream of
 *   requests over N entries, beside a JS Map lookup and a plain prepared SQLite get of the same keys.
 * - semantic: `CacheService.lookup` with semantic matching (a stub embedder hands back precomputed vectors, so the
 *   model's time is not counted) over N entries x D dimensions, beside an exact brute-force Float32Array scan,
 *   sqlite-vec's `vec_distance_cosine` over `cache_vectors` (the query the service ran before) and a `vec0` table.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { cacheKey, type CacheableRequest } from '../../shared/cache-key'
import type { Backend } from '../backend'
import { cacheKeySync } from '../cache/key'
import { CacheRepository } from '../cache/repository'
import type { NamespaceConfig } from '../cache/runtime'
import type { Provider } from '../models/providers/types'

const requireHere = createRequire(import.meta.url)
const THIS_FILE = fileURLToPath(import.meta.url)
const CHILD_ENV = 'LARDER_BENCH_GATEWAY_CHILD'

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers

export interface Percentiles {
  p50: number
  p90: number
  p99: number
  mean: number
}

export function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length)
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean }
}

const median = (values: number[]): number => percentiles(values).p50

// ---------------------------------------------------------------------------------------------------------------
// HTTP: gateway vs raw node:http

interface AutocannonResult {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number; average: number }
  errors: number
  timeouts: number
  non2xx: number
  duration: number
}

type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>

export interface HttpRun {
  reqPerSec: number
  latencyP50Ms: number
  latencyP99Ms: number
  errors: number
  non2xx: number
  /** Server process CPU time per answered request (user + system), in microseconds. */
  serverCpuUsPerRequest: number
  /** The system (kernel) part of it. */
  serverSystemUsPerRequest: number
  /** autocannon's (this process's) CPU time per answered request. */
  loadCpuUsPerRequest: number
}

export interface ServerSummary {
  reqPerSec: number
  serverCpuUsPerRequest: number
  /** The least CPU per request of any run: other processes' load only ever adds, so this is the least disturbed. */
  minServerCpuUsPerRequest: number
  serverSystemUsPerRequest: number
  runs: HttpRun[]
}

export interface HttpBenchResult {
  settings: { connections: number; pipelining: number; seconds: number; rounds: number; warmupSeconds: number }
  request: { path: string; bodyBytes: number; responseBytes: number; responseHeaders: Record<string, string> }
  /** A bare node:http server that reads the body and answers the same bytes (no parsing). */
  raw: ServerSummary
  /** A bare node:http server that reads the body, JSON-parses it, and answers the same bytes: the goal's baseline. */
  rawParse: ServerSummary
  gateway: ServerSummary
  /** gateway req/s / bare-with-parse req/s (medians; goal >= 0.8). */
  ratio: number
  /** gateway req/s / bare-without-parse req/s (medians). */
  ratioNoParse: number
  /** Gateway server CPU per hit minus the parsing bare server's, microseconds (medians; goal <= 10). */
  cpuAddedUsPerHit: number
  /** The same from each server's least disturbed run (minimum CPU per request). */
  cpuAddedUsPerHitMin: number
  /** Requests the gateway logged and hits it counted, read back from SQLite after it closed (proves they were on). */
  gatewayLogged: { requestLogRows: number; entryHitCount: number; keyLastUsedAt: string | null; answered: number }
  /** Where the gateway's V8 CPU profile was written (`--cpu-prof`), if asked. */
  cpuProfileDir?: string
}

type ServerKind = 'gateway' | 'raw' | 'raw-parse'

interface ChildMessage {
  type: 'ready' | 'usage' | 'closed'
  port?: number
  secret?: string
  cpuUs?: number
  systemUs?: number
  stats?: HttpBenchResult['gatewayLogged']
}

const BENCH_REQUEST = {
  model: 'bench-model',
  messages: [
    { role: 'system', content: 'You are the support assistant of a small online shop.' },
    { role: 'user', content: 'How do I reset my password?' },
  ],
  temperature: 0,
}
const BENCH_ANSWER =
  'Open Settings, choose Security, then "Reset password". We email you a link that works for one hour; ' +
  'if it does not arrive, check the spam folder or ask us to send it again.'

function startChild(
  kind: ServerKind,
  config: unknown,
  execArgv: string[] = [],
): Promise<{ child: ChildProcess; ready: ChildMessage }> {
  const child = fork(THIS_FILE, [], {
    env: { ...process.env, [CHILD_ENV]: JSON.stringify({ kind, config }) },
    execArgv: ['--import', 'tsx', ...execArgv],
    // The children's stdout is dropped so `--json` prints one object; their errors still show.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`bench ${kind} server exited early (code ${code})`)))
    child.once('message', (message: ChildMessage) => {
      child.removeAllListeners('exit')
      resolve({ child, ready: message })
    })
  })
}

function ask(child: ChildProcess, type: 'usage' | 'close'): Promise<ChildMessage> {
  return new Promise((resolve) => {
    child.once('message', (message: ChildMessage) => resolve(message))
    child.send({ type })
  })
}

/** Waits (a while) for a child to exit by itself, so a `--cpu-prof` profile gets written. */
function exited(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

export interface HttpBenchOptions {
  seconds?: number
  rounds?: number
  connections?: number
  pipelining?: number
  warmupSeconds?: number
  /** Requests per second in all (autocannon's overallRate); unlimited by default. Tests keep it low. */
  overallRate?: number
  /** Write a V8 CPU profile of the gateway process into this folder (`node --cpu-prof`). */
  cpuProfileDir?: string
}

export async function benchHttp(options: HttpBenchOptions = {}): Promise<HttpBenchResult> {
  const autocannon = requireHere('autocannon') as Autocannon
  const settings = {
    connections: options.connections ?? 10,
    pipelining: options.pipelining ?? 1,
    seconds: options.seconds ?? 5,
    rounds: options.rounds ?? 3,
    warmupSeconds: options.warmupSeconds ?? 1,
  }
  const home = mkdtempSync(join(tmpdir(), 'larder-bench-gateway-'))
  const children: ChildProcess[] = []
  try {
    // One folder per server, so the bare servers' profiles can be read beside the gateway's.
    const profile = (kind: ServerKind): string[] =>
      options.cpuProfileDir
        ? ['--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${join(options.cpuProfileDir, kind)}`]
        : []
    const gateway = await startChild('gateway', { home }, profile('gateway'))
    children.push(gateway.child)
    const gatewayUrl = `http://127.0.0.1:${gateway.ready.port}/v1/chat/completions`
    const headers = { authorization: `Bearer ${gateway.ready.secret}`, 'content-type': 'application/json' }
    const body = JSON.stringify(BENCH_REQUEST)
    // The reply the bare servers will replay: the gateway's own status, headers and body.
    const sample = await fetch(gatewayUrl, { method: 'POST', headers, body })
    if (sample.headers.get('x-larder-cache') !== 'hit-exact') throw new Error('the bench request is not a cache hit')
    const replayHeaders: Record<string, string> = {}
    sample.headers.forEach((value, name) => {
      if (!['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)) replayHeaders[name] = value
    })
    const replayBody = await sample.text()
    const replay = { status: sample.status, headers: replayHeaders, body: replayBody }
    const raw = await startChild('raw', replay, profile('raw'))
    children.push(raw.child)
    const rawParse = await startChild('raw-parse', replay, profile('raw-parse'))
    children.push(rawParse.child)
    const urlOf = (port: number | undefined): string => `http://127.0.0.1:${port}/v1/chat/completions`

    let answered = 1
    const run = async (target: { child: ChildProcess; url: string }, seconds: number): Promise<HttpRun> => {
      const before = await ask(target.child, 'usage')
      const loadBefore = process.cpuUsage()
      const result = await autocannon({
        url: target.url,
        method: 'POST',
        headers,
        body,
        connections: settings.connections,
        pipelining: settings.pipelining,
        duration: seconds,
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
      })
      const load = process.cpuUsage(loadBefore)
      const after = await ask(target.child, 'usage')
      if (target.child === gateway.child) answered += result.requests.total
      return {
        reqPerSec: result.requests.total / result.duration,
        latencyP50Ms: result.latency.p50,
        latencyP99Ms: result.latency.p99,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
        serverCpuUsPerRequest: (after.cpuUs! - before.cpuUs!) / Math.max(1, result.requests.total),
        serverSystemUsPerRequest: (after.systemUs! - before.systemUs!) / Math.max(1, result.requests.total),
        loadCpuUsPerRequest: (load.user + load.system) / Math.max(1, result.requests.total),
      }
    }
    const targets = {
      raw: { child: raw.child, url: urlOf(raw.ready.port) },
      rawParse: { child: rawParse.child, url: urlOf(rawParse.ready.port) },
      gateway: { child: gateway.child, url: gatewayUrl },
    }
    for (const target of Object.values(targets)) await run(target, settings.warmupSeconds)
    const runs = { raw: [] as HttpRun[], rawParse: [] as HttpRun[], gateway: [] as HttpRun[] }
    for (let round = 0; round < settings.rounds; round++) {
      runs.raw.push(await run(targets.raw, settings.seconds))
      runs.rawParse.push(await run(targets.rawParse, settings.seconds))
      runs.gateway.push(await run(targets.gateway, settings.seconds))
    }
    await ask(raw.child, 'close')
    await ask(rawParse.child, 'close')
    const closed = await ask(gateway.child, 'close')
    if (options.cpuProfileDir) for (const child of children) await exited(child, 10_000)
    const summary = (list: HttpRun[]): ServerSummary => ({
      reqPerSec: median(list.map((r) => r.reqPerSec)),
      serverCpuUsPerRequest: median(list.map((r) => r.serverCpuUsPerRequest)),
      minServerCpuUsPerRequest: Math.min(...list.map((r) => r.serverCpuUsPerRequest)),
      serverSystemUsPerRequest: median(list.map((r) => r.serverSystemUsPerRequest)),
      runs: list,
    })
    const rawSummary = summary(runs.raw)
    const rawParseSummary = summary(runs.rawParse)
    const gatewaySummary = summary(runs.gateway)
    return {
      settings,
      request: {
        path: '/v1/chat/completions',
        bodyBytes: Buffer.byteLength(body),
        responseBytes: Buffer.byteLength(replayBody),
        responseHeaders: replayHeaders,
      },
      raw: rawSummary,
      rawParse: rawParseSummary,
      gateway: gatewaySummary,
      ratio: gatewaySummary.reqPerSec / rawParseSummary.reqPerSec,
      ratioNoParse: gatewaySummary.reqPerSec / rawSummary.reqPerSec,
      cpuAddedUsPerHit: gatewaySummary.serverCpuUsPerRequest - rawParseSummary.serverCpuUsPerRequest,
      cpuAddedUsPerHitMin: gatewaySummary.minServerCpuUsPerRequest - rawParseSummary.minServerCpuUsPerRequest,
      gatewayLogged: { ...closed.stats!, answered },
      ...(options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {}),
    }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill()
    rmSync(home, { recursive: true, force: true })
  }
}

const usageNow = (): ChildMessage => {
  const usage = process.cpuUsage()
  return { type: 'usage', cpuUs: usage.user + usage.system, systemUs: usage.system }
}

/** A bare node:http server answering captured bytes: it reads the body (and JSON-parses it when `parse`). */
async function runBareChild(
  config: { status: number; headers: Record<string, string>; body: string },
  parse: boolean,
): Promise<void> {
  const { status, headers, body } = config
  const bytes = Buffer.from(body)
  let sink = 0
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (parse) {
        const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { messages?: unknown[] }
        sink += parsed.messages?.length ?? 0
      }
      response.writeHead(status, headers)
      response.end(bytes)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  process.on('message', (message: { type: string }) => {
    if (message.type === 'usage') process.send!(usageNow())
    if (message.type === 'close') {
      server.close()
      server.closeAllConnections()
      process.send!({ type: 'closed', cpuUs: sink })
      process.disconnect()
    }
  })
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port })
}

/** A workspace's bench tenant: a gateway key, the default namespace and one approved answer to the bench request. */
export async function seedBenchWorkspace(backend: Backend): Promise<{ secret: string; entryId: number }> {
  const { secret } = (await backend.call('gateway.keys.create', { tenant: 'bench', label: 'bench' })) as {
    secret: string
  }
  const { namespace } = (await backend.call('cache.namespaces.save', { tenant: 'bench', name: 'default' })) as {
    namespace: { id: number }
  }
  const entry = (await backend.call('cache.entries.create', {
    namespaceId: namespace.id,
    request: { model: BENCH_REQUEST.model, messages: BENCH_REQUEST.messages, params: { temperature: 0 } },
    answer: BENCH_ANSWER,
    state: 'approved',
  })) as { id: number }
  await backend.call('cache.entries.update', { id: entry.id, answer: BENCH_ANSWER })
  backend.workspace.db.prepare('UPDATE cache_entries SET tokens_in = 24, tokens_out = 40 WHERE id = ?').run(entry.id)
  return { secret, entryId: entry.id }
}

export const BENCH_BODY = JSON.stringify(BENCH_REQUEST)

/** A child process: the real gateway over a fresh workspace with one approved entry, or a bare replay server. */
async function runChild(spec: { kind: ServerKind; config: Record<string, unknown> }): Promise<void> {
  const send = (message: ChildMessage): void => {
    process.send!(message)
  }
  if (spec.kind !== 'gateway') {
    await runBareChild(
      spec.config as { status: number; headers: Record<string, string>; body: string },
      spec.kind === 'raw-parse',
    )
    return
  }
  const { Backend } = await import('../backend')
  const { Gateway } = await import('../gateway/gateway')
  const { startHttpServer } = await import('../server/http-server')
  const home = spec.config.home as string
  const backend = Backend.open({ home, models: { cpuOnly: true } })
  const { secret, entryId } = await seedBenchWorkspace(backend)
  const entry = { id: entryId }
  const server = await startHttpServer({ backend, port: 0, token: 'bench-admin', gateway: new Gateway(backend) })
  process.on('message', (message: { type: string }) => {
    if (message.type === 'usage') send(usageNow())
    if (message.type === 'close') {
      void (async () => {
        await server.close()
        await backend.close()
        const { openDatabase } = await import('../db/database')
        const db = openDatabase(join(home, 'larder.db'))
        const stats = {
          requestLogRows: db.prepare('SELECT count(*) FROM request_log').pluck().get() as number,
          entryHitCount: db.prepare('SELECT hit_count FROM cache_entries WHERE id = ?').pluck().get(entry.id) as number,
          keyLastUsedAt: db.prepare('SELECT max(last_used_at) FROM gateway_keys').pluck().get() as string | null,
          answered: 0,
        }
        db.close()
        send({ type: 'closed', stats })
        process.disconnect()
      })()
    }
  })
  send({ type: 'ready', port: server.port, secret })
}

// ---------------------------------------------------------------------------------------------------------------
// In-process lookups over a real workspace

/** A deterministic PRNG (xorshift32) so every run draws the same data. */
export function rng(seed: number): () => number {
  let state = seed >>> 0 || 1
  return () => {
    state ^= state << 13
    state >>>= 0
    state ^= state >>> 17
    state ^= state << 5
    state >>>= 0
    return state / 4294967296
  }
}

/** Ranks 0..n-1 drawn with probability proportional to 1 / (rank + 1)^s. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n)
  let total = 0
  for (let i = 0; i < n; i++) cumulative[i] = total += 1 / Math.pow(i + 1, s)
  return () => {
    const target = random() * total
    let low = 0
    let high = n - 1
    while (low < high) {
      const mid = (low + high) >> 1
      if (cumulative[mid]! < target) low = mid + 1
      else high = mid
    }
    return low
  }
}

/** Digits as letters, so request texts carry no numbers (the number guard would refuse paraphrases otherwise). */
const spell = (value: number): string =>
  String(value)
    .split('')
    .map((digit) => 'abcdefghij'[Number(digit)])
    .join('')

const benchRequest = (text: string): CacheableRequest => ({
  model: 'bench-model',
  kind: 'chat',
  messages: [
    { role: 'system', content: 'You are the support assistant of a small online shop.' },
    { role: 'user', content: text },
  ],
  params: { temperature: 0 },
})

interface Workspace {
  home: string
  backend: Backend
  namespace: NamespaceConfig
}

async function benchWorkspace(
  entries: number,
  options: { semantic?: { texts: Map<string, number[]> } } = {},
): Promise<Workspace> {
  const { Backend } = await import('../backend')
  const home = mkdtempSync(join(tmpdir(), 'larder-bench-lookup-'))
  const backend = Backend.open({ home, models: { cpuOnly: true } })
  let embedder: { provider: number } | undefined
  if (options.semantic) {
    // A provider row for the namespace to name; the bench answers embeddings itself (below), nothing is contacted.
    const provider = (await backend.call('providers.save', {
      name: 'bench-embedder',
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'bench',
    })) as { id: number }
    embedder = { provider: provider.id }
    const texts = options.semantic.texts
    const stub: Provider = {
      id: 'bench-embedder',
      kind: 'openai',
      generate: () => Promise.reject(new Error('not in the bench')),
      embed: (inputs) => Promise.resolve(inputs.map((text) => texts.get(text) ?? [])),
      tokenize: () => Promise.resolve([]),
      countTokens: () => Promise.resolve(0),
    }
    backend.cache.embedder = () => Promise.resolve(stub)
  }
  const { namespace } = (await backend.call('cache.namespaces.save', {
    tenant: 'bench',
    name: 'default',
    ...(embedder ? { semanticEnabled: true, embedder, similarityThreshold: 0.92 } : {}),
  })) as { namespace: NamespaceConfig }
  return { home, backend, namespace }
}

function closeWorkspace(workspace: Workspace): Promise<void> {
  return workspace.backend.close().finally(() => rmSync(workspace.home, { recursive: true, force: true }))
}

/** Inserts entries straight through the repository, in one transaction (fast; no events, no embeddings). */
function fillEntries(
  workspace: Workspace,
  count: number,
  text: (i: number) => string,
  vector?: (i: number) => Float32Array,
): { ids: number[]; keys: string[] } {
  const repo = new CacheRepository(workspace.backend.workspace.db)
  const keys: string[] = []
  const ids: number[] = []
  repo.transaction(() => {
    for (let i = 0; i < count; i++) {
      const key = cacheKeySync(benchRequest(text(i)), workspace.namespace.normalization)
      const entry = repo.upsertEntry(
        {
          namespaceId: workspace.namespace.id,
          keyHash: key.keyHash,
          canonical: key.canonical,
          promptText: key.promptText,
          answer: `Answer ${spell(i)}: open Settings, then follow the steps on the screen.`,
          state: 'approved',
          expiresAt: null,
          model: 'bench-model',
          modelFileHash: null,
          promptVersion: null,
          embedderVersion: null,
          params: key.canonical.params,
          createdBy: 'imported',
          tokensIn: 20,
          tokensOut: 30,
        },
        'bench',
      )
      if (vector) repo.saveVector(entry.id, vector(i))
      keys.push(key.keyHash)
      ids.push(entry.id)
    }
  })
  return { ids, keys }
}

const timeUs = (work: () => unknown): number => {
  const start = process.hrtime.bigint()
  work()
  return Number(process.hrtime.bigint() - start) / 1000
}

export interface ExactBenchResult {
  entries: number
  lookups: number
  zipf: number
  /** `CacheService.lookupNow` as the gateway calls it: normalise + hash + front/SQLite find, microseconds. */
  larderUs: Percentiles
  /** A JS Map of key hash -> entry, the key already computed (find only). */
  mapUs: Percentiles
  /** normalise + hash + JS Map (no SQLite, no invalidation). */
  keyAndMapUs: Percentiles
  /** A plain prepared SQLite get by (namespace, key hash), the key already computed (find only). */
  sqliteUs: Percentiles
  /** What the service did before: Web Crypto SHA-256 (async) + a freshly prepared SQLite get. */
  beforeUs: Percentiles
  front: { size: number; hitRate: number }
}

export async function benchExact(options: { entries?: number; lookups?: number } = {}): Promise<ExactBenchResult> {
  const entries = options.entries ?? 100_000
  const lookups = options.lookups ?? 200_000
  const workspace = await benchWorkspace(entries)
  try {
    const text = (i: number): string => `How do I change the delivery address of order ${spell(i)}?`
    const { keys } = fillEntries(workspace, entries, text)
    const requests = Array.from({ length: entries }, (_, i) => benchRequest(text(i)))
    const next = zipfSampler(entries, 1.0, rng(7))
    const stream = Int32Array.from({ length: lookups }, () => next())
    const { cache } = workspace.backend
    const db = workspace.backend.workspace.db
    const namespace = workspace.namespace
    const map = new Map(keys.map((key, i) => [key, { id: i, key }]))
    const get = db.prepare('SELECT * FROM cache_entries WHERE namespace_id = ? AND key_hash = ?')
    let sink = 0
    const measure = (work: (rank: number) => unknown, count = lookups): Percentiles => {
      for (let i = 0; i < Math.min(count, 50_000); i++) work(stream[i]!)
      const samples = new Array<number>(count)
      for (let i = 0; i < count; i++) samples[i] = timeUs(() => work(stream[i]!))
      return percentiles(samples)
    }
    const frontBefore = { hits: cache.runtime.front.hits, misses: cache.runtime.front.misses }
    const larderUs = measure((rank) => {
      const result = cache.lookupNow(namespace, requests[rank]!) as { hitKind: string }
      if (result.hitKind !== 'hit-exact') throw new Error('bench lookup missed')
    })
    const front = cache.runtime.front
    const hits = front.hits - frontBefore.hits
    const misses = front.misses - frontBefore.misses
    const mapUs = measure((rank) => (sink += map.get(keys[rank]!)!.id))
    const keyAndMapUs = measure(
      (rank) => (sink += map.get(cacheKeySync(requests[rank]!, namespace.normalization).keyHash)!.id),
    )
    const sqliteUs = measure((rank) => (sink += (get.get(namespace.id, keys[rank]!) as { id: number }).id))
    // The async path, timed per await (a smaller sample: it is slow).
    const beforeSamples: number[] = []
    for (let i = 0; i < Math.min(lookups, 20_000); i++) {
      const start = process.hrtime.bigint()
      const { keyHash } = await cacheKey(requests[stream[i]!]!, namespace.normalization)
      db.prepare('SELECT * FROM cache_entries WHERE namespace_id = ? AND key_hash = ?').get(namespace.id, keyHash)
      beforeSamples.push(Number(process.hrtime.bigint() - start) / 1000)
    }
    if (sink === -1) console.log(sink)
    return {
      entries,
      lookups,
      zipf: 1.0,
      larderUs,
      mapUs,
      keyAndMapUs,
      sqliteUs,
      beforeUs: percentiles(beforeSamples),
      front: { size: front.size, hitRate: hits / Math.max(1, hits + misses) },
    }
  } finally {
    await closeWorkspace(workspace)
  }
}

export interface SemanticBenchResult {
  entries: number
  dims: number
  threshold: number
  queries: { total: number; nearDuplicates: number; withoutNearDuplicate: number }
  /** `CacheService.lookup` (exact miss, stub embedding, index search, candidate fetch, guards), milliseconds. */
  larderMs: Percentiles
  /** Building the namespace's index from cache_vectors (first semantic lookup), milliseconds. */
  indexBuildMs: number
  /** Share of near-duplicate queries answered with the exact nearest neighbour. */
  recall: number
  /** Queries without a near duplicate that were (wrongly) served: must be 0. */
  falseHits: number
  bruteForceMs: Percentiles
  /** sqlite-vec `vec_distance_cosine` over cache_vectors: the query the service ran before (`nearestExact`). */
  sqliteVecScanMs: Percentiles
  /** sqlite-vec vec0 exact KNN (float[dims], cosine), k = 5, in a temp table. */
  vec0Ms: Percentiles
  /** sqlite-vec vec0 over bit-quantized vectors (bit[dims], hamming), k = 1, for orientation. */
  vec0BitMs: Percentiles
  slowSample: number
}

/** Clustered, anisotropic unit vectors, roughly like sentence embeddings of support questions. */
function embeddings(count: number, dims: number, random: () => number): Float32Array {
  const gauss = (): number => {
    let u = 0
    while (u === 0) u = random()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
  }
  const unit = (v: Float32Array): Float32Array => {
    let norm = 0
    for (const x of v) norm += x * x
    norm = Math.sqrt(norm)
    for (let j = 0; j < v.length; j++) v[j]! /= norm
    return v
  }
  const common = unit(Float32Array.from({ length: dims }, gauss))
  const topics = Array.from({ length: 2000 }, () => unit(Float32Array.from({ length: dims }, gauss)))
  const out = new Float32Array(count * dims)
  for (let i = 0; i < count; i++) {
    // Popular topics have more questions; each question = shared direction + its topic + its own noise.
    const topic = topics[Math.floor(Math.pow(random(), 2) * topics.length)]!
    const v = new Float32Array(dims)
    for (let j = 0; j < dims; j++) v[j] = 0.5 * common[j]! + topic[j]! + (0.8 * gauss()) / Math.sqrt(dims)
    out.set(unit(v), i * dims)
  }
  return out
}

export async function benchSemantic(
  options: { entries?: number; dims?: number; queries?: number; slowSample?: number } = {},
): Promise<SemanticBenchResult> {
  const entries = options.entries ?? 100_000
  const dims = options.dims ?? 384
  const queryCount = options.queries ?? 1000
  const slowSample = Math.min(queryCount, options.slowSample ?? 40)
  const random = rng(11)
  const data = embeddings(entries, dims, random)
  const row = (i: number): Float32Array => data.subarray(i * dims, (i + 1) * dims)
  const threshold = 0.92
  // Queries: half are paraphrases of an entry (its vector plus noise, cosine ~0.85-0.99), half are new questions.
  const texts = new Map<string, number[]>()
  const queries: { text: string; vector: Float32Array }[] = []
  const fresh = embeddings(queryCount, dims, rng(12))
  for (let q = 0; q < queryCount; q++) {
    let vector: Float32Array
    if (q % 2 === 0) {
      const source = row(Math.floor(random() * entries))
      vector = new Float32Array(dims)
      const noise = 0.25 + random() * 0.35
      let norm = 0
      for (let j = 0; j < dims; j++) {
        let u = 0
        while (u === 0) u = random()
        const g = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
        vector[j] = source[j]! + (noise * g) / Math.sqrt(dims)
        norm += vector[j]! * vector[j]!
      }
      for (let j = 0; j < dims; j++) vector[j]! /= Math.sqrt(norm)
    } else vector = fresh.slice(q * dims, (q + 1) * dims)
    const text = `Question ${spell(q)} in other words`
    texts.set(text, Array.from(vector))
    queries.push({ text, vector })
  }
  const workspace = await benchWorkspace(entries, { semantic: { texts } })
  try {
    const repo = new CacheRepository(workspace.backend.workspace.db)
    const { ids: entryIds } = fillEntries(workspace, entries, (i) => `Question ${spell(i)}`, row)
    // Exact reference: brute force over the same vectors (they are unit length: cosine = dot product).
    const bruteForce = (query: Float32Array): { index: number; similarity: number } => {
      let best = -2
      let index = -1
      for (let i = 0; i < entries; i++) {
        const offset = i * dims
        let dot = 0
        for (let j = 0; j < dims; j++) dot += data[offset + j]! * query[j]!
        if (dot > best) {
          best = dot
          index = i
        }
      }
      return { index, similarity: best }
    }
    const { cache } = workspace.backend
    const namespace = workspace.namespace
    const buildStart = performance.now()
    await cache.lookup(namespace, benchRequest(queries[0]!.text))
    const indexBuildMs = performance.now() - buildStart

    const larder: number[] = []
    const brute: number[] = []
    let near = 0
    let found = 0
    let falseHits = 0
    for (const query of queries) {
      const start = performance.now()
      const result = await cache.lookup(namespace, benchRequest(query.text))
      larder.push(performance.now() - start)
      const t = performance.now()
      const exact = bruteForce(query.vector)
      brute.push(performance.now() - t)
      if (exact.similarity >= threshold) {
        near++
        if (result.hitKind === 'hit-semantic' && result.entry?.id === entryIds[exact.index]) found++
      } else if (result.hitKind !== 'miss') falseHits++
    }

    const db = workspace.backend.workspace.db
    const scan: number[] = []
    const vec0: number[] = []
    const vec0Bit: number[] = []
    db.exec(`CREATE VIRTUAL TABLE temp.bench_vec USING vec0(embedding float[${dims}] distance_metric=cosine)`)
    db.exec(`CREATE VIRTUAL TABLE temp.bench_vec_bit USING vec0(embedding bit[${dims}])`)
    const insert = db.prepare('INSERT INTO temp.bench_vec (rowid, embedding) VALUES (?, ?)')
    const insertBit = db.prepare('INSERT INTO temp.bench_vec_bit (rowid, embedding) VALUES (?, vec_quantize_binary(?))')
    db.transaction(() => {
      for (let i = 0; i < entries; i++) {
        const blob = Buffer.from(data.buffer, data.byteOffset + i * dims * 4, dims * 4)
        insert.run(BigInt(entryIds[i]!), blob)
        insertBit.run(BigInt(entryIds[i]!), blob)
      }
    })()
    const knn = db.prepare('SELECT rowid, distance FROM temp.bench_vec WHERE embedding MATCH ? AND k = 5')
    const knnBit = db.prepare(
      'SELECT rowid, distance FROM temp.bench_vec_bit WHERE embedding MATCH vec_quantize_binary(?) AND k = 1',
    )
    for (const query of queries.slice(0, slowSample)) {
      const blob = Buffer.from(query.vector.buffer, query.vector.byteOffset, query.vector.byteLength)
      let t = performance.now()
      repo.nearestExact(namespace.id, query.vector, ['approved'], 5)
      scan.push(performance.now() - t)
      t = performance.now()
      knn.all(blob)
      vec0.push(performance.now() - t)
      t = performance.now()
      knnBit.all(blob)
      vec0Bit.push(performance.now() - t)
    }
    return {
      entries,
      dims,
      threshold,
      queries: { total: queryCount, nearDuplicates: near, withoutNearDuplicate: queryCount - near },
      larderMs: percentiles(larder),
      indexBuildMs,
      recall: near > 0 ? found / near : NaN,
      falseHits,
      bruteForceMs: percentiles(brute),
      sqliteVecScanMs: percentiles(scan),
      vec0Ms: percentiles(vec0),
      vec0BitMs: percentiles(vec0Bit),
      slowSample,
    }
  } finally {
    await closeWorkspace(workspace)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The hit path's steps, one by one, in process (CPU microseconds per call; no sockets)

export interface StepsBenchResult {
  calls: number
  /** step -> CPU microseconds per call (median of 5 batches). */
  us: Record<string, number>
}

/** CPU time per call of `work`, microseconds: the median of 5 batches of `calls`. */
function cpuPerCall(calls: number, work: (i: number) => unknown): number {
  const batches: number[] = []
  for (let batch = 0; batch < 6; batch++) {
    const start = process.cpuUsage()
    for (let i = 0; i < calls; i++) work(i)
    const used = process.cpuUsage(start)
    if (batch > 0) batches.push((used.user + used.system) / calls)
  }
  return median(batches)
}

export async function benchSteps(options: { calls?: number } = {}): Promise<StepsBenchResult> {
  const calls = options.calls ?? 20_000
  const { Backend } = await import('../backend')
  const home = mkdtempSync(join(tmpdir(), 'larder-bench-steps-'))
  const backend = Backend.open({ home, models: { cpuOnly: true } })
  try {
    const { secret } = await seedBenchWorkspace(backend)
    const { parseCompletion } = await import('../gateway/requests')
    const { PreparedRequests } = await import('../gateway/prepared')
    const { GatewayKeys } = await import('../cache/keys')
    const { cacheRuntime } = await import('../cache/runtime')
    const { cache } = backend
    const body = JSON.stringify(BENCH_REQUEST)
    const bodyBytes = Buffer.from(body)
    const namespace = cache.servingNamespace('bench', 'default')!
    const parsed = parseCompletion('chat', JSON.parse(body))
    const prepared = new PreparedRequests()
    const keys = new GatewayKeys(backend.workspace.db)
    const runtime = cacheRuntime(backend.workspace.db)
    const key = cacheKeySync(parsed.cacheable, namespace.normalization)
    const found = cache.lookupNow(namespace, parsed.cacheable, { synced: true, key }) as { entry: { id: number } }
    let sink = 0
    const us: Record<string, number> = {
      'JSON.parse(body)': cpuPerCall(calls, () => JSON.parse(body)),
      'validate (parseCompletion)':
        cpuPerCall(calls, () => parseCompletion('chat', JSON.parse(body))) - cpuPerCall(calls, () => JSON.parse(body)),
      'cache key (normalise + SHA-256)': cpuPerCall(calls, () =>
        cacheKeySync(parsed.cacheable, namespace.normalization),
      ),
      'prepared request + key (a repeated body, decoded from bytes)': cpuPerCall(calls, () =>
        prepared.keyOf(prepared.parse('chat', bodyBytes.toString('utf8')), namespace.normalization),
      ),
      'key verification (SHA-256 + map)': cpuPerCall(calls, () => keys.verify(secret)),
      'sync (PRAGMA data_version, forced)': cpuPerCall(calls, () => runtime.sync(true)),
      'namespace + lookup (front hit)': cpuPerCall(calls, () => {
        const ns = cache.servingNamespace('bench', 'default')!
        sink += (cache.lookupNow(ns, parsed.cacheable, { synced: true, key }) as { hitKind: string }).hitKind.length
      }),
      'counters + log row (queued; written in batches of 1,000)': cpuPerCall(calls, (i) => {
        cache.recordHit(found.entry as never)
        cache.logServed({
          at: new Date(1e12 + i).toISOString(),
          namespaceId: namespace.id,
          tenant: 'bench',
          keyHash: key.keyHash,
          canonical: key.json,
          promptText: key.promptText,
          hitKind: 'hit-exact',
          reason: null,
          similarity: null,
          entryId: found.entry.id,
          latencyMs: 0.1,
          tokensIn: 24,
          tokensOut: 40,
          source: 'gateway',
        })
      }),
    }
    if (sink === -1) console.log(sink)
    return { calls, us }
  } finally {
    await backend.close()
    rmSync(home, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface GatewayBenchResult {
  node: string
  arch: string
  cpus: number
  http?: HttpBenchResult
  exact?: ExactBenchResult
  semantic?: SemanticBenchResult
  steps?: StepsBenchResult
}

export async function benchGateway(
  options: {
    only?: ('http' | 'exact' | 'semantic' | 'steps')[]
    seconds?: number
    rounds?: number
    connections?: number
    entries?: number
    dims?: number
    queries?: number
    cpuProfileDir?: string
  } = {},
): Promise<GatewayBenchResult> {
  const only = new Set(options.only ?? ['http', 'steps', 'exact', 'semantic'])
  const { cpus } = await import('node:os')
  const result: GatewayBenchResult = { node: process.version, arch: process.arch, cpus: cpus().length }
  if (only.has('http')) {
    result.http = await benchHttp({
      ...(options.seconds !== undefined ? { seconds: options.seconds } : {}),
      ...(options.rounds !== undefined ? { rounds: options.rounds } : {}),
      ...(options.connections !== undefined ? { connections: options.connections } : {}),
      ...(options.cpuProfileDir !== undefined ? { cpuProfileDir: options.cpuProfileDir } : {}),
    })
  }
  if (only.has('steps')) result.steps = await benchSteps()
  if (only.has('exact')) {
    result.exact = await benchExact({ ...(options.entries !== undefined ? { entries: options.entries } : {}) })
  }
  if (only.has('semantic')) {
    result.semantic = await benchSemantic({
      ...(options.entries !== undefined ? { entries: options.entries } : {}),
      ...(options.dims !== undefined ? { dims: options.dims } : {}),
      ...(options.queries !== undefined ? { queries: options.queries } : {}),
    })
  }
  return result
}

const childSpec = process.env[CHILD_ENV]
if (childSpec && process.send && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void runChild(JSON.parse(childSpec) as { kind: ServerKind; config: Record<string, unknown> })
}
