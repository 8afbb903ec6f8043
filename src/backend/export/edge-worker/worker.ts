/**
 * The edge worker Larder exports with every CDN bundle: a standard Fetch-API module (`export default { fetch }`,
 * the Cloudflare Workers format, also fine for other Fetch-API edges). It reads the bundle (manifest + content-
 * addressed objects) from a static-assets binding or a URL, fills published templates with the caller's data, and
 * answers requests from the exported cache. No model runs here.
 *
 *   GET  /v1/templates/<family>/render?user=u1&locale=en&name=Mina    query: segment values and slot data
 *   POST /v1/templates/<family>/render  {"user": "u1", "segment": {"locale": "en"}, "data": {"name": "Mina"}}
 *        -> text/plain (HTML-escaped per slot); `?format=json` or `Accept: application/json` for details
 *   GET  /v1/cache/<namespace>/<keyHash>                             an exported cache entry by its key hash
 *        (also /v1/cache/<tenant>/<namespace>/<keyHash>, for the bound tenant only)
 *   POST /v1/chat/completions, /v1/completions                       OpenAI-style; answered from the cache by
 *        the same key the gateway computes (header x-larder-namespace); misses go to UPSTREAM_URL when set, else 404
 *   GET  /manifest.json, /objects/<sha256>.json                      the bundle itself: objects immutable for a
 *        year, the manifest for MANIFEST_TTL_SECONDS, both with ETag (If-None-Match -> 304)
 *   GET  /healthz                                                    up or not, and the bundle version: no names
 *
 * The bundle comes from an R2 bucket binding (BUNDLE, keys under BUNDLE_PREFIX: what `larder export deploy` writes),
 * a KV namespace (BUNDLE_KV, keys as the paths under public/), a static-assets binding (ASSETS) or a URL
 * (BUNDLE_URL), tried in that order. A bundle format this worker does not understand is refused with 503 saying
 * which. Browsers on the origins in CORS_ORIGINS (comma-separated, or "*") may call it; preflights are answered.
 *
 * Tenants: a deployment serves one tenant, the one in its LARDER_TENANT variable (the exported wrangler.toml sets
 * it), else the bundle's. Callers cannot choose another (x-larder-tenant and ?tenant= are ignored), a namespace of any
 * other tenant in the manifest is never served, and a bundle of another tenant than the configured one is refused.
 *
 * Bundled by build.ts into worker-bundle.generated.ts; must stay platform-free (no node imports).
 */
import { cacheKey } from '../../../shared/cache-key'
import { personalise, resolveSegment, type FamilyRuntime } from '../../../shared/template-render/index'
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  objectPath,
  shardOf,
  type BundleManifest,
  type CacheEntryObject,
  type CacheShardObject,
  type FamilyObject,
  type ManifestNamespace,
  type SegmentObject,
} from './bundle-format'
import { cacheableFromBody, type OpenAiBody } from './openai-request'

interface Fetcher {
  fetch(input: Request): Promise<Response>
}

interface R2Like {
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | null>
}

interface KvLike {
  get(key: string, type: 'arrayBuffer'): Promise<ArrayBuffer | null>
}

export interface EdgeEnv {
  /** An R2 bucket holding the bundle (what `larder export deploy` uploads), keys under BUNDLE_PREFIX. */
  BUNDLE?: R2Like
  /** The deploy target's prefix in the bucket, e.g. "prod/" (default: none). */
  BUNDLE_PREFIX?: string
  /** A KV namespace holding the bundle: keys are the paths under public/ ("manifest.json", "objects/<sha256>.json"). */
  BUNDLE_KV?: KvLike
  /** Origins allowed to call this worker from a browser: comma-separated, or "*". */
  CORS_ORIGINS?: string
  /** Static-assets (or any service) binding serving the bundle folder. */
  ASSETS?: Fetcher
  /** Where the bundle folder is served from, when there is no ASSETS binding. */
  BUNDLE_URL?: string
  /** How long a fetched manifest is trusted before the worker looks for a newer one (default 60). */
  MANIFEST_TTL_SECONDS?: string
  /** An OpenAI-compatible endpoint (e.g. the Larder gateway) that answers cache misses. */
  UPSTREAM_URL?: string
  /** The tenant this deployment serves; the bundle must be that tenant's. */
  LARDER_TENANT?: string
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  })
}

function errorResponse(error: HttpError): Response {
  return json(error.status, { error: { code: error.code, message: error.message, ...error.details } })
}

// Per-isolate memory: the manifest for a while, objects for good (their names are their content hashes).
let manifestCache: { manifest: BundleManifest; text: string; etag: string; fetchedAt: number } | undefined
/** The oldest bundle format this worker reads (1: bundles before tenants; it serves them as before). */
const OLDEST_FORMAT_VERSION = 1
const objectCache = new Map<string, unknown>()
const OBJECT_CACHE_LIMIT = 5000

async function fetchBundleFile(env: EdgeEnv, path: string): Promise<Response> {
  if (env.BUNDLE) {
    const object = await env.BUNDLE.get(`${env.BUNDLE_PREFIX ?? ''}${path}`)
    return object ? new Response(await object.arrayBuffer()) : new Response(null, { status: 404 })
  }
  if (env.BUNDLE_KV) {
    const value = await env.BUNDLE_KV.get(path, 'arrayBuffer')
    return value ? new Response(value) : new Response(null, { status: 404 })
  }
  if (env.ASSETS) return env.ASSETS.fetch(new Request(`https://bundle.invalid/${path}`))
  if (env.BUNDLE_URL) {
    const base = env.BUNDLE_URL.endsWith('/') ? env.BUNDLE_URL : `${env.BUNDLE_URL}/`
    return fetch(new URL(path, base).toString())
  }
  throw new HttpError(
    500,
    'not_configured',
    'This worker has no bundle: bind BUNDLE (R2), BUNDLE_KV or ASSETS, or set BUNDLE_URL.',
  )
}

async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes)
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('')
}

function manifestTtl(env: EdgeEnv): number {
  const ttl = Number(env.MANIFEST_TTL_SECONDS ?? '60')
  return Number.isFinite(ttl) && ttl >= 0 ? ttl : 60
}

async function loadManifest(env: EdgeEnv): Promise<BundleManifest> {
  return (await loadManifestFile(env)).manifest
}

/** A manifest of a format version this worker was not built for is refused (503), never half-understood. */
function checkFormatVersion(manifest: BundleManifest): void {
  const version = (manifest as { formatVersion?: unknown }).formatVersion
  if (typeof version === 'number' && version >= OLDEST_FORMAT_VERSION && version <= BUNDLE_FORMAT_VERSION) return
  throw new HttpError(
    503,
    'bundle_version_unsupported',
    `This worker understands bundle format versions ${OLDEST_FORMAT_VERSION} to ${BUNDLE_FORMAT_VERSION}; the bundle (version ${String(manifest.version)}) is format version ${String(version)}. Deploy the worker.js exported with that bundle.`,
    { formatVersion: version, supported: [OLDEST_FORMAT_VERSION, BUNDLE_FORMAT_VERSION] },
  )
}

async function loadManifestFile(
  env: EdgeEnv,
): Promise<{ manifest: BundleManifest; text: string; etag: string; fetchedAt: number }> {
  const ttlMs = manifestTtl(env) * 1000
  if (manifestCache && Date.now() - manifestCache.fetchedAt < ttlMs) return manifestCache
  let response: Response
  try {
    response = await fetchBundleFile(env, 'manifest.json')
  } catch (error) {
    if (error instanceof HttpError) throw error
    if (manifestCache) return manifestCache // Keep serving the last good bundle while the origin is away.
    throw new HttpError(502, 'bundle_unavailable', `Cannot fetch manifest.json: ${(error as Error).message}`)
  }
  if (!response.ok) {
    if (manifestCache) return manifestCache
    throw new HttpError(502, 'bundle_unavailable', `manifest.json answered ${response.status}.`)
  }
  const bytes = await response.arrayBuffer()
  const text = new TextDecoder().decode(bytes)
  let manifest: BundleManifest
  try {
    manifest = JSON.parse(text) as BundleManifest
  } catch {
    throw new HttpError(502, 'bundle_invalid', 'manifest.json is not JSON.')
  }
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== BUNDLE_FORMAT) {
    throw new HttpError(502, 'bundle_invalid', 'manifest.json is not a Larder CDN bundle manifest.')
  }
  checkFormatVersion(manifest)
  manifestCache = { manifest, text, etag: `"${await sha256Hex(bytes)}"`, fetchedAt: Date.now() }
  return manifestCache
}

/** 304 when the client already has this version (If-None-Match), else the body with its validators. */
function conditional(request: Request, etag: string, cacheControl: string, build: () => Response): Response {
  const given = request.headers.get('if-none-match')
  if (given !== null && given.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*')) {
    return new Response(null, { status: 304, headers: { etag, 'cache-control': cacheControl } })
  }
  const response = build()
  response.headers.set('etag', etag)
  response.headers.set('cache-control', cacheControl)
  return response
}

async function bundleObject(request: Request, env: EdgeEnv, hash: string): Promise<Response> {
  const manifest = await loadManifest(env)
  if (!manifest.objects.includes(hash)) throw new HttpError(404, 'not_found', `The live bundle has no object ${hash}.`)
  const etag = `"${hash}"`
  const immutable = 'public, max-age=31536000, immutable'
  if (request.headers.get('if-none-match')?.includes(etag))
    return conditional(request, etag, immutable, () => new Response())
  const bytes = await rawObject(env, hash)
  return conditional(
    request,
    etag,
    immutable,
    () => new Response(bytes, { headers: { 'content-type': 'application/json; charset=utf-8' } }),
  )
}

async function manifestFile(request: Request, env: EdgeEnv): Promise<Response> {
  const { text, etag } = await loadManifestFile(env)
  return conditional(
    request,
    etag,
    `public, max-age=${manifestTtl(env)}`,
    () => new Response(text, { headers: { 'content-type': 'application/json; charset=utf-8' } }),
  )
}

async function loadObject<T>(env: EdgeEnv, hash: string): Promise<T> {
  const cached = objectCache.get(hash)
  if (cached !== undefined) return cached as T
  const bytes = await rawObject(env, hash)
  const value = JSON.parse(new TextDecoder().decode(bytes)) as T
  if (objectCache.size >= OBJECT_CACHE_LIMIT) objectCache.clear()
  objectCache.set(hash, value)
  return value
}

async function rawObject(env: EdgeEnv, hash: string): Promise<ArrayBuffer> {
  const response = await fetchBundleFile(env, objectPath(hash))
  if (!response.ok) {
    throw new HttpError(
      502,
      'bundle_incomplete',
      `Object ${hash} answered ${response.status}; upload the whole bundle.`,
    )
  }
  const bytes = await response.arrayBuffer()
  // Content addressing doubles as an integrity check: a truncated or stale upload is refused, not served.
  if ((await sha256Hex(bytes)) !== hash) {
    throw new HttpError(502, 'bundle_corrupt', `Object ${hash} does not match its hash; upload it again.`)
  }
  return bytes
}

function wantsJson(request: Request, url: URL): boolean {
  return url.searchParams.get('format') === 'json' || (request.headers.get('accept') ?? '').includes('application/json')
}

async function readJsonBody(request: Request): Promise<unknown> {
  try {
    return await request.json()
  } catch {
    throw new HttpError(400, 'bad_request', 'The body must be JSON.')
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

async function renderTemplate(request: Request, env: EdgeEnv, url: URL, familyName: string): Promise<Response> {
  const manifest = await loadManifest(env)
  const entry = Object.prototype.hasOwnProperty.call(manifest.templates, familyName)
    ? manifest.templates[familyName]
    : undefined
  if (!entry) throw new HttpError(404, 'unknown_family', `No published template family "${familyName}" in this bundle.`)
  const family = await loadObject<FamilyObject>(env, entry.object)
  let userId: string
  const requested: Record<string, unknown> = {}
  const data: Record<string, unknown> = {}
  if (request.method === 'POST') {
    const body = await readJsonBody(request)
    if (!isRecord(body)) throw new HttpError(400, 'bad_request', 'The body must be {"user", "segment", "data"}.')
    if (body.user !== undefined && typeof body.user !== 'string') {
      throw new HttpError(400, 'bad_request', '"user" must be text.')
    }
    if (body.segment !== undefined && !isRecord(body.segment)) {
      throw new HttpError(400, 'bad_request', '"segment" must be an object such as {"locale": "en"}.')
    }
    if (body.data !== undefined && !isRecord(body.data)) {
      throw new HttpError(400, 'bad_request', '"data" must be an object such as {"name": "Mina"}.')
    }
    userId = (body.user as string | undefined) ?? ''
    Object.assign(requested, body.segment ?? {})
    Object.assign(data, body.data ?? {})
  } else {
    userId = url.searchParams.get('user') ?? ''
    for (const dimension of family.dimensions) {
      const value = url.searchParams.get(dimension.name)
      if (value !== null) requested[dimension.name] = value
    }
    for (const slot of family.slots) {
      const value = url.searchParams.get(slot.name)
      if (value !== null) data[slot.name] = value
    }
  }
  const segment = resolveSegment(family.dimensions, requested)
  if (!segment.ok) throw new HttpError(400, 'bad_segment', segment.message, { dimension: segment.dimension })
  const segmentObject = Object.prototype.hasOwnProperty.call(family.segments, segment.key)
    ? family.segments[segment.key]
    : undefined
  const variants = segmentObject ? (await loadObject<SegmentObject>(env, segmentObject)).variants : []
  const runtime: FamilyRuntime = {
    name: family.name,
    version: family.version,
    slots: family.slots,
    dimensions: family.dimensions,
    fallbacks: family.fallbacks,
  }
  const result = personalise({ family: runtime, segment, variants, data, userId })
  const headers = {
    'x-larder-family-version': String(family.version),
    'x-larder-segment': segment.key,
    'cache-control': 'private, no-store',
  }
  if (!result.ok) {
    return json(
      result.status,
      { error: { code: result.code, message: result.message, problems: result.problems } },
      headers,
    )
  }
  const variantHeader = { ...headers, 'x-larder-variant': result.fallback ? 'fallback' : String(result.variantId) }
  if (wantsJson(request, url)) {
    return json(
      200,
      {
        text: result.text,
        variantId: result.variantId,
        fallback: result.fallback,
        segment: segment.key,
        version: family.version,
        problems: result.problems,
      },
      variantHeader,
    )
  }
  return new Response(result.text, {
    status: 200,
    headers: { 'content-type': 'text/plain; charset=utf-8', ...variantHeader },
  })
}

/** The tenant whose cache this deployment serves: its configuration's, and the bundle must agree. */
function boundTenant(env: EdgeEnv, manifest: BundleManifest): string {
  const configured = env.LARDER_TENANT && env.LARDER_TENANT.length > 0 ? env.LARDER_TENANT : undefined
  const bundled = typeof manifest.tenant === 'string' ? manifest.tenant : undefined
  if (configured !== undefined && bundled !== undefined && configured !== bundled) {
    throw new HttpError(
      503,
      'bundle_mismatch',
      `This worker is bound to tenant "${configured}" but its bundle is another tenant's; deploy that tenant's bundle.`,
    )
  }
  const tenant = configured ?? bundled
  if (tenant === undefined) throw new HttpError(404, 'no_cache', 'This bundle carries no cache (templates only).')
  return tenant
}

/** A namespace of the bound tenant; any other tenant's (even if a manifest carries it) does not exist here. */
function servedNamespace(manifest: BundleManifest, tenant: string, namespace: string): ManifestNamespace {
  const name = `${tenant}/${namespace}`
  const exported = Object.prototype.hasOwnProperty.call(manifest.cache, name) ? manifest.cache[name] : undefined
  if (!exported || exported.tenant !== tenant || exported.namespace !== namespace)
    throw new HttpError(404, 'unknown_namespace', `The cache namespace ${namespace} is not in this bundle.`)
  return exported
}

async function lookupEntry(
  env: EdgeEnv,
  manifest: BundleManifest,
  tenant: string,
  namespace: string,
  keyHash: string,
): Promise<CacheEntryObject | null> {
  const exported = servedNamespace(manifest, tenant, namespace)
  const shard = exported.shards[shardOf(keyHash, exported.shardPrefixLength)]
  if (!shard) return null
  const entries = (await loadObject<CacheShardObject>(env, shard)).entries
  const entry = Object.prototype.hasOwnProperty.call(entries, keyHash) ? entries[keyHash] : undefined
  if (!entry) return null
  const object = await loadObject<CacheEntryObject>(env, entry)
  return object.tenant === tenant ? object : null
}

/** `askedTenant`: from the legacy /v1/cache/<tenant>/... path; only the bound tenant is there. */
async function cacheEntryByKey(
  env: EdgeEnv,
  askedTenant: string | null,
  namespace: string,
  keyHash: string,
): Promise<Response> {
  if (!/^[0-9a-f]{64}$/.test(keyHash)) throw new HttpError(400, 'bad_key', 'A key hash is 64 lowercase hex digits.')
  const manifest = await loadManifest(env)
  const tenant = boundTenant(env, manifest)
  if (askedTenant !== null && askedTenant !== tenant)
    throw new HttpError(404, 'unknown_namespace', `The cache namespace ${namespace} is not in this bundle.`)
  const entry = await lookupEntry(env, manifest, tenant, namespace, keyHash)
  if (!entry) throw new HttpError(404, 'cache_miss', `No exported entry has the key ${keyHash}.`)
  return json(
    200,
    {
      keyHash: entry.keyHash,
      answer: entry.answer,
      model: entry.model,
      promptVersion: entry.promptVersion,
      updatedAt: entry.updatedAt,
    },
    { 'x-larder-cache': 'hit', 'cache-control': 'public, max-age=60' },
  )
}

function completionResponse(
  kind: 'chat' | 'completion',
  model: string,
  entry: CacheEntryObject,
  stream: boolean,
  includeUsage = false,
): Response {
  const id = `larder-${entry.keyHash.slice(0, 24)}`
  const created = Math.floor(Date.parse(entry.updatedAt) / 1000)
  const headers = { 'x-larder-cache': 'hit', 'x-larder-key': entry.keyHash }
  const object = kind === 'chat' ? 'chat.completion' : 'text_completion'
  if (stream) {
    const piece =
      kind === 'chat'
        ? { index: 0, delta: { role: 'assistant', content: entry.answer }, finish_reason: null }
        : { index: 0, text: entry.answer, finish_reason: null }
    const end =
      kind === 'chat' ? { index: 0, delta: {}, finish_reason: 'stop' } : { index: 0, text: '', finish_reason: 'stop' }
    const chunk = (choice: unknown): string =>
      `data: ${JSON.stringify({ id, object: kind === 'chat' ? 'chat.completion.chunk' : object, created, model, choices: [choice] })}\n\n`
    // stream_options.include_usage: a last chunk without choices, with the usage (an edge hit generates nothing).
    const usage = includeUsage
      ? `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } })}\n\n`
      : ''
    return new Response(`${chunk(piece)}${chunk(end)}${usage}data: [DONE]\n\n`, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', ...headers },
    })
  }
  const choice =
    kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: entry.answer }, finish_reason: 'stop' }
      : { index: 0, text: entry.answer, finish_reason: 'stop' }
  return json(
    200,
    {
      id,
      object,
      created,
      model,
      choices: [choice],
      usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
    },
    headers,
  )
}

async function completions(request: Request, env: EdgeEnv, url: URL): Promise<Response> {
  const raw = await request.text()
  let body: unknown
  try {
    body = JSON.parse(raw)
  } catch {
    throw new HttpError(400, 'bad_request', 'The body must be a JSON completion request.')
  }
  if (!isRecord(body)) throw new HttpError(400, 'bad_request', 'The body must be a JSON object.')
  const manifest = await loadManifest(env)
  // The deployment's tenant; x-larder-tenant and ?tenant= are the caller's wish and are ignored.
  const tenant = boundTenant(env, manifest)
  let namespace = request.headers.get('x-larder-namespace') ?? url.searchParams.get('namespace')
  if (namespace === null) {
    const names = Object.values(manifest.cache).filter((entry) => entry.tenant === tenant)
    if (names.length !== 1) {
      throw new HttpError(400, 'namespace_required', 'Say which cache namespace to use (header x-larder-namespace).')
    }
    namespace = names[0]!.namespace
  }
  const exported = servedNamespace(manifest, tenant, namespace)
  const cacheable = cacheableFromBody(body as OpenAiBody)
  if ('error' in cacheable) throw new HttpError(400, 'bad_request', cacheable.error)
  const { keyHash } = await cacheKey(cacheable, exported.normalization)
  const entry = await lookupEntry(env, manifest, tenant, namespace, keyHash)
  if (entry) {
    const options = isRecord(body.stream_options) ? body.stream_options : {}
    return completionResponse(
      cacheable.kind,
      cacheable.model,
      entry,
      body.stream === true,
      body.stream === true && options.include_usage === true,
    )
  }
  if (env.UPSTREAM_URL) {
    const base = env.UPSTREAM_URL.endsWith('/') ? env.UPSTREAM_URL : `${env.UPSTREAM_URL}/`
    const forwarded = await fetch(new URL(url.pathname.replace(/^\/v1\//, ''), base).toString(), {
      method: 'POST',
      headers: request.headers,
      body: raw,
    })
    const response = new Response(forwarded.body, forwarded)
    response.headers.set('x-larder-cache', 'miss')
    response.headers.set('x-larder-key', keyHash)
    return response
  }
  throw new HttpError(404, 'cache_miss', 'Not in the exported cache, and no UPSTREAM_URL is set for misses.', {
    keyHash,
  })
}

function pathPart(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new HttpError(400, 'bad_request', `"${raw}" is not a valid URL path segment.`)
  }
}

async function route(request: Request, env: EdgeEnv): Promise<Response> {
  const url = new URL(request.url)
  const path = url.pathname
  const render = /^\/v1\/templates\/([^/]+)\/render$/.exec(path)
  if (render) {
    if (request.method !== 'GET' && request.method !== 'POST')
      throw new HttpError(405, 'method_not_allowed', 'Use GET or POST.')
    const rendered = await renderTemplate(request, env, url, pathPart(render[1]!))
    // A GET render is a function of its URL and the bundle: revalidate with an ETag instead of rendering blind.
    if (request.method !== 'GET' || rendered.status !== 200) return rendered
    return withValidator(request, rendered, `private, max-age=${manifestTtl(env)}`)
  }
  const byKey = /^\/v1\/cache\/(?:([^/]+)\/)?([^/]+)\/([^/]+)$/.exec(path)
  if (byKey && request.method === 'GET') {
    const entry = await cacheEntryByKey(
      env,
      byKey[1] !== undefined ? pathPart(byKey[1]) : null,
      pathPart(byKey[2]!),
      byKey[3]!,
    )
    return withValidator(request, entry, `public, max-age=${manifestTtl(env)}`)
  }
  if (path === '/manifest.json' && request.method === 'GET') return manifestFile(request, env)
  const object = /^\/objects\/([0-9a-f]{64})\.json$/.exec(path)
  if (object && request.method === 'GET') return bundleObject(request, env, object[1]!)
  if ((path === '/v1/chat/completions' || path === '/v1/completions') && request.method === 'POST') {
    return completions(request, env, url)
  }
  if (path === '/healthz') {
    // Anyone can call this: it says the worker is up and which bundle it serves, and names nothing.
    const manifest = await loadManifest(env)
    return json(200, { ok: true, bundleVersion: manifest.version, created: manifest.created })
  }
  throw new HttpError(404, 'not_found', `Nothing at ${request.method} ${path}.`)
}

/** An ETag from the answer's bytes and the headers that describe it; 304 when the client has the same. */
async function withValidator(request: Request, response: Response, cacheControl: string): Promise<Response> {
  const body = await response.arrayBuffer()
  const described = ['content-type', 'x-larder-variant', 'x-larder-segment', 'x-larder-family-version']
    .map((name) => response.headers.get(name) ?? '')
    .join('\n')
  const etag = `"${await sha256Hex(await new Blob([described, '\n', body]).arrayBuffer())}"`
  return conditional(request, etag, cacheControl, () => new Response(body, response))
}

function allowedOrigin(env: EdgeEnv, origin: string | null): string | null {
  if (origin === null || !env.CORS_ORIGINS) return null
  const allowed = env.CORS_ORIGINS.split(',').map((item) => item.trim())
  if (allowed.includes('*')) return '*'
  return allowed.includes(origin) ? origin : null
}

/** Answers a CORS preflight: the configured origins may call; any other is told so (403). */
function preflight(request: Request, env: EdgeEnv): Response {
  const origin = request.headers.get('origin')
  const allowed = allowedOrigin(env, origin)
  if (allowed === null) {
    throw new HttpError(
      403,
      'origin_not_allowed',
      `The origin ${origin ?? '(none)'} may not call this worker; add it to CORS_ORIGINS.`,
    )
  }
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-origin': allowed,
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'content-type, authorization, x-larder-namespace, if-none-match',
      'access-control-expose-headers':
        'etag, x-larder-cache, x-larder-key, x-larder-variant, x-larder-segment, x-larder-family-version',
      'access-control-max-age': '86400',
      vary: 'Origin',
    },
  })
}

function withCors(request: Request, env: EdgeEnv, response: Response): Response {
  const allowed = allowedOrigin(env, request.headers.get('origin'))
  if (allowed === null) return response
  response.headers.set('access-control-allow-origin', allowed)
  response.headers.set(
    'access-control-expose-headers',
    'etag, x-larder-cache, x-larder-key, x-larder-variant, x-larder-segment, x-larder-family-version',
  )
  response.headers.append('vary', 'Origin')
  return response
}

/** Browsers must take every answer as the type it says (a filled template is text, never HTML to sniff). */
function withNosniff(response: Response): Response {
  try {
    response.headers.set('x-content-type-options', 'nosniff')
    return response
  } catch {
    const copy = new Response(response.body, response)
    copy.headers.set('x-content-type-options', 'nosniff')
    return copy
  }
}

/** The whole worker as one Fetch-API handler: the edge runs it, and so does `larder replica` on Node. */
export async function handleRequest(request: Request, env: EdgeEnv): Promise<Response> {
  let response: Response
  try {
    if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method'))
      return preflight(request, env)
    response = withNosniff(await route(request, env))
  } catch (error) {
    if (error instanceof HttpError) response = withNosniff(errorResponse(error))
    else
      response = withNosniff(errorResponse(new HttpError(500, 'internal', (error as Error).message ?? String(error))))
  }
  return withCors(request, env, response)
}

export default { fetch: handleRequest }
