/** Handlers for the Cache area of the contract (`cache.*`, `gateway.keys.*`). */
import type { cacheMethods } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { AreaHandlers } from '../api/dispatch'
import type { Backend } from '../backend'
import { cacheAnalytics } from './analytics'
import { EXPORT_ENTRIES_JOB, IMPORT_ENTRIES_JOB, IMPORT_LOG_JOB, PREWARM_JOB, REEMBED_JOB } from './jobs'
import { GatewayKeys } from './keys'
import { cacheableFrom } from './service'
import { existsSync } from 'node:fs'

function mustExist(path: string): void {
  if (!existsSync(path)) throw new ApiError({ code: 'not_found', message: `No file at ${path}.`, path: ['path'] })
}

export function cacheHandlers(backend: Backend): AreaHandlers<typeof cacheMethods> {
  const { cache, runner, workspace } = backend
  return {
    'cache.namespaces.list': () => ({ items: cache.repo.listNamespaces() }),
    'cache.namespaces.save': (input) => cache.saveNamespace(input),
    'cache.namespaces.remove': ({ id }) => {
      cache.namespace(id)
      return { removedEntries: cache.repo.removeNamespace(id) }
    },
    'cache.entries.list': ({ sort, limit, offset, ...filter }) => {
      cache.namespace(filter.namespaceId)
      return cache.repo.listEntries(filter, sort, limit, offset)
    },
    'cache.entries.get': ({ id }) => cache.entryWithVersions(id),
    'cache.entries.create': (input) => cache.create(input),
    'cache.entries.update': (input) => cache.update(input),
    'cache.entries.revert': ({ id, version }) => cache.revert(id, version),
    'cache.entries.bulk': (input) => cache.bulk(input),
    'cache.lookup': async ({ namespaceId, request }) => {
      const result = await cache.lookup(cache.namespace(namespaceId), cacheableFrom(request))
      return {
        hitKind: result.hitKind,
        keyHash: result.keyHash,
        entry: result.entry,
        similarity: result.similarity,
        refusedBy: result.refusedBy,
        reason: result.missReason,
      }
    },
    'cache.log.list': ({ limit, offset, ...filter }) => cache.repo.listLog(filter, limit, offset),
    'cache.log.get': ({ id }) => {
      const found = cache.repo.logRow(id)
      if (!found) throw new ApiError({ code: 'not_found', message: `No request-log row ${id}.`, path: ['id'] })
      const entry = found.row.entryId === null ? undefined : cache.repo.entry(found.row.entryId)
      // The entry id is only a number: an entry since deleted and re-created elsewhere must not show.
      const sameNamespace = entry !== undefined && entry.namespaceId === found.row.namespaceId
      return { row: found.row, request: found.canonical, entry: sameNamespace ? entry : null }
    },
    'cache.log.import': ({ namespaceId, path, format }) => {
      cache.namespace(namespaceId)
      mustExist(path)
      // Lines without a timestamp get this instant, which planning recognises (it is in the job's params).
      const undatedAt = new Date().toISOString()
      return { job: runner.enqueue(IMPORT_LOG_JOB, { namespaceId, path, format, undatedAt }) }
    },
    'cache.analytics': (input) => cacheAnalytics(workspace.db, input),
    'cache.prewarm': ({ namespaceId, top, target, keys }) => {
      cache.namespace(namespaceId)
      return { job: runner.enqueue(PREWARM_JOB, { namespaceId, top, target, ...(keys ? { keys } : {}) }) }
    },
    'cache.reembed': ({ namespaceId }) => {
      cache.namespace(namespaceId)
      return { job: runner.enqueue(REEMBED_JOB, { namespaceId }) }
    },
    'cache.import': ({ namespaceId, path }) => {
      cache.namespace(namespaceId)
      mustExist(path)
      return { job: runner.enqueue(IMPORT_ENTRIES_JOB, { namespaceId, path }) }
    },
    'cache.export': ({ namespaceId, path, state }) => {
      cache.namespace(namespaceId)
      return { job: runner.enqueue(EXPORT_ENTRIES_JOB, { namespaceId, path, state }) }
    },
    'gateway.keys.list': () => ({ items: new GatewayKeys(workspace.db).list() }),
    'gateway.keys.create': ({ tenant, label }) => new GatewayKeys(workspace.db).create(tenant, label),
    'gateway.keys.revoke': ({ id }) => new GatewayKeys(workspace.db).revoke(id),
  }
}
