/**
 * Runs the backend as an Electron utility process, hands each window a MessagePort to it, and restarts it if it
 * dies, telling the window why. A backend that cannot open the workspace (corrupt or newer database) reports a
 * fatal reason instead, and is not restarted in a loop.
 */
import { MessageChannelMain, utilityProcess, type UtilityProcess, type WebContents } from 'electron'

export interface BackendStatus {
  state: 'ready' | 'restarting' | 'failed'
  reason?: string
}

export interface SupervisorOptions {
  entry: string
  env: NodeJS.ProcessEnv
  onStatus: (status: BackendStatus) => void
}

const RESTART_WINDOW_MS = 60_000
const MAX_RESTARTS_IN_WINDOW = 3

export class BackendSupervisor {
  private child: UtilityProcess | undefined
  private readonly clients = new Set<WebContents>()
  private restarts: number[] = []
  private stopping = false
  private fatalReason: string | undefined

  constructor(private readonly options: SupervisorOptions) {}

  start(): void {
    this.fatalReason = undefined
    const child = utilityProcess.fork(this.options.entry, [], {
      serviceName: 'Larder backend',
      env: this.options.env,
      stdio: 'inherit',
    })
    this.child = child
    child.on('message', (message: { type?: string; message?: string }) => {
      if (message?.type === 'ready') {
        this.options.onStatus({ state: 'ready' })
        for (const contents of this.clients) this.connect(contents)
      } else if (message?.type === 'fatal') {
        this.fatalReason = message.message ?? 'The backend could not open the workspace.'
      }
    })
    child.on('exit', (code) => {
      if (this.child === child) this.child = undefined
      if (this.stopping) return
      if (this.fatalReason) {
        this.options.onStatus({ state: 'failed', reason: this.fatalReason })
        return
      }
      const now = Date.now()
      this.restarts = this.restarts.filter((at) => now - at < RESTART_WINDOW_MS)
      if (this.restarts.length >= MAX_RESTARTS_IN_WINDOW) {
        this.options.onStatus({
          state: 'failed',
          reason: `The backend stopped ${MAX_RESTARTS_IN_WINDOW} times within a minute (last exit code ${code}). Restart Larder; if it keeps happening, check the logs.`,
        })
        return
      }
      this.restarts.push(now)
      this.options.onStatus({ state: 'restarting', reason: `The backend stopped unexpectedly (exit code ${code}).` })
      setTimeout(() => this.start(), 500 * this.restarts.length)
    })
  }

  /** Gives a window its own MessagePort to the backend (again after every restart). */
  connect(contents: WebContents): void {
    this.clients.add(contents)
    contents.once('destroyed', () => this.clients.delete(contents))
    if (!this.child) return
    const { port1, port2 } = new MessageChannelMain()
    this.child.postMessage({ type: 'connect' }, [port1])
    contents.postMessage('larder:port', null, [port2])
  }

  /** Asks the backend to finish writes and checkpoint, waiting at most `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.stopping = true
    const child = this.child
    if (!child) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill()
        resolve()
      }, timeoutMs)
      child.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      child.postMessage({ type: 'shutdown' })
    })
  }
}
