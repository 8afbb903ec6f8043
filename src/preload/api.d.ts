/**
 * What the preload exposes on `window.larder` (desktop app only). Derived from the contract: one function per
 * method name, and a typed event subscription that returns its unsubscribe function.
 */
import type { EventName, EventPayload, MethodInput, MethodName, MethodOutput } from '../shared/contract'

export type LarderMethods = { [M in MethodName]: (input: MethodInput<M>) => Promise<MethodOutput<M>> }

export interface LarderBridge {
  readonly transport: 'ipc'
  readonly methods: LarderMethods
  on<E extends EventName>(name: E, listener: (payload: EventPayload<E>) => void): () => void
}

declare global {
  interface Window {
    larder?: LarderBridge
  }
}
