/**
 * The OpenAI-compatible gateway (`/v1` on `larder serve`): cache first, live generation on a miss, the answer
 * stored per the namespace's policy, every request logged. `x-larder-cache` says what happened:
 * hit-exact | hit-semantic | miss | bypass.
 *
 * Request controls: `Authorization: Bearer <gateway key>` (or the serve token), `x-larder-namespace` (default
 * "default"), `Cache-Control: no-store` (do not store) / `no-cache` (do not serve from cache), `x-larder-ttl`
 * (seconds for a stored answer). Live generation is bounded (429 + Retry-After when full), has a per-request
 * timeout (504), and stops when the client disconnects.
 *
 * This file routes; the steps of a completion are in completion.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Backend } from '../backend'
import { GatewayKeys } from '../cache/keys'
import { cacheRuntime } from '../cache/runtime'
import { Completions } from './completion'
import { embeddings } from './embeddings'
import { openAiError, readJson, sendApiError } from './http'
import { LiveQueue } from './live-queue'
import { sendModelList } from './models'
import { ModelTargets } from './targets'

export interface GatewayOptions {
  /** The serve token also opens the gateway (tenant "default" unless x-larder-tenant says otherwise). */
  adminToken?: string
  concurrency?: number
  maxQueued?: number
  timeoutMs?: number
}

export class Gateway {
  readonly queue: LiveQueue
  private readonly completions: Completions

  constructor(
    private readonly backend: Backend,
    private readonly options: GatewayOptions = {},
  ) {
    this.queue = new LiveQueue(options.concurrency ?? 4, options.maxQueued ?? 32)
    this.completions = new Completions({
      backend,
      queue: this.queue,
      targets: new ModelTargets(backend, this.queue.concurrency),
      timeoutMs: options.timeoutMs ?? 120_000,
    })
  }

  private tenantFor(request: IncomingMessage): string | undefined {
    const header = request.headers.authorization
    if (!header?.startsWith('Bearer ')) return undefined
    const secret = header.slice(7).trim()
    if (this.options.adminToken && secret === this.options.adminToken) {
      const tenant = request.headers['x-larder-tenant']
      return typeof tenant === 'string' && tenant.length > 0 ? tenant : 'default'
    }
    return new GatewayKeys(this.backend.workspace.db).verify(secret)
  }

  /** Handles /v1/*; returns false for paths that are not the gateway's. */
  async handle(
    request: IncomingMessage,
    response: ServerResponse,
    pathname: string,
    maxBodyBytes: number,
  ): Promise<boolean> {
    if (!pathname.startsWith('/v1/')) return false
    try {
      // Once per request: notice commits by other processes (revoked keys, edited entries) before using memory.
      cacheRuntime(this.backend.workspace.db).sync()
      const tenant = this.tenantFor(request)
      if (!tenant) {
        openAiError(
          response,
          401,
          'Missing or invalid API key. Create one with `larder gateway keys create --tenant NAME`.',
          'authentication_error',
        )
        return true
      }
      if (pathname === '/v1/models' && request.method === 'GET') {
        sendModelList(response, this.backend.workspace.db)
        return true
      }
      if (request.method !== 'POST') {
        openAiError(response, 405, `Use POST for ${pathname}.`, 'invalid_request_error')
        return true
      }
      const body = await readJson(request, maxBodyBytes)
      if (pathname === '/v1/chat/completions') await this.completions.complete(request, response, tenant, body, 'chat')
      else if (pathname === '/v1/completions')
        await this.completions.complete(request, response, tenant, body, 'completion')
      else if (pathname === '/v1/embeddings') await embeddings(this.backend, response, body)
      else openAiError(response, 404, `Unknown endpoint ${pathname}.`, 'invalid_request_error')
    } catch (error) {
      sendApiError(response, error)
    }
    return true
  }
}
