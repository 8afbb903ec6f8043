import type { EventName, EventPayload, MethodName, MethodOutput } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import type { ApiClient, CallArgs, Transport } from './types'

/**
 * Wraps a transport in the contract's types; every failure becomes an `ApiError`. `localize` rewrites an error's
 * message into the console's language (keyed errors carry a message key and parameters beside the English).
 */
export function createApiClient(
  transport: Transport,
  localize: (error: ApiError) => ApiError = (error) => error,
): ApiClient {
  return {
    transport: transport.kind,
    async call<M extends MethodName>(method: M, ...args: CallArgs<M>): Promise<MethodOutput<M>> {
      try {
        return (await transport.call(method, args[0] ?? {})) as MethodOutput<M>
      } catch (error) {
        throw localize(ApiError.from(error))
      }
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      return transport.subscribe(event, (payload) => listener(payload as EventPayload<E>))
    },
    connectionState: () => transport.connectionState(),
    onConnectionChange: (listener) => transport.onConnectionChange(listener),
  }
}
