/**
 * Where dataset prompts come from. Each source yields candidates (a prompt as chat messages, and an answer when the
 * source has one): the request log of a namespace (the top N distinct requests, or all, in a time range, optionally
 * only those sent with `store: true`), a namespace's approved cache entries, a template family's generation prompts
 * (one per segment), the inputs and outputs of one node across a pipeline's stored runs, or an imported file.
 */
import { readFileSync, statSync } from 'node:fs'
import type { DatasetSource } from '../../../shared/contract'
import type { CanonicalRequest } from '../../../shared/cache-key'
import { listSegments } from '../../../shared/template-render/personalise'
import { ApiError } from '../../../shared/errors'
import type { Db } from '../../db/database'
import type { CacheService } from '../../cache/service'
import { TemplatesRepository } from '../../templates/repository'
import { segmentInstructions } from '../../templates/generation'
import { MAX_DATASET_BYTES, type ChatMessage } from '../data'
import { parseDatasetFile, splitConversation, type Candidate } from './formats'

export interface Collected {
  label: string
  candidates: Candidate[]
  problems: { line: number; message: string }[]
}

type Parsed<K extends DatasetSource['kind']> = Extract<DatasetSource, { kind: K }> & Record<string, unknown>

const ROLES = new Set(['system', 'user', 'assistant'])

/** A logged canonical request as chat messages (tool turns and tool calls are not training text here). */
function messagesOfCanonical(canonical: CanonicalRequest): ChatMessage[] {
  return canonical.messages
    .filter((message) => ROLES.has(message.role) && typeof message.content === 'string')
    .map((message) => ({ role: message.role as ChatMessage['role'], content: message.content }))
}

export interface SourceContext {
  db: Db
  cache: CacheService
  tenant: string
}

function checkNamespace(context: SourceContext, namespaceId: number): string {
  const namespace = context.cache.namespace(namespaceId)
  // Another tenant's namespace reads as one that does not exist.
  if (namespace.tenant !== context.tenant) {
    throw new ApiError({
      code: 'not_found',
      message: `Cache namespace ${namespaceId} does not exist.`,
      path: ['source', 'namespaceId'],
    })
  }
  return namespace.name
}

function fromRequestLog(context: SourceContext, source: Parsed<'request-log'>): Collected {
  const name = checkNamespace(context, source.namespaceId)
  const where = ['namespace_id = ?', 'canonical IS NOT NULL']
  const params: unknown[] = [source.namespaceId]
  if (source.from) {
    where.push('at >= ?')
    params.push(source.from)
  }
  if (source.to) {
    where.push('at < ?')
    params.push(source.to)
  }
  if (source.storedOnly) where.push('stored = 1')
  for (const [key, value] of Object.entries(source.metadata ?? {})) {
    where.push(`json_extract(metadata, '$.' || json_quote(?)) = ?`)
    params.push(key, value)
  }
  const rows = context.db
    .prepare(
      `SELECT key_hash, max(canonical) AS canonical, count(*) AS n, min(id) AS first FROM request_log
       WHERE ${where.join(' AND ')} GROUP BY key_hash ORDER BY n DESC, first ${source.mode === 'top' ? 'LIMIT ?' : ''}`,
    )
    .all(...params, ...(source.mode === 'top' ? [source.top] : [])) as { key_hash: string; canonical: string }[]
  const candidates = rows.flatMap((row) => {
    const { prompt, answer } = splitConversation(messagesOfCanonical(JSON.parse(row.canonical) as CanonicalRequest))
    return prompt.length > 0 ? [{ prompt, answer, sourceRef: `request ${row.key_hash.slice(0, 12)}` }] : []
  })
  const scope = source.mode === 'top' ? `top ${source.top}` : 'all'
  return {
    label: `request log of ${name} (${scope}${source.storedOnly ? ', stored only' : ''})`,
    candidates,
    problems: [],
  }
}

function fromCache(context: SourceContext, source: Parsed<'cache'>): Collected {
  const name = checkNamespace(context, source.namespaceId)
  const rows = context.db
    .prepare(
      `SELECT id, canonical, answer FROM cache_entries WHERE namespace_id = ? AND state = 'approved' ORDER BY hit_count DESC, id`,
    )
    .all(source.namespaceId) as { id: number; canonical: string; answer: string }[]
  const candidates = rows.map((row) => ({
    prompt: messagesOfCanonical(JSON.parse(row.canonical) as CanonicalRequest),
    answer: row.answer,
    sourceRef: `cache entry ${row.id}`,
  }))
  return { label: `approved cache entries of ${name}`, candidates, problems: [] }
}

function fromTemplates(context: SourceContext, source: Parsed<'templates'>): Collected {
  const family = new TemplatesRepository(context.db).getFamily(source.familyId)
  if (!family) {
    throw new ApiError({
      code: 'not_found',
      message: `Template family ${source.familyId} does not exist.`,
      path: ['source', 'familyId'],
    })
  }
  const definition = family.definition
  const candidates = listSegments(definition.segments).map((segment) => ({
    prompt: [
      { role: 'system' as const, content: definition.prompt },
      { role: 'user' as const, content: segmentInstructions(definition, segment, 1) },
    ],
    answer: null,
    sourceRef: `segment ${segment.key || '(all)'}`,
  }))
  return { label: `generation prompts of template family ${definition.name}`, candidates, problems: [] }
}

function asText(value: unknown): string | null {
  if (value === undefined || value === null) return null
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function fromPipelineNode(context: SourceContext, source: Parsed<'pipeline-node'>): Collected {
  const pipeline = context.db.prepare('SELECT name, tenant FROM pipelines WHERE id = ?').get(source.pipelineId) as
    { name: string; tenant: string } | undefined
  if (!pipeline || pipeline.tenant !== context.tenant) {
    throw new ApiError({
      code: 'not_found',
      message: `Pipeline ${source.pipelineId} does not exist.`,
      path: ['source', 'pipelineId'],
    })
  }
  const rows = context.db
    .prepare(
      `SELECT id, json_extract(trace, '$.nodes.' || json_quote(?)) AS node FROM pipeline_runs
       WHERE pipeline_id = ? AND status = 'succeeded' ORDER BY id DESC LIMIT ?`,
    )
    .all(source.nodeId, source.pipelineId, source.limit) as { id: number; node: string | null }[]
  const candidates: Candidate[] = []
  for (const row of rows) {
    if (!row.node) continue
    const node = JSON.parse(row.node) as {
      status: string
      inputs: Record<string, unknown>
      outputs: Record<string, unknown>
    }
    if (node.status !== 'succeeded') continue
    const input = asText(node.inputs.in ?? Object.values(node.inputs)[0])
    const output = asText(node.outputs.out ?? Object.values(node.outputs).find((value) => value !== undefined))
    if (!input) continue
    candidates.push({ prompt: [{ role: 'user', content: input }], answer: output, sourceRef: `run ${row.id}` })
  }
  return { label: `node ${source.nodeId} of pipeline ${pipeline.name}`, candidates, problems: [] }
}

function fromFile(source: Parsed<'file'>): Collected {
  let size: number
  try {
    const stats = statSync(source.path)
    if (!stats.isFile()) throw new Error('not a file')
    size = stats.size
  } catch {
    throw new ApiError({ code: 'not_found', message: `No dataset file at ${source.path}.`, path: ['source', 'path'] })
  }
  if (size > MAX_DATASET_BYTES) {
    throw new ApiError({
      code: 'invalid_input',
      message: `${source.path} is larger than ${MAX_DATASET_BYTES / 1024 / 1024} MB.`,
      path: ['source', 'path'],
    })
  }
  const parsed = parseDatasetFile(source.path, readFileSync(source.path, 'utf8'), source.format ?? 'auto')
  if (parsed.candidates.length === 0) {
    const first = parsed.problems.slice(0, 3).map((problem) => problem.message)
    throw new ApiError({
      code: 'invalid_input',
      message: `${source.path} has no usable example. ${first.join(' ')}`.trim(),
      path: ['source', 'path'],
    })
  }
  return { label: `file ${source.path} (${parsed.format})`, candidates: parsed.candidates, problems: parsed.problems }
}

export function collect(context: SourceContext, source: DatasetSource): Collected {
  switch (source.kind) {
    case 'request-log':
      return fromRequestLog(context, source as Parsed<'request-log'>)
    case 'cache':
      return fromCache(context, source as Parsed<'cache'>)
    case 'templates':
      return fromTemplates(context, source as Parsed<'templates'>)
    case 'pipeline-node':
      return fromPipelineNode(context, source as Parsed<'pipeline-node'>)
    case 'file':
      return fromFile(source as Parsed<'file'>)
  }
}
