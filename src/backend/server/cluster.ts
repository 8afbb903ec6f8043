/**
 * `larder serve --workers N`: N gateway processes on one port (Node's cluster module; the primary accepts
 * connections and hands them to the workers in turn).
 *
 * - Every worker is a whole `larder serve` over the same workspace: its own SQLite connection (WAL), the cache's
 *   cross-process coherence (cache/runtime.ts `sync`: another process's commit is noticed within 1 ms), its own
 *   write-behind for hit counters and the request log, and its own job runner (runners claim queued jobs atomically
 *   and recover only jobs whose owner's heartbeat stopped, so N of them are safe).
 * - The primary serves nothing: it migrates the workspace before any worker opens it, starts the workers, prints
 *   the addresses once all listen, restarts a worker that dies after it listened (one that cannot start stops them
 *   all, with its reason), and on SIGINT/SIGTERM sends every worker SIGTERM (each closes its server, flushes its
 *   queued writes and closes the workspace, as one `larder serve` does), waits for all of them, then checkpoints.
 * - Every response says which process answered: `x-larder-worker: <pid>`.
 * - Browser sessions (the printed login link) are shared: a worker that creates one tells the primary, which tells
 *   the others. Each worker expires an idle session on its own clock.
 */
import cluster, { type Worker } from 'node:cluster'
import type { RunningHttpServer } from './http-server'
import { Workspace } from '../workspace/workspace'

/** Messages between the primary and its workers. */
export type ClusterMessage =
  | { type: 'listening'; url: string; loginUrl: string; port: number }
  | { type: 'failed'; message: string; portInUse: boolean }
  | { type: 'session'; id: string }

export interface PrimaryOptions {
  home: string
  workers: number
  /** Called once when every worker listens. */
  onListening: (info: { url: string; loginUrl: string; port: number; pids: number[] }) => void
  onStopping: (signal: string) => void
  log: (line: string) => void
}

export interface PrimaryResult {
  /** Why the primary stopped: a signal (clean), or a worker that could not start. */
  stopped: 'signal' | 'failed'
  portInUse: boolean
  message: string
}

export function isClusterWorker(): boolean {
  return cluster.isWorker
}

/** The primary: start N workers, keep them running, stop them all on a signal. */
export async function runPrimary(options: PrimaryOptions): Promise<PrimaryResult> {
  // Migrations run once, here, before N processes open the database.
  Workspace.open(options.home).close()
  const ready = new Map<number, ClusterMessage & { type: 'listening' }>()
  let stopping = false
  let announced = false
  return new Promise<PrimaryResult>((resolve) => {
    let result: PrimaryResult = { stopped: 'signal', portInUse: false, message: '' }
    const stopAll = (): void => {
      stopping = true
      // A signal, not a message: a worker still starting has no handler yet and simply ends (nothing to flush).
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
    }
    const onSignal = (signal: string): void => {
      if (stopping) return
      options.onStopping(signal)
      stopAll()
    }
    const start = (): Worker => {
      const worker = cluster.fork()
      worker.on('message', (message: ClusterMessage) => {
        if (message.type === 'listening') {
          ready.set(worker.id, message)
          if (!announced && ready.size === options.workers) {
            announced = true
            options.onListening({ ...message, pids: [...ready.keys()].map((id) => cluster.workers![id]!.process.pid!) })
          }
        } else if (message.type === 'session') {
          for (const other of Object.values(cluster.workers ?? {}))
            if (other && other !== worker && other.isConnected()) other.send(message)
        } else if (message.type === 'failed') {
          result = { stopped: 'failed', portInUse: message.portInUse, message: message.message }
          if (!stopping) stopAll()
        }
      })
      return worker
    }
    process.once('SIGINT', () => onSignal('SIGINT'))
    process.once('SIGTERM', () => onSignal('SIGTERM'))
    cluster.on('exit', (worker, code, signal) => {
      const listened = ready.delete(worker.id)
      if (!stopping && !listened) {
        result = { stopped: 'failed', portInUse: false, message: `worker ${worker.process.pid} exited while starting` }
        stopAll()
      }
      if (!stopping) {
        options.log(`worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another`)
        start()
        return
      }
      if (Object.keys(cluster.workers ?? {}).length > 0) return
      // The last connection has closed: fold the WAL into larder.db (one self-contained file, as one serve leaves).
      try {
        Workspace.open(options.home).close()
      } catch (error) {
        options.log(`could not checkpoint the workspace: ${(error as Error).message}`)
      }
      resolve(result)
    })
    for (let i = 0; i < options.workers; i++) start()
  })
}

/**
 * A worker: serve as usual, say so to the primary, share new browser sessions. It stops on SIGTERM from the primary
 * (a Ctrl-C in the terminal also reaches it directly; either way it stops once) or when the primary is gone.
 */
export function joinCluster(server: RunningHttpServer, stop: () => void): void {
  const send = (message: ClusterMessage): void => {
    if (process.connected) process.send!(message)
  }
  send({ type: 'listening', url: server.url, loginUrl: server.loginUrl, port: server.port })
  server.onSession((id) => send({ type: 'session', id }))
  process.on('message', (message: ClusterMessage) => {
    if (message.type === 'session') server.addSession(message.id)
  })
  process.once('disconnect', stop)
}

/** A worker that could not start tells the primary why, then exits. */
export function clusterWorkerFailed(error: unknown, portInUse: boolean): void {
  if (process.connected) process.send!({ type: 'failed', message: (error as Error).message, portInUse })
}
