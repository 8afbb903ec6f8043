/**
 * Pipelines: saved graphs with a version per save (diff, restore, export/import in the documented format), runs as
 * jobs with a stored trace, a token ledger per node and model, and the engine's services wired to the rest of
 * Larder (models and providers, the cache, template families).
 */
import { z } from 'zod'
import type { CacheNamespace, MethodOutput, PipelineRun } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import {
  PIPELINE_FORMAT,
  PIPELINE_FORMAT_VERSION,
  pipelineDefinitionSchema,
  validatePipeline,
  type PipelineDefinition,
  type ValidationProblem,
} from '../../shared/pipeline-definition'
import type { CacheService } from '../cache/service'
import type { Db } from '../db/database'
import type { EventBus } from '../events'
import type { JobKind } from '../jobs/runner'
import type { ModelsService } from '../models/service'
import type { Workspace } from '../workspace/workspace'
import { runPipeline, type EngineServices, type RunResult, type Target } from './engine'
import { STARTERS } from './starters'
import { message } from '../../shared/messages'

export const RUN_JOB = 'pipelines.run'

/** Optional: template families render through this when the templates area is present. */
export type TemplateFiller = (
  family: string,
  segment: Record<string, string>,
  data: Record<string, unknown>,
) => Promise<string>

type Summary = MethodOutput<'pipelines.list'>['items'][number]

interface PipelineRow {
  id: number
  name: string
  tenant: string
  description: string
  current_version: number
  updated_at: string
}

function flatten(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>()
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      for (const [path, leaf] of flatten(inner, prefix ? `${prefix}.${key}` : key)) out.set(path, leaf)
    }
  } else {
    out.set(prefix, value)
  }
  return out
}

function changes(before: unknown, after: unknown): { path: string; before: unknown; after: unknown }[] {
  const a = flatten(before)
  const b = flatten(after)
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort()
  return paths
    .filter((path) => JSON.stringify(a.get(path)) !== JSON.stringify(b.get(path)))
    .map((path) => ({ path, before: a.get(path) ?? null, after: b.get(path) ?? null }))
}

const edgeKey = (edge: PipelineDefinition['edges'][number]): string =>
  `${edge.source}.${edge.sourcePort} -> ${edge.target}.${edge.targetPort}`

export function diffDefinitions(from: PipelineDefinition, to: PipelineDefinition): MethodOutput<'pipelines.diff'> {
  const before = new Map(from.nodes.map((node) => [node.id, node]))
  const after = new Map(to.nodes.map((node) => [node.id, node]))
  const fromEdges = new Set(from.edges.map(edgeKey))
  const toEdges = new Set(to.edges.map(edgeKey))
  return {
    nodes: {
      added: [...after.keys()].filter((id) => !before.has(id)),
      removed: [...before.keys()].filter((id) => !after.has(id)),
      changed: [...after.keys()]
        .filter((id) => before.has(id))
        .map((id) => ({
          id,
          changes: changes(
            { type: before.get(id)!.type, label: before.get(id)!.label, config: before.get(id)!.config },
            { type: after.get(id)!.type, label: after.get(id)!.label, config: after.get(id)!.config },
          ),
        }))
        .filter((node) => node.changes.length > 0),
    },
    edges: {
      added: [...toEdges].filter((e) => !fromEdges.has(e)),
      removed: [...fromEdges].filter((e) => !toEdges.has(e)),
    },
    settings: changes(
      { name: from.name, description: from.description, maxTokensPerRun: from.maxTokensPerRun },
      { name: to.name, description: to.description, maxTokensPerRun: to.maxTokensPerRun },
    ),
  }
}

/** Parses an imported or saved graph, with errors that name the field. */
export function parseDefinition(raw: unknown): PipelineDefinition {
  const value = typeof raw === 'string' ? safeJson(raw) : raw
  const header = z.object({ format: z.string(), version: z.number() }).safeParse(value)
  if (!header.success || header.data.format !== PIPELINE_FORMAT) {
    throw new ApiError({
      code: 'invalid_input',
      message: `This is not a Larder pipeline (expected "format": "${PIPELINE_FORMAT}").`,
      path: ['definition', 'format'],
    })
  }
  if (header.data.version !== PIPELINE_FORMAT_VERSION) {
    throw new ApiError({
      code: 'invalid_input',
      message: `This pipeline uses format version ${header.data.version}; this Larder reads version ${PIPELINE_FORMAT_VERSION}.`,
      path: ['definition', 'version'],
    })
  }
  const parsed = pipelineDefinitionSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part))
    throw new ApiError({
      code: 'invalid_input',
      message: `Invalid pipeline at "${path.join('.')}": ${issue.message}`,
      path: ['definition', ...path],
    })
  }
  return parsed.data
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new ApiError({
      code: 'invalid_input',
      message: `The pipeline file is not valid JSON: ${(error as Error).message}`,
      path: ['definition'],
    })
  }
}

export class PipelinesService {
  templateFiller: TemplateFiller | undefined

  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly models: ModelsService,
    private readonly cache: CacheService,
  ) {}

  private get db(): Db {
    return this.workspace.db
  }

  private summary(row: PipelineRow): Summary {
    const definition = this.definition(row.id, row.current_version)
    const lastRun = this.db
      .prepare(
        'SELECT id, status, started_at AS startedAt FROM pipeline_runs WHERE pipeline_id = ? ORDER BY id DESC LIMIT 1',
      )
      .get(row.id) as { id: number; status: string; startedAt: string } | undefined
    return {
      id: row.id,
      name: row.name,
      tenant: row.tenant,
      description: row.description,
      currentVersion: row.current_version,
      nodeCount: definition.nodes.length,
      updatedAt: row.updated_at,
      lastRun: lastRun ?? null,
    }
  }

  private row(id: number): PipelineRow {
    const row = this.db.prepare('SELECT * FROM pipelines WHERE id = ?').get(id) as PipelineRow | undefined
    if (!row) throw new ApiError({ code: 'not_found', message: `Pipeline ${id} does not exist.`, path: ['id'] })
    return row
  }

  /** A pipeline by name; with `tenant`, only if that tenant owns it (another tenant's pipeline does not exist for it). */
  byName(name: string, tenant?: string): { id: number; tenant: string } | undefined {
    const row = this.db.prepare('SELECT id, tenant FROM pipelines WHERE name = ?').get(name) as
      { id: number; tenant: string } | undefined
    return row && (tenant === undefined || row.tenant === tenant) ? row : undefined
  }

  /** The tenant that owns a pipeline. */
  tenantOf(id: number): string {
    return this.row(id).tenant
  }

  definition(id: number, version?: number): PipelineDefinition {
    const row = this.row(id)
    const stored = this.db
      .prepare('SELECT definition FROM pipeline_versions WHERE pipeline_id = ? AND version = ?')
      .pluck()
      .get(id, version ?? row.current_version) as string | undefined
    if (!stored)
      throw new ApiError({
        code: 'not_found',
        message: `Pipeline ${row.name} has no version ${version}.`,
        path: ['version'],
      })
    return pipelineDefinitionSchema.parse(JSON.parse(stored))
  }

  /**
   * Model and provider targets by name: each named target gets the id its name has in this workspace (the id in the
   * file is only a cache), and each target without a name (older files) gets the name of its id. A name this
   * workspace does not know is a problem, never a fall-back to the file's id (which may be another model here).
   */
  resolveTargets(definition: PipelineDefinition): { definition: PipelineDefinition; problems: ValidationProblem[] } {
    const problems: ValidationProblem[] = []
    const nodes = definition.nodes.map((node) => {
      const target = node.config.target as Target | null | undefined
      if (!target) return node
      const kind = 'model' in target ? 'model' : 'provider'
      const table = kind === 'model' ? 'models' : 'providers'
      const currentId = 'model' in target ? target.model : target.provider
      if (target.name) {
        const found = this.db.prepare(`SELECT id FROM ${table} WHERE name = ?`).pluck().get(target.name) as
          number | undefined
        if (found === undefined) {
          problems.push({
            nodeId: node.id,
            message: `${node.id}: there is no ${kind} named "${target.name}" in this workspace; ${kind === 'model' ? 'register it' : 'add it'} or choose another.`,
          })
          return node
        }
        if (found === currentId) return node
        return { ...node, config: { ...node.config, target: { [kind]: found, name: target.name } } }
      }
      const name = this.db.prepare(`SELECT name FROM ${table} WHERE id = ?`).pluck().get(currentId) as
        string | undefined
      return name === undefined ? node : { ...node, config: { ...node.config, target: { ...target, name } } }
    })
    return { definition: { ...definition, nodes }, problems }
  }

  /** A version as a file for another workspace: models and providers named. */
  exportDefinition(id: number, version?: number): PipelineDefinition {
    return this.resolveTargets(this.definition(id, version)).definition
  }

  /**
   * Structural problems, references to models or providers that do not exist, and cache nodes whose namespace is
   * missing or belongs to a tenant other than `tenant` (the pipeline's owner): such a pipeline cannot run.
   */
  problems(definition: PipelineDefinition, tenant: string): ValidationProblem[] {
    const problems = [...validatePipeline(definition), ...this.resolveTargets(definition).problems]
    for (const node of definition.nodes) {
      if (node.type === 'cache-lookup' || node.type === 'cache-store') {
        const namespaceId = node.config.namespaceId
        if (typeof namespaceId !== 'number') continue
        const owner = this.db.prepare('SELECT tenant FROM cache_namespaces WHERE id = ?').pluck().get(namespaceId) as
          string | undefined
        if (owner === undefined)
          problems.push({ nodeId: node.id, message: `${node.id}: cache namespace ${namespaceId} does not exist.` })
        else if (owner !== tenant)
          problems.push({
            nodeId: node.id,
            message: `${node.id}: cache namespace ${namespaceId} belongs to another tenant; a pipeline of tenant "${tenant}" may only use that tenant's namespaces.`,
          })
      }
      const target = node.config.target as Target | null | undefined
      // A named target is checked by name (resolveTargets); an unnamed one by id.
      if (!target || target.name) continue
      const exists =
        'model' in target
          ? this.db.prepare('SELECT 1 FROM models WHERE id = ?').get(target.model)
          : this.db.prepare('SELECT 1 FROM providers WHERE id = ?').get(target.provider)
      if (!exists)
        problems.push({
          nodeId: node.id,
          message: `${node.id}: its ${'model' in target ? 'model' : 'provider'} no longer exists; choose another.`,
        })
    }
    return problems
  }

  list(tenant?: string): Summary[] {
    const rows =
      tenant === undefined
        ? this.db.prepare('SELECT * FROM pipelines ORDER BY name').all()
        : this.db.prepare('SELECT * FROM pipelines WHERE tenant = ? ORDER BY name').all(tenant)
    return (rows as PipelineRow[]).map((row) => this.summary(row))
  }

  get(id: number, version?: number): MethodOutput<'pipelines.get'> {
    const row = this.row(id)
    const definition = this.definition(id, version)
    return {
      pipeline: this.summary(row),
      version: version ?? row.current_version,
      definition,
      problems: this.problems(definition, row.tenant),
    }
  }

  save(
    rawDefinition: unknown,
    options: { id?: number | undefined; note?: string | undefined; tenant?: string | undefined },
  ): MethodOutput<'pipelines.save'> {
    // Stored with every target named and its id refreshed from the name.
    const definition = this.resolveTargets(parseDefinition(rawDefinition)).definition
    const now = new Date().toISOString()
    const clash = this.byName(definition.name)
    if (clash && clash.id !== options.id) {
      throw new ApiError({
        code: 'conflict',
        message: `A pipeline named "${definition.name}" exists.`,
        path: ['definition', 'name'],
      })
    }
    const id = this.db.transaction(() => {
      let pipelineId = options.id
      let version = 1
      if (pipelineId === undefined) {
        pipelineId = Number(
          this.db
            .prepare(
              'INSERT INTO pipelines (name, tenant, description, current_version, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)',
            )
            .run(definition.name, options.tenant ?? 'default', definition.description, now, now).lastInsertRowid,
        )
      } else {
        const existing = this.row(pipelineId)
        version = existing.current_version + 1
        this.db
          .prepare(
            'UPDATE pipelines SET name = ?, tenant = ?, description = ?, current_version = ?, updated_at = ? WHERE id = ?',
          )
          .run(definition.name, options.tenant ?? existing.tenant, definition.description, version, now, pipelineId)
      }
      this.db
        .prepare(
          'INSERT INTO pipeline_versions (pipeline_id, version, definition, note, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(pipelineId, version, JSON.stringify(definition), options.note ?? null, now)
      return pipelineId
    })()
    const row = this.row(id)
    return {
      pipeline: this.summary(row),
      version: row.current_version,
      problems: this.problems(definition, row.tenant),
    }
  }

  remove(id: number): boolean {
    this.row(id)
    return this.db.prepare('DELETE FROM pipelines WHERE id = ?').run(id).changes > 0
  }

  versions(id: number): MethodOutput<'pipelines.versions'>['items'] {
    this.row(id)
    return (
      this.db
        .prepare(
          'SELECT version, note, created_at AS createdAt, definition FROM pipeline_versions WHERE pipeline_id = ? ORDER BY version DESC',
        )
        .all(id) as { version: number; note: string | null; createdAt: string; definition: string }[]
    ).map(({ definition, ...rest }) => ({
      ...rest,
      nodeCount: (JSON.parse(definition) as PipelineDefinition).nodes.length,
    }))
  }

  diff(id: number, from: number, to: number): MethodOutput<'pipelines.diff'> {
    return diffDefinitions(this.definition(id, from), this.definition(id, to))
  }

  restore(id: number, version: number): MethodOutput<'pipelines.restore'> {
    const definition = this.definition(id, version)
    const saved = this.save(definition, { id, note: `restored version ${version}` })
    return { pipeline: saved.pipeline, version: saved.version }
  }

  /** A namespace a run of `tenant` may use: checked on every cache call, not only when the run starts. */
  private namespaceOf(namespaceId: number, tenant: string): CacheNamespace {
    const namespace = this.cache.namespace(namespaceId)
    if (namespace.tenant !== tenant)
      throw new Error(`Cache namespace ${namespaceId} belongs to another tenant; this run is for tenant "${tenant}".`)
    return namespace
  }

  /**
   * What the engine calls back into for a run of `tenant`: models (loaded on first use), that tenant's cache
   * namespaces only, template families.
   */
  engineServices(tenant: string): EngineServices {
    return {
      provider: async (target) => {
        if (!target) throw new Error('No model chosen for this node.')
        if ('model' in target && !this.models.get(target.model).loaded)
          await this.models.load({ id: target.model, sequences: 2 })
        const { provider } = this.models.providerFor(target)
        return { provider, label: 'model' in target ? this.models.get(target.model).name : provider.id }
      },
      cacheLookup: async (namespaceId, model, text) => {
        const namespace = this.namespaceOf(namespaceId, tenant)
        const result = await this.cache.lookup(namespace, {
          model,
          kind: 'chat',
          messages: [{ role: 'user', content: text }],
          params: {},
        })
        if (result.entry && result.hitKind !== 'miss' && result.hitKind !== 'bypass') {
          this.cache.recordHit(result.entry)
          return result.entry.answer
        }
        return null
      },
      cacheStore: async (namespaceId, model, text, answer) => {
        const namespace = this.namespaceOf(namespaceId, tenant)
        const lookup = await this.cache.lookup(
          namespace,
          { model, kind: 'chat', messages: [{ role: 'user', content: text }], params: {} },
          { skipLookup: true },
        )
        await this.cache.store(namespace, lookup, { answer, model })
      },
      templateFill: async (family, segment, data) => {
        if (!this.templateFiller) throw new Error('Template families are not available in this build.')
        return this.templateFiller(family, segment, data)
      },
    }
  }

  /**
   * Runs a saved pipeline, records the run, its trace and its token ledger. `tenant` is the caller's (a gateway key's):
   * a pipeline another tenant owns does not exist for it. Without it (console, CLI) the run is the owner's.
   */
  async execute(
    id: number,
    input: string,
    options: { source: string; jobId?: number; signal?: AbortSignal; tenant?: string },
  ): Promise<PipelineRun> {
    const row = this.row(id)
    if (options.tenant !== undefined && options.tenant !== row.tenant)
      throw new ApiError({ code: 'not_found', message: `There is no pipeline named "${row.name}".` })
    const tenant = row.tenant
    const definition = this.resolveTargets(this.definition(id)).definition
    const problems = this.problems(definition, tenant)
    if (problems.length > 0) {
      throw new ApiError({
        code: 'invalid_input',
        message: `Pipeline ${row.name} cannot run: ${problems.map((p) => p.message).join(' ')}`,
      })
    }
    const startedAt = new Date().toISOString()
    const runId = Number(
      this.db
        .prepare(
          `INSERT INTO pipeline_runs (pipeline_id, version, job_id, source, status, input, trace, started_at)
           VALUES (?, ?, ?, ?, 'running', ?, '{"nodes":{},"path":[]}', ?)`,
        )
        .run(id, row.current_version, options.jobId ?? null, options.source, JSON.stringify(input), startedAt)
        .lastInsertRowid,
    )
    let result: RunResult
    try {
      result = await runPipeline(definition, input, this.engineServices(tenant), {
        ...(options.signal ? { signal: options.signal } : {}),
        onNode: (node) =>
          this.events.emit('pipelines.trace', {
            runId,
            pipelineId: id,
            jobId: options.jobId ?? null,
            node: structuredClone(node),
          }),
      })
    } catch (error) {
      this.db
        .prepare(`UPDATE pipeline_runs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?`)
        .run((error as Error).message, new Date().toISOString(), runId)
      throw error
    }
    const finishedAt = new Date().toISOString()
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE pipeline_runs SET status = ?, output = ?, error = ?, trace = ?, tokens_in = ?, tokens_out = ?, finished_at = ? WHERE id = ?`,
        )
        .run(
          result.status,
          result.output,
          result.error,
          JSON.stringify(result.trace),
          result.tokensIn,
          result.tokensOut,
          finishedAt,
          runId,
        )
      const usage = this.db.prepare('INSERT INTO pipeline_usage VALUES (?, ?, ?, ?, ?, ?, ?)')
      for (const node of Object.values(result.trace.nodes)) {
        for (const call of node.calls)
          usage.run(runId, node.nodeId, call.model, call.tokensIn, call.tokensOut, call.latencyMs, finishedAt)
      }
    })()
    return this.run(runId)
  }

  run(runId: number): PipelineRun {
    const row = this.db.prepare('SELECT * FROM pipeline_runs WHERE id = ?').get(runId) as
      | {
          id: number
          pipeline_id: number
          version: number
          job_id: number | null
          source: string
          status: PipelineRun['status']
          input: string
          output: string | null
          error: string | null
          trace: string
          tokens_in: number
          tokens_out: number
          started_at: string
          finished_at: string | null
        }
      | undefined
    if (!row) throw new ApiError({ code: 'not_found', message: `Run ${runId} does not exist.`, path: ['runId'] })
    return {
      id: row.id,
      pipelineId: row.pipeline_id,
      version: row.version,
      jobId: row.job_id,
      source: row.source,
      status: row.status,
      input: JSON.parse(row.input) as string,
      output: row.output,
      error: row.error,
      trace: JSON.parse(row.trace) as PipelineRun['trace'],
      tokensIn: row.tokens_in,
      tokensOut: row.tokens_out,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
    }
  }

  /** The run a job made (also when the run failed). */
  runIdForJob(jobId: number): number | undefined {
    return this.db
      .prepare('SELECT id FROM pipeline_runs WHERE job_id = ? ORDER BY id DESC LIMIT 1')
      .pluck()
      .get(jobId) as number | undefined
  }

  runs(id: number | undefined, limit: number, offset: number): MethodOutput<'pipelines.runs'> {
    const where = id !== undefined ? 'WHERE pipeline_id = ?' : ''
    const args = id !== undefined ? [id] : []
    const total = this.db
      .prepare(`SELECT count(*) FROM pipeline_runs ${where}`)
      .pluck()
      .get(...args) as number
    const ids = this.db
      .prepare(`SELECT id FROM pipeline_runs ${where} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .pluck()
      .all(...args, limit, offset) as number[]
    return {
      items: ids.map((runId) => {
        const { trace: _trace, ...rest } = this.run(runId)
        return rest
      }),
      total,
    }
  }

  ledger(id: number | undefined): MethodOutput<'pipelines.ledger'> {
    const where = id !== undefined ? 'WHERE r.pipeline_id = ?' : ''
    const args = id !== undefined ? [id] : []
    const byNode = this.db
      .prepare(
        `SELECT p.name AS pipeline, u.node_id AS nodeId, count(*) AS calls, sum(u.tokens_in) AS tokensIn, sum(u.tokens_out) AS tokensOut,
           sum(u.latency_ms) AS latencyMs
         FROM pipeline_usage u JOIN pipeline_runs r ON r.id = u.run_id JOIN pipelines p ON p.id = r.pipeline_id ${where}
         GROUP BY p.name, u.node_id ORDER BY tokensOut DESC`,
      )
      .all(...args) as MethodOutput<'pipelines.ledger'>['byNode']
    const byModel = this.db
      .prepare(
        `SELECT u.model, count(*) AS calls, sum(u.tokens_in) AS tokensIn, sum(u.tokens_out) AS tokensOut, sum(u.latency_ms) AS latencyMs
         FROM pipeline_usage u JOIN pipeline_runs r ON r.id = u.run_id ${where} GROUP BY u.model ORDER BY tokensOut DESC`,
      )
      .all(...args) as MethodOutput<'pipelines.ledger'>['byModel']
    return { byNode, byModel }
  }

  starters(): MethodOutput<'pipelines.starters'>['items'] {
    return STARTERS
  }

  runJob(): JobKind<{ id: number; input: string; source: 'console' | 'cli' }> {
    return {
      kind: RUN_JOB,
      params: z.object({ id: z.int(), input: z.string(), source: z.enum(['console', 'cli']).default('console') }),
      resumable: false,
      title: (params) => message('job.runPipeline', { pipeline: this.byIdName(params.id) }),
      run: async (context) => {
        const definition = this.definition(context.params.id)
        let done = 0
        const unsubscribe = this.events.subscribe((name, payload) => {
          if (name !== 'pipelines.trace') return
          const event = payload as { jobId: number | null; node: { status: string; nodeId: string } }
          if (event.jobId !== context.jobId) return
          const node = event.node
          if (node.status === 'succeeded' || node.status === 'skipped') {
            done++
            context.progress(done / definition.nodes.length, `${node.nodeId} ${node.status}`)
          }
        })
        try {
          const run = await this.execute(context.params.id, context.params.input, {
            // Who asked for the run: the console, or `larder pipelines run`.
            source: context.params.source,
            jobId: context.jobId,
            signal: context.signal,
          })
          context.log('info', `Run ${run.id}: ${run.status}, ${run.tokensIn} tokens in, ${run.tokensOut} out.`)
          if (run.status === 'failed') throw new Error(run.error ?? 'The run failed.')
          return { runId: run.id, output: run.output, tokensIn: run.tokensIn, tokensOut: run.tokensOut }
        } finally {
          unsubscribe()
        }
      },
    }
  }

  private byIdName(id: number): string {
    const row = this.db.prepare('SELECT name FROM pipelines WHERE id = ?').get(id) as { name: string } | undefined
    return row?.name ?? String(id)
  }
}
