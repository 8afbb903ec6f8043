/**
 * What a CDN export takes from the cache: approved, unexpired entries, addressable by namespace and key hash. Cut-off
 * answers and tool calls stay behind: the edge worker serves complete text answers only.
 * The export itself (bundle layout, manifest, edge worker) lives with the templates/export code.
 */
import type { Db } from '../db/database'

export interface ExportableCacheEntry {
  tenant: string
  namespace: string
  keyHash: string
  answer: string
  promptText: string
  model: string | null
  promptVersion: string | null
  updatedAt: string
}

/** Entries of one tenant (optionally only some of its namespaces, by name). */
export function listExportableCacheEntries(
  db: Db,
  filter: { tenant: string; namespaces?: string[] },
): ExportableCacheEntry[] {
  const now = new Date().toISOString()
  const names = filter.namespaces && filter.namespaces.length > 0 ? filter.namespaces : null
  return db
    .prepare(
      `SELECT n.tenant, n.name AS namespace, e.key_hash AS keyHash, e.answer, e.prompt_text AS promptText,
              e.model, e.prompt_version AS promptVersion, e.updated_at AS updatedAt
       FROM cache_entries e JOIN cache_namespaces n ON n.id = e.namespace_id
       WHERE e.state = 'approved' AND (e.expires_at IS NULL OR e.expires_at > ?) AND n.tenant = ?
         AND e.finish_reason = 'stop' AND e.tool_calls IS NULL
         AND (? IS NULL OR n.name IN (SELECT value FROM json_each(?)))
       ORDER BY n.tenant, n.name, e.key_hash`,
    )
    .all(now, filter.tenant, names ? 1 : null, JSON.stringify(names ?? [])) as ExportableCacheEntry[]
}
