/**
 * The response cache: exact lookups by canonical key, optional semantic lookups (embeddings + an in-memory index
 * per namespace, a threshold per namespace, false-hit guards), storing live answers, and the operator's curation
 * (edit with history, approve/reject, pin, invalidate by filter, revert). Every lookup stays inside one namespace.
 * What is kept in memory, and how it stays true to SQLite, is described in runtime.ts.
 */
import type { CacheEntry, CacheNamespace, MethodOutput, MissReason, ParsedInput } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import {
  DEFAULT_NORMALIZATION,
  semanticText,
  type CacheableRequest,
  type CanonicalRequest,
  type KeyMessage,
} from '../../shared/cache-key'
import type { EventBus } from '../events'
import type { Provider } from '../models/providers/types'
import type { ModelsService } from '../models/service'
import type { Workspace } from '../workspace/workspace'
import { cacheKeySync, type CacheKey } from './key'
import { CacheRepository, DEFAULT_GUARDS, type EntryFilter } from './repository'
import { cacheRuntime, type CacheRuntime, type NamespaceConfig } from './runtime'
import { SEMANTIC_CANDIDATES, semanticRefusal } from './semantic-match'
import { isoNow, type QueuedLogRow } from './write-behind'
import { message, type Message } from '../../shared/messages'

export type HitKind = 'hit-exact' | 'hit-semantic' | 'miss' | 'bypass'

/** Semantic matching cannot run (embedder gone or changed); exact matching still works. */
export class SemanticUnavailableError extends ApiError {
  constructor(message: string) {
    super({ code: 'conflict', message })
  }
}

export interface LookupResult {
  hitKind: HitKind
  keyHash: string
  canonical: CanonicalRequest
  /** The canonical request as the JSON text that was hashed (what the request log stores). */
  canonicalJson: string
  promptText: string
  entry: CacheEntry | null
  similarity: number | null
  /** A semantic candidate was above the threshold but a guard refused it. */
  refusedBy: string | null
  /** Why it missed (null for a hit): the `x-larder-cache-reason` header and the request log say it. */
  missReason: MissReason | null
  /** The request's embedding, kept so a stored answer needs no second embedding call. */
  vector: Float32Array | null
  /** Why semantic matching was skipped, when the caller tolerates that (the gateway). */
  semanticError?: string
}

export interface LookupOptions {
  /** Compute the key only (Cache-Control: no-cache, or to store). */
  skipLookup?: boolean
  /** Semantic matching that cannot run is a miss with `semanticError`, not an error (the gateway). */
  tolerateSemanticFailure?: boolean
  /** The caller noticed other processes' commits for this request already (`CacheRuntime.sync`). */
  synced?: boolean
  /** The request's key under the namespace's normalization rules, computed before (the gateway's prepared requests). */
  key?: CacheKey
}

type LookupBase = Pick<
  LookupResult,
  'keyHash' | 'canonical' | 'canonicalJson' | 'promptText' | 'similarity' | 'refusedBy' | 'vector'
>

export interface StoreOptions {
  answer: string
  /** How the answer ended ("stop" unless told): a cut-off answer is served as cut off. */
  finishReason?: CacheEntry['finishReason']
  toolCalls?: CacheEntry['toolCalls']
  model: string | null
  modelFileHash?: string | null
  tokensIn?: number | null
  tokensOut?: number | null
  ttlSeconds?: number | null
  createdBy?: CacheEntry['createdBy']
  state?: CacheEntry['state']
}

function numberParam(params: Record<string, unknown>, key: string): number | undefined {
  const value = params[key]
  return typeof value === 'number' ? value : undefined
}

/** Turns an OpenAI-style request body into the parts that decide the answer. */
export function cacheableFrom(input: {
  model: string
  messages?: KeyMessage[] | undefined
  prompt?: string | undefined
  params?: Record<string, unknown> | undefined
}): CacheableRequest {
  const params = input.params ?? {}
  const stop = params.stop
  return {
    model: input.model,
    kind: input.messages ? 'chat' : 'completion',
    messages: input.messages ?? [{ role: 'user', content: input.prompt ?? '' }],
    // In sorted key order, which the canonical form wants (so it need not sort them again).
    params: {
      max_tokens: numberParam(params, 'max_tokens') ?? numberParam(params, 'max_completion_tokens'),
      response_format: params.response_format,
      seed: numberParam(params, 'seed'),
      stop: typeof stop === 'string' ? [stop] : Array.isArray(stop) ? (stop as string[]) : undefined,
      temperature: numberParam(params, 'temperature'),
      tool_choice: params.tool_choice,
      tools: params.tools,
      top_k: numberParam(params, 'top_k'),
      top_p: numberParam(params, 'top_p'),
    },
  }
}

/** U+FFFD in an answer: a model's byte tokens that did not form UTF-8 characters (the text is damaged there). */
export function hasBrokenText(text: string): boolean {
  return text.includes('\uFFFD')
}
export const BROKEN_ANSWER_MESSAGE =
  'The answer contains U+FFFD (\uFFFD), the character that stands for broken UTF-8 (the model produced byte tokens that do not form a character): edit the answer before approving it.'

/** Whether an update puts text in the approved state: approving, or changing the answer of an approved entry. */
function approvesText(entry: CacheEntry, input: ParsedInput<'cache.entries.update'>): boolean {
  if (input.state === 'approved') return entry.state !== 'approved' || input.answer !== undefined
  return input.state === undefined && entry.state === 'approved' && input.answer !== undefined
}

/** A stored answer says the same as a new one: text, how it ended, and its tool calls. */
function sameAnswer(entry: CacheEntry, options: StoreOptions): boolean {
  return (
    entry.answer === options.answer &&
    entry.finishReason === (options.finishReason ?? 'stop') &&
    JSON.stringify(entry.toolCalls ?? null) === JSON.stringify(options.toolCalls ?? null)
  )
}

/**
 * The default serving policy of a new namespace: serve what was stored (drafts too) until it is curated, as every
 * cache user expects; "approved only" (serveDrafts false) is the strict mode. docs/ARCHITECTURE.md explains why.
 */
export const DEFAULT_SERVE_DRAFTS = true

const SERVE_APPROVED: CacheEntry['state'][] = ['approved']
const SERVE_DRAFTS: CacheEntry['state'][] = ['approved', 'draft']

export class CacheService {
  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly models: ModelsService,
  ) {}

  /**
   * The repository for readers outside the serving path (API handlers, jobs): what the gateway queued is written
   * first and other processes' commits are noticed, so they read what was served.
   */
  get repo(): CacheRepository {
    const runtime = this.runtime
    runtime.sync(true)
    runtime.writer.flush()
    return new CacheRepository(this.workspace.db)
  }

  /** The repository without flushing (the serving path and the service's own writes). */
  private get r(): CacheRepository {
    return new CacheRepository(this.workspace.db)
  }

  /** In-memory state of the current database (the workspace may swap it on restore). */
  get runtime(): CacheRuntime {
    return cacheRuntime(this.workspace.db)
  }

  /** Writes what the gateway queued (hit counters, key use, request log). */
  flush(): void {
    this.runtime.writer.flush()
  }

  close(): void {
    if (this.workspace.db.open) this.runtime.writer.close()
  }

  /** The namespace as titles name it: "tenant/name", or "#id" when it does not exist. */
  namespaceName(id: number): string {
    const namespace = this.repo.namespace(id)
    return namespace ? `${namespace.tenant}/${namespace.name}` : `#${id}`
  }

  namespace(id: number): CacheNamespace {
    const namespace = this.repo.namespace(id)
    if (!namespace)
      throw new ApiError({ code: 'not_found', message: `Cache namespace ${id} does not exist.`, path: ['namespaceId'] })
    return namespace
  }

  /** The namespace a gateway request names, creating the tenant's "default" namespace on first use. */
  namespaceFor(tenant: string, name: string): CacheNamespace | undefined {
    const found = this.repo.namespaceByName(tenant, name)
    if (found || name !== 'default') return found
    return this.saveNamespace({ tenant, name }).namespace
  }

  /** `namespaceFor` for the serving path: settings only (no entry counts), kept in memory until they change. */
  servingNamespace(tenant: string, name: string): NamespaceConfig | undefined {
    const found = this.r.namespaceConfig(tenant, name)
    if (found || name !== 'default') return found
    this.saveNamespace({ tenant, name })
    return this.r.namespaceConfig(tenant, name)
  }

  saveNamespace(input: Partial<ParsedInput<'cache.namespaces.save'>> & { tenant: string; name: string }): {
    namespace: CacheNamespace
    invalidated: number
  } {
    const repo = this.r
    const previous = input.id !== undefined ? this.namespace(input.id) : undefined
    const clash = repo.namespaceByName(input.tenant, input.name)
    if (clash && clash.id !== input.id) {
      throw new ApiError({
        code: 'conflict',
        message: `Namespace ${input.tenant}/${input.name} exists.`,
        path: ['name'],
      })
    }
    const embedder = input.embedder !== undefined ? input.embedder : (previous?.embedder ?? null)
    const semanticEnabled = input.semanticEnabled ?? previous?.semanticEnabled ?? false
    if (semanticEnabled && !embedder) {
      throw new ApiError({
        code: 'invalid_input',
        message: 'Semantic matching needs an embedder (a model or a provider).',
        path: ['embedder'],
      })
    }
    const namespace = repo.saveNamespace({
      id: input.id,
      tenant: input.tenant,
      name: input.name,
      serveDrafts: input.serveDrafts ?? previous?.serveDrafts ?? DEFAULT_SERVE_DRAFTS,
      storeAs: input.storeAs ?? previous?.storeAs ?? 'draft',
      normalization: { ...DEFAULT_NORMALIZATION, ...previous?.normalization, ...input.normalization },
      semanticEnabled,
      embedder,
      embedderVersion: embedder ? this.embedderVersion(embedder) : null,
      similarityThreshold: input.similarityThreshold ?? previous?.similarityThreshold ?? 0.92,
      guards: { ...DEFAULT_GUARDS, ...previous?.guards, ...input.guards },
      generationTarget:
        input.generationTarget !== undefined ? input.generationTarget : (previous?.generationTarget ?? null),
      modelLabel: input.modelLabel !== undefined ? input.modelLabel : (previous?.modelLabel ?? null),
      promptVersion: input.promptVersion !== undefined ? input.promptVersion : (previous?.promptVersion ?? null),
      onChange: input.onChange ?? previous?.onChange ?? 'draft',
      defaultTtlSeconds:
        input.defaultTtlSeconds !== undefined ? input.defaultTtlSeconds : (previous?.defaultTtlSeconds ?? null),
    })
    let invalidated = 0
    // A new model or prompt version makes old answers suspect: demote or delete them, as the operator chose.
    if (previous && namespace.onChange !== 'none') {
      const changes: EntryFilter[] = []
      if (previous.modelLabel !== namespace.modelLabel && previous.modelLabel !== null) {
        changes.push({ namespaceId: namespace.id, model: previous.modelLabel, pinned: false })
      }
      if (previous.promptVersion !== namespace.promptVersion && previous.promptVersion !== null) {
        changes.push({ namespaceId: namespace.id, promptVersion: previous.promptVersion, pinned: false })
      }
      const ids = [...new Set(changes.flatMap((filter) => repo.idsMatching(filter)))]
      invalidated =
        namespace.onChange === 'delete' ? repo.deleteIds(ids) : repo.setStateForIds(ids, 'draft', 'invalidation')
    }
    this.events.emit('cache.changed', { namespaceId: namespace.id })
    return { namespace: this.namespace(namespace.id), invalidated }
  }

  private embedderVersion(embedder: NonNullable<CacheNamespace['embedder']>): string {
    if ('model' in embedder) {
      const model = this.models.get(embedder.model)
      return `model:${model.name}:${model.sizeBytes}:${model.fileModifiedAt}`
    }
    const provider = this.models.providerFor(embedder).provider
    return `provider:${provider.id}`
  }

  /** The namespace's embedder, loading a local embedding model on first use. */
  async embedder(namespace: NamespaceConfig): Promise<Provider> {
    const embedder = namespace.embedder
    if (!embedder) throw new SemanticUnavailableError(`Namespace ${namespace.name} has no embedder.`)
    try {
      if ('model' in embedder && !this.models.get(embedder.model).loaded) await this.models.load({ id: embedder.model })
      return this.models.providerFor(embedder).provider
    } catch (error) {
      throw new SemanticUnavailableError(
        `The embedder of namespace ${namespace.name} is not available (${(error as Error).message}). Choose another embedder in the namespace settings.`,
      )
    }
  }

  private async embed(namespace: NamespaceConfig, text: string): Promise<Float32Array | null> {
    if (!namespace.semanticEnabled || !namespace.embedder) return null
    const provider = await this.embedder(namespace)
    const [raw] = await provider.embed([text])
    if (!raw) return null
    const vector = Float32Array.from(raw)
    const stored = this.r.vectorDimensions(namespace.id)
    const other = stored.find((dims) => dims !== vector.length)
    if (other !== undefined) {
      throw new SemanticUnavailableError(
        `Namespace ${namespace.name} holds ${other}-dimensional vectors but its embedder now returns ${vector.length} dimensions ` +
          '(the embedding model changed). Re-embed the namespace (cache.reembed) to rebuild them; exact matching still works.',
      )
    }
    return vector
  }

  private servableStates(namespace: NamespaceConfig): CacheEntry['state'][] {
    return namespace.serveDrafts ? SERVE_DRAFTS : SERVE_APPROVED
  }

  /**
   * Exact lookup (key hash through the in-memory front, then SQLite), then semantic when the namespace enables it
   * (the namespace's in-memory index).
   */
  async lookup(
    namespace: NamespaceConfig,
    request: CacheableRequest,
    options: LookupOptions = {},
  ): Promise<LookupResult> {
    return this.lookupNow(namespace, request, options)
  }

  /**
   * `lookup` without a promise when no embedding is needed (exact hits, bypasses, namespaces without semantic
   * matching): the gateway's hot path.
   */
  lookupNow(
    namespace: NamespaceConfig,
    request: CacheableRequest,
    options: LookupOptions = {},
  ): LookupResult | Promise<LookupResult> {
    if (!options.synced) this.runtime.sync()
    const key = options.key ?? cacheKeySync(request, namespace.normalization)
    const result: LookupResult = {
      hitKind: 'miss',
      keyHash: key.keyHash,
      canonical: key.canonical,
      canonicalJson: key.json,
      promptText: key.promptText,
      entry: null,
      similarity: null,
      refusedBy: null,
      missReason: null,
      vector: null,
    }
    if (options.skipLookup) {
      result.hitKind = 'bypass'
      result.missReason = 'bypass'
      return result
    }
    const states = this.servableStates(namespace)
    const exact = this.r.entryByKey(namespace.id, key.keyHash)
    if (exact && states.includes(exact.state) && (exact.expiresAt === null || exact.expiresAt > isoNow())) {
      result.hitKind = 'hit-exact'
      result.entry = exact
      return result
    }
    if (!namespace.semanticEnabled || !namespace.embedder) {
      result.missReason = this.missReason(namespace.id, exact, result, null)
      return result
    }
    const base: LookupBase = result
    return this.lookupSemantic(namespace, request, base, states, options, exact)
  }

  /**
   * Why a lookup missed, most specific first: the entry under this very key is not servable (expired, a draft in an
   * approved-only namespace, rejected); a semantic candidate was refused by a guard; an entry exists for the same
   * prompt with other answer-changing parameters; or nothing is stored for it.
   */
  private missReason(
    namespaceId: number,
    exact: CacheEntry | undefined,
    key: Pick<LookupResult, 'keyHash' | 'canonical' | 'promptText'>,
    refusedBy: string | null,
  ): MissReason {
    if (exact) {
      if (exact.expiresAt !== null && exact.expiresAt <= isoNow()) return 'expired'
      if (exact.state === 'draft') return 'draft-not-served'
      if (exact.state === 'rejected') return 'rejected'
    }
    if (refusedBy) return 'guard-refused'
    return this.r.samePrompt(namespaceId, key.promptText, key.canonical, key.keyHash, 1).length > 0
      ? 'params-differ'
      : 'no-entry'
  }

  private async lookupSemantic(
    namespace: NamespaceConfig,
    request: CacheableRequest,
    base: LookupBase,
    states: CacheEntry['state'][],
    options: LookupOptions,
    exact: CacheEntry | undefined,
  ): Promise<LookupResult> {
    const { canonical } = base
    const query = semanticText(request)
    let vector: Float32Array | null
    const missed = (refusedBy: string | null): MissReason => this.missReason(namespace.id, exact, base, refusedBy)
    try {
      vector = await this.embed(namespace, query)
    } catch (error) {
      if (!(error instanceof SemanticUnavailableError) || !options.tolerateSemanticFailure) throw error
      return { ...base, hitKind: 'miss', entry: null, semanticError: error.message, missReason: missed(null) }
    }
    if (!vector) return { ...base, hitKind: 'miss', entry: null, missReason: missed(null) }
    let refusedBy: string | null = null
    const threshold = namespace.similarityThreshold
    for (const candidate of this.r.nearest(namespace.id, vector, states, SEMANTIC_CANDIDATES, threshold)) {
      if (candidate.similarity < threshold) break
      const refusal = semanticRefusal(query, canonical, candidate.entry.canonical as CanonicalRequest, namespace.guards)
      if (refusal === 'mismatch') continue
      if (refusal) {
        refusedBy ??= refusal
        continue
      }
      return {
        ...base,
        vector,
        hitKind: 'hit-semantic',
        entry: candidate.entry,
        similarity: candidate.similarity,
        missReason: null,
      }
    }
    return { ...base, vector, refusedBy, hitKind: 'miss', entry: null, missReason: missed(refusedBy) }
  }

  /** Counts a served hit (written behind: see write-behind.ts). */
  recordHit(entry: CacheEntry): void {
    this.runtime.writer.hit(entry.id, isoNow())
  }

  /** Logs a gateway request (written behind; the cost estimate is computed when the batch is written). */
  logServed(row: QueuedLogRow): void {
    this.runtime.writer.log(row)
  }

  /** Stores a live answer under the request's key, in the state the namespace's policy says. */
  async store(namespace: NamespaceConfig, lookup: LookupResult, options: StoreOptions): Promise<CacheEntry | null> {
    const stored = this.storeNow(namespace, lookup, options)
    if (stored?.written) await this.fillVector(namespace, lookup, stored.entry)
    return stored?.entry ?? null
  }

  /**
   * `store` without waiting for an embedding: the entry and its version are committed in one transaction, and its
   * vector too when the lookup already computed it (semantic namespaces), before this returns. The gateway calls it
   * before answering, so an acknowledged answer is never lost to a crash; `fillVector` embeds the rest later.
   */
  storeNow(
    namespace: NamespaceConfig,
    lookup: LookupResult,
    options: StoreOptions,
  ): { entry: CacheEntry; written: boolean } | null {
    let state = options.state ?? (namespace.storeAs === 'none' ? null : namespace.storeAs)
    if (!state) return null
    // A namespace that stores answers as approved does not approve broken text (U+FFFD): that one waits as a draft.
    if (state === 'approved' && options.state === undefined && hasBrokenText(options.answer)) state = 'draft'
    const ttl = options.ttlSeconds ?? namespace.defaultTtlSeconds
    const repo = this.r
    // A fresh generation never overwrites what an operator curated (approved, pinned or edited by hand).
    const existing = repo.entryByKey(namespace.id, lookup.keyHash)
    const generated = (options.createdBy ?? 'generated') === 'generated' || options.createdBy === 'prewarm'
    if (
      existing &&
      generated &&
      (existing.state === 'approved' || existing.pinned || existing.createdBy === 'edited')
    ) {
      return { entry: existing, written: false }
    }
    // The same answer again (an approved-only namespace regenerating a draft's request, a deterministic model) is
    // not a new version, and a rejected answer stays rejected; an expired one is kept for another TTL.
    if (existing && generated && sameAnswer(existing, options)) {
      if (existing.expiresAt !== null && existing.expiresAt <= isoNow()) {
        repo.updateEntry(existing.id, { expiresAt: ttl ? new Date(Date.now() + ttl * 1000).toISOString() : null })
        this.events.emit('cache.changed', { namespaceId: namespace.id })
        return { entry: repo.entry(existing.id) ?? existing, written: false }
      }
      return { entry: existing, written: false }
    }
    const newEntry = {
      namespaceId: namespace.id,
      keyHash: lookup.keyHash,
      canonical: lookup.canonical,
      promptText: lookup.promptText,
      answer: options.answer,
      finishReason: options.finishReason ?? 'stop',
      toolCalls: options.toolCalls ?? null,
      state,
      expiresAt: ttl ? new Date(Date.now() + ttl * 1000).toISOString() : null,
      model: options.model,
      modelFileHash: options.modelFileHash ?? null,
      promptVersion: namespace.promptVersion,
      embedderVersion: namespace.semanticEnabled ? namespace.embedderVersion : null,
      params: lookup.canonical.params,
      createdBy: options.createdBy ?? 'generated',
      tokensIn: options.tokensIn ?? null,
      tokensOut: options.tokensOut ?? null,
    }
    // The entry and its first version together (a plain db transaction: the front stays as it is).
    const entry = this.workspace.db.transaction(() => repo.upsertEntry(newEntry, options.createdBy ?? 'generated'))()
    // Its own commit: a vector saved inside a transaction would make the namespace's index rebuild.
    if (lookup.vector) repo.saveVector(entry.id, lookup.vector)
    this.events.emit('cache.changed', { namespaceId: namespace.id })
    return { entry, written: true }
  }

  /** Embeds and saves the vector of an entry stored without one (the lookup skipped semantic matching). */
  async fillVector(namespace: NamespaceConfig, lookup: LookupResult, entry: CacheEntry): Promise<void> {
    if (lookup.vector || lookup.semanticError) return
    // An answer is worth keeping even when its embedding cannot be made now; re-embedding fills it in later.
    const vector = await this.embed(namespace, semanticText(lookup.canonical as CacheableRequest)).catch(() => null)
    if (vector && this.r.entry(entry.id)?.keyHash === entry.keyHash) this.r.saveVector(entry.id, vector)
  }

  // Curation

  entry(id: number): CacheEntry {
    const entry = this.r.entry(id)
    if (!entry) throw new ApiError({ code: 'not_found', message: `Cache entry ${id} does not exist.`, path: ['id'] })
    return entry
  }

  async create(input: ParsedInput<'cache.entries.create'>): Promise<CacheEntry> {
    const namespace = this.namespace(input.namespaceId)
    const lookup = await this.lookup(namespace, cacheableFrom(input.request), { skipLookup: true })
    if (this.r.entryByKey(namespace.id, lookup.keyHash)) {
      throw new ApiError({ code: 'conflict', message: 'An entry for this request already exists; edit it instead.' })
    }
    const stored = await this.store(namespace, lookup, {
      answer: input.answer,
      model: input.request.model,
      createdBy: 'edited',
      state: input.state,
    })
    return stored!
  }

  /** `note` overrides `input.note` with a translatable message (used by revert). */
  update(input: ParsedInput<'cache.entries.update'>, note?: Message): CacheEntry {
    const entry = this.entry(input.id)
    const repo = this.r
    const answer = input.answer ?? entry.answer
    if (approvesText(entry, input) && hasBrokenText(answer) && !input.acceptBrokenText) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${BROKEN_ANSWER_MESSAGE} (Approving it anyway is possible with acceptBrokenText.)`,
        path: ['answer'],
      })
    }
    repo.transaction(() => {
      const answerChanged = input.answer !== undefined && input.answer !== entry.answer
      repo.updateEntry(entry.id, {
        // An answer written by hand is complete, even where the generated one was cut off.
        ...(answerChanged
          ? { answer: input.answer!, createdBy: 'edited' as const, finishReason: 'stop' as const }
          : {}),
        ...(input.state !== undefined ? { state: input.state } : {}),
        ...(input.pinned !== undefined ? { pinned: input.pinned } : {}),
        ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
      })
      if (answerChanged || (input.state !== undefined && input.state !== entry.state)) {
        repo.addVersion(
          entry.id,
          input.answer ?? entry.answer,
          input.state ?? entry.state,
          'operator',
          note ?? input.note ?? null,
        )
      }
    })
    this.events.emit('cache.changed', { namespaceId: entry.namespaceId })
    return this.entry(entry.id)
  }

  /**
   * A revert is an edit: the entry goes back to draft, unless the answer restored was itself approved (some version
   * with that text was approved), so an approval never carries over to text nobody reviewed.
   */
  revert(id: number, version: number): CacheEntry {
    this.entry(id)
    const versions = this.r.versions(id)
    const target = versions.find((v) => v.version === version)
    if (!target)
      throw new ApiError({ code: 'not_found', message: `Entry ${id} has no version ${version}.`, path: ['version'] })
    const reviewed = versions.some((v) => v.answer === target.answer && v.state === 'approved')
    return this.update(
      {
        id,
        answer: target.answer,
        state: reviewed ? 'approved' : 'draft',
        // This very text was approved before (broken characters and all): restoring it is not a new approval.
        acceptBrokenText: reviewed,
      },
      message('cacheNote.revertedTo', { version }),
    )
  }

  bulk(input: ParsedInput<'cache.entries.bulk'>): MethodOutput<'cache.entries.bulk'> {
    const repo = this.r
    this.namespace(input.filter.namespaceId)
    let ids = repo.idsMatching(input.filter)
    let skippedBrokenText = 0
    let affected: number
    switch (input.action) {
      case 'approve': {
        // Broken text is never approved in bulk: each such answer needs an edit (or a deliberate single approval).
        const broken = new Set(repo.idsWithBrokenText(ids))
        skippedBrokenText = broken.size
        ids = ids.filter((id) => !broken.has(id))
        affected = repo.setStateForIds(ids, 'approved', 'operator')
        break
      }
      case 'reject':
        affected = repo.setStateForIds(ids, 'rejected', 'operator')
        break
      case 'draft':
        affected = repo.setStateForIds(ids, 'draft', 'operator')
        break
      case 'delete':
        affected = repo.deleteIds(ids)
        break
      case 'pin':
        affected = repo.setPinnedForIds(ids, true)
        break
      case 'unpin':
        affected = repo.setPinnedForIds(ids, false)
        break
    }
    this.events.emit('cache.changed', { namespaceId: input.filter.namespaceId })
    return { affected, skippedBrokenText }
  }

  entryWithVersions(id: number): MethodOutput<'cache.entries.get'> {
    const entry = this.entry(id)
    const siblings = this.r
      .samePrompt(entry.namespaceId, entry.promptText, entry.canonical as CanonicalRequest, entry.keyHash, 50)
      .map((other) => ({ id: other.id, params: other.params, state: other.state, hitCount: other.hitCount }))
    return { entry, versions: this.r.versions(id), siblings }
  }
}
