/**
 * `larder serve`: the headless backend, the console for a browser, and the OpenAI-compatible gateway on one port.
 * With `--workers N` (N > 1) the same server runs in N processes sharing the port and the workspace
 * (backend/server/cluster.ts); this process is then their primary and serves nothing itself.
 */
import { randomBytes } from 'node:crypto'
import { APP_VERSION } from '../../shared/version'
import { Backend } from '../../backend/backend'
import { Gateway } from '../../backend/gateway/gateway'
import { clusterWorkerFailed, isClusterWorker, joinCluster, runPrimary } from '../../backend/server/cluster'
import { PortInUseError, startHttpServer, type RunningHttpServer } from '../../backend/server/http-server'
import { findRendererDir } from '../locate'
import type { CliIo } from '../main'

export interface ServeOptions {
  port: number
  host: string
  token?: string
  workers: number
}

function printAddresses(io: CliIo, home: string, server: Pick<RunningHttpServer, 'url' | 'loginUrl'>, token: string) {
  io.out(`Larder ${APP_VERSION} is serving workspace ${home}\n`)
  io.out(`Open the console: ${server.loginUrl}\n`)
  io.out(`API: ${server.url}/api/<area.action> with header "Authorization: Bearer ${token}"\n`)
  io.out(`OpenAI-compatible gateway: ${server.url}/v1 (gateway keys: larder gateway keys create --tenant NAME)\n`)
  io.out('Press Ctrl-C to stop.\n')
}

export async function serve(io: CliIo, home: string, options: ServeOptions): Promise<void> {
  const token = options.token ?? process.env.LARDER_TOKEN ?? randomBytes(24).toString('base64url')
  if (options.workers > 1 && !isClusterWorker()) {
    await servePrimary(io, home, options, token)
    return
  }
  const worker = isClusterWorker()
  const backend = Backend.open({ home }).start()
  let server: RunningHttpServer
  try {
    server = await startHttpServer({
      gateway: new Gateway(backend, { adminToken: token }),
      backend,
      host: options.host,
      port: options.port,
      token,
      workerHeader: worker,
      ...(findRendererDir() ? { rendererDir: findRendererDir()! } : {}),
    })
  } catch (error) {
    await backend.close()
    if (worker) clusterWorkerFailed(error, error instanceof PortInUseError)
    throw error
  }
  if (!worker) printAddresses(io, home, server, token)
  await new Promise<void>((resolveStop) => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      if (!worker) io.out(`\n${signal}: stopping (finishing writes, checkpointing the database)...\n`)
      void server
        .close()
        .then(() => backend.close())
        .then(() => {
          if (!worker) io.out('Stopped cleanly.\n')
          resolveStop()
        })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
    if (worker) joinCluster(server, () => stop('disconnect'))
  })
  // A worker's IPC channel would keep it alive.
  if (worker && process.connected) process.disconnect()
}

async function servePrimary(io: CliIo, home: string, options: ServeOptions, token: string): Promise<void> {
  // The workers are this command again (cluster.fork), told the token through the environment.
  process.env.LARDER_TOKEN = token
  const result = await runPrimary({
    home,
    workers: options.workers,
    onListening: (info) => {
      printAddresses(io, home, info, token)
      io.out(`${options.workers} gateway worker processes: ${info.pids.join(', ')}\n`)
    },
    onStopping: (signal) => io.out(`\n${signal}: stopping every worker (finishing writes, checkpointing)...\n`),
    log: (line) => io.err(`${line}\n`),
  })
  if (result.stopped === 'failed') {
    if (result.portInUse) throw new PortInUseError(options.host, options.port)
    throw new Error(`A gateway worker could not start: ${result.message}`)
  }
  io.out('Stopped cleanly.\n')
}
