/// <reference lib="dom" />
/**
 * Preload (sandboxed, context-isolated): exposes `window.larder` with one function per contract method and a typed
 * event subscription, nothing else. Calls travel over a MessagePort straight to the backend utility process; main
 * only hands the port over (again after a backend restart).
 */
import { contextBridge, ipcRenderer } from 'electron'
import {
  EVENT_NAMES,
  METHOD_NAMES,
  isEventName,
  type EventName,
  type MethodName,
  type PortMessage,
} from '../shared/contract'
import type { ApiErrorShape } from '../shared/errors'

type Listener = (payload: unknown) => void

const listeners = new Map<EventName, Set<Listener>>()
const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: ApiErrorShape) => void }>()
const queue: { id: number; method: MethodName; input: unknown }[] = []
let port: MessagePort | undefined
let nextId = 1

function dispatchEvent(name: EventName, payload: unknown): void {
  for (const listener of listeners.get(name) ?? []) listener(payload)
}

function failPending(message: string): void {
  for (const [id, call] of pending) {
    call.reject({ code: 'unavailable', message })
    pending.delete(id)
  }
}

function send(call: { id: number; method: MethodName; input: unknown }): void {
  if (!port) {
    queue.push(call)
    return
  }
  port.postMessage({ type: 'call', ...call })
}

ipcRenderer.on('larder:port', (event) => {
  const [next] = event.ports
  if (!next) return
  if (port) {
    port.close()
    failPending('The backend restarted while this call was running. Try again.')
  }
  port = next
  port.onmessage = (message: MessageEvent<PortMessage>) => {
    const data = message.data
    if (data.type === 'result') {
      const call = pending.get(data.id)
      if (!call) return
      pending.delete(data.id)
      if (data.ok) call.resolve(data.result)
      else call.reject(data.error)
    } else if (data.type === 'event' && isEventName(data.name)) {
      dispatchEvent(data.name, data.payload)
    }
  }
  port.start()
  for (const call of queue.splice(0)) send(call)
})

// Main reports the backend's health (crash, restart) as the contract's backend.status event.
ipcRenderer.on('larder:backend-status', (_event, status: unknown) => dispatchEvent('backend.status', status))

const methods = Object.fromEntries(
  METHOD_NAMES.map((method) => [
    method,
    (input: unknown) =>
      new Promise((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve, reject })
        send({ id, method, input: input ?? {} })
      }),
  ]),
)

contextBridge.exposeInMainWorld('larder', {
  transport: 'ipc',
  methods,
  on(name: string, listener: Listener): () => void {
    if (!(EVENT_NAMES as string[]).includes(name)) throw new Error(`Unknown event "${name}".`)
    const set = listeners.get(name as EventName) ?? new Set<Listener>()
    set.add(listener)
    listeners.set(name as EventName, set)
    return () => set.delete(listener)
  },
})

ipcRenderer.send('larder:request-port')
