/**
 * Cache jobs: pre-warming the head of the traffic distribution with batched generation, and importing/exporting
 * curated entries as JSONL (request-log imports are in log-import.ts). A bad line never aborts an import: it is
 * skipped and reported with its line number.
 */
import { createWriteStream, statSync } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { z } from 'zod'
import { semanticText, type CacheableRequest, type CanonicalRequest } from '../../shared/cache-key'
import type { CacheEntry } from '../../shared/contract'
import type { JobContext, JobKind } from '../jobs/runner'
import { runBatch } from '../models/batch'
import type { GenerateRequest } from '../models/providers/types'
import type { ModelsService } from '../models/service'
import type { Workspace } from '../workspace/workspace'
import { generateRequestFrom } from './generate-request'
import { CacheRepository } from './repository'
import { cacheableFrom, type CacheService } from './service'

import { readRecords } from './log-import'
import { message } from '../../shared/messages'

export { IMPORT_LOG_JOB, importLogJob } from './log-import'
export const PREWARM_JOB = 'cache.prewarm'
export const IMPORT_ENTRIES_JOB = 'cache.import'
export const EXPORT_ENTRIES_JOB = 'cache.export'
export const REEMBED_JOB = 'cache.reembed'

const messageSchema = z.object({ role: z.string(), content: z.string() })
const entryLineSchema = z.object({
  request: z.object({
    model: z.string().min(1),
    messages: z.array(messageSchema).min(1).optional(),
    prompt: z.string().optional(),
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  answer: z.string().min(1),
  state: z.enum(['draft', 'approved', 'rejected']).optional(),
})

const MAX_REPORTED_PROBLEMS = 20

const fileName = (path: string): string => path.split(/[\\/]/).pop() ?? path

interface LineProblem {
  line: number
  message: string
}

/** The generation request for a logged canonical request. */
export function generateRequestFor(canonical: CanonicalRequest): GenerateRequest {
  return generateRequestFrom(canonical)
}

export interface PrewarmParams {
  namespaceId: number
  top: number
  target?: { model: number } | { provider: number } | undefined
  /** Exactly these requests (key hashes), when a plan chose them. */
  keys?: string[] | undefined
}

export function prewarmJob(workspace: Workspace, cache: CacheService, models: ModelsService): JobKind<PrewarmParams> {
  return {
    kind: PREWARM_JOB,
    params: z.object({
      namespaceId: z.int(),
      top: z.int().min(1),
      target: z.union([z.object({ model: z.int() }), z.object({ provider: z.int() })]).optional(),
      keys: z.array(z.string()).optional(),
    }),
    // Resuming simply continues: requests answered before the interruption are cached and no longer "uncached".
    resumable: true,
    title: (params) =>
      params.keys
        ? message('job.prewarmPlanned', {
            count: params.keys.length,
            namespace: cache.namespaceName(params.namespaceId),
          })
        : message('job.prewarmTop', { count: params.top, namespace: cache.namespaceName(params.namespaceId) }),
    async run(context: JobContext<PrewarmParams>) {
      const namespace = cache.namespace(context.params.namespaceId)
      const target = context.params.target ?? namespace.generationTarget
      if (!target) {
        throw new Error("No generation target: set the namespace's model or provider, or pick one for this pre-warm.")
      }
      if ('model' in target && !models.get(target.model).loaded) {
        context.log('info', 'Loading the model with 4 parallel sequences for batched generation.')
        await models.load({ id: target.model, sequences: 4 })
      }
      const { provider, concurrency } = models.providerFor(target)
      const { keys } = context.params
      // A plan names its requests (key hashes); otherwise the most frequent uncached ones.
      const candidates = workspace.db
        .prepare(
          `SELECT l.key_hash AS keyHash, max(l.canonical) AS canonical, count(*) AS count
           FROM request_log l LEFT JOIN cache_entries e ON e.namespace_id = l.namespace_id AND e.key_hash = l.key_hash
           WHERE l.namespace_id = ? AND e.id IS NULL AND l.canonical IS NOT NULL
             ${keys ? 'AND l.key_hash IN (SELECT value FROM json_each(?))' : ''}
           GROUP BY l.key_hash ORDER BY count DESC LIMIT ?`,
        )
        .all(...(keys ? [namespace.id, JSON.stringify(keys), keys.length] : [namespace.id, context.params.top])) as {
        keyHash: string
        canonical: string
        count: number
      }[]
      if (candidates.length === 0) {
        context.log('info', 'Nothing to pre-warm: every logged request already has an entry.')
        return { generated: 0, failed: 0, candidates: 0 }
      }
      context.log('info', `Generating ${candidates.length} answers with ${provider.id} (${concurrency} at a time).`)
      const canonicals = candidates.map((c) => JSON.parse(c.canonical) as CanonicalRequest)
      let generated = 0
      let failed = 0
      const modelName = 'model' in target ? models.get(target.model).name : provider.id
      const modelFileHash = 'model' in target ? models.get(target.model).sha256 : null
      const results = await runBatch(canonicals.map(generateRequestFor), [{ provider, concurrency }], {
        signal: context.signal,
        onItemDone: (item, done, total) => {
          context.progress(done / total, `${done} of ${total} answered`)
          if (!item.ok) {
            failed++
            context.log('warn', `"${candidates[item.index]!.keyHash.slice(0, 12)}" failed: ${item.error}`)
          }
        },
      })
      for (const result of results) {
        if (!result.ok) continue
        const canonical = canonicals[result.index]!
        const lookup = await cache.lookup(namespace, canonical as never, { skipLookup: true })
        // The key is recomputed from the logged canonical form; it must match what the log recorded.
        if (lookup.keyHash !== candidates[result.index]!.keyHash) continue
        await cache.store(namespace, lookup, {
          answer: result.result.text,
          model: modelName,
          modelFileHash,
          tokensIn: result.result.tokensIn,
          tokensOut: result.result.tokensOut,
          finishReason: result.result.finishReason === 'aborted' ? 'stop' : result.result.finishReason,
          toolCalls: result.result.toolCalls ?? null,
          createdBy: 'prewarm',
          state: 'draft',
        })
        generated++
      }
      return { generated, failed, candidates: candidates.length }
    },
  }
}

export function importEntriesJob(cache: CacheService): JobKind<{ namespaceId: number; path: string }> {
  return {
    kind: IMPORT_ENTRIES_JOB,
    params: z.object({ namespaceId: z.int(), path: z.string() }),
    resumable: true,
    title: (params) => message('job.importEntries', { file: fileName(params.path) }),
    async run(context) {
      const namespace = cache.namespace(context.params.namespaceId)
      const total = statSync(context.params.path).size
      const problems: LineProblem[] = []
      let imported = 0
      for await (const record of readRecords(context.params.path, 'jsonl', (bytes) =>
        context.progress(bytes / Math.max(1, total), `${imported} entries`),
      )) {
        context.throwIfAborted()
        const line = record.line
        if ('problem' in record) {
          problems.push({ line, message: record.problem })
          continue
        }
        const parsed = entryLineSchema.safeParse(record.value)
        if (!parsed.success) {
          problems.push({
            line,
            message: `${parsed.error.issues[0]!.path.join('.') || 'line'}: ${parsed.error.issues[0]!.message}`,
          })
          continue
        }
        const lookup = await cache.lookup(namespace, cacheableFrom(parsed.data.request), { skipLookup: true })
        await cache.store(namespace, lookup, {
          answer: parsed.data.answer,
          model: parsed.data.request.model,
          createdBy: 'imported',
          state: parsed.data.state ?? 'draft',
        })
        imported++
      }
      const reported = problems.slice(0, MAX_REPORTED_PROBLEMS)
      for (const problem of reported) context.log('warn', `line ${problem.line}: ${problem.message}`)
      return { imported, skipped: problems.length, problems: reported }
    },
  }
}

export function exportEntriesJob(
  workspace: Workspace,
  cache: CacheService,
): JobKind<{ namespaceId: number; path: string; state?: CacheEntry['state'][] | undefined }> {
  return {
    kind: EXPORT_ENTRIES_JOB,
    params: z.object({
      namespaceId: z.int(),
      path: z.string(),
      state: z.array(z.enum(['draft', 'approved', 'rejected'])).optional(),
    }),
    resumable: true,
    title: (params) => message('job.exportEntries', { file: fileName(params.path) }),
    async run(context) {
      const namespace = cache.namespace(context.params.namespaceId)
      const repo = new CacheRepository(workspace.db)
      const partial = `${context.params.path}.partial`
      const out = createWriteStream(partial)
      let written = 0
      try {
        const filter = { namespaceId: namespace.id, ...(context.params.state ? { state: context.params.state } : {}) }
        const { total } = repo.listEntries(filter, 'created', 1, 0)
        for (let offset = 0; offset < total; offset += 500) {
          context.throwIfAborted()
          for (const entry of repo.listEntries(filter, 'created', 500, offset).items) {
            const canonical = entry.canonical as CanonicalRequest
            const line = {
              keyHash: entry.keyHash,
              request: {
                model: canonical.model,
                ...(canonical.kind === 'chat'
                  ? { messages: canonical.messages }
                  : { prompt: canonical.messages[0]?.content ?? '' }),
                params: canonical.params,
              },
              answer: entry.answer,
              state: entry.state,
              pinned: entry.pinned,
              provenance: {
                model: entry.model,
                modelFileHash: entry.modelFileHash,
                promptVersion: entry.promptVersion,
                embedderVersion: entry.embedderVersion,
                createdBy: entry.createdBy,
                createdAt: entry.createdAt,
                updatedAt: entry.updatedAt,
              },
              hits: entry.hitCount,
            }
            if (!out.write(`${JSON.stringify(line)}\n`))
              await new Promise<void>((resolve) => out.once('drain', () => resolve()))
            written++
          }
          context.progress(Math.min(1, (offset + 500) / Math.max(1, total)), `${written} of ${total} entries`)
        }
        await new Promise<void>((resolve, reject) =>
          out.end((error?: Error | null) => (error ? reject(error) : resolve())),
        )
        await rename(partial, context.params.path)
        return { path: context.params.path, entries: written }
      } catch (error) {
        out.destroy()
        await rm(partial, { force: true })
        throw error
      }
    },
  }
}

/** Rebuilds a namespace's vectors with its current embedder (after the embedding model changed). */
export function reembedJob(workspace: Workspace, cache: CacheService): JobKind<{ namespaceId: number }> {
  return {
    kind: REEMBED_JOB,
    params: z.object({ namespaceId: z.int() }),
    // Restarting simply embeds everything again.
    resumable: true,
    title: (params) => message('job.reembed', { namespace: cache.namespaceName(params.namespaceId) }),
    async run(context) {
      const namespace = cache.namespace(context.params.namespaceId)
      if (!namespace.semanticEnabled || !namespace.embedder)
        throw new Error(`Namespace ${namespace.name} has no semantic matching to re-embed for.`)
      const provider = await cache.embedder(namespace)
      const repo = new CacheRepository(workspace.db)
      const ids = repo.idsMatching({ namespaceId: namespace.id })
      const vectors: [number, Float32Array][] = []
      const batch = 32
      for (let start = 0; start < ids.length; start += batch) {
        context.throwIfAborted()
        const entries = ids.slice(start, start + batch).map((id) => repo.entry(id)!)
        const texts = entries.map((entry) => semanticText(entry.canonical as CacheableRequest))
        const embedded = await provider.embed(texts, context.signal)
        embedded.forEach((vector, i) => vectors.push([entries[i]!.id, Float32Array.from(vector)]))
        context.progress(
          Math.min(1, (start + batch) / Math.max(1, ids.length)),
          `${Math.min(ids.length, start + batch)} of ${ids.length} entries`,
        )
      }
      const dims = new Set(vectors.map(([, vector]) => vector.length))
      if (dims.size > 1)
        throw new Error(
          `The embedder returned vectors of different sizes (${[...dims].join(', ')}); nothing was changed.`,
        )
      // Swap all vectors at once so lookups never see a half-rebuilt namespace.
      repo.transaction(() => {
        repo.deleteVectors(namespace.id)
        for (const [id, vector] of vectors) repo.saveVector(id, vector)
        workspace.db
          .prepare('UPDATE cache_entries SET embedder_version = ? WHERE namespace_id = ?')
          .run(namespace.embedderVersion, namespace.id)
      })
      return { entries: vectors.length, dimensions: [...dims][0] ?? null }
    },
  }
}
