import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { MethodOutput } from '../../../../shared/contract'
import { validatePipeline, type ValidationProblem } from '../../../../shared/pipeline-definition'
import { api } from '../../api'
import {
  checkConnection,
  copySelection,
  createNode,
  isIdentifier,
  parseDefinition,
  pasteClipboard,
  renameNode,
  uniqueEdgeId,
  type Clipboard,
  type ConnectionCheck,
  type NodeType,
  type PipelineDefinition,
  type XY,
} from './graph'
import type { PipelineSummary } from '.'

export type RouteConfig = { label: string; match: 'contains' | 'regex' | 'longer-than' | 'shorter-than'; value: string }
export type Problem = ValidationProblem & { source: 'editor' | 'backend' }
export type RenameError = 'invalid' | 'taken'

const HISTORY_LIMIT = 200
/** Typing in one field within this long is one undo step. */
const COALESCE_MS = 1500
const PASTE_OFFSET = 40

/**
 * The pipeline open in the editor: a draft of its graph with undo/redo, the selection, a clipboard, live validation
 * (the shared `validatePipeline`, plus what the backend reported on load or save, e.g. models that no longer
 * exist), and saving as a new version. Every edit goes through `mutate`, which records one undo step.
 */
export const usePipelineEditorStore = defineStore('pipeline-editor', () => {
  const pipelineId = ref<number | null>(null)
  const summary = ref<PipelineSummary | null>(null)
  const version = ref(0)
  const draft = ref<PipelineDefinition | null>(null)
  const baseline = ref('')
  /** Backend problems, each with its node's config when reported: it applies until that config changes. */
  const backendProblems = shallowRef<{ problem: ValidationProblem; config: string | null }[]>([])
  const loading = ref(false)
  const loadError = ref<string | null>(null)
  const saving = ref(false)

  const selectedNodeIds = ref<string[]>([])
  const selectedEdgeIds = ref<string[]>([])

  const undoStack = ref<string[]>([])
  const redoStack = ref<string[]>([])
  let lastKey: string | null = null
  let lastAt = 0
  let pendingMove: string | null = null
  let clipboard: Clipboard | null = null
  let pasteCount = 0

  const dirty = computed(() => draft.value !== null && JSON.stringify(draft.value) !== baseline.value)
  const canUndo = computed(() => undoStack.value.length > 0)
  const canRedo = computed(() => redoStack.value.length > 0)

  function configOf(nodeId: string | undefined): string | null {
    const node = nodeId ? draft.value?.nodes.find((candidate) => candidate.id === nodeId) : undefined
    return node ? JSON.stringify(node.config) : null
  }

  const problems = computed<Problem[]>(() => {
    if (!draft.value) return []
    const live = validatePipeline(draft.value).map((problem) => ({ ...problem, source: 'editor' as const }))
    const seen = new Set(live.map((problem) => problem.message))
    const stored = backendProblems.value
      .filter(({ problem, config }) => !seen.has(problem.message) && configOf(problem.nodeId) === config)
      .map(({ problem }) => ({ ...problem, source: 'backend' as const }))
    return [...live, ...stored]
  })

  const problemsByNode = computed(() => {
    const byNode = new Map<string, string[]>()
    for (const problem of problems.value) {
      if (!problem.nodeId) continue
      byNode.set(problem.nodeId, [...(byNode.get(problem.nodeId) ?? []), problem.message])
    }
    return byNode
  })

  const problemEdges = computed(() => new Set(problems.value.flatMap((problem) => problem.edgeId ?? [])))

  const selectedNode = computed(() => {
    if (selectedNodeIds.value.length !== 1 || !draft.value) return null
    return draft.value.nodes.find((node) => node.id === selectedNodeIds.value[0]) ?? null
  })

  function reset(): void {
    undoStack.value = []
    redoStack.value = []
    lastKey = null
    selectedNodeIds.value = []
    selectedEdgeIds.value = []
    pasteCount = 0
  }

  /**
   * Keeps what only the backend can know (a model that no longer exists): problems the shared validator also finds
   * in the saved graph are recomputed live anyway, and must go away as soon as they are fixed.
   */
  function setBackendProblems(list: ValidationProblem[]): void {
    const structural = new Set(draft.value ? validatePipeline(draft.value).map((problem) => problem.message) : [])
    backendProblems.value = list
      .filter((problem) => !structural.has(problem.message))
      .map((problem) => ({ problem, config: configOf(problem.nodeId) }))
  }

  function apply(result: MethodOutput<'pipelines.get'>): void {
    summary.value = result.pipeline
    version.value = result.version
    draft.value = parseDefinition(result.definition)
    baseline.value = JSON.stringify(draft.value)
    setBackendProblems(result.problems)
  }

  let request = 0
  /** Opens a pipeline (its current version unless `atVersion`), dropping the history of the previous one. */
  async function open(id: number, atVersion?: number): Promise<void> {
    const current = ++request
    if (pipelineId.value !== id) {
      draft.value = null
      summary.value = null
    }
    pipelineId.value = id
    loading.value = true
    loadError.value = null
    try {
      const result = await api.call('pipelines.get', { id, ...(atVersion ? { version: atVersion } : {}) })
      if (current !== request) return
      apply(result)
      reset()
    } catch (error) {
      if (current === request) loadError.value = (error as Error).message
    } finally {
      if (current === request) loading.value = false
    }
  }

  /** After missed events: reload only when nothing is being edited, so no work is lost. */
  async function resync(): Promise<void> {
    if (pipelineId.value !== null && !dirty.value) await open(pipelineId.value)
  }

  function close(): void {
    request++
    pipelineId.value = null
    summary.value = null
    draft.value = null
    baseline.value = ''
    backendProblems.value = []
    loadError.value = null
    reset()
  }

  /**
   * Runs one edit and records the state before it for undo. Edits with the same `key` in quick succession (typing
   * in one field) are one step.
   */
  function mutate(key: string | null, edit: (definition: PipelineDefinition) => void): void {
    const definition = draft.value
    if (!definition) return
    const now = Date.now()
    if (key === null || key !== lastKey || now - lastAt > COALESCE_MS) {
      undoStack.value.push(JSON.stringify(definition))
      if (undoStack.value.length > HISTORY_LIMIT) undoStack.value.shift()
      redoStack.value = []
    }
    lastKey = key
    lastAt = now
    edit(definition)
  }

  function restoreSnapshot(snapshot: string): void {
    draft.value = JSON.parse(snapshot) as PipelineDefinition
    const ids = new Set(draft.value.nodes.map((node) => node.id))
    const edgeIds = new Set(draft.value.edges.map((edge) => edge.id))
    selectedNodeIds.value = selectedNodeIds.value.filter((id) => ids.has(id))
    selectedEdgeIds.value = selectedEdgeIds.value.filter((id) => edgeIds.has(id))
    lastKey = null
  }

  function undo(): void {
    const snapshot = undoStack.value.pop()
    if (snapshot === undefined || !draft.value) return
    redoStack.value.push(JSON.stringify(draft.value))
    restoreSnapshot(snapshot)
  }

  function redo(): void {
    const snapshot = redoStack.value.pop()
    if (snapshot === undefined || !draft.value) return
    undoStack.value.push(JSON.stringify(draft.value))
    restoreSnapshot(snapshot)
  }

  function select(nodeIds: string[], edgeIds: string[] = []): void {
    selectedNodeIds.value = nodeIds
    selectedEdgeIds.value = edgeIds
  }

  function setSelected(kind: 'node' | 'edge', id: string, selected: boolean): void {
    const list = kind === 'node' ? selectedNodeIds : selectedEdgeIds
    const without = list.value.filter((value) => value !== id)
    list.value = selected ? [...without, id] : without
  }

  function addNode(type: NodeType, position: XY, namespaceId: number | null): string | null {
    if (!draft.value) return null
    const node = createNode(
      type,
      position,
      draft.value.nodes.map((candidate) => candidate.id),
      namespaceId,
    )
    mutate(null, (definition) => definition.nodes.push(node))
    select([node.id])
    return node.id
  }

  function connect(connection: { source: string; sourcePort: string; target: string; targetPort: string }) {
    if (!draft.value) return { ok: false, reason: 'unknown-port' } as ConnectionCheck
    const check = checkConnection(draft.value, connection)
    if (!check.ok) return check
    mutate(null, (definition) => definition.edges.push({ id: uniqueEdgeId(definition.edges), ...connection }))
    return check
  }

  function removeElements(nodeIds: string[], edgeIds: string[]): void {
    if (nodeIds.length === 0 && edgeIds.length === 0) return
    const nodes = new Set(nodeIds)
    const edges = new Set(edgeIds)
    mutate(null, (definition) => {
      definition.nodes = definition.nodes.filter((node) => !nodes.has(node.id))
      definition.edges = definition.edges.filter(
        (edge) => !edges.has(edge.id) && !nodes.has(edge.source) && !nodes.has(edge.target),
      )
    })
    select(
      selectedNodeIds.value.filter((id) => !nodes.has(id)),
      selectedEdgeIds.value.filter((id) => !edges.has(id)),
    )
  }

  function removeSelected(): void {
    removeElements(selectedNodeIds.value, selectedEdgeIds.value)
  }

  /** Called when a drag starts: the positions before it become one undo step once something actually moves. */
  function beginMove(): void {
    pendingMove = draft.value ? JSON.stringify(draft.value) : null
  }

  /** Node positions during a drag (one undo step per drag, see `beginMove`). */
  function moveNode(id: string, position: XY): void {
    const node = draft.value?.nodes.find((candidate) => candidate.id === id)
    if (!node) return
    const x = Math.round(position.x)
    const y = Math.round(position.y)
    if (node.position.x === x && node.position.y === y) return
    if (pendingMove !== null) {
      undoStack.value.push(pendingMove)
      if (undoStack.value.length > HISTORY_LIMIT) undoStack.value.shift()
      redoStack.value = []
      pendingMove = null
      lastKey = null
    }
    node.position = { x, y }
  }

  /** Sets (or, with `undefined`, removes) a config field; `path` may be nested: `sampling.temperature`. */
  function setConfig(nodeId: string, path: string, value: unknown): void {
    mutate(`config:${nodeId}:${path}`, (definition) => {
      const node = definition.nodes.find((candidate) => candidate.id === nodeId)
      if (!node) return
      const keys = path.split('.')
      let holder = node.config as Record<string, unknown>
      for (const key of keys.slice(0, -1)) {
        const next = holder[key]
        if (typeof next !== 'object' || next === null || Array.isArray(next)) holder[key] = {}
        holder = holder[key] as Record<string, unknown>
      }
      const last = keys.at(-1)!
      if (value === undefined) delete holder[last]
      else holder[last] = value
    })
  }

  /** Replaces a router's routes; a renamed label keeps its edges (they leave the renamed output port). */
  function setRoutes(nodeId: string, routes: RouteConfig[], renamed?: { from: string; to: string }): void {
    mutate(`config:${nodeId}:routes`, (definition) => {
      const node = definition.nodes.find((candidate) => candidate.id === nodeId)
      if (!node) return
      node.config.routes = routes
      if (!renamed || renamed.from === renamed.to) return
      for (const edge of definition.edges) {
        if (edge.source === nodeId && edge.sourcePort === renamed.from) edge.sourcePort = renamed.to
      }
    })
  }

  function setLabel(nodeId: string, label: string): void {
    mutate(`label:${nodeId}`, (definition) => {
      const node = definition.nodes.find((candidate) => candidate.id === nodeId)
      if (!node) return
      if (label.trim()) node.label = label
      else delete node.label
    })
  }

  function checkRename(from: string, to: string): RenameError | null {
    if (!isIdentifier(to)) return 'invalid'
    if (to !== from && draft.value?.nodes.some((node) => node.id === to)) return 'taken'
    return null
  }

  /** Renames a node; edges and `{{references}}` follow. */
  function renameNodeId(from: string, to: string): RenameError | null {
    const error = checkRename(from, to)
    if (error || from === to) return error
    mutate(null, (definition) => renameNode(definition, from, to))
    selectedNodeIds.value = selectedNodeIds.value.map((id) => (id === from ? to : id))
    return null
  }

  function setSettings(patch: Partial<Pick<PipelineDefinition, 'name' | 'description' | 'maxTokensPerRun'>>): void {
    mutate(`settings:${Object.keys(patch).join(',')}`, (definition) => Object.assign(definition, patch))
  }

  function copy(): number {
    if (!draft.value) return 0
    const copied = copySelection(draft.value, new Set(selectedNodeIds.value))
    if (!copied) return 0
    clipboard = copied
    pasteCount = 0
    return copied.nodes.length
  }

  function paste(): number {
    if (!clipboard || !draft.value) return 0
    pasteCount += 1
    const source = clipboard
    let pasted: string[] = []
    mutate(null, (definition) => {
      pasted = pasteClipboard(definition, source, { x: PASTE_OFFSET * pasteCount, y: PASTE_OFFSET * pasteCount })
    })
    select(pasted)
    return pasted.length
  }

  /** Saves the draft as a new version. */
  async function save(note?: string): Promise<MethodOutput<'pipelines.save'>> {
    if (!draft.value || pipelineId.value === null) throw new Error('No pipeline is open.')
    saving.value = true
    try {
      const sent = JSON.stringify(draft.value)
      const result = await api.call('pipelines.save', {
        id: pipelineId.value,
        definition: JSON.parse(sent) as Record<string, unknown>,
        ...(note?.trim() ? { note: note.trim() } : {}),
      })
      summary.value = result.pipeline
      version.value = result.version
      baseline.value = sent
      setBackendProblems(result.problems)
      return result
    } finally {
      saving.value = false
    }
  }

  return {
    pipelineId,
    summary,
    version,
    draft,
    loading,
    loadError,
    saving,
    dirty,
    problems,
    problemsByNode,
    problemEdges,
    selectedNodeIds,
    selectedEdgeIds,
    selectedNode,
    canUndo,
    canRedo,
    open,
    resync,
    close,
    undo,
    redo,
    select,
    setSelected,
    addNode,
    connect,
    removeElements,
    removeSelected,
    beginMove,
    moveNode,
    setConfig,
    setLabel,
    setRoutes,
    checkRename,
    renameNodeId,
    setSettings,
    copy,
    paste,
    save,
  }
})
