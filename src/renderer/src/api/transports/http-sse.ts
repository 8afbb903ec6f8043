import type { EventName, MethodName } from '../../../../shared/contract'
import { ApiError, isApiErrorShape, type ErrorCode } from '../../../../shared/errors'
import type { ConnectionState, Transport } from '../types'

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'invalid_input',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  503: 'unavailable',
}

/** Retry delays for the event stream when the browser gave up on it (it retries network errors by itself). */
const RECONNECT_DELAYS_MS = [1000, 2000, 5000, 10_000]

export interface HttpTransportOptions {
  /** Origin and path prefix of the server; '' means the page's own origin. */
  baseUrl?: string
}

/**
 * The browser transport for `larder serve`: `POST /api/<method>` for calls and Server-Sent Events from
 * `/api/events`. The session cookie set by the printed login link authenticates both; nothing else is sent.
 */
export function createHttpTransport(options: HttpTransportOptions = {}): Transport {
  const baseUrl = options.baseUrl ?? ''
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>()
  const connectionListeners = new Set<(state: ConnectionState) => void>()
  let state: ConnectionState = 'connecting'
  let source: EventSource | undefined
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  let failedAttempts = 0
  /** The stream waits for the first successful call, so a refused page does not also hold a refused stream. */
  let sessionConfirmed = false

  function setState(next: ConnectionState): void {
    if (state === next) return
    state = next
    for (const listener of connectionListeners) listener(next)
  }

  function becomeUnauthorized(): void {
    closeStream()
    setState('unauthorized')
  }

  async function call(method: MethodName, input: unknown): Promise<unknown> {
    let response: Response
    try {
      response = await fetch(`${baseUrl}/api/${method}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(input ?? {}),
        credentials: 'same-origin',
      })
    } catch (error) {
      throw new ApiError({
        code: 'unavailable',
        message: `Could not reach the Larder backend (${(error as Error).message}). Check that \`larder serve\` is still running.`,
      })
    }
    let body: unknown
    try {
      body = await response.json()
    } catch {
      throw new ApiError({
        code: CODE_BY_STATUS[response.status] ?? 'internal',
        message: `The backend answered ${method} with HTTP ${response.status} and no readable result.`,
      })
    }
    if (response.status === 401) becomeUnauthorized()
    const reply = body as { ok?: unknown; result?: unknown; error?: unknown }
    if (response.ok && reply.ok === true) {
      if (!sessionConfirmed) {
        sessionConfirmed = true
        openStreamIfWanted()
      }
      return reply.result
    }
    if (isApiErrorShape(reply.error)) throw new ApiError(reply.error)
    throw new ApiError({
      code: CODE_BY_STATUS[response.status] ?? 'internal',
      message: `The backend answered ${method} with HTTP ${response.status} and an unexpected body.`,
    })
  }

  function dispatch(name: EventName, event: MessageEvent<string>): void {
    let payload: unknown
    try {
      payload = JSON.parse(event.data)
    } catch {
      console.warn(`Ignored a ${name} event whose data is not JSON.`)
      return
    }
    for (const listener of listeners.get(name) ?? []) {
      try {
        listener(payload)
      } catch (error) {
        console.error(`A ${name} listener failed:`, error)
      }
    }
  }

  const handlers = new Map<EventName, (event: MessageEvent<string>) => void>()
  function handlerFor(name: EventName): (event: MessageEvent<string>) => void {
    let handler = handlers.get(name)
    if (!handler) {
      handler = (event) => dispatch(name, event)
      handlers.set(name, handler)
    }
    return handler
  }

  function closeStream(): void {
    if (reconnectTimer !== undefined) clearTimeout(reconnectTimer)
    reconnectTimer = undefined
    source?.close()
    source = undefined
  }

  function openStream(): void {
    closeStream()
    const stream = new EventSource(`${baseUrl}/api/events`, { withCredentials: false })
    source = stream
    for (const name of listeners.keys()) stream.addEventListener(name, handlerFor(name) as EventListener)
    stream.onopen = () => {
      failedAttempts = 0
      setState('connected')
    }
    stream.onerror = () => {
      if (source !== stream) return
      if (stream.readyState === EventSource.CONNECTING) {
        // The browser retries by itself (the server asks for a 2 s retry delay).
        setState('reconnecting')
        return
      }
      // CLOSED: the browser gave up, e.g. on an HTTP error status. Find out whether the session is gone.
      closeStream()
      void probeThenRetry()
    }
  }

  function openStreamIfWanted(): void {
    if (sessionConfirmed && listeners.size > 0 && !source && reconnectTimer === undefined && state !== 'unauthorized') {
      openStream()
    }
  }

  async function probeThenRetry(): Promise<void> {
    try {
      await call('system.info', {})
    } catch (error) {
      if (error instanceof ApiError && error.code === 'unauthorized') return // becomeUnauthorized() already ran
    }
    if (state === 'unauthorized') return
    setState('reconnecting')
    const delay = RECONNECT_DELAYS_MS[Math.min(failedAttempts, RECONNECT_DELAYS_MS.length - 1)]
    failedAttempts += 1
    reconnectTimer = setTimeout(openStream, delay)
  }

  return {
    kind: 'http',
    call,
    subscribe(event, listener) {
      let set = listeners.get(event)
      if (!set) {
        set = new Set()
        listeners.set(event, set)
        source?.addEventListener(event, handlerFor(event) as EventListener)
      }
      set.add(listener)
      openStreamIfWanted()
      return () => {
        set.delete(listener)
      }
    },
    connectionState: () => state,
    onConnectionChange(listener) {
      connectionListeners.add(listener)
      return () => connectionListeners.delete(listener)
    },
  }
}
