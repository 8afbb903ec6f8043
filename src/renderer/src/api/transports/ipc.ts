import type { LarderBridge } from '../../../../preload/api'
import type { MethodName } from '../../../../shared/contract'
import { ApiError } from '../../../../shared/errors'
import type { Transport } from '../types'

/**
 * The desktop app's transport: the preload's `window.larder` bridge (a MessagePort to the backend process).
 * The connection itself cannot drop; backend restarts arrive as `backend.status` events instead.
 */
export function createIpcTransport(bridge: LarderBridge): Transport {
  return {
    kind: 'ipc',
    async call(method: MethodName, input: unknown): Promise<unknown> {
      const invoke = bridge.methods[method] as ((input: unknown) => Promise<unknown>) | undefined
      if (!invoke)
        throw new ApiError({ code: 'unknown_method', message: `The desktop bridge has no method ${method}.` })
      try {
        return await invoke(input)
      } catch (error) {
        // The bridge rejects with a plain { code, message, path } object.
        throw ApiError.from(error)
      }
    },
    subscribe: (event, listener) => bridge.on(event, listener),
    connectionState: () => 'connected',
    onConnectionChange: () => () => {},
  }
}
