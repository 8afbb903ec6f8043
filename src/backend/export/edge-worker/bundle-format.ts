/**
 * The CDN bundle's format, shared by the exporter (Node) and the edge worker (any Fetch-API runtime). Platform-free.
 *
 *   manifest.json              the index below; the only file that changes name-stably between exports
 *   objects/<sha256>.json      content-addressed JSON objects (the name is the sha256 of the file's bytes)
 *   worker.js                  the edge worker (a standard `export default { fetch }` module)
 *   wrangler.toml, README.md   deployment notes for Cloudflare Workers (any Fetch-API edge works the same way)
 */
import type { NormalizationRules } from '../../../shared/cache-key'
import type {
  FallbackRule,
  RuntimeVariant,
  SegmentDimension,
  SlotDefinition,
} from '../../../shared/template-render/index'

export const BUNDLE_FORMAT = 'larder-cdn-bundle'
/** 2: one tenant per bundle (`tenant`), the worker bound to it. */
export const BUNDLE_FORMAT_VERSION = 2

export function objectPath(hash: string): string {
  return `objects/${hash}.json`
}

export interface ManifestFamily {
  version: number
  /** sha256 of the version's definition and variants (as in the workspace). */
  contentHash: string
  /** The family object. */
  object: string
}

export interface ManifestNamespace {
  tenant: string
  namespace: string
  normalization: NormalizationRules
  entries: number
  /** Entries are indexed in shards by the first N hex digits of their key hash (0: one shard named ""). */
  shardPrefixLength: number
  /** Shard prefix -> shard object. */
  shards: Record<string, string>
}

export interface BundleManifest {
  format: typeof BUNDLE_FORMAT
  formatVersion: typeof BUNDLE_FORMAT_VERSION
  /** 1, 2, 3 ... per workspace. */
  version: number
  workspaceId: string
  created: string
  /** The one tenant whose cache this bundle carries (null: templates only). The worker serves no other. */
  tenant: string | null
  /** sha256 of the manifest.json this export follows (the `--since` one, else the workspace's last export). */
  previousManifestHash: string | null
  /** True when only objects new since `previousManifestHash` are in this folder. */
  incremental: boolean
  filters: { namespaces: string[] | null; families: string[] | null }
  counts: {
    families: number
    variants: number
    segments: number
    namespaces: number
    cacheEntries: number
    objects: number
    written: number
    deleted: number
    bytes: number
  }
  worker: { path: string; sha256: string }
  /** Family name -> its published version. */
  templates: Record<string, ManifestFamily>
  /** "<tenant>/<namespace>" -> its exported entries. */
  cache: Record<string, ManifestNamespace>
  /** Every object the bundle uses, sorted: upload these. */
  objects: string[]
  /** Objects of the previous manifest that this one no longer uses: delete these after uploading. */
  deleted: string[]
}

export interface FamilyObject {
  kind: 'template-family'
  name: string
  version: number
  publishedAt: string
  slots: SlotDefinition[]
  dimensions: SegmentDimension[]
  fallbacks: FallbackRule[]
  /** Segment key -> segment object. */
  segments: Record<string, string>
}

export interface SegmentObject {
  kind: 'template-segment'
  segmentKey: string
  variants: RuntimeVariant[]
}

export interface CacheShardObject {
  kind: 'cache-shard'
  /** Key hash -> cache entry object. */
  entries: Record<string, string>
}

export interface CacheEntryObject {
  kind: 'cache-entry'
  tenant: string
  namespace: string
  keyHash: string
  answer: string
  model: string | null
  promptVersion: string | null
  updatedAt: string
}

export function shardOf(keyHash: string, prefixLength: number): string {
  return keyHash.slice(0, prefixLength)
}

/** Few shards for small caches (fewer objects), more for big ones (a shard stays a small download). */
export function shardPrefixLengthFor(entries: number): number {
  if (entries <= 512) return 0
  if (entries <= 8192) return 1
  if (entries <= 131_072) return 2
  return 3
}
