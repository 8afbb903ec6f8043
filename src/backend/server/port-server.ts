/**
 * The MessagePort transport of the API contract (desktop app): the renderer posts `{type:'call'}` messages and gets
 * `{type:'result'}` replies and `{type:'event'}` pushes. Written against a minimal port interface so the same code
 * serves Electron's MessagePortMain and Node's worker_threads MessagePort (used in tests).
 */
import type { PortMessage } from '../../shared/contract'
import type { Backend } from '../backend'
import { toApiError } from '../api/dispatch'

export interface PortLike {
  postMessage(message: PortMessage): void
  onMessage(listener: (data: unknown) => void): void
  onClose(listener: () => void): void
  start(): void
}

function isCall(data: unknown): data is { type: 'call'; id: number; method: unknown; input: unknown } {
  if (typeof data !== 'object' || data === null) return false
  const message = data as Record<string, unknown>
  return message.type === 'call' && typeof message.id === 'number'
}

/** Serves the backend on one port until it closes; returns a function that stops serving it. */
export function servePort(backend: Backend, port: PortLike): () => void {
  let open = true
  const post = (message: PortMessage): void => {
    if (!open) return
    try {
      port.postMessage(message)
    } catch {
      open = false
    }
  }
  const unsubscribe = backend.events.subscribe((name, payload) => post({ type: 'event', name, payload }))
  port.onMessage((data) => {
    if (!isCall(data)) return // Not ours: the contract has no other message types.
    backend.call(data.method, data.input).then(
      (result) => post({ type: 'result', id: data.id, ok: true, result }),
      (error: unknown) => post({ type: 'result', id: data.id, ok: false, error: toApiError(error).toJSON() }),
    )
  })
  const stop = (): void => {
    open = false
    unsubscribe()
  }
  port.onClose(stop)
  port.start()
  return stop
}
