import type { EventName, EventPayload, MethodInput, MethodName, MethodOutput } from '../../../shared/contract'

/**
 * How the console is connected to the backend.
 * - `connecting`: the first connection attempt is under way.
 * - `connected`: calls work and events arrive.
 * - `reconnecting`: the event stream dropped; events may be missed until it is back.
 * - `unauthorized`: the backend refuses this page (opened without the `larder serve` link).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'unauthorized'

export type TransportKind = 'ipc' | 'http'

/** What a transport provides: untyped calls and events. The client on top of it adds the contract's types. */
export interface Transport {
  readonly kind: TransportKind
  /** Resolves with the method's result; rejects with an `ApiError`. */
  call(method: MethodName, input: unknown): Promise<unknown>
  subscribe(event: EventName, listener: (payload: unknown) => void): () => void
  connectionState(): ConnectionState
  onConnectionChange(listener: (state: ConnectionState) => void): () => void
}

/** Methods whose whole input is optional may be called without one: `api.call('system.info')`. */
export type CallArgs<M extends MethodName> =
  Record<string, never> extends MethodInput<M> ? [input?: MethodInput<M>] : [input: MethodInput<M>]

export interface ApiClient {
  readonly transport: TransportKind
  call<M extends MethodName>(method: M, ...args: CallArgs<M>): Promise<MethodOutput<M>>
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void
  connectionState(): ConnectionState
  onConnectionChange(listener: (state: ConnectionState) => void): () => void
}
