/**
 * One completion request through the gateway, in named steps a reader and a CPU profile can follow:
 *
 *   parseCompletion (requests.ts) -> lookUp -> serveHit | generateMiss -> storeAnswer -> logRequest
 *
 * A hit is answered without a promise when no embedding is needed (the hot path). A miss waits for a slot in the
 * live queue (429 when full), generates (streamed or whole), has a timeout (504) and stops when the client goes.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CacheEntry } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../backend'
import type { NamespaceConfig } from '../cache/runtime'
import type { CacheService, LookupResult } from '../cache/service'
import { isoNow } from '../cache/write-behind'
import { ProviderError } from '../models/providers/types'
import { openAiError } from './http'
import { type LiveQueue, QueueFullError } from './live-queue'
import { answerJson, LiveStream, writeWhole, type Answer, type ReplyFormat } from './replies'
import { generationOf, parseCompletion, type CompletionApi, type CompletionRequest } from './requests'
import type { ModelTargets, Target } from './targets'

/** How the client asked the cache to behave (`Cache-Control`, `x-larder-ttl`). */
interface CacheControls {
  noStore: boolean
  noCache: boolean
  ttlSeconds: number | null
}

/** One request on its way through the steps. */
interface Served {
  started: number
  tenant: string
  namespace: NamespaceConfig
  request: CompletionRequest
  controls: CacheControls
  lookup: LookupResult
  format: ReplyFormat
  /** Headers every answer to this request carries (the semantic-matching status). */
  headers: Record<string, string>
}

export interface CompletionDeps {
  backend: Backend
  queue: LiveQueue
  targets: ModelTargets
  timeoutMs: number
}

function cacheControls(request: IncomingMessage): CacheControls {
  const cacheControl = String(request.headers['cache-control'] ?? '').toLowerCase()
  const ttlHeader = Number(request.headers['x-larder-ttl'])
  return {
    noStore: cacheControl.includes('no-store'),
    noCache: cacheControl.includes('no-cache'),
    ttlSeconds: Number.isInteger(ttlHeader) && ttlHeader > 0 ? ttlHeader : null,
  }
}

function namespaceOf(cache: CacheService, tenant: string, request: IncomingMessage): NamespaceConfig {
  const header = request.headers['x-larder-namespace']
  const name = typeof header === 'string' ? header : 'default'
  const namespace = cache.servingNamespace(tenant, name)
  if (!namespace)
    throw new ApiError({ code: 'not_found', message: `Namespace "${name}" does not exist for tenant "${tenant}".` })
  return namespace
}

export class Completions {
  constructor(private readonly deps: CompletionDeps) {}

  private get cache(): CacheService {
    return this.deps.backend.cache
  }

  async complete(
    request: IncomingMessage,
    response: ServerResponse,
    tenant: string,
    rawBody: unknown,
    api: CompletionApi,
  ): Promise<void> {
    const started = performance.now()
    const parsed = parseCompletion(api, rawBody)
    const namespace = namespaceOf(this.cache, tenant, request)
    const controls = cacheControls(request)
    const found = this.lookUp(namespace, parsed, controls)
    const lookup = found instanceof Promise ? await found : found
    const served: Served = {
      started,
      tenant,
      namespace,
      request: parsed,
      controls,
      lookup,
      format: {
        id: `${api === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`,
        api,
        model: parsed.model,
        stream: parsed.stream,
      },
      headers: lookup.semanticError ? { 'x-larder-semantic': 'unavailable' } : {},
    }
    if (lookup.entry && (lookup.hitKind === 'hit-exact' || lookup.hitKind === 'hit-semantic')) {
      this.serveHit(response, served)
      return
    }
    await this.generateMiss(response, served)
  }

  /** Step 2: exact, then semantic (a promise only when an embedding is needed). */
  private lookUp(
    namespace: NamespaceConfig,
    request: CompletionRequest,
    controls: CacheControls,
  ): LookupResult | Promise<LookupResult> {
    return this.cache.lookupNow(namespace, request.cacheable, {
      skipLookup: controls.noCache,
      tolerateSemanticFailure: true,
      synced: true,
    })
  }

  /** Step 3: the cached answer, counted (written behind). */
  private serveHit(response: ServerResponse, served: Served): void {
    const { lookup } = served
    const entry = lookup.entry!
    this.cache.recordHit(entry)
    const headers = {
      'x-larder-cache': lookup.hitKind,
      ...(lookup.similarity !== null ? { 'x-larder-similarity': lookup.similarity.toFixed(4) } : {}),
    }
    writeWhole(response, served.format, headers, {
      text: entry.answer,
      textJson: answerJson(entry),
      finishReason: 'stop',
      tokensIn: entry.tokensIn ?? 0,
      tokensOut: entry.tokensOut ?? 0,
    })
    this.logRequest(served, lookup.hitKind, { tokensIn: entry.tokensIn, tokensOut: entry.tokensOut })
  }

  /** Step 4: a live generation in a slot of the live queue, stopped on timeout or when the client goes. */
  private async generateMiss(response: ServerResponse, served: Served): Promise<void> {
    const cacheHeader = served.lookup.hitKind === 'bypass' ? 'bypass' : 'miss'
    const headers = { 'x-larder-cache': cacheHeader, ...served.headers }
    const controller = new AbortController()
    const onClose = (): void => {
      if (!response.writableEnded) controller.abort(new Error('client disconnected'))
    }
    response.on('close', onClose)
    let release: (() => void) | undefined
    try {
      try {
        release = await this.deps.queue.acquire(controller.signal)
      } catch (error) {
        if (!(error instanceof QueueFullError)) throw error
        openAiError(response, 429, 'Too many requests are generating; try again shortly.', 'rate_limit_error', {
          'retry-after': String(error.retryAfterSeconds),
          ...headers,
        })
        this.logRequest(served, 'error', {})
        return
      }
      const timeout = setTimeout(() => controller.abort(new Error('timeout')), this.deps.timeoutMs)
      try {
        const target = await this.deps.targets.resolve(served.request.model, served.namespace)
        const stream = new LiveStream(response, served.format, headers)
        const answer = await this.generate(served, target, stream, controller.signal)
        // Acknowledged means durable: the entry is committed before the client gets the end of the answer.
        const stored = this.storeAnswer(served, target, answer)
        stream.finish(answer)
        this.logRequest(served, served.lookup.hitKind === 'bypass' ? 'bypass' : 'miss', {
          tokensIn: answer.tokensIn,
          tokensOut: answer.tokensOut,
          entryId: stored?.entry.id ?? null,
        })
        if (stored?.written) void this.cache.fillVector(served.namespace, served.lookup, stored.entry).catch(() => {})
      } catch (error) {
        this.generationFailed(response, served, error, controller.signal, cacheHeader)
      } finally {
        clearTimeout(timeout)
      }
    } finally {
      release?.()
      response.off('close', onClose)
    }
  }

  /** Asks the provider, streaming text to the client as it comes when the client asked to stream. */
  private async generate(served: Served, target: Target, stream: LiveStream, signal: AbortSignal): Promise<Answer> {
    const generated = await target.provider.generate({
      ...generationOf(served.request),
      signal,
      ...(served.format.stream ? { onText: (text: string) => stream.write(text) } : {}),
    })
    if (signal.aborted) throw signal.reason
    return {
      text: generated.text,
      finishReason: generated.finishReason === 'length' ? 'length' : 'stop',
      tokensIn: generated.tokensIn,
      tokensOut: generated.tokensOut,
    }
  }

  /** Step 5: the answer committed under the request's key, as the namespace's policy says (unless no-store). */
  private storeAnswer(served: Served, target: Target, answer: Answer): { entry: CacheEntry; written: boolean } | null {
    if (served.controls.noStore) return null
    return this.cache.storeNow(served.namespace, served.lookup, {
      answer: answer.text,
      model: target.label,
      tokensIn: answer.tokensIn,
      tokensOut: answer.tokensOut,
      ttlSeconds: served.controls.ttlSeconds,
    })
  }

  private generationFailed(
    response: ServerResponse,
    served: Served,
    error: unknown,
    signal: AbortSignal,
    cacheHeader: string,
  ): void {
    const reason = signal.aborted ? (signal.reason as Error).message : undefined
    this.logRequest(served, 'error', {})
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
  }

  /**
   * Step 6: the request log, written behind (cache/write-behind.ts). The cost estimate is computed when the row is
   * written: for a hit it is what generating the answer would have cost, the saving.
   */
  private logRequest(
    served: Served,
    hitKind: LookupResult['hitKind'] | 'error',
    extra: { tokensIn?: number | null; tokensOut?: number | null; entryId?: number | null },
  ): void {
    const { lookup } = served
    this.cache.logServed({
      at: isoNow(),
      namespaceId: served.namespace.id,
      tenant: served.tenant,
      keyHash: lookup.keyHash,
      canonical: lookup.canonicalJson,
      promptText: lookup.promptText,
      hitKind,
      similarity: lookup.similarity,
      entryId: extra.entryId ?? lookup.entry?.id ?? null,
      latencyMs: performance.now() - served.started,
      tokensIn: extra.tokensIn ?? null,
      tokensOut: extra.tokensOut ?? null,
      source: 'gateway',
    })
  }
}
