/**
 * Builds a CDN bundle in memory from a snapshot of the workspace: content-addressed objects, the manifest, the
 * worker. Pure (no files, no database), so the layout is easy to test; service.ts writes it out.
 */
import { createHash } from 'node:crypto'
import type { NormalizationRules } from '../../shared/cache-key'
import type { FamilyDefinition, PublishedVariantSnapshot } from '../../shared/contract'
import { listSegments } from '../../shared/template-render/index'
import type { ExportableCacheEntry } from '../cache/export-source'
import {
  BUNDLE_FORMAT,
  BUNDLE_FORMAT_VERSION,
  shardOf,
  shardPrefixLengthFor,
  type BundleManifest,
  type CacheEntryObject,
  type CacheShardObject,
  type FamilyObject,
  type ManifestNamespace,
  type SegmentObject,
} from './edge-worker/bundle-format'
import { EDGE_WORKER_SOURCE } from './edge-worker/worker-bundle.generated'

export const sha256Hex = (bytes: string | Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

export interface PublishedFamilySnapshot {
  name: string
  version: number
  contentHash: string
  publishedAt: string
  definition: FamilyDefinition
  variants: PublishedVariantSnapshot[]
}

export interface NamespaceSnapshot {
  tenant: string
  name: string
  normalization: NormalizationRules
  entries: ExportableCacheEntry[]
}

export interface BundleInput {
  workspaceId: string
  version: number
  created: string
  /** The one tenant whose cache the bundle carries (null: templates only). */
  tenant: string | null
  previousManifestHash: string | null
  /** The objects the bundle this one follows already has (an incremental export writes only the others). */
  previousObjects: string[] | null
  filters: BundleManifest['filters']
  families: PublishedFamilySnapshot[]
  namespaces: NamespaceSnapshot[]
}

export interface BuiltBundle {
  manifest: BundleManifest
  manifestText: string
  /** Every object, by hash. */
  objects: Map<string, string>
  /** The objects this folder must contain (all, or the new ones), under public/. */
  toWrite: string[]
  files: { path: string; text: string }[]
}

const tenantVars = (tenant: string | null): string =>
  tenant === null
    ? '# This bundle has no cache (templates only).\n'
    : `# The tenant this deployment serves: the worker refuses a bundle of any other tenant.\nLARDER_TENANT = ${JSON.stringify(tenant)}\n`

/**
 * Static-assets mode: public/ is both the worker's folder and the assets directory, so wrangler's own .wrangler/ state
 * (created beside this file) is never inside the watched assets and never counted as an asset.
 */
const wranglerToml = (
  tenant: string | null,
): string => `# Deploy as a Cloudflare Worker with the bundle as its static assets: \`npx wrangler deploy\` (\`npx wrangler dev\`
# to try it). Other modes: wrangler.r2.toml (an R2 bucket that \`larder export deploy\` uploads to), or any host serving
# public/ with BUNDLE_URL set (see README.md).
name = "larder-edge"
main = "public/worker.js"
compatibility_date = "2025-01-01"

[assets]
directory = "public"
binding = "ASSETS"
run_worker_first = true

[vars]
MANIFEST_TTL_SECONDS = "60"
# Origins allowed to call the worker from a browser (comma-separated, or "*").
# CORS_ORIGINS = "https://app.example.com"
${tenantVars(tenant)}# UPSTREAM_URL = "https://your-larder-gateway.example/v1"
`

/** R2 mode: the worker alone; the bundle lives in a bucket (\`larder export deploy public --to s3://BUCKET/PREFIX\`). */
const wranglerR2Toml = (
  tenant: string | null,
): string => `# The worker reading the bundle from an R2 bucket that \`larder export deploy\` uploads to:
#   larder export deploy . --to s3://larder-bundles/prod --endpoint https://<account>.r2.cloudflarestorage.com --region auto
#   npx wrangler deploy -c wrangler.r2.toml
name = "larder-edge"
main = "public/worker.js"
compatibility_date = "2025-01-01"

[[r2_buckets]]
binding = "BUNDLE"
bucket_name = "larder-bundles"

[vars]
# The prefix of the deploy target inside the bucket (s3://larder-bundles/prod -> "prod/").
BUNDLE_PREFIX = "prod/"
MANIFEST_TTL_SECONDS = "60"
${tenantVars(tenant)}`

const README = `# Larder CDN bundle

- \`public/manifest.json\`: what this bundle holds (version, counts, object hashes, the previous manifest's hash,
  objects to delete).
- \`public/objects/<sha256>.json\`: content-addressed objects; each name is the sha256 of the file's bytes.
- \`public/worker.js\`: the edge worker (standard Fetch-API module). It reads the bundle from a static-assets binding
  (\`ASSETS\`, wrangler.toml), an R2 bucket (\`BUNDLE\` + \`BUNDLE_PREFIX\`, wrangler.r2.toml), a KV namespace
  (\`BUNDLE_KV\`, keys as the paths under public/) or a URL (\`BUNDLE_URL\`: any host serving public/).

Object storage (S3, R2, MinIO): \`larder export deploy <this folder> --to s3://bucket/prefix\` uploads the objects the
target lacks, then the worker, then the manifest last, and keeps earlier manifests for \`larder export rollback\`.
By hand: upload the new objects first, then \`worker.js\`, then \`manifest.json\`; delete the objects listed under
\`deleted\` only after readers of the old manifest are done. See docs/export.md in Larder.
`

export function buildBundle(input: BundleInput): BuiltBundle {
  const objects = new Map<string, string>()
  const add = (value: unknown): string => {
    const text = JSON.stringify(value)
    const hash = sha256Hex(text)
    objects.set(hash, text)
    return hash
  }

  const templates: BundleManifest['templates'] = {}
  let variantCount = 0
  let segmentTotal = 0
  for (const family of input.families) {
    const segments: Record<string, string> = {}
    for (const segment of listSegments(family.definition.segments)) {
      const variants = family.variants
        .filter((variant) => variant.segmentKey === segment.key)
        .map(({ id, template, weight }) => ({ id, template, weight }))
      segmentTotal++
      if (variants.length === 0) continue
      variantCount += variants.length
      const segmentObject: SegmentObject = { kind: 'template-segment', segmentKey: segment.key, variants }
      segments[segment.key] = add(segmentObject)
    }
    const familyObject: FamilyObject = {
      kind: 'template-family',
      name: family.name,
      version: family.version,
      publishedAt: family.publishedAt,
      slots: family.definition.slots,
      dimensions: family.definition.segments,
      fallbacks: family.definition.fallbacks,
      segments,
    }
    templates[family.name] = { version: family.version, contentHash: family.contentHash, object: add(familyObject) }
  }

  const cache: BundleManifest['cache'] = {}
  let entryCount = 0
  for (const namespace of input.namespaces) {
    if (namespace.tenant !== input.tenant)
      throw new Error(`Namespace ${namespace.name} is not tenant ${input.tenant}'s.`)
    const prefixLength = shardPrefixLengthFor(namespace.entries.length)
    const shards = new Map<string, Record<string, string>>()
    for (const entry of namespace.entries) {
      const object: CacheEntryObject = {
        kind: 'cache-entry',
        tenant: entry.tenant,
        namespace: entry.namespace,
        keyHash: entry.keyHash,
        answer: entry.answer,
        model: entry.model,
        promptVersion: entry.promptVersion,
        updatedAt: entry.updatedAt,
      }
      const prefix = shardOf(entry.keyHash, prefixLength)
      const shard = shards.get(prefix) ?? {}
      shard[entry.keyHash] = add(object)
      shards.set(prefix, shard)
      entryCount++
    }
    const shardHashes: Record<string, string> = {}
    for (const prefix of [...shards.keys()].sort()) {
      const entries = shards.get(prefix)!
      const sorted = Object.fromEntries(
        Object.keys(entries)
          .sort()
          .map((key) => [key, entries[key]!]),
      )
      const shardObject: CacheShardObject = { kind: 'cache-shard', entries: sorted }
      shardHashes[prefix] = add(shardObject)
    }
    const exported: ManifestNamespace = {
      tenant: namespace.tenant,
      namespace: namespace.name,
      normalization: namespace.normalization,
      entries: namespace.entries.length,
      shardPrefixLength: prefixLength,
      shards: shardHashes,
    }
    cache[`${namespace.tenant}/${namespace.name}`] = exported
  }

  const all = [...objects.keys()].sort()
  const previous = input.previousObjects ? new Set(input.previousObjects) : null
  const toWrite = previous ? all.filter((hash) => !previous.has(hash)) : all
  const current = new Set(all)
  const deleted = input.previousObjects ? input.previousObjects.filter((hash) => !current.has(hash)).sort() : []
  const bytes = toWrite.reduce((sum, hash) => sum + Buffer.byteLength(objects.get(hash)!), 0)
  const manifest: BundleManifest = {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    version: input.version,
    workspaceId: input.workspaceId,
    created: input.created,
    tenant: input.tenant,
    previousManifestHash: input.previousManifestHash,
    incremental: input.previousObjects !== null,
    filters: input.filters,
    counts: {
      families: input.families.length,
      variants: variantCount,
      segments: segmentTotal,
      namespaces: input.namespaces.length,
      cacheEntries: entryCount,
      objects: all.length,
      written: toWrite.length,
      deleted: deleted.length,
      bytes,
    },
    worker: { path: 'worker.js', sha256: sha256Hex(EDGE_WORKER_SOURCE) },
    templates,
    cache,
    objects: all,
    deleted,
  }
  return {
    manifest,
    manifestText: `${JSON.stringify(manifest, null, 2)}\n`,
    objects,
    toWrite,
    files: [
      { path: 'public/worker.js', text: EDGE_WORKER_SOURCE },
      { path: 'wrangler.toml', text: wranglerToml(input.tenant) },
      { path: 'wrangler.r2.toml', text: wranglerR2Toml(input.tenant) },
      { path: 'README.md', text: README },
    ],
  }
}
