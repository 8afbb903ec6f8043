/**
 * A stateless replica: a Node HTTP server that serves a published CDN bundle with the edge worker's own request
 * handler (edge-worker/worker.ts, the same code path as at the edge) and sends cache misses to an upstream gateway.
 * It keeps no workspace and no database, so any number of replicas can run behind any load balancer.
 *
 * The bundle comes from a folder (a bundle or its public/) or a URL (any host or bucket serving public/). A URL is
 * mirrored into a state folder, objects first (each checked against its hash) and the manifest last, so the mirror is
 * always a complete bundle: if the URL is unreachable when the replica starts, it serves its last good copy and says
 * so in /healthz; it looks for a newer manifest every `refreshSeconds`.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, normalize, resolve, sep } from 'node:path'
import { objectPath } from './edge-worker/bundle-format'
import { handleRequest, type EdgeEnv } from './edge-worker/worker'

export interface ReplicaOptions {
  /** A bundle folder, or the http(s) URL of a served public/ folder. */
  bundle: string
  /** The gateway's OpenAI-compatible base URL (…/v1) that answers misses. */
  upstream?: string | undefined
  host?: string | undefined
  port?: number | undefined
  /** Where a URL bundle's last good copy is kept. */
  stateDir: string
  refreshSeconds?: number | undefined
  tenant?: string | undefined
  corsOrigins?: string | undefined
}

export interface ReplicaHealth {
  ok: boolean
  bundleVersion: number | null
  source: string
  /** True when the bundle URL could not be read and the replica serves the copy it kept from an earlier run. */
  servingLastGoodCopy: boolean
  lastSyncAt: string | null
  lastError: string | null
  upstream: string | null
}

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')
const isUrl = (value: string): boolean => /^https?:\/\//i.test(value)

/** Serves files of one folder to the worker as its ASSETS binding would. */
function folderFetcher(root: string): EdgeEnv['ASSETS'] {
  return {
    fetch: (request: Request) => {
      const path = decodeURIComponent(new URL(request.url).pathname).replace(/^\/+/, '')
      const file = normalize(join(root, path))
      if (!file.startsWith(root + sep) || !existsSync(file)) return Promise.resolve(new Response(null, { status: 404 }))
      return Promise.resolve(new Response(readFileSync(file)))
    },
  }
}

async function download(base: string, path: string): Promise<Uint8Array> {
  const response = await fetch(new URL(path, base.endsWith('/') ? base : `${base}/`), {
    signal: AbortSignal.timeout(15_000),
  })
  if (!response.ok) throw new Error(`${path} answered ${response.status}`)
  return new Uint8Array(await response.arrayBuffer())
}

export class Replica {
  private server: Server | undefined
  private timer: NodeJS.Timeout | undefined
  private readonly root: string
  private readonly health: ReplicaHealth
  private edgeEnv: EdgeEnv | undefined

  constructor(private readonly options: ReplicaOptions) {
    const local = !isUrl(options.bundle)
    const folder = resolve(options.bundle)
    this.root = local
      ? existsSync(join(folder, 'public', 'manifest.json'))
        ? join(folder, 'public')
        : folder
      : resolve(options.stateDir)
    this.health = {
      ok: false,
      bundleVersion: null,
      source: options.bundle,
      servingLastGoodCopy: false,
      lastSyncAt: null,
      lastError: null,
      upstream: options.upstream ?? null,
    }
  }

  private localVersion(): number | null {
    const path = join(this.root, 'manifest.json')
    if (!existsSync(path)) return null
    try {
      return (JSON.parse(readFileSync(path, 'utf8')) as { version: number }).version
    } catch {
      return null
    }
  }

  /** Mirrors the URL's bundle: missing objects first (hash-checked), the manifest last, so the copy is whole. */
  async sync(): Promise<void> {
    if (!isUrl(this.options.bundle)) {
      this.health.bundleVersion = this.localVersion()
      this.health.ok = this.health.bundleVersion !== null
      this.health.lastError = this.health.ok ? null : `${this.root} has no manifest.json.`
      return
    }
    try {
      const base = this.options.bundle
      const manifestBytes = await download(base, 'manifest.json')
      const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { version: number; objects: string[] }
      mkdirSync(join(this.root, 'objects'), { recursive: true })
      for (const hash of manifest.objects) {
        const path = join(this.root, objectPath(hash))
        if (existsSync(path)) continue
        const bytes = await download(base, objectPath(hash))
        if (sha256(bytes) !== hash) throw new Error(`${objectPath(hash)} does not match its hash`)
        writeFileSync(path, bytes)
      }
      const manifestPath = join(this.root, 'manifest.json')
      writeFileSync(`${manifestPath}.partial`, manifestBytes)
      renameSync(`${manifestPath}.partial`, manifestPath)
      Object.assign(this.health, {
        ok: true,
        bundleVersion: manifest.version,
        servingLastGoodCopy: false,
        lastSyncAt: new Date().toISOString(),
        lastError: null,
      })
    } catch (error) {
      const version = this.localVersion()
      Object.assign(this.health, {
        ok: version !== null,
        bundleVersion: version,
        servingLastGoodCopy: version !== null,
        lastError: `Cannot read the bundle at ${this.options.bundle}: ${(error as Error).message}${version !== null ? `; serving the last good copy (version ${version})` : '; no earlier copy to serve'}.`,
      })
    }
  }

  private env(): EdgeEnv {
    this.edgeEnv ??= {
      ASSETS: folderFetcher(this.root),
      MANIFEST_TTL_SECONDS: String(this.options.refreshSeconds ?? 60),
      ...(this.options.upstream ? { UPSTREAM_URL: this.options.upstream } : {}),
      ...(this.options.tenant ? { LARDER_TENANT: this.options.tenant } : {}),
      ...(this.options.corsOrigins ? { CORS_ORIGINS: this.options.corsOrigins } : {}),
    }
    return this.edgeEnv
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://replica.local')
    if (url.pathname === '/healthz') {
      response.writeHead(this.health.ok ? 200 : 503, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      })
      response.end(`${JSON.stringify(this.health)}\n`)
      return
    }
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && name !== 'host' && name !== 'connection') headers.set(name, String(value))
    }
    const body =
      chunks.length > 0 && request.method !== 'GET' && request.method !== 'HEAD' ? Buffer.concat(chunks) : null
    const answer = await handleRequest(new Request(url, { method: request.method ?? 'GET', headers, body }), this.env())
    const out: Record<string, string> = {}
    answer.headers.forEach((value, name) => {
      if (name !== 'content-encoding' && name !== 'content-length' && name !== 'transfer-encoding') out[name] = value
    })
    response.writeHead(answer.status, out)
    response.end(answer.body ? Buffer.from(await answer.arrayBuffer()) : undefined)
  }

  async start(): Promise<{ url: string; health: ReplicaHealth }> {
    await this.sync()
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ error: { code: 'internal', message: (error as Error).message } }))
      })
    })
    await new Promise<void>((done, fail) => {
      this.server!.once('error', fail)
      this.server!.listen(this.options.port ?? 8790, this.options.host ?? '127.0.0.1', () => done())
    })
    if (isUrl(this.options.bundle)) {
      this.timer = setInterval(() => void this.sync(), (this.options.refreshSeconds ?? 60) * 1000)
      this.timer.unref()
    }
    const { port } = this.server.address() as AddressInfo
    return { url: `http://${this.options.host ?? '127.0.0.1'}:${port}`, health: { ...this.health } }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()))
    this.server?.closeAllConnections()
  }
}
