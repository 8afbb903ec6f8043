/**
 * Entry of the backend when the desktop app runs it as an Electron utility process. Main sends one message per
 * renderer connection, carrying a MessagePort; the backend serves the API contract on each.
 */
import type { PortMessage } from '../shared/contract'
import { Backend } from './backend'
import { servePort } from './server/port-server'

/** The parts of Electron's MessagePortMain we use (declared here: the backend never imports electron). */
interface MessagePortMain {
  postMessage(message: unknown): void
  on(event: 'message', listener: (event: { data: unknown }) => void): void
  on(event: 'close', listener: () => void): void
  start(): void
}

interface ParentPort {
  on(event: 'message', listener: (event: { data: unknown; ports: MessagePortMain[] }) => void): void
  postMessage(message: unknown): void
}

const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort
if (!parentPort) {
  console.error('utility-entry must run inside an Electron utility process; use `larder serve` for a headless backend.')
  process.exit(2)
}

const home = process.env.LARDER_HOME
if (!home) {
  parentPort.postMessage({ type: 'fatal', message: 'LARDER_HOME was not passed to the backend process.' })
  process.exit(2)
}

let backend: Backend
try {
  backend = Backend.open({ home }).start()
} catch (error) {
  // Tell main why (a corrupt database, a newer schema...) so the window can say it, then exit without restart loops.
  parentPort.postMessage({ type: 'fatal', message: (error as Error).message })
  process.exit(3)
}

parentPort.on('message', (event) => {
  const data = event.data as { type?: string }
  if (data?.type === 'connect' && event.ports[0]) {
    const port = event.ports[0]
    servePort(backend, {
      postMessage: (message: PortMessage) => port.postMessage(message),
      onMessage: (listener) => port.on('message', (messageEvent) => listener(messageEvent.data)),
      onClose: (listener) => port.on('close', listener),
      start: () => port.start(),
    })
  } else if (data?.type === 'shutdown') {
    void backend.close().then(() => process.exit(0))
  }
})

parentPort.postMessage({ type: 'ready', pid: process.pid })
