/**
 * The OpenAI-compatible gateway (`/v1` on `larder serve`): cache first, live generation on a miss, the answer
 * stored per the namespace's policy, every request logged. `x-larder-cache` says what happened:
 * hit-exact | hit-semantic | miss | bypass.
 *
 * Request controls: `Authorization: Bearer <gateway key>` (or the serve token), `x-larder-namespace` (default
 * "default"), `Cache-Control: no-store` (do not store) / `no-cache` (do not serve from cache), `x-larder-ttl`
 * (seconds for a stored answer). Live generation is bounded (429 + Retry-After when full), has a per-request
 * timeout (504), and stops when the client disconnects.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { z } from 'zod'
import { resourceName, type CacheEntry } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../backend'
import { GatewayKeys } from '../cache/keys'
import { cacheRuntime, type NamespaceConfig } from '../cache/runtime'
import { cacheableFrom, type LookupResult } from '../cache/service'
import { isoNow } from '../cache/write-behind'
import { ProviderError, type Provider } from '../models/providers/types'
import { PIPELINE_MODEL_PREFIX, PipelineProvider } from '../pipelines/provider'
import { secretsEqual } from '../server/secrets'
import { LiveQueue, QueueFullError } from './live-queue'

export interface GatewayOptions {
  /** The serve token also opens the gateway (tenant "default" unless x-larder-tenant says otherwise). */
  adminToken?: string
  concurrency?: number
  maxQueued?: number
  timeoutMs?: number
}

const message = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'developer', 'tool']),
    content: z
      .union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() }).loose())])
      .nullable(),
  })
  .loose()

const chatBody = z
  .object({
    model: z.string().min(1).max(200),
    messages: z.array(message).min(1).max(500),
    stream: z.boolean().optional(),
    n: z.int().optional(),
  })
  .loose()

const completionBody = z
  .object({
    model: z.string().min(1).max(200),
    prompt: z.union([z.string(), z.array(z.string()).length(1)]),
    stream: z.boolean().optional(),
    n: z.int().optional(),
  })
  .loose()

const embeddingBody = z
  .object({ model: z.string().min(1), input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]) })
  .loose()

/** Sampling parameters the provider understands, from an OpenAI body. */
const ANSWER_PARAMS = [
  'temperature',
  'top_p',
  'top_k',
  'seed',
  'max_tokens',
  'max_completion_tokens',
  'stop',
  'response_format',
]

function flattenContent(content: z.infer<typeof message>['content']): string {
  if (content === null) return ''
  if (typeof content === 'string') return content
  return content.map((part) => part.text ?? '').join('')
}

function openAiError(
  response: ServerResponse,
  status: number,
  text: string,
  type: string,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.end()
    return
  }
  response.writeHead(status, { 'content-type': 'application/json', ...headers })
  response.end(JSON.stringify({ error: { message: text, type, code: status } }))
}

function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0
    const chunks: Buffer[] = []
    const tooLarge = (): ApiError =>
      new ApiError({ code: 'payload_too_large', message: `Request body is over the ${limit}-byte limit.` })
    if (Number(request.headers['content-length'] ?? 0) > limit) {
      reject(tooLarge())
      request.resume()
      return
    }
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        // Stop keeping the body but let it drain, so the client receives the 413 (a dropped connection makes the
        // OpenAI SDKs retry the same oversized request).
        reject(tooLarge())
        request.removeAllListeners('data')
        request.resume()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown)
      } catch (error) {
        reject(
          new ApiError({
            code: 'invalid_input',
            message: `The request body is not valid JSON: ${(error as Error).message}`,
          }),
        )
      }
    })
    request.on('error', reject)
  })
}

const answerJsons = new WeakMap<CacheEntry, string>()

/** JSON.stringify(entry.answer), once per entry object (hot entries are served from the same object). */
function answerJson(entry: CacheEntry): string {
  let text = answerJsons.get(entry)
  if (text === undefined) {
    text = JSON.stringify(entry.answer)
    answerJsons.set(entry, text)
  }
  return text
}

/** Splits cached text into small pieces so a streamed hit looks like a streamed generation. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? []
}

export class Gateway {
  readonly queue: LiveQueue
  private readonly loading = new Map<number, Promise<unknown>>()

  constructor(
    private readonly backend: Backend,
    private readonly options: GatewayOptions = {},
  ) {
    this.queue = new LiveQueue(options.concurrency ?? 4, options.maxQueued ?? 32)
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
        openAiError(
          response,
          401,
          'Missing or invalid API key. Create one with `larder gateway keys create --tenant NAME`.',
          'authentication_error',
          { connection: 'close' },
        )
        return true
      }
      if (pathname === '/v1/models' && request.method === 'GET') {
        this.listModels(response, tenant)
        return true
      }
      if (request.method !== 'POST') {
        openAiError(response, 405, `Use POST for ${pathname}.`, 'invalid_request_error')
        return true
      }
      const body = await readJson(request, maxBodyBytes)
      if (pathname === '/v1/chat/completions') await this.complete(request, response, tenant, body, 'chat')
      else if (pathname === '/v1/completions') await this.complete(request, response, tenant, body, 'completion')
      else if (pathname === '/v1/embeddings') await this.embeddings(response, body)
      else openAiError(response, 404, `Unknown endpoint ${pathname}.`, 'invalid_request_error')
    } catch (error) {
      const apiError = error instanceof ApiError ? error : ApiError.from(error)
      const status =
        apiError.code === 'payload_too_large'
          ? 413
          : apiError.code === 'invalid_input'
            ? 400
            : apiError.code === 'not_found'
              ? 404
              : 500
      openAiError(response, status, apiError.message, status >= 500 ? 'server_error' : 'invalid_request_error')
    }
    return true
  }

  /** Models and providers are shared; pipelines are listed only to the tenant that owns them. */
  private listModels(response: ServerResponse, tenant: string): void {
    const models = this.backend.workspace.db.prepare('SELECT name, added_at FROM models ORDER BY name').all() as {
      name: string
      added_at: string
    }[]
    const providers = this.backend.workspace.db
      .prepare('SELECT name, created_at FROM providers ORDER BY name')
      .all() as { name: string; created_at: string }[]
    const pipelines = this.backend.workspace.db
      .prepare('SELECT name, created_at FROM pipelines WHERE tenant = ? ORDER BY name')
      .all(tenant) as { name: string; created_at: string }[]
    const data = [
      ...pipelines.map((p) => ({
        id: `${PIPELINE_MODEL_PREFIX}${p.name}`,
        object: 'model',
        created: Math.floor(Date.parse(p.created_at) / 1000),
        owned_by: 'pipeline',
      })),
      ...models.map((m) => ({
        id: m.name,
        object: 'model',
        created: Math.floor(Date.parse(m.added_at) / 1000),
        owned_by: 'larder',
      })),
      ...providers.map((p) => ({
        id: p.name,
        object: 'model',
        created: Math.floor(Date.parse(p.created_at) / 1000),
        owned_by: 'provider',
      })),
    ]
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ object: 'list', data }))
  }

  /** The provider that answers a request's `model`: a registered model (loaded on first use), a provider, or the namespace's target. */
  private async providerFor(model: string, namespace: NamespaceConfig): Promise<{ provider: Provider; label: string }> {
    if (model.startsWith(PIPELINE_MODEL_PREFIX)) {
      const name = model.slice(PIPELINE_MODEL_PREFIX.length)
      // The namespace is the caller's, so its tenant is the caller's: another tenant's pipeline does not exist here.
      const pipeline = this.backend.pipelines.byName(name, namespace.tenant)
      if (!pipeline) throw new ApiError({ code: 'not_found', message: `There is no pipeline named "${name}".` })
      return {
        provider: new PipelineProvider(this.backend.pipelines, pipeline.id, name, namespace.tenant),
        label: model,
      }
    }
    const db = this.backend.workspace.db
    const local = db.prepare('SELECT id FROM models WHERE name = ?').get(model) as { id: number } | undefined
    const remote = db.prepare('SELECT id FROM providers WHERE name = ?').get(model) as { id: number } | undefined
    const target = local ? { model: local.id } : remote ? { provider: remote.id } : namespace.generationTarget
    if (!target) {
      throw new ApiError({
        code: 'not_found',
        message: `The model "${model}" does not exist. GET /v1/models lists the models this gateway serves.`,
      })
    }
    if ('model' in target && !this.backend.models.get(target.model).loaded) {
      let loading = this.loading.get(target.model)
      if (!loading) {
        loading = this.backend.models
          .load({ id: target.model, sequences: this.queue.concurrency })
          .finally(() => this.loading.delete(target.model))
        this.loading.set(target.model, loading)
      }
      await loading
    }
    const { provider } = this.backend.models.providerFor(target)
    return { provider, label: 'model' in target ? this.backend.models.get(target.model).name : provider.id }
  }

  private async complete(
    request: IncomingMessage,
    response: ServerResponse,
    tenant: string,
    rawBody: unknown,
    kind: 'chat' | 'completion',
  ): Promise<void> {
    const started = performance.now()
    const parsed = kind === 'chat' ? chatBody.safeParse(rawBody) : completionBody.safeParse(rawBody)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new ApiError({
        code: 'invalid_input',
        message: `Invalid request at "${issue.path.join('.')}": ${issue.message}`,
      })
    }
    const body = parsed.data as Record<string, unknown> & { model: string; stream?: boolean; n?: number }
    if (body.n !== undefined && body.n !== 1)
      throw new ApiError({ code: 'invalid_input', message: 'Only n = 1 is supported.' })
    const namespaceName =
      typeof request.headers['x-larder-namespace'] === 'string' ? request.headers['x-larder-namespace'] : 'default'
    const cache = this.backend.cache
    const namespace = cache.servingNamespace(tenant, namespaceName)
    if (!namespace)
      throw new ApiError({
        code: 'not_found',
        message: `Namespace "${namespaceName}" does not exist for tenant "${tenant}".`,
      })

    const params: Record<string, unknown> = {}
    for (const key of ANSWER_PARAMS) if (body[key] !== undefined) params[key] = body[key]
    const cacheable = cacheableFrom({
      model: body.model,
      ...(kind === 'chat'
        ? {
            messages: (body.messages as z.infer<typeof message>[]).map((m) => ({
              role: m.role,
              content: flattenContent(m.content),
            })),
          }
        : { prompt: Array.isArray(body.prompt) ? (body.prompt[0] as string) : (body.prompt as string) }),
      params,
    })
    const cacheControl = String(request.headers['cache-control'] ?? '').toLowerCase()
    const noStore = cacheControl.includes('no-store')
    const noCache = cacheControl.includes('no-cache')
    const ttlHeader = Number(request.headers['x-larder-ttl'])
    const ttlSeconds = Number.isInteger(ttlHeader) && ttlHeader > 0 ? ttlHeader : null

    const found = cache.lookupNow(namespace, cacheable, {
      skipLookup: noCache,
      tolerateSemanticFailure: true,
      synced: true,
    })
    const lookup = found instanceof Promise ? await found : found
    const semanticHeader: Record<string, string> = lookup.semanticError ? { 'x-larder-semantic': 'unavailable' } : {}
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`
    // Written behind (cache/write-behind.ts). The cost estimate is computed when the row is written: for a hit it
    // is what generating the answer would have cost, the saving.
    const log = (
      hitKind: LookupResult['hitKind'] | 'error',
      extra: { tokensIn?: number | null; tokensOut?: number | null; entryId?: number | null },
    ) =>
      cache.logServed({
        at: isoNow(),
        namespaceId: namespace.id,
        tenant,
        keyHash: lookup.keyHash,
        canonical: lookup.canonicalJson,
        promptText: lookup.promptText,
        hitKind,
        similarity: lookup.similarity,
        entryId: extra.entryId ?? lookup.entry?.id ?? null,
        latencyMs: performance.now() - started,
        tokensIn: extra.tokensIn ?? null,
        tokensOut: extra.tokensOut ?? null,
        source: 'gateway',
      })

    if (lookup.entry && (lookup.hitKind === 'hit-exact' || lookup.hitKind === 'hit-semantic')) {
      const entry = lookup.entry
      cache.recordHit(entry)
      const headers = {
        'x-larder-cache': lookup.hitKind,
        ...(lookup.similarity !== null ? { 'x-larder-similarity': lookup.similarity.toFixed(4) } : {}),
      }
      this.respond(response, {
        id,
        kind,
        model: body.model,
        stream: body.stream === true,
        headers,
        text: entry.answer,
        textJson: answerJson(entry),
        finish: 'stop',
        tokensIn: entry.tokensIn ?? 0,
        tokensOut: entry.tokensOut ?? 0,
      })
      log(lookup.hitKind, { tokensIn: entry.tokensIn, tokensOut: entry.tokensOut })
      return
    }

    const cacheHeader = lookup.hitKind === 'bypass' ? 'bypass' : 'miss'
    const controller = new AbortController()
    const onClose = (): void => {
      if (!response.writableEnded) controller.abort(new Error('client disconnected'))
    }
    response.on('close', onClose)
    let release: (() => void) | undefined
    try {
      try {
        release = await this.queue.acquire(controller.signal)
      } catch (error) {
        if (error instanceof QueueFullError) {
          openAiError(response, 429, 'Too many requests are generating; try again shortly.', 'rate_limit_error', {
            'retry-after': String(error.retryAfterSeconds),
            'x-larder-cache': cacheHeader,
            ...semanticHeader,
          })
          log('error', {})
          return
        }
        throw error
      }
      const timeout = setTimeout(() => controller.abort(new Error('timeout')), this.options.timeoutMs ?? 120_000)
      const stream = body.stream === true
      let streamStarted = false
      try {
        const { provider, label } = await this.providerFor(body.model, namespace)
        const generated = await provider.generate({
          ...(kind === 'chat' ? { messages: cacheable.messages as never } : { prompt: cacheable.messages[0]!.content }),
          maxTokens: cacheable.params.max_tokens ?? 256,
          ...(cacheable.params.temperature !== undefined ? { temperature: cacheable.params.temperature } : {}),
          ...(cacheable.params.top_p !== undefined ? { topP: cacheable.params.top_p } : {}),
          ...(cacheable.params.top_k !== undefined ? { topK: cacheable.params.top_k } : {}),
          ...(cacheable.params.seed !== undefined ? { seed: cacheable.params.seed } : {}),
          ...(cacheable.params.stop ? { stop: cacheable.params.stop } : {}),
          signal: controller.signal,
          ...(stream
            ? {
                onText: (text: string) => {
                  if (!streamStarted) {
                    streamStarted = true
                    this.startStream(response, { 'x-larder-cache': cacheHeader, ...semanticHeader })
                    this.writeChunk(response, id, kind, body.model, { role: 'assistant', content: '' }, null)
                  }
                  this.writeChunk(response, id, kind, body.model, { content: text }, null)
                },
              }
            : {}),
        })
        if (controller.signal.aborted) throw controller.signal.reason
        const finish = generated.finishReason === 'length' ? 'length' : 'stop'
        if (stream) {
          if (!streamStarted) {
            this.startStream(response, { 'x-larder-cache': cacheHeader, ...semanticHeader })
            this.writeChunk(response, id, kind, body.model, { role: 'assistant', content: '' }, null)
          }
          this.writeChunk(response, id, kind, body.model, {}, finish)
          response.end('data: [DONE]\n\n')
        } else {
          this.respond(response, {
            id,
            kind,
            model: body.model,
            stream: false,
            headers: { 'x-larder-cache': cacheHeader, ...semanticHeader },
            text: generated.text,
            finish,
            tokensIn: generated.tokensIn,
            tokensOut: generated.tokensOut,
          })
        }
        const stored = noStore
          ? null
          : await cache.store(namespace, lookup, {
              answer: generated.text,
              model: label,
              tokensIn: generated.tokensIn,
              tokensOut: generated.tokensOut,
              ttlSeconds,
            })
        log(lookup.hitKind === 'bypass' ? 'bypass' : 'miss', {
          tokensIn: generated.tokensIn,
          tokensOut: generated.tokensOut,
          entryId: stored?.id ?? null,
        })
      } catch (error) {
        const reason = controller.signal.aborted ? (controller.signal.reason as Error).message : undefined
        log('error', {})
        if (reason === 'client disconnected') return
        if (reason === 'timeout') {
          openAiError(response, 504, 'Generation took too long and was stopped.', 'timeout', {
            'x-larder-cache': cacheHeader,
          })
          return
        }
        if (error instanceof ApiError) throw error
        const providerError = error instanceof ProviderError ? error : undefined
        openAiError(response, providerError?.retryable ? 503 : 502, (error as Error).message, 'server_error', {
          'x-larder-cache': cacheHeader,
        })
      } finally {
        clearTimeout(timeout)
      }
    } finally {
      release?.()
      response.off('close', onClose)
    }
  }

  private startStream(response: ServerResponse, headers: Record<string, string>): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      ...headers,
    })
  }

  private writeChunk(
    response: ServerResponse,
    id: string,
    kind: 'chat' | 'completion',
    model: string,
    delta: { role?: string; content?: string },
    finish: string | null,
  ): void {
    const created = Math.floor(Date.now() / 1000)
    const chunk =
      kind === 'chat'
        ? { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] }
        : {
            id,
            object: 'text_completion',
            created,
            model,
            choices: [{ index: 0, text: delta.content ?? '', finish_reason: finish }],
          }
    response.write(`data: ${JSON.stringify(chunk)}\n\n`)
  }

  private respond(
    response: ServerResponse,
    reply: {
      id: string
      kind: 'chat' | 'completion'
      model: string
      stream: boolean
      headers: Record<string, string>
      text: string
      /** JSON.stringify(text), when known already. */
      textJson?: string
      finish: string
      tokensIn: number
      tokensOut: number
    },
  ): void {
    if (reply.stream) {
      this.startStream(response, reply.headers)
      this.writeChunk(response, reply.id, reply.kind, reply.model, { role: 'assistant', content: '' }, null)
      for (const piece of pieces(reply.text))
        this.writeChunk(response, reply.id, reply.kind, reply.model, { content: piece }, null)
      this.writeChunk(response, reply.id, reply.kind, reply.model, {}, reply.finish)
      response.end('data: [DONE]\n\n')
      return
    }
    // JSON.stringify of the OpenAI body, written out (the same bytes, fewer objects on the hot path).
    const json = JSON.stringify
    const created = Math.floor(Date.now() / 1000)
    const head = `{"id":${json(reply.id)},"object":${reply.kind === 'chat' ? '"chat.completion"' : '"text_completion"'},"created":${created},"model":${json(reply.model)},"choices":[{"index":0,`
    const content = reply.textJson ?? json(reply.text)
    const choice =
      reply.kind === 'chat'
        ? `"message":{"role":"assistant","content":${content}},"finish_reason":${json(reply.finish)}}]`
        : `"text":${content},"finish_reason":${json(reply.finish)}}]`
    const usage = `"usage":{"prompt_tokens":${json(reply.tokensIn)},"completion_tokens":${json(reply.tokensOut)},"total_tokens":${json(reply.tokensIn + reply.tokensOut)}}}`
    const text = `${head}${choice},${usage}`
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...reply.headers,
    })
    response.end(text)
  }

  private async embeddings(response: ServerResponse, rawBody: unknown): Promise<void> {
    const parsed = embeddingBody.safeParse(rawBody)
    if (!parsed.success)
      throw new ApiError({ code: 'invalid_input', message: `Invalid request: ${parsed.error.issues[0]!.message}` })
    const db = this.backend.workspace.db
    const local = db.prepare('SELECT id FROM models WHERE name = ?').get(parsed.data.model) as
      { id: number } | undefined
    const remote = db.prepare('SELECT id FROM providers WHERE name = ?').get(parsed.data.model) as
      { id: number } | undefined
    if (!local && !remote)
      throw new ApiError({ code: 'not_found', message: `The model "${parsed.data.model}" does not exist.` })
    if (local && !this.backend.models.get(local.id).loaded) await this.backend.models.load({ id: local.id })
    const { provider } = this.backend.models.providerFor(local ? { model: local.id } : { provider: remote!.id })
    const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input
    const vectors = await provider.embed(inputs)
    response.writeHead(200, { 'content-type': 'application/json' })
    response.end(
      JSON.stringify({
        object: 'list',
        model: parsed.data.model,
        data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })),
        usage: { prompt_tokens: 0, total_tokens: 0 },
      }),
    )
  }
}
