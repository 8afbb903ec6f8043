/**
 * The job behind the semantic what-if: embeds every distinct prompt of a namespace's log with the namespace's
 * embedder (the text the gateway would embed: the last user message of the canonical request) and keeps the vectors
 * in the plan's vector store. Resumable: it embeds only what is not stored yet.
 */
import { z } from 'zod'
import { semanticText, type CacheableRequest } from '../../../shared/cache-key'
import { ApiError } from '../../../shared/errors'
import type { JobKind } from '../../jobs/runner'
import type { Workspace } from '../../workspace/workspace'
import type { NamespaceConfig } from '../runtime'
import type { CacheService } from '../service'
import { PlanVectorStore } from './vector-store'
import { message } from '../../../shared/messages'

export const PLAN_EMBED_JOB = 'cache.plan-embed'
const BATCH = 32

/** The clear error for a namespace without an embedder, naming the setting to change. */
export function noEmbedderMessage(namespace: Pick<NamespaceConfig, 'tenant' | 'name'>): string {
  return (
    `Namespace ${namespace.tenant}/${namespace.name} has no embedder, so the semantic what-if cannot run. ` +
    'Choose an embedding model or provider under "Embedder" in the namespace settings (cache.namespaces.save with "embedder").'
  )
}

export function vectorStoreFor(workspace: Workspace, namespace: NamespaceConfig): PlanVectorStore | null {
  if (!namespace.embedder || !namespace.embedderVersion) return null
  return new PlanVectorStore(workspace.paths.home, namespace, namespace.embedderVersion)
}

/** Distinct logged requests of the namespace with their canonical form (every source). */
export function loggedPrompts(workspace: Workspace, namespace: { id: number; tenant: string }): [string, string][] {
  return workspace.db
    .prepare(
      `SELECT key_hash, canonical FROM request_log WHERE id IN (
         SELECT min(id) FROM request_log
         WHERE namespace_id = ? AND tenant = ? AND canonical IS NOT NULL GROUP BY key_hash)`,
    )
    .raw()
    .all(namespace.id, namespace.tenant) as [string, string][]
}

export function planEmbedJob(workspace: Workspace, cache: CacheService): JobKind<{ namespaceId: number }> {
  return {
    kind: PLAN_EMBED_JOB,
    params: z.object({ namespaceId: z.int() }),
    resumable: true,
    title: (params) => message('job.embedPlanning', { namespace: cache.namespaceName(params.namespaceId) }),
    async run(context) {
      const namespace = cache.namespace(context.params.namespaceId)
      const store = vectorStoreFor(workspace, namespace)
      if (!store) throw new ApiError({ code: 'invalid_input', message: noEmbedderMessage(namespace) })
      const stored = store.load()
      const todo = loggedPrompts(workspace, namespace).filter(([keyHash]) => !stored.has(keyHash))
      context.log('info', `${stored.size} prompts already embedded; ${todo.length} to embed.`)
      if (todo.length === 0) return { embedded: 0, total: stored.size }
      const provider = await cache.embedder(namespace)
      let done = 0
      for (let start = 0; start < todo.length; start += BATCH) {
        context.throwIfAborted()
        const batch = todo.slice(start, start + BATCH)
        const texts = batch.map(([, canonical]) => semanticText(JSON.parse(canonical) as CacheableRequest))
        const vectors = await provider.embed(texts, context.signal)
        store.append(batch.map(([keyHash], i) => [keyHash, Float32Array.from(vectors[i]!)]))
        done += batch.length
        context.progress(done / todo.length, `${done} of ${todo.length} prompts embedded`)
      }
      return { embedded: done, total: stored.size + done }
    },
  }
}
