/**
 * One completion request through the gateway (chat, legacy completion, Responses API), in named steps a reader and
 * a CPU profile can follow:
 *
 *   parse (prepared.ts: once per distinct body) -> lookUp -> serveHit
 *                                                   -> serveMiss -> generate -> storeAnswer -> (answer) -> logRequest
 *
 * Every answer that is not a hit says why (`x-larder-cache-reason`, and the log's `reason`: cache/service.ts).
 *
 * A hit is answered without a promise when no embedding is needed (the hot path). A miss joins the generation of
 * an identical miss already under way (in-flight.ts) or starts one: a slot in the live queue (429 when full), the
 * provider (streamed or whole), a timeout (504), stopped when every waiting client has gone. Acknowledged means
 * durable: the entry is committed before any client gets the end of its answer. The request log and hit counters
 * are written behind (cache/write-behind.ts).
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { CacheEntry } from '../../shared/contract'
import type { Backend } from '../backend'
import type { CacheKey } from '../cache/key'
import type { NamespaceConfig } from '../cache/runtime'
import type { CacheService, LookupResult } from '../cache/service'
import { isoNow } from '../cache/write-behind'
import { ProviderError } from '../models/providers/types'
import { GatewayError, invalidParam, sendError } from './http'
import { InFlight, type SharedGeneration } from './in-flight'
import { type LiveQueue, QueueFullError } from './live-queue'
import { answerOf, ChatReply, CompletionReply, type Answer, type Reply, type ReplyFormat } from './replies'
import { answerLogprobs, logStoredRequest } from './dataset-material'
import { PreparedRequests } from './prepared'
import { generationOf, type CompletionApi, type CompletionRequest } from './requests'
import { responseId, ResponsesReply } from './responses-api'
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

/** What a shared generation hands every client waiting for it. */
interface Generated {
  answer: Answer
  entry: CacheEntry | null
  /** The model (or provider) that generated the answer: the `x-larder-model` header. */
  model: string
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
    throw new GatewayError(404, `Namespace "${name}" does not exist for tenant "${tenant}".`, {
      code: 'namespace_not_found',
    })
  return namespace
}

/** Headers shared by many answers (never changed: each answer spreads them into its own). */
const NO_HEADERS: Record<string, string> = Object.freeze({}) as Record<string, string>
const SEMANTIC_UNAVAILABLE = Object.freeze({ 'x-larder-semantic': 'unavailable' })
const HIT_HEADERS: Record<string, Record<string, string>> = {
  'hit-exact': Object.freeze({ 'x-larder-cache': 'hit-exact' }),
  'hit-semantic': Object.freeze({ 'x-larder-cache': 'hit-semantic' }),
}

function hitHeaders(lookup: LookupResult): Record<string, string> {
  if (lookup.similarity === null) return HIT_HEADERS[lookup.hitKind]!
  return { 'x-larder-cache': lookup.hitKind, 'x-larder-similarity': lookup.similarity.toFixed(4) }
}

function replyFor(response: ServerResponse, format: ReplyFormat, headers: Record<string, string>): Reply {
  if (format.api === 'chat') return new ChatReply(response, format, headers)
  if (format.api === 'completion') return new CompletionReply(response, format, headers)
  return new ResponsesReply(response, format, headers)
}

const ID_PREFIX: Record<CompletionApi, string> = { chat: 'chatcmpl-', completion: 'cmpl-', responses: '' }

/** What a target cannot do with a request: a 400 that says so (never a provider failure that clients retry). */
function checkTarget(target: Target, request: CompletionRequest): void {
  if (request.logprobs !== undefined && (target.kind !== 'local' || request.prefill))
    throw invalidParam(
      request.api === 'responses' ? 'include' : 'logprobs',
      target.kind !== 'local'
        ? `${target.label} is not a local model; logprobs are available from local models only.`
        : 'logprobs are not available when continuing an assistant message.',
      'unsupported_parameter',
    )
  if (target.kind !== 'pipeline') return
  const params = request.cacheable.params
  if (params.tools !== undefined && params.tools !== null)
    throw invalidParam('tools', `${target.label} is a pipeline; it does not take tools.`, 'unsupported_parameter')
  if (params.response_format !== undefined && params.response_format !== null)
    throw invalidParam(
      'response_format',
      `${target.label} is a pipeline; it does not take response_format.`,
      'unsupported_parameter',
    )
  if (request.prefill)
    throw invalidParam(
      'messages',
      `${target.label} is a pipeline; the conversation must end with a user message.`,
      'unsupported_prefill',
    )
}

export class Completions {
  private readonly inFlight = new InFlight<Generated>()
  /** Bodies parsed, validated and keyed before (step 1, once per distinct body). */
  readonly prepared = new PreparedRequests()

  constructor(private readonly deps: CompletionDeps) {}

  private get cache(): CacheService {
    return this.deps.backend.cache
  }

  async complete(
    request: IncomingMessage,
    response: ServerResponse,
    tenant: string,
    body: string,
    api: CompletionApi,
  ): Promise<void> {
    const started = performance.now()
    const prepared = this.prepared.parse(api, body)
    const parsed = prepared.request
    const namespace = namespaceOf(this.cache, tenant, request)
    const controls = cacheControls(request)
    // Log-probs belong to a generation, not to a stored answer: such a request skips the lookup.
    if (parsed.logprobs !== undefined) controls.noCache = true
    const found = this.lookUp(namespace, parsed, controls, this.prepared.keyOf(prepared, namespace.normalization))
    const lookup = found instanceof Promise ? await found : found
    const served: Served = {
      started,
      tenant,
      namespace,
      request: parsed,
      controls,
      lookup,
      format: {
        id: api === 'responses' ? responseId() : `${ID_PREFIX[api]}${randomUUID()}`,
        api,
        model: parsed.model,
        stream: parsed.stream,
        includeUsage: parsed.includeUsage,
        ...(parsed.echo ? { echo: parsed.echo } : {}),
      },
      headers: lookup.semanticError ? SEMANTIC_UNAVAILABLE : NO_HEADERS,
    }
    if (lookup.entry && (lookup.hitKind === 'hit-exact' || lookup.hitKind === 'hit-semantic')) {
      this.serveHit(response, served)
      return
    }
    await this.serveMiss(response, served)
  }

  /** Step 2: exact, then semantic (a promise only when an embedding is needed), under the prepared key. */
  private lookUp(
    namespace: NamespaceConfig,
    request: CompletionRequest,
    controls: CacheControls,
    key: CacheKey,
  ): LookupResult | Promise<LookupResult> {
    return this.cache.lookupNow(namespace, request.cacheable, {
      skipLookup: controls.noCache,
      tolerateSemanticFailure: true,
      synced: true,
      key,
    })
  }

  /** Step 3: the cached answer (with the finish reason and tool calls it was stored with), counted behind. */
  private serveHit(response: ServerResponse, served: Served): void {
    const { lookup } = served
    const entry = lookup.entry!
    this.cache.recordHit(entry)
    replyFor(response, served.format, hitHeaders(lookup)).whole(answerOf(entry))
    this.logRequest(served, lookup.hitKind, { tokensIn: entry.tokensIn, tokensOut: entry.tokensOut })
  }

  /**
   * Step 4: wait for the generation of this request, started here or already under way for an identical one, then
   * finish this client's answer and log it.
   */
  private async serveMiss(response: ServerResponse, served: Served): Promise<void> {
    const hitKind = served.lookup.hitKind === 'bypass' ? 'bypass' : 'miss'
    const key = [
      served.tenant,
      served.namespace.id,
      served.lookup.keyHash,
      hitKind,
      served.controls.noStore,
      served.controls.ttlSeconds,
      served.request.logprobs ?? '',
    ].join('\u0000')
    const { shared, leader } = this.inFlight.share(key, (generation) => this.generate(served, generation))
    const reason = served.lookup.missReason
    const headers: Record<string, string> = {
      'x-larder-cache': hitKind,
      ...(reason ? { 'x-larder-cache-reason': reason } : {}),
      ...(leader ? {} : { 'x-larder-coalesced': '1' }),
      ...served.headers,
    }
    const reply = replyFor(response, served.format, headers)
    let streamed = ''
    // A streamed answer with log-probs is written when they are known (Reply.close), not as it is generated.
    const live = served.format.stream && served.request.logprobs === undefined
    const waiting = shared.join(
      live
        ? (text) => {
            streamed += text
            reply.delta(text)
          }
        : undefined,
    )
    const onClose = (): void => {
      if (!response.writableEnded) waiting.leave()
    }
    response.on('close', onClose)
    try {
      const { answer, entry, model } = await waiting.result
      // A reply not yet started (every non-streamed one) names the model that generated it.
      if (!reply.started) headers['x-larder-model'] = model
      if (response.destroyed) {
        this.logRequest(served, 'error', {})
        return
      }
      // A client that joined a generation that did not stream gets the text it has not seen yet.
      if (live && answer.text.length > streamed.length && answer.text.startsWith(streamed))
        reply.delta(answer.text.slice(streamed.length))
      reply.close(answer)
      this.logRequest(served, hitKind, {
        // The tokens were spent once, by the request that started the generation.
        tokensIn: leader ? answer.tokensIn : null,
        tokensOut: leader ? answer.tokensOut : null,
        entryId: entry?.id ?? null,
      })
    } catch (error) {
      this.generationFailed(response, served, error, shared.controller.signal, headers)
    } finally {
      response.off('close', onClose)
    }
  }

  /** The generation itself, once for every identical miss waiting: queue slot, provider, timeout, store. */
  private async generate(served: Served, shared: SharedGeneration<Generated>): Promise<Generated> {
    const signal = shared.controller.signal
    const release = await this.deps.queue.acquire(signal)
    const timeout = setTimeout(() => shared.controller.abort(new Error('timeout')), this.deps.timeoutMs)
    try {
      const target = await this.deps.targets.resolve(served.request.model, served.namespace)
      checkTarget(target, served.request)
      const generated = await target.provider.generate({
        ...generationOf(served.request),
        signal,
        ...(served.format.stream && served.request.logprobs === undefined
          ? { onText: (text: string) => shared.emit(text) }
          : {}),
      })
      if (signal.aborted) throw signal.reason
      const answer: Answer = {
        text: generated.text,
        finishReason: generated.finishReason === 'aborted' ? 'stop' : generated.finishReason,
        toolCalls: generated.toolCalls ?? null,
        tokensIn: generated.tokensIn,
        tokensOut: generated.tokensOut,
      }
      if (served.request.logprobs !== undefined) {
        const models = this.deps.backend.models
        const top = served.request.logprobs
        answer.logprobs = await answerLogprobs(
          models,
          target.modelId!,
          generationOf(served.request),
          answer.text,
          top,
        ).catch((error: unknown) => {
          throw new ProviderError(`The log-probs could not be computed: ${(error as Error).message}`, false, 400)
        })
      }
      return { answer, entry: this.storeAnswer(served, target, answer), model: target.label }
    } finally {
      clearTimeout(timeout)
      release()
    }
  }

  /**
   * Step 5: the answer committed under the request's key, as the namespace's policy says (unless no-store), before
   * any client gets the end of it. A vector the lookup did not compute is embedded afterwards (fillVector).
   */
  private storeAnswer(served: Served, target: Target, answer: Answer): CacheEntry | null {
    if (served.controls.noStore) return null
    const stored = this.cache.storeNow(served.namespace, served.lookup, {
      answer: answer.text,
      finishReason: answer.finishReason,
      toolCalls: answer.toolCalls,
      model: target.label,
      tokensIn: answer.tokensIn,
      tokensOut: answer.tokensOut,
      ttlSeconds: served.controls.ttlSeconds,
    })
    if (stored?.written) void this.cache.fillVector(served.namespace, served.lookup, stored.entry).catch(() => {})
    return stored?.entry ?? null
  }

  private generationFailed(
    response: ServerResponse,
    served: Served,
    error: unknown,
    signal: AbortSignal,
    headers: Record<string, string>,
  ): void {
    const reason = signal.aborted ? (signal.reason as Error).message : undefined
    this.logRequest(served, 'error', {})
    if (reason === 'client disconnected' || response.destroyed) return
    if (error instanceof QueueFullError) {
      sendError(
        response,
        new GatewayError(429, 'Too many requests are generating; try again shortly.', {
          type: 'rate_limit_error',
          code: 'rate_limit_exceeded',
          headers: { 'retry-after': String(error.retryAfterSeconds) },
        }),
        headers,
      )
      return
    }
    if (reason === 'timeout') {
      sendError(
        response,
        new GatewayError(504, 'Generation took too long and was stopped.', { code: 'timeout' }),
        headers,
      )
      return
    }
    sendError(response, providerFailure(error), headers)
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
    const row = {
      at: isoNow(),
      namespaceId: served.namespace.id,
      tenant: served.tenant,
      keyHash: lookup.keyHash,
      canonical: lookup.canonicalJson,
      promptText: lookup.promptText,
      hitKind,
      // Why it was not a hit (also for a miss whose generation failed); null for hits.
      reason: hitKind === 'hit-exact' || hitKind === 'hit-semantic' ? null : lookup.missReason,
      similarity: lookup.similarity,
      entryId: extra.entryId ?? lookup.entry?.id ?? null,
      latencyMs: performance.now() - served.started,
      tokensIn: extra.tokensIn ?? null,
      tokensOut: extra.tokensOut ?? null,
      source: 'gateway' as const,
    }
    if (served.request.stored) logStoredRequest(this.deps.backend.workspace.db, row, served.request.stored)
    else this.cache.logServed(row)
  }
}

/**
 * A failed generation as an answer: the request's own fault (a provider's 4xx, a schema a local model cannot
 * enforce, a prompt over the context) is a 400 that clients do not retry; the provider's is a 502, or 503 when
 * another try may work.
 */
function providerFailure(error: unknown): unknown {
  if (!(error instanceof ProviderError)) return error
  if (error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 429)
    return new GatewayError(400, error.message, { code: 'invalid_request' })
  return new GatewayError(error.retryable ? 503 : 502, error.message, { code: 'upstream_error' })
}
