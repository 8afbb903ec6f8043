/** The Pipelines area of the contract: graphs, versions, runs with traces, the token ledger. */
import { z } from 'zod'
import { id, resourceName, timestamp } from './common'
import { jobSchema } from './core'

/** A graph in the documented format; checked in depth by pipelineDefinitionSchema on the backend. */
const definition = z.record(z.string(), z.unknown())

export const pipelineSummarySchema = z.object({
  id,
  name: z.string(),
  /** The tenant that owns it: only that tenant's gateway keys run it, and its cache nodes use only its namespaces. */
  tenant: z.string(),
  description: z.string(),
  currentVersion: z.int().positive(),
  nodeCount: z.int().nonnegative(),
  updatedAt: timestamp,
  lastRun: z.object({ id, status: z.string(), startedAt: timestamp }).nullable(),
})

export const problemSchema = z.object({
  nodeId: z.string().optional(),
  edgeId: z.string().optional(),
  message: z.string(),
})

export const nodeTraceSchema = z.object({
  nodeId: z.string(),
  type: z.string(),
  /** "not-run": the run ended (a failure, a cancel) before this node's turn came. */
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'not-run']),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()),
  calls: z.array(
    z.object({
      model: z.string(),
      role: z.string(),
      tokensIn: z.number(),
      tokensOut: z.number(),
      latencyMs: z.number(),
      iteration: z.number().optional(),
      /** The node's attempt, on retries (which sample with another seed). */
      attempt: z.int().optional(),
      /** The rendered prompt sent to the model: chat messages, or a plain completion's text. */
      prompt: z
        .object({
          messages: z.array(z.object({ role: z.string(), content: z.string() })).optional(),
          text: z.string().optional(),
        })
        .optional(),
    }),
  ),
  attempts: z.int(),
  startedAt: timestamp.nullable(),
  durationMs: z.number().nullable(),
  error: z.string().nullable(),
  warning: z.string().nullable(),
  iterations: z.array(
    z.object({ iteration: z.int(), score: z.number().nullable(), reason: z.string().nullable(), text: z.string() }),
  ),
})

export const pipelineRunSchema = z.object({
  id,
  pipelineId: id,
  version: z.int(),
  jobId: z.int().nullable(),
  source: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  input: z.string(),
  output: z.string().nullable(),
  error: z.string().nullable(),
  trace: z.object({ nodes: z.record(z.string(), nodeTraceSchema), path: z.array(z.string()) }),
  tokensIn: z.int(),
  tokensOut: z.int(),
  startedAt: timestamp,
  finishedAt: timestamp.nullable(),
})
export type PipelineRun = z.infer<typeof pipelineRunSchema>

const diffChange = z.object({ path: z.string(), before: z.unknown(), after: z.unknown() })

export const pipelineMethods = {
  'pipelines.list': {
    input: z.object({ tenant: resourceName.optional() }).strict(),
    output: z.object({ items: z.array(pipelineSummarySchema) }),
  },
  'pipelines.get': {
    input: z.object({ id, version: z.int().positive().optional() }).strict(),
    output: z.object({
      pipeline: pipelineSummarySchema,
      version: z.int(),
      definition,
      problems: z.array(problemSchema),
    }),
  },
  'pipelines.save': {
    input: z
      .object({
        id: id.optional(),
        definition,
        note: z.string().max(500).optional(),
        /** The owner (default: unchanged on update, "default" for a new pipeline). */
        tenant: resourceName.optional(),
      })
      .strict(),
    output: z.object({ pipeline: pipelineSummarySchema, version: z.int(), problems: z.array(problemSchema) }),
  },
  'pipelines.remove': {
    input: z.object({ id }).strict(),
    output: z.object({ removed: z.boolean() }),
  },
  'pipelines.versions': {
    input: z.object({ id }).strict(),
    output: z.object({
      items: z.array(
        z.object({ version: z.int(), note: z.string().nullable(), createdAt: timestamp, nodeCount: z.int() }),
      ),
    }),
  },
  'pipelines.diff': {
    input: z.object({ id, from: z.int().positive(), to: z.int().positive() }).strict(),
    output: z.object({
      nodes: z.object({
        added: z.array(z.string()),
        removed: z.array(z.string()),
        changed: z.array(z.object({ id: z.string(), changes: z.array(diffChange) })),
      }),
      edges: z.object({ added: z.array(z.string()), removed: z.array(z.string()) }),
      settings: z.array(diffChange),
    }),
  },
  'pipelines.restore': {
    input: z.object({ id, version: z.int().positive() }).strict(),
    output: z.object({ pipeline: pipelineSummarySchema, version: z.int() }),
  },
  'pipelines.export': {
    input: z.object({ id, version: z.int().positive().optional() }).strict(),
    output: z.object({ definition }),
  },
  'pipelines.import': {
    input: z
      .object({ definition: z.unknown(), note: z.string().max(500).optional(), tenant: resourceName.optional() })
      .strict(),
    output: z.object({ pipeline: pipelineSummarySchema, version: z.int(), problems: z.array(problemSchema) }),
  },
  'pipelines.starters': {
    input: z.object({}).strict(),
    output: z.object({
      items: z.array(z.object({ key: z.string(), title: z.string(), description: z.string(), definition })),
    }),
  },
  'pipelines.run': {
    input: z
      .object({ id, input: z.string().max(200_000), source: z.enum(['console', 'cli']).default('console') })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'pipelines.runs': {
    input: z
      .object({ id: id.optional(), limit: z.int().min(1).max(200).default(20), offset: z.int().min(0).default(0) })
      .strict(),
    output: z.object({ items: z.array(pipelineRunSchema.omit({ trace: true })), total: z.int() }),
  },
  'pipelines.runs.get': {
    input: z.object({ runId: id }).strict(),
    output: pipelineRunSchema,
  },
  'pipelines.ledger': {
    input: z.object({ id: id.optional() }).strict(),
    output: z.object({
      byNode: z.array(
        z.object({
          pipeline: z.string(),
          nodeId: z.string(),
          calls: z.int(),
          tokensIn: z.int(),
          tokensOut: z.int(),
          latencyMs: z.number(),
        }),
      ),
      byModel: z.array(
        z.object({ model: z.string(), calls: z.int(), tokensIn: z.int(), tokensOut: z.int(), latencyMs: z.number() }),
      ),
    }),
  },
} as const

export const pipelineEvents = {
  /** A node of a running pipeline changed state. */
  'pipelines.trace': z.object({ runId: id, pipelineId: id, jobId: z.int().nullable(), node: nodeTraceSchema }),
} as const
