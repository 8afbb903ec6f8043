/**
 * The pipeline graph format (export/import and storage): versioned, validated with zod, shared by the editor and
 * the engine. Documented in docs/pipelines.md.
 */
import { z } from 'zod'

export const PIPELINE_FORMAT = 'larder.pipeline'
export const PIPELINE_FORMAT_VERSION = 1

export const NODE_TYPES = [
  'input',
  'llm',
  'judge',
  'reflect',
  'router',
  'cache-lookup',
  'cache-store',
  'template-fill',
  'merge',
  'output',
] as const
export type NodeType = (typeof NODE_TYPES)[number]

/**
 * A model to call: a registered local model or a provider. `name` is the reference (a file exported from one
 * workspace works in another: the backend looks the name up there); the id is only a cache of it, refreshed on save,
 * import and run. Files without names (older exports) are read by id.
 */
const targetName = z.string().min(1).max(200).optional()
export const targetSchema = z.union([
  z.object({ model: z.int().positive(), name: targetName }).strict(),
  z.object({ provider: z.int().positive(), name: targetName }).strict(),
])

const sampling = z
  .object({
    maxTokens: z.int().min(1).max(32_768).default(256),
    temperature: z.number().min(0).max(5).optional(),
    topP: z.number().min(0).max(1).optional(),
    seed: z.int().min(0).optional(),
  })
  .prefault({})

/** Per-node limits every node type accepts. */
const limits = {
  timeoutMs: z.int().min(100).max(3_600_000).default(120_000),
  retries: z.int().min(0).max(5).default(0),
}

export const nodeConfigSchemas = {
  input: z.object({ ...limits }).strict(),
  llm: z
    .object({
      ...limits,
      target: targetSchema.nullable().default(null),
      system: z.string().max(100_000).default(''),
      prompt: z.string().min(1).max(100_000),
      sampling,
      jsonSchema: z.record(z.string(), z.unknown()).nullable().default(null),
    })
    .strict(),
  judge: z
    .object({
      ...limits,
      target: targetSchema.nullable().default(null),
      rubric: z.string().min(1).max(20_000),
      /** Pass when the score (0..10) is at least this. */
      threshold: z.number().min(0).max(10).default(7),
      sampling,
    })
    .strict(),
  reflect: z
    .object({
      ...limits,
      target: targetSchema.nullable().default(null),
      rubric: z.string().min(1).max(20_000),
      threshold: z.number().min(0).max(10).default(7),
      revisePrompt: z
        .string()
        .max(20_000)
        .default(
          'Revise the draft so it meets the rubric.\n\nRubric:\n{{rubric}}\n\nCritique:\n{{critique}}\n\nDraft:\n{{draft}}\n\nRevised text:',
        ),
      maxIterations: z.int().min(1).max(20).default(3),
      sampling,
    })
    .strict(),
  router: z
    .object({
      ...limits,
      mode: z.enum(['rules', 'classifier']).default('rules'),
      /** Rules are tried in order; the first match wins. Classifier mode uses only the labels. */
      routes: z
        .array(
          z.object({
            label: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'labels are lowercase words: a-z, 0-9, _ and -'),
            match: z.enum(['contains', 'regex', 'longer-than', 'shorter-than']).default('contains'),
            value: z.string().max(1000).default(''),
          }),
        )
        .min(1)
        .max(20),
      target: targetSchema.nullable().default(null),
      instructions: z.string().max(20_000).default('Classify the request into exactly one of the labels.'),
    })
    .strict(),
  'cache-lookup': z
    .object({ ...limits, namespaceId: z.int().positive(), model: z.string().min(1).default('pipeline') })
    .strict(),
  'cache-store': z
    .object({ ...limits, namespaceId: z.int().positive(), model: z.string().min(1).default('pipeline') })
    .strict(),
  'template-fill': z
    .object({
      ...limits,
      family: z.string().min(1),
      segment: z.record(z.string(), z.string()).default({}),
    })
    .strict(),
  merge: z
    .object({
      ...limits,
      mode: z.enum(['first', 'concat', 'json']).default('first'),
      separator: z.string().default('\n\n'),
    })
    .strict(),
  output: z.object({ ...limits }).strict(),
} satisfies Record<NodeType, z.ZodType>

/** Node types that call a model through `config.target`: llm, judge, reflect, and a router in classifier mode. */
export function nodeUsesModel(node: { type: NodeType; config: Record<string, unknown> }): boolean {
  return (
    ['llm', 'judge', 'reflect'].includes(node.type) || (node.type === 'router' && node.config.mode === 'classifier')
  )
}

export type NodeConfig<T extends NodeType> = z.output<(typeof nodeConfigSchemas)[T]>

export const nodeSchema = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'node ids are identifiers: letters, digits and _ (they are {{variables}})'),
  type: z.enum(NODE_TYPES),
  label: z.string().max(200).optional(),
  position: z.object({ x: z.number(), y: z.number() }).default({ x: 0, y: 0 }),
  config: z.record(z.string(), z.unknown()).default({}),
})
export type PipelineNode = z.infer<typeof nodeSchema>

export const edgeSchema = z.object({
  id: z.string().min(1),
  source: z.string(),
  sourcePort: z.string().default('out'),
  target: z.string(),
  targetPort: z.string().default('in'),
})
export type PipelineEdge = z.infer<typeof edgeSchema>

export const pipelineDefinitionSchema = z.object({
  format: z.literal(PIPELINE_FORMAT),
  version: z.literal(PIPELINE_FORMAT_VERSION),
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'pipeline names are used in model ids: letters, digits, . _ -'),
  description: z.string().max(5000).default(''),
  /** Stop a run when its model calls together exceed this many tokens. */
  maxTokensPerRun: z.int().min(1).max(10_000_000).default(50_000),
  nodes: z.array(nodeSchema).min(1).max(500),
  edges: z.array(edgeSchema).max(2000),
})
export type PipelineDefinition = z.infer<typeof pipelineDefinitionSchema>

export type PortType = 'text' | 'json' | 'number'

/** The ports of each node type. Routers get one output per route label (plus "default"), created from config. */
export function portsOf(node: Pick<PipelineNode, 'type' | 'config'>): {
  inputs: Record<string, PortType>
  outputs: Record<string, PortType>
} {
  switch (node.type) {
    case 'input':
      return { inputs: {}, outputs: { out: 'text' } }
    case 'llm':
      return { inputs: { in: 'text' }, outputs: { out: 'text' } }
    case 'judge':
      return { inputs: { in: 'text' }, outputs: { pass: 'text', fail: 'text', score: 'number', reason: 'text' } }
    case 'reflect':
      return { inputs: { in: 'text' }, outputs: { out: 'text', score: 'number' } }
    case 'router': {
      const routes = Array.isArray(node.config.routes) ? (node.config.routes as { label?: unknown }[]) : []
      const outputs: Record<string, PortType> = { default: 'text' }
      for (const route of routes) if (typeof route.label === 'string') outputs[route.label] = 'text'
      return { inputs: { in: 'text' }, outputs }
    }
    case 'cache-lookup':
      return { inputs: { in: 'text' }, outputs: { hit: 'text', miss: 'text' } }
    case 'cache-store':
      return { inputs: { in: 'text' }, outputs: { out: 'text' } }
    case 'template-fill':
      return { inputs: { in: 'json' }, outputs: { out: 'text' } }
    case 'merge':
      return { inputs: { in: 'text' }, outputs: { out: 'text' } }
    case 'output':
      return { inputs: { in: 'text' }, outputs: {} }
  }
}

/** Whether a value of one port type may flow into another (text accepts anything; numbers and JSON print). */
export function portsCompatible(from: PortType, to: PortType): boolean {
  return from === to || to === 'text' || (from === 'text' && to === 'json')
}

/** `{{name}}` and `{{name.port}}` references in a prompt. */
export function promptVariables(text: string): string[] {
  return [...text.matchAll(/\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_-]*)?)\s*\}\}/g)].map((m) => m[1]!)
}

export interface ValidationProblem {
  nodeId?: string
  edgeId?: string
  message: string
}

/**
 * Structural checks shown on the canvas and enforced before a run: unknown nodes or ports, type mismatches,
 * cycles (loops belong inside a reflect node), unconnected required inputs, prompts that reference variables that
 * are not upstream, and a missing input or output node.
 */
export function validatePipeline(definition: PipelineDefinition): ValidationProblem[] {
  const problems: ValidationProblem[] = []
  const nodes = new Map(definition.nodes.map((node) => [node.id, node]))
  if (nodes.size !== definition.nodes.length) problems.push({ message: 'Two nodes have the same id.' })
  for (const node of definition.nodes) {
    const parsed = nodeConfigSchemas[node.type].safeParse(node.config)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      problems.push({ nodeId: node.id, message: `${node.id}: ${issue.path.join('.') || 'config'}: ${issue.message}` })
    }
  }
  if (!definition.nodes.some((n) => n.type === 'input')) problems.push({ message: 'The pipeline needs an Input node.' })
  if (!definition.nodes.some((n) => n.type === 'output'))
    problems.push({ message: 'The pipeline needs an Output node.' })
  const incoming = new Map<string, PipelineEdge[]>()
  for (const edge of definition.edges) {
    const source = nodes.get(edge.source)
    const target = nodes.get(edge.target)
    if (!source || !target) {
      problems.push({ edgeId: edge.id, message: `Edge ${edge.id} connects a node that does not exist.` })
      continue
    }
    const out = portsOf(source).outputs[edge.sourcePort]
    const into = portsOf(target).inputs[edge.targetPort]
    if (!out)
      problems.push({ edgeId: edge.id, nodeId: source.id, message: `${source.id} has no output "${edge.sourcePort}".` })
    if (!into)
      problems.push({ edgeId: edge.id, nodeId: target.id, message: `${target.id} has no input "${edge.targetPort}".` })
    if (out && into && !portsCompatible(out, into)) {
      problems.push({
        edgeId: edge.id,
        message: `${source.id}.${edge.sourcePort} (${out}) cannot feed ${target.id}.${edge.targetPort} (${into}).`,
      })
    }
    incoming.set(target.id, [...(incoming.get(target.id) ?? []), edge])
  }
  for (const node of definition.nodes) {
    const required = Object.keys(portsOf(node).inputs)
    for (const port of required) {
      if (!(incoming.get(node.id) ?? []).some((edge) => edge.targetPort === port)) {
        problems.push({ nodeId: node.id, message: `${node.id}: input "${port}" is not connected.` })
      }
    }
  }
  for (const node of definition.nodes) {
    if (nodeUsesModel(node) && (node.config.target === null || node.config.target === undefined)) {
      problems.push({ nodeId: node.id, message: `${node.id}: choose the model it runs on.` })
    }
  }
  const cycle = findCycle(definition)
  if (cycle)
    problems.push({
      nodeId: cycle[0],
      message: `Cycle ${cycle.join(' -> ')}: loops belong inside a Reflect-and-revise node.`,
    })
  // Prompts may reference the pipeline input and any node upstream of them.
  for (const node of definition.nodes) {
    const texts = [node.config.prompt, node.config.system, node.config.rubric, node.config.instructions].filter(
      (value): value is string => typeof value === 'string',
    )
    const upstream = ancestors(definition, node.id)
    for (const variable of texts.flatMap(promptVariables)) {
      const [name] = variable.split('.')
      if (['input', 'in', 'draft', 'critique', 'rubric'].includes(name!)) continue
      if (!nodes.has(name!))
        problems.push({
          nodeId: node.id,
          message: `${node.id}: the prompt references {{${variable}}}, but there is no node "${name}".`,
        })
      else if (!upstream.has(name!))
        problems.push({
          nodeId: node.id,
          message: `${node.id}: {{${variable}}} is not upstream of this node; connect it first.`,
        })
    }
  }
  return problems
}

export function ancestors(definition: PipelineDefinition, nodeId: string): Set<string> {
  const seen = new Set<string>()
  const stack = [nodeId]
  while (stack.length > 0) {
    const current = stack.pop()!
    for (const edge of definition.edges) {
      if (edge.target === current && !seen.has(edge.source)) {
        seen.add(edge.source)
        stack.push(edge.source)
      }
    }
  }
  return seen
}

export function findCycle(definition: PipelineDefinition): string[] | null {
  const state = new Map<string, 'visiting' | 'done'>()
  const path: string[] = []
  const visit = (id: string): string[] | null => {
    if (state.get(id) === 'done') return null
    if (state.get(id) === 'visiting') return [...path.slice(path.indexOf(id)), id]
    state.set(id, 'visiting')
    path.push(id)
    for (const edge of definition.edges) {
      if (edge.source === id) {
        const found = visit(edge.target)
        if (found) return found
      }
    }
    path.pop()
    state.set(id, 'done')
    return null
  }
  for (const node of definition.nodes) {
    const found = visit(node.id)
    if (found) return found
  }
  return null
}
