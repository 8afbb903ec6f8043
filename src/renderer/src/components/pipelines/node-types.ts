import type { NodeType, PortType } from '../../../../shared/pipeline-definition'

/** i18n keys are camelCase (`pipelines.nodeType.cacheLookup`); node types are kebab-case. */
export const NODE_TYPE_KEY: Record<NodeType, string> = {
  input: 'input',
  llm: 'llm',
  judge: 'judge',
  reflect: 'reflect',
  router: 'router',
  'cache-lookup': 'cacheLookup',
  'cache-store': 'cacheStore',
  'template-fill': 'templateFill',
  merge: 'merge',
  output: 'output',
}

/** One accent per node type, so a graph can be read at a glance (same hue in light and dark themes). */
export const NODE_TYPE_COLOR: Record<NodeType, string> = {
  input: '#2080f0',
  llm: '#7c5cdb',
  judge: '#d98a00',
  reflect: '#c2410c',
  router: '#0e9f8e',
  'cache-lookup': '#4b8b3b',
  'cache-store': '#4b8b3b',
  'template-fill': '#9c6b3f',
  merge: '#64748b',
  output: '#2080f0',
}

export const PORT_TYPE_COLOR: Record<PortType, string> = {
  text: '#64748b',
  json: '#a855f7',
  number: '#f59e0b',
}

/** Palette order: how a graph usually reads, left to right. */
export const PALETTE_ORDER: NodeType[] = [
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
]

export const NODE_DRAG_MIME = 'application/x-larder-node-type'
