/**
 * The console's one API client. Components reach it only through the stores; which transport carries the calls
 * (the desktop bridge or HTTP + SSE) is decided here, once.
 */
import { localizedError } from '../locales/messages'
import { createApiClient } from './client'
import { createHttpTransport } from './transports/http-sse'
import { createIpcTransport } from './transports/ipc'

export const api = createApiClient(
  window.larder ? createIpcTransport(window.larder) : createHttpTransport(),
  localizedError,
)

export { ApiError } from '../../../shared/errors'
export type { ApiClient, ConnectionState, TransportKind } from './types'
