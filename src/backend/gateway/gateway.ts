/**
 * The OpenAI-compatible gateway (`/v1` on `larder serve`): cache first, live generation on a miss, the answer
 * stored per the namespace's policy, every request logged. `x-larder-cache` says what happened:
 * hit-exact | hit-semantic | miss | bypass (`x-larder-coalesced: 1` when a miss shared an identical one's
 * generation).
 *
 * Endpoints: POST /v1/chat/completions, /v1/completions, /v1/responses, /v1/embeddings; GET /v1/models and
 * /v1/models/{id}. Errors have OpenAI's shape (http.ts).
 *
 * Request controls: `Authorization: Bearer <gateway key>` (or the serve token), `x-larder-namespace` (default
 * "default"), `Cache-Control: no-store` (do not store) / `no-cache` (do not serve from cache), `x-larder-ttl`
 * (seconds for a stored answer). Live generation is bounded (429 + Retry-After when full), has a per-request
 * timeout (504), and stops when the client disconnects.
 *
 * This file routes; the steps of a completion are in completion.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { resourceName } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../backend'
import { GatewayKeys } from '../cache/keys'
import { cacheRuntime } from '../cache/runtime'
import { secretsEqual } from '../server/secrets'
import { Completions } from './completion'
import { embeddings } from './embeddings'
import { fineTuning, isFineTuningPath } from './fine-tuning'
import { GatewayError, parseJsonText, readText, sendError } from './http'
import { LiveQueue } from './live-queue'
import { sendModel, sendModelList } from './models'
import type { PreparedRequests } from './prepared'
import type { CompletionApi } from './requests'
import { ModelTargets } from './targets'

export interface GatewayOptions {
  /** The serve token also opens the gateway (tenant "default" unless x-larder-tenant says otherwise). */
  adminToken?: string
  concurrency?: number
  maxQueued?: number
  timeoutMs?: number
}

const COMPLETIONS = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completion',
  '/v1/responses': 'responses',
} as const

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

  /** Bodies parsed, validated and keyed once (for tests and the benchmark). */
  get prepared(): PreparedRequests {
    return this.completions.prepared
  }

  private tenantFor(request: IncomingMessage): string | undefined {
    const header = request.headers.authorization
    if (!header?.startsWith('Bearer ')) return undefined
    const secret = header.slice(7).trim()
    if (this.options.adminToken && secretsEqual(secret, this.options.adminToken)) {
      const tenant = request.headers['x-larder-tenant']
      if (tenant === undefined) return 'default'
      // Validated like every tenant name (keys and namespaces are created through the contract's resourceName).
      const valid = resourceName.safeParse(tenant)
      if (!valid.success)
        throw new ApiError({
          code: 'invalid_input',
          message: `x-larder-tenant is not a valid tenant name: ${valid.error.issues[0]!.message}.`,
        })
      return valid.data
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
        throw new GatewayError(
          401,
          'Missing or invalid API key. Create one with `larder gateway keys create --tenant NAME`.',
          { type: 'authentication_error', code: 'invalid_api_key', headers: { connection: 'close' } },
        )
      }
      const db = this.backend.workspace.db
      if (isFineTuningPath(pathname))
        await fineTuning(
          this.backend,
          request,
          response,
          tenant,
          new URL(request.url ?? '/', 'http://larder'),
          maxBodyBytes,
        )
      else if (request.method === 'GET' && pathname === '/v1/models') sendModelList(response, db, tenant)
      else if (request.method === 'GET' && pathname.startsWith('/v1/models/'))
        sendModel(response, db, tenant, decodeModelId(pathname.slice('/v1/models/'.length)))
      else {
        const endpoint = postEndpoint(request, pathname)
        const body = await readText(request, maxBodyBytes)
        if (endpoint === 'embeddings') await embeddings(this.backend, response, parseJsonText(body))
        else await this.completions.complete(request, response, tenant, body, endpoint)
      }
    } catch (error) {
      sendError(response, error)
    }
    return true
  }
}

/** The POST endpoint a path names: a completion API or embeddings (404 / 405 otherwise). */
function postEndpoint(request: IncomingMessage, pathname: string): CompletionApi | 'embeddings' {
  const endpoint = pathname === '/v1/embeddings' ? 'embeddings' : COMPLETIONS[pathname as keyof typeof COMPLETIONS]
  if (!endpoint) throw new GatewayError(404, `Unknown endpoint ${request.method} ${pathname}.`, { code: 'unknown_url' })
  if (request.method !== 'POST')
    throw new GatewayError(405, `Use POST for ${pathname}.`, { code: 'method_not_allowed' })
  return endpoint
}

function decodeModelId(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new GatewayError(400, 'The model id in the path is not valid percent-encoding.', { param: 'model' })
  }
}
