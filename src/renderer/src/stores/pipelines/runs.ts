import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { EventPayload, Job, MethodOutput, PipelineRun } from '../../../../shared/contract'
import { api } from '../../api'
import { createJobSlot, resultField } from '../jobs/job-slot'
import { isActive } from '../jobs/shared'

export type NodeTrace = EventPayload<'pipelines.trace'>['node']
export type NodeStatus = NodeTrace['status']
export type RunSummary = MethodOutput<'pipelines.runs'>['items'][number]
export type Ledger = MethodOutput<'pipelines.ledger'>

/** What the canvas colours nodes and edges by: a live run, or a run picked from the history. */
export interface TraceOverlay {
  nodes: Record<string, NodeTrace>
  /** Nodes on the path the run took (only for a finished run). */
  path: Set<string>
  runId: number | null
}

const isNumber = (value: unknown): value is number => typeof value === 'number'

/**
 * Runs of the open pipeline: starting one (a job, followed through `job.updated`), its nodes' states live from
 * `pipelines.trace`, its output, the run history with one run's full trace, and the token ledger.
 *
 * Trace events name the run, not the job; the run started here is found by its job id in the run list the first
 * time an unknown run reports, and events that came before are replayed from a buffer.
 */
export const usePipelineRunsStore = defineStore('pipeline-runs', () => {
  const pipelineId = ref<number | null>(null)
  const starting = ref(false)
  const startError = ref<string | null>(null)
  const liveRunId = ref<number | null>(null)
  const liveNodes = ref<Record<string, NodeTrace>>({})
  /** The finished run started from this page (output, error, totals). */
  const finished = ref<PipelineRun | null>(null)

  const history = ref<RunSummary[]>([])
  const historyTotal = ref(0)
  const historyPage = ref(1)
  const historyPageSize = ref(10)
  const historyLoading = ref(false)
  const historyError = ref<string | null>(null)

  const selectedRun = ref<PipelineRun | null>(null)
  const selectedLoading = ref(false)
  const selectedError = ref<string | null>(null)
  const selectedNodeId = ref<string | null>(null)

  const ledger = ref<Ledger | null>(null)
  const ledgerScope = ref<'pipeline' | 'all'>('pipeline')
  const ledgerLoading = ref(false)
  const ledgerError = ref<string | null>(null)

  const buffered = new Map<number, NodeTrace[]>()
  let identifying = false

  const slot = createJobSlot((job) => void onJobFinished(job))
  const job = slot.job
  const running = computed(() => isActive(job.value))

  function applyLive(node: NodeTrace): void {
    liveNodes.value = { ...liveNodes.value, [node.nodeId]: node }
  }

  api.on('pipelines.trace', ({ runId, node }) => {
    if (liveRunId.value === runId) {
      applyLive(node)
      return
    }
    // Events can arrive before `pipelines.run` has answered with the job: keep them until the run is known.
    if (liveRunId.value !== null || !(starting.value || isActive(job.value))) return
    buffered.set(runId, [...(buffered.get(runId) ?? []), node])
    void identifyLiveRun()
  })

  /** Finds which run belongs to the job started here (the run list carries job ids). */
  async function identifyLiveRun(): Promise<number | null> {
    const current = job.value
    if (liveRunId.value !== null || !current || pipelineId.value === null || identifying) return liveRunId.value
    identifying = true
    try {
      const { items } = await api.call('pipelines.runs', { id: pipelineId.value, limit: 10 })
      const run = items.find((item) => item.jobId === current.id)
      if (run && job.value?.id === current.id && liveRunId.value === null) {
        liveRunId.value = run.id
        for (const node of buffered.get(run.id) ?? []) applyLive(node)
        buffered.clear()
      }
    } catch {
      // The next event tries again; the finished run's trace is fetched in full anyway.
    } finally {
      identifying = false
    }
    // Events that arrived while looking may belong to it.
    if (liveRunId.value === null && buffered.size > 0 && isActive(job.value)) {
      queueMicrotask(() => void identifyLiveRun())
    }
    return liveRunId.value
  }

  async function onJobFinished(done: Job): Promise<void> {
    const runId = resultField(done, 'runId', isNumber) ?? liveRunId.value ?? (await identifyLiveRun())
    if (runId !== null && runId !== undefined) {
      try {
        const run = await api.call('pipelines.runs.get', { runId })
        if (job.value?.id !== done.id) return
        liveRunId.value = run.id
        liveNodes.value = run.trace.nodes
        finished.value = run
      } catch {
        // The run list below still shows it.
      }
    }
    void fetchHistory({ quiet: true })
    if (ledger.value) void fetchLedger()
  }

  function resetLive(): void {
    liveRunId.value = null
    liveNodes.value = {}
    finished.value = null
    buffered.clear()
  }

  /** Switches to another pipeline (or to none). */
  function setPipeline(id: number | null): void {
    if (pipelineId.value === id) return
    pipelineId.value = id
    slot.clear()
    resetLive()
    startError.value = null
    history.value = []
    historyTotal.value = 0
    historyPage.value = 1
    selectedRun.value = null
    selectedNodeId.value = null
    ledger.value = null
  }

  async function start(input: string): Promise<void> {
    if (pipelineId.value === null) return
    starting.value = true
    startError.value = null
    resetLive()
    selectedRun.value = null
    try {
      const result = await api.call('pipelines.run', { id: pipelineId.value, input })
      slot.track(result.job)
      if (buffered.size > 0) void identifyLiveRun()
    } catch (error) {
      startError.value = (error as Error).message
    } finally {
      starting.value = false
    }
  }

  async function cancel(): Promise<void> {
    const current = job.value
    if (!current || !isActive(current)) return
    slot.track(await api.call('jobs.cancel', { id: current.id }))
  }

  let historyRequest = 0
  async function fetchHistory(options: { quiet?: boolean } = {}): Promise<void> {
    if (pipelineId.value === null) return
    const current = ++historyRequest
    if (!options.quiet) historyLoading.value = true
    try {
      const result = await api.call('pipelines.runs', {
        id: pipelineId.value,
        limit: historyPageSize.value,
        offset: (historyPage.value - 1) * historyPageSize.value,
      })
      if (current !== historyRequest) return
      history.value = result.items
      historyTotal.value = result.total
      historyError.value = null
    } catch (error) {
      if (current === historyRequest) historyError.value = (error as Error).message
    } finally {
      if (current === historyRequest) historyLoading.value = false
    }
  }

  function setHistoryPage(page: number): void {
    historyPage.value = page
    void fetchHistory()
  }

  let selectRequest = 0
  /** Loads one run's full trace for the trace viewer and the canvas. */
  async function selectRun(runId: number | null): Promise<void> {
    const current = ++selectRequest
    if (runId === null) {
      selectedRun.value = null
      selectedNodeId.value = null
      return
    }
    selectedLoading.value = true
    selectedError.value = null
    try {
      const run = await api.call('pipelines.runs.get', { runId })
      if (current !== selectRequest) return
      selectedRun.value = run
      if (!selectedNodeId.value || !run.trace.nodes[selectedNodeId.value]) {
        selectedNodeId.value = run.trace.path[0] ?? Object.keys(run.trace.nodes)[0] ?? null
      }
    } catch (error) {
      if (current === selectRequest) selectedError.value = (error as Error).message
    } finally {
      if (current === selectRequest) selectedLoading.value = false
    }
  }

  async function fetchLedger(): Promise<void> {
    ledgerLoading.value = true
    try {
      ledger.value = await api.call(
        'pipelines.ledger',
        ledgerScope.value === 'pipeline' && pipelineId.value !== null ? { id: pipelineId.value } : {},
      )
      ledgerError.value = null
    } catch (error) {
      ledgerError.value = (error as Error).message
    } finally {
      ledgerLoading.value = false
    }
  }

  function setLedgerScope(scope: 'pipeline' | 'all'): void {
    ledgerScope.value = scope
    void fetchLedger()
  }

  /** After missed events: the job, the run's trace and the lists may all have moved on. */
  async function resync(): Promise<void> {
    await slot.resync()
    if (isActive(job.value)) {
      liveRunId.value = null
      await identifyLiveRun()
      if (liveRunId.value !== null) {
        try {
          liveNodes.value = (await api.call('pipelines.runs.get', { runId: liveRunId.value })).trace.nodes
        } catch {
          // Keep what is shown.
        }
      }
    }
    void fetchHistory({ quiet: true })
    if (selectedRun.value) void selectRun(selectedRun.value.id)
    if (ledger.value) void fetchLedger()
  }

  /** The picked history run wins; otherwise the run started here. */
  const overlay = computed<TraceOverlay | null>(() => {
    if (selectedRun.value) {
      return {
        nodes: selectedRun.value.trace.nodes,
        path: new Set(selectedRun.value.trace.path),
        runId: selectedRun.value.id,
      }
    }
    if (Object.keys(liveNodes.value).length === 0) return null
    return {
      nodes: liveNodes.value,
      path: new Set(finished.value?.trace.path ?? []),
      runId: liveRunId.value,
    }
  })

  return {
    pipelineId,
    job,
    running,
    starting,
    startError,
    liveRunId,
    liveNodes,
    finished,
    history,
    historyTotal,
    historyPage,
    historyPageSize,
    historyLoading,
    historyError,
    selectedRun,
    selectedLoading,
    selectedError,
    selectedNodeId,
    ledger,
    ledgerScope,
    ledgerLoading,
    ledgerError,
    overlay,
    setPipeline,
    start,
    cancel,
    fetchHistory,
    setHistoryPage,
    selectRun,
    fetchLedger,
    setLedgerScope,
    resync,
  }
})
