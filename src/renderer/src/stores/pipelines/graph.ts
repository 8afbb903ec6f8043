/**
 * Pure graph edits for the pipeline editor: new nodes with their default configuration, unique identifier ids,
 * renames that follow the `{{id}}` references, copy and paste, and the variables a node's prompts may use. No Vue,
 * no API: the editor store calls these and keeps history around them.
 */
import {
  NODE_TYPES,
  PIPELINE_FORMAT,
  PIPELINE_FORMAT_VERSION,
  ancestors,
  nodeConfigSchemas,
  pipelineDefinitionSchema,
  portsCompatible,
  portsOf,
  type NodeType,
  type PipelineDefinition,
  type PipelineEdge,
  type PipelineNode,
  type PortType,
} from '../../../../shared/pipeline-definition'

export { NODE_TYPES, portsOf, type NodeType, type PipelineDefinition, type PipelineEdge, type PipelineNode }

export type XY = { x: number; y: number }

/** A deep copy of plain data. (structuredClone refuses Vue's reactive proxies.) */
export function cloneJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}
export type ModelTarget = { model: number } | { provider: number }

/** Node types whose configuration names a model to call. */
export function usesModel(node: Pick<PipelineNode, 'type' | 'config'>): boolean {
  return (
    ['llm', 'judge', 'reflect'].includes(node.type) || (node.type === 'router' && node.config.mode === 'classifier')
  )
}

/** A new node's configuration: what a person would start from (prompts reference the input it gets). */
export function defaultConfig(type: NodeType, namespaceId: number | null): Record<string, unknown> {
  switch (type) {
    case 'llm':
      return { target: null, system: '', prompt: '{{in}}' }
    case 'judge':
      return { target: null, rubric: 'The text is correct, complete and polite.', threshold: 7 }
    case 'reflect':
      return { target: null, rubric: 'The text is correct, complete and polite.', threshold: 7, maxIterations: 3 }
    case 'router':
      return { mode: 'rules', routes: [{ label: 'billing', match: 'contains', value: 'invoice' }] }
    case 'cache-lookup':
    case 'cache-store':
      return namespaceId === null ? { model: 'pipeline' } : { namespaceId, model: 'pipeline' }
    case 'template-fill':
      return { family: '' }
    case 'merge':
      return { mode: 'first' }
    default:
      return {}
  }
}

/** The values the engine uses when a field is left out (read from the shared schemas, so they cannot drift). */
export const CONFIG_DEFAULTS: Record<NodeType, Record<string, unknown>> = Object.fromEntries(
  NODE_TYPES.map((type) => {
    const minimal: Record<string, unknown> = {
      llm: { prompt: 'x' },
      judge: { rubric: 'x' },
      reflect: { rubric: 'x' },
      router: { routes: [{ label: 'a' }] },
      'cache-lookup': { namespaceId: 1 },
      'cache-store': { namespaceId: 1 },
      'template-fill': { family: 'x' },
    }
    return [type, nodeConfigSchemas[type].parse(minimal[type] ?? {}) as Record<string, unknown>]
  }),
) as Record<NodeType, Record<string, unknown>>

const ID_PATTERN = /^[A-Za-z][A-Za-z0-9_]*$/

export function isIdentifier(value: string): boolean {
  return ID_PATTERN.test(value)
}

/** `base`, or `base_2`, `base_3`… whichever is free. Bases that are not identifiers become `node`. */
export function uniqueId(base: string, taken: Iterable<string>): string {
  const used = new Set(taken)
  let stem = base.replace(/[^A-Za-z0-9_]/g, '_')
  if (!isIdentifier(stem)) stem = `node_${stem}`.replace(/_+/g, '_')
  if (!isIdentifier(stem)) stem = 'node'
  if (!used.has(stem)) return stem
  const numbered = /^(.*?)_(\d+)$/.exec(stem)
  const root = numbered ? numbered[1]! : stem
  for (let n = numbered ? Number(numbered[2]) + 1 : 2; ; n++) {
    const candidate = `${root}_${n}`
    if (!used.has(candidate)) return candidate
  }
}

/** The id a dropped node of a type gets: short words people would write in a prompt. */
const ID_BASE: Record<NodeType, string> = {
  input: 'input',
  llm: 'llm',
  judge: 'judge',
  reflect: 'revise',
  router: 'route',
  'cache-lookup': 'lookup',
  'cache-store': 'store',
  'template-fill': 'fill',
  merge: 'merge',
  output: 'output',
}

export function createNode(
  type: NodeType,
  position: XY,
  takenIds: Iterable<string>,
  namespaceId: number | null,
): PipelineNode {
  return {
    id: uniqueId(ID_BASE[type], takenIds),
    type,
    position: { x: Math.round(position.x), y: Math.round(position.y) },
    config: defaultConfig(type, namespaceId),
  }
}

/** `e<n>`, one past the highest such id. */
export function uniqueEdgeId(edges: PipelineEdge[]): string {
  const taken = new Set(edges.map((edge) => edge.id))
  let next = 1 + Math.max(0, ...edges.map((edge) => Number(/^e(\d+)$/.exec(edge.id)?.[1] ?? 0)))
  while (taken.has(`e${next}`)) next++
  return `e${next}`
}

/** A blank pipeline: an Input and an Output, for the rest to be dragged in between. */
export function blankDefinition(name: string): PipelineDefinition {
  return {
    format: PIPELINE_FORMAT,
    version: PIPELINE_FORMAT_VERSION,
    name,
    description: '',
    maxTokensPerRun: 50_000,
    nodes: [
      { id: 'input', type: 'input', position: { x: 0, y: 120 }, config: {} },
      { id: 'output', type: 'output', position: { x: 900, y: 120 }, config: {} },
    ],
    edges: [],
  }
}

/** A definition as the backend sent it (already validated there); defaults filled in. */
export function parseDefinition(raw: unknown): PipelineDefinition {
  const parsed = pipelineDefinitionSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  // The backend stores only valid graphs; if this ever fails, show what came rather than nothing.
  return raw as PipelineDefinition
}

export type ConnectionCheck =
  | { ok: true; from: PortType; to: PortType }
  | { ok: false; reason: 'self' | 'unknown-port' | 'incompatible' | 'duplicate'; from?: PortType; to?: PortType }

/** Whether an edge from `source.sourcePort` to `target.targetPort` may be drawn. */
export function checkConnection(
  definition: Pick<PipelineDefinition, 'nodes' | 'edges'>,
  connection: { source: string; sourcePort: string; target: string; targetPort: string },
): ConnectionCheck {
  if (connection.source === connection.target) return { ok: false, reason: 'self' }
  const source = definition.nodes.find((node) => node.id === connection.source)
  const target = definition.nodes.find((node) => node.id === connection.target)
  const from = source ? portsOf(source).outputs[connection.sourcePort] : undefined
  const to = target ? portsOf(target).inputs[connection.targetPort] : undefined
  if (!from || !to) return { ok: false, reason: 'unknown-port' }
  if (!portsCompatible(from, to)) return { ok: false, reason: 'incompatible', from, to }
  const duplicate = definition.edges.some(
    (edge) =>
      edge.source === connection.source &&
      edge.sourcePort === connection.sourcePort &&
      edge.target === connection.target &&
      edge.targetPort === connection.targetPort,
  )
  if (duplicate) return { ok: false, reason: 'duplicate', from, to }
  return { ok: true, from, to }
}

/** Config fields that hold prompt text with `{{variables}}`. */
export const TEXT_FIELDS = ['prompt', 'system', 'rubric', 'instructions', 'revisePrompt'] as const

function renameReferences(text: string, from: string, to: string): string {
  return text.replace(
    new RegExp(`\\{\\{(\\s*)${from}((?:\\.[A-Za-z][A-Za-z0-9_-]*)?)(\\s*)\\}\\}`, 'g'),
    (_whole, before: string, port: string, after: string) => `{{${before}${to}${port}${after}}}`,
  )
}

/** Renames a node: its edges and every `{{from}}` / `{{from.port}}` reference follow. */
export function renameNode(definition: PipelineDefinition, from: string, to: string): void {
  for (const node of definition.nodes) {
    if (node.id === from) node.id = to
    for (const field of TEXT_FIELDS) {
      const value = node.config[field]
      if (typeof value === 'string') node.config[field] = renameReferences(value, from, to)
    }
  }
  for (const edge of definition.edges) {
    if (edge.source === from) edge.source = to
    if (edge.target === from) edge.target = to
  }
}

/** What a node's prompts may reference: the run's input, the text the node receives, and its upstream nodes. */
export function availableVariables(
  definition: PipelineDefinition,
  nodeId: string,
): { builtIn: string[]; upstream: { id: string; ports: string[] }[] } {
  const node = definition.nodes.find((candidate) => candidate.id === nodeId)
  const builtIn = ['input', 'in']
  if (node?.type === 'reflect') builtIn.push('draft', 'critique', 'rubric')
  const up = ancestors(definition, nodeId)
  const upstream = definition.nodes
    .filter((candidate) => up.has(candidate.id))
    .map((candidate) => ({ id: candidate.id, ports: Object.keys(portsOf(candidate).outputs) }))
  return { builtIn, upstream }
}

export interface Clipboard {
  nodes: PipelineNode[]
  edges: PipelineEdge[]
}

/** The selected nodes and the edges among them. */
export function copySelection(definition: PipelineDefinition, nodeIds: Set<string>): Clipboard | null {
  const nodes = definition.nodes.filter((node) => nodeIds.has(node.id))
  if (nodes.length === 0) return null
  const edges = definition.edges.filter((edge) => nodeIds.has(edge.source) && nodeIds.has(edge.target))
  return cloneJson({ nodes, edges })
}

/** Adds a copy of the clipboard, moved by `offset`, with new ids (references inside the copy follow). */
export function pasteClipboard(definition: PipelineDefinition, clipboard: Clipboard, offset: XY): string[] {
  const copy = cloneJson(clipboard)
  const taken = new Set(definition.nodes.map((node) => node.id))
  const renames = new Map<string, string>()
  for (const node of copy.nodes) {
    const next = uniqueId(node.id, [...taken, ...copy.nodes.map((other) => other.id)])
    taken.add(next)
    renames.set(node.id, next)
  }
  // Rename through temporary ids, so that a -> a_2 and a_2 -> a_3 do not collide halfway.
  const scratch: PipelineDefinition = { ...definition, nodes: copy.nodes, edges: copy.edges }
  let index = 0
  const temporary = new Map<string, string>()
  for (const from of renames.keys()) {
    const temp = `paste_tmp_${index++}_x`
    temporary.set(temp, renames.get(from)!)
    renameNode(scratch, from, temp)
  }
  for (const [temp, to] of temporary) renameNode(scratch, temp, to)
  for (const node of copy.nodes) {
    node.position = { x: node.position.x + offset.x, y: node.position.y + offset.y }
    definition.nodes.push(node)
  }
  for (const edge of copy.edges) {
    edge.id = uniqueEdgeId(definition.edges)
    definition.edges.push(edge)
  }
  return copy.nodes.map((node) => node.id)
}

/** The value a target select shows: `model:3`, `provider:2`. */
export function targetKey(target: unknown): string | null {
  if (typeof target !== 'object' || target === null) return null
  if ('model' in target && typeof target.model === 'number') return `model:${target.model}`
  if ('provider' in target && typeof target.provider === 'number') return `provider:${target.provider}`
  return null
}

export function targetFromKey(key: string | null): ModelTarget | null {
  const match = key ? /^(model|provider):(\d+)$/.exec(key) : null
  if (!match) return null
  return match[1] === 'model' ? { model: Number(match[2]) } : { provider: Number(match[2]) }
}
