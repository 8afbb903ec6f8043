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
  /** The objects this folder must contain (all, or the new ones). */
  toWrite: string[]
  files: { path: string; text: string }[]
}

const wranglerToml = (
  tenant: string | null,
): string => `# Deploy this folder as a Cloudflare Worker with its static assets: \`npx wrangler deploy\`.
# Other Fetch-API edges: serve this folder from a bucket or CDN and set BUNDLE_URL to its address.
name = "larder-edge"
main = "worker.js"
compatibility_date = "2025-01-01"

[assets]
directory = "."
binding = "ASSETS"
run_worker_first = true

[vars]
MANIFEST_TTL_SECONDS = "60"
${
  tenant === null
    ? '# This bundle has no cache (templates only).\n'
    : `# The tenant this deployment serves: the worker refuses a bundle of any other tenant.\nLARDER_TENANT = ${JSON.stringify(tenant)}\n`
}# UPSTREAM_URL = "https://your-larder-gateway.example/v1"
`

const README = `# Larder CDN bundle

- \`manifest.json\`: what this bundle holds (version, counts, object hashes, the previous manifest's hash,
  objects to delete).
- \`objects/<sha256>.json\`: content-addressed objects; each name is the sha256 of the file's bytes.
- \`worker.js\`: the edge worker (standard Fetch-API module). Bind the bundle as \`ASSETS\` or set \`BUNDLE_URL\`.

Deploy order for an incremental bundle: upload the new objects, then \`manifest.json\` and \`worker.js\`, then
delete the objects listed under \`deleted\`. See docs/templates.md in Larder for the worker's API.
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
      { path: 'worker.js', text: EDGE_WORKER_SOURCE },
      { path: 'wrangler.toml', text: wranglerToml(input.tenant) },
      { path: 'README.md', text: README },
    ],
  }
}
