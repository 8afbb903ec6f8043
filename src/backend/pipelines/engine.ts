/**
 * The pipeline run engine: executes a graph in dependency order, running independent branches concurrently, with a
 * per-node timeout and retry, cancellation, and a bound on the tokens a run may spend. Every node's inputs, outputs,
 * model calls (tokens in/out, latency, iteration) and the path taken are recorded in a trace.
 *
 * Branches that are not taken (a router's other labels, a judge's fail port when it passed, a cache miss port on a
 * hit) leave their output ports empty; a node whose every input is empty is skipped, so only the taken path runs.
 */
import {
  nodeConfigSchemas,
  promptVariables,
  validatePipeline,
  type NodeConfig,
  type NodeType,
  type PipelineDefinition,
  type PipelineEdge,
  type PipelineNode,
} from '../../shared/pipeline-definition'
import type { GenerateRequest, GenerateResult, Provider } from '../models/providers/types'

/** A model or provider, by id (its `name`, when the definition carries it, is what resolves it: service.ts). */
export type Target = { model: number; name?: string | undefined } | { provider: number; name?: string | undefined }

export interface EngineServices {
  provider(target: Target | null): Promise<{ provider: Provider; label: string }>
  cacheLookup(namespaceId: number, model: string, text: string): Promise<string | null>
  cacheStore(namespaceId: number, model: string, text: string, answer: string): Promise<void>
  templateFill(family: string, segment: Record<string, string>, data: Record<string, unknown>): Promise<string>
}

export interface ModelCall {
  model: string
  role: string
  tokensIn: number
  tokensOut: number
  latencyMs: number
  iteration?: number
  /** The node's attempt (2, 3... on retries, which sample with another seed). */
  attempt?: number
  /** What was sent to the model: the rendered chat messages (or a plain completion prompt). */
  prompt?: PromptSent
}

export interface PromptSent {
  messages?: { role: string; content: string }[]
  text?: string
}

/** The rendered prompt of a request, as the trace records it. */
export function promptSent(request: GenerateRequest): PromptSent {
  return {
    ...(request.messages ? { messages: request.messages.map(({ role, content }) => ({ role, content })) } : {}),
    ...(request.prompt !== undefined ? { text: request.prompt } : {}),
  }
}

/** 'not-run': the run ended (a failure, a cancel) before this node's turn came. */
export type NodeStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'not-run'

export interface NodeTrace {
  nodeId: string
  type: NodeType
  status: NodeStatus
  inputs: Record<string, unknown>
  outputs: Record<string, unknown>
  calls: ModelCall[]
  attempts: number
  startedAt: string | null
  durationMs: number | null
  error: string | null
  /** Something the operator should know although the node succeeded (e.g. a loop that never passed). */
  warning: string | null
  iterations: { iteration: number; score: number | null; reason: string | null; text: string }[]
}

export interface RunTrace {
  nodes: Record<string, NodeTrace>
  /** Node ids in the order they finished running (skipped nodes are not on the path). */
  path: string[]
}

export interface RunResult {
  status: 'succeeded' | 'failed' | 'cancelled'
  output: string | null
  error: string | null
  failedNode: string | null
  trace: RunTrace
  tokensIn: number
  tokensOut: number
  durationMs: number
}

export interface RunOptions {
  signal?: AbortSignal
  /** Called whenever a node changes state (for live progress). */
  onNode?: (trace: NodeTrace) => void
}

export class PipelineValidationError extends Error {
  constructor(readonly problems: { nodeId?: string; message: string }[]) {
    super(`The pipeline is not valid: ${problems.map((p) => p.message).join(' ')}`)
  }
}

class NodeError extends Error {}

class BudgetExceeded extends Error {}

/**
 * What a judge may answer: an integer score from 0 to 10 (an enum, so a local model's grammar allows exactly those
 * eleven numbers; providers read the bounds) and a short reason (bounded, so max_tokens cannot cut the JSON off).
 */
const JUDGE_REASON_MAX = 200
export const JUDGE_SCHEMA = {
  type: 'object',
  properties: {
    score: { type: 'integer', minimum: 0, maximum: 10, enum: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
    reason: { type: 'string', maxLength: JUDGE_REASON_MAX },
  },
  required: ['score', 'reason'],
}
/**
 * Tokens a judge's answer may take at most under that schema (a character is at most 4 byte tokens, plus the JSON
 * around it): the judge always gets at least this many, so max_tokens never cuts its JSON short.
 */
const JUDGE_MAX_TOKENS = 4 * JUDGE_REASON_MAX + 64

/** Sampling for attempt 2, 3...: another seed, and not greedy (a greedy retry repeats what failed, token for token). */
export function retrySampling(request: GenerateRequest, attempt: number): GenerateRequest {
  if (attempt <= 1) return request
  return {
    ...request,
    seed: (request.seed ?? 0) + 7919 * (attempt - 1),
    temperature: request.temperature === undefined || request.temperature === 0 ? 0.3 : request.temperature,
  }
}

function render(template: string, variables: (name: string) => string | undefined): string {
  return template.replace(
    /\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_-]*)?)\s*\}\}/g,
    (whole, name: string) => variables(name) ?? whole,
  )
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return ''
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function parseJudgement(text: string): { score: number; reason: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new NodeError(`The judge's answer is not JSON: ${text.slice(0, 200)}`)
  }
  const candidate = parsed as { score?: unknown; reason?: unknown }
  if (typeof candidate.score !== 'number' || !Number.isFinite(candidate.score)) {
    throw new NodeError(`The judge's answer has no numeric "score": ${text.slice(0, 200)}`)
  }
  // A provider that does not enforce the schema may still answer 7.5 or 12: the nearest score on the scale.
  return {
    score: Math.max(0, Math.min(10, Math.round(candidate.score))),
    reason: typeof candidate.reason === 'string' ? candidate.reason : '',
  }
}

export async function runPipeline(
  definition: PipelineDefinition,
  input: string,
  services: EngineServices,
  options: RunOptions = {},
): Promise<RunResult> {
  const problems = validatePipeline(definition)
  if (problems.length > 0) throw new PipelineValidationError(problems)
  const started = performance.now()
  const nodes = new Map(definition.nodes.map((node) => [node.id, node]))
  const incoming = new Map<string, PipelineEdge[]>(definition.nodes.map((node) => [node.id, []]))
  for (const edge of definition.edges) incoming.get(edge.target)!.push(edge)
  const outputs = new Map<string, Record<string, unknown>>()
  const trace: RunTrace = { nodes: {}, path: [] }
  for (const node of definition.nodes) {
    trace.nodes[node.id] = {
      nodeId: node.id,
      type: node.type,
      status: 'pending',
      inputs: {},
      outputs: {},
      calls: [],
      attempts: 0,
      startedAt: null,
      durationMs: null,
      error: null,
      warning: null,
      iterations: [],
    }
  }
  let tokensIn = 0
  let tokensOut = 0
  const runController = new AbortController()
  const onOuterAbort = (): void => runController.abort(options.signal?.reason ?? new Error('Cancelled'))
  options.signal?.addEventListener('abort', onOuterAbort)

  const variable = (name: string): string | undefined => {
    if (name === 'input') return input
    const [nodeId, port] = name.split('.') as [string, string | undefined]
    const values = outputs.get(nodeId)
    if (!values) return undefined
    if (port) return values[port] === undefined ? undefined : asText(values[port])
    const primary =
      values.out ?? values.pass ?? values.hit ?? Object.values(values).find((value) => value !== undefined)
    return primary === undefined ? undefined : asText(primary)
  }

  const callModel = async (
    nodeTrace: NodeTrace,
    target: Target | null,
    request: GenerateRequest,
    role: string,
    signal: AbortSignal,
    iteration?: number,
  ): Promise<GenerateResult> => {
    const attempt = nodeTrace.attempts
    if (tokensIn + tokensOut >= definition.maxTokensPerRun) {
      throw new BudgetExceeded(
        `The run used its token budget (${definition.maxTokensPerRun} tokens) before ${nodeTrace.nodeId} could call its model.`,
      )
    }
    const { provider, label } = await services.provider(target)
    const result = await provider.generate({ ...retrySampling(request, attempt), signal })
    tokensIn += result.tokensIn
    tokensOut += result.tokensOut
    nodeTrace.calls.push({
      model: label,
      role,
      tokensIn: result.tokensIn,
      tokensOut: result.tokensOut,
      latencyMs: result.durationMs,
      ...(iteration !== undefined ? { iteration } : {}),
      ...(attempt > 1 ? { attempt } : {}),
      prompt: promptSent(request),
    })
    if (tokensIn + tokensOut > definition.maxTokensPerRun) {
      throw new BudgetExceeded(
        `The run exceeded its token budget (${tokensIn + tokensOut} of ${definition.maxTokensPerRun} tokens) at ${nodeTrace.nodeId}.`,
      )
    }
    return result
  }

  const judge = async (
    nodeTrace: NodeTrace,
    config: NodeConfig<'judge'> | NodeConfig<'reflect'>,
    candidate: string,
    signal: AbortSignal,
    iteration?: number,
  ) => {
    const reply = await callModel(
      nodeTrace,
      config.target,
      {
        messages: [
          {
            role: 'system',
            content:
              'You are a strict reviewer. Score the text from 0 (useless) to 10 (perfect) against the rubric and give a short reason. Answer in JSON.',
          },
          { role: 'user', content: `Rubric:\n${render(config.rubric, variable)}\n\nText:\n${candidate}` },
        ],
        ...config.sampling,
        maxTokens: Math.max(config.sampling.maxTokens, JUDGE_MAX_TOKENS),
        jsonSchema: JUDGE_SCHEMA,
      },
      'judge',
      signal,
      iteration,
    )
    return parseJudgement(reply.text)
  }

  /** Runs one node's logic once; returns its output ports (undefined = port not taken). */
  const execute = async (
    node: PipelineNode,
    inputText: string,
    inputParts: Record<string, unknown>,
    nodeTrace: NodeTrace,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> => {
    const variables = (name: string): string | undefined => (name === 'in' ? inputText : variable(name))
    switch (node.type) {
      case 'input':
        return { out: input }
      case 'output':
        return { out: inputText }
      case 'llm': {
        const config = nodeConfigSchemas.llm.parse(node.config)
        const system = render(config.system, variables)
        const prompt = render(config.prompt, variables)
        const reply = await callModel(
          nodeTrace,
          config.target,
          {
            messages: [
              ...(system ? [{ role: 'system' as const, content: system }] : []),
              { role: 'user' as const, content: prompt },
            ],
            ...config.sampling,
            ...(config.jsonSchema ? { jsonSchema: config.jsonSchema } : {}),
          },
          'generate',
          signal,
        )
        if (config.jsonSchema) {
          try {
            JSON.parse(reply.text)
          } catch {
            throw new NodeError(`The model's answer is not the JSON the schema asks for: ${reply.text.slice(0, 200)}`)
          }
        }
        return { out: reply.text }
      }
      case 'judge': {
        const config = nodeConfigSchemas.judge.parse(node.config)
        const verdict = await judge(nodeTrace, config, inputText, signal)
        const passed = verdict.score >= config.threshold
        return {
          pass: passed ? inputText : undefined,
          fail: passed ? undefined : inputText,
          score: verdict.score,
          reason: verdict.reason,
        }
      }
      case 'reflect': {
        const config = nodeConfigSchemas.reflect.parse(node.config)
        let draft = inputText
        let last: { score: number; reason: string } = { score: 0, reason: '' }
        for (let iteration = 1; iteration <= config.maxIterations; iteration++) {
          last = await judge(nodeTrace, config, draft, signal, iteration)
          nodeTrace.iterations.push({ iteration, score: last.score, reason: last.reason, text: draft })
          if (last.score >= config.threshold) return { out: draft, score: last.score }
          if (iteration === config.maxIterations) break
          const revised = await callModel(
            nodeTrace,
            config.target,
            {
              messages: [
                {
                  role: 'user',
                  content: render(config.revisePrompt, (name) =>
                    name === 'draft'
                      ? draft
                      : name === 'critique'
                        ? last.reason
                        : name === 'rubric'
                          ? config.rubric
                          : variables(name),
                  ),
                },
              ],
              ...config.sampling,
            },
            'revise',
            signal,
            iteration,
          )
          draft = revised.text
        }
        nodeTrace.warning = `Stopped after ${config.maxIterations} iteration(s) without passing the judge (last score ${last.score} of ${config.threshold} needed); the last draft is passed on.`
        return { out: draft, score: last.score }
      }
      case 'router': {
        const config = nodeConfigSchemas.router.parse(node.config)
        let label: string | undefined
        if (config.mode === 'rules') {
          for (const route of config.routes) {
            const matches =
              route.match === 'contains'
                ? inputText.toLowerCase().includes(route.value.toLowerCase())
                : route.match === 'regex'
                  ? safeRegex(route.value, node.id).test(inputText)
                  : route.match === 'longer-than'
                    ? inputText.length > Number(route.value)
                    : inputText.length < Number(route.value)
            if (matches) {
              label = route.label
              break
            }
          }
        } else {
          const labels = config.routes.map((route) => route.label)
          const reply = await callModel(
            nodeTrace,
            config.target,
            {
              messages: [
                {
                  role: 'system',
                  content: `${render(config.instructions, variables)}\nLabels: ${labels.join(', ')}. Answer in JSON.`,
                },
                { role: 'user', content: inputText },
              ],
              maxTokens: 64,
              temperature: 0,
              jsonSchema: {
                type: 'object',
                properties: { label: { type: 'string', enum: labels } },
                required: ['label'],
              },
            },
            'classify',
            signal,
          )
          try {
            const parsed = JSON.parse(reply.text) as { label?: unknown }
            label = typeof parsed.label === 'string' && labels.includes(parsed.label) ? parsed.label : undefined
          } catch {
            throw new NodeError(`The classifier's answer is not JSON with a label: ${reply.text.slice(0, 200)}`)
          }
        }
        return { [label ?? 'default']: inputText }
      }
      case 'cache-lookup': {
        const config = nodeConfigSchemas['cache-lookup'].parse(node.config)
        const answer = await services.cacheLookup(config.namespaceId, config.model, inputText)
        return answer !== null ? { hit: answer } : { miss: inputText }
      }
      case 'cache-store': {
        const config = nodeConfigSchemas['cache-store'].parse(node.config)
        await services.cacheStore(config.namespaceId, config.model, input, inputText)
        return { out: inputText }
      }
      case 'template-fill': {
        const config = nodeConfigSchemas['template-fill'].parse(node.config)
        let data: Record<string, unknown>
        try {
          data = JSON.parse(inputText || input) as Record<string, unknown>
        } catch {
          throw new NodeError('Template fill needs JSON data (the profile to personalise with) as its input.')
        }
        return { out: await services.templateFill(config.family, config.segment, data) }
      }
      case 'merge': {
        const config = nodeConfigSchemas.merge.parse(node.config)
        const values = Object.entries(inputParts)
        if (config.mode === 'json') return { out: JSON.stringify(Object.fromEntries(values)) }
        if (config.mode === 'concat') return { out: values.map(([, value]) => asText(value)).join(config.separator) }
        return { out: asText(values[0]?.[1]) }
      }
    }
  }

  const runNode = async (node: PipelineNode): Promise<void> => {
    const nodeTrace = trace.nodes[node.id]!
    const edges = incoming.get(node.id)!
    const active = edges.filter((edge) => outputs.get(edge.source)?.[edge.sourcePort] !== undefined)
    if (edges.length > 0 && active.length === 0) {
      nodeTrace.status = 'skipped'
      outputs.set(node.id, {})
      options.onNode?.(nodeTrace)
      return
    }
    const parts: Record<string, unknown> = {}
    for (const edge of active) parts[edge.source] = outputs.get(edge.source)![edge.sourcePort]
    const inputText = active.map((edge) => asText(outputs.get(edge.source)![edge.sourcePort])).join('\n\n')
    nodeTrace.inputs = edges.length === 0 ? { input } : parts
    nodeTrace.status = 'running'
    nodeTrace.startedAt = new Date().toISOString()
    options.onNode?.(nodeTrace)
    const config = nodeConfigSchemas[node.type].parse(node.config) as { timeoutMs: number; retries: number }
    const nodeStarted = performance.now()
    for (let attempt = 1; ; attempt++) {
      nodeTrace.attempts = attempt
      const timeout = AbortSignal.timeout(config.timeoutMs)
      const signal = AbortSignal.any([runController.signal, timeout])
      try {
        const result = await execute(node, inputText, parts, nodeTrace, signal)
        if (runController.signal.aborted) throw runController.signal.reason
        outputs.set(node.id, result)
        nodeTrace.outputs = result
        nodeTrace.status = 'succeeded'
        nodeTrace.durationMs = performance.now() - nodeStarted
        trace.path.push(node.id)
        options.onNode?.(nodeTrace)
        return
      } catch (error) {
        if (runController.signal.aborted || error instanceof BudgetExceeded || attempt > config.retries) {
          nodeTrace.status = 'failed'
          nodeTrace.durationMs = performance.now() - nodeStarted
          nodeTrace.error =
            timeout.aborted && !runController.signal.aborted
              ? `Timed out after ${config.timeoutMs} ms.`
              : (error as Error).message
          options.onNode?.(nodeTrace)
          throw error
        }
        nodeTrace.error = `Attempt ${attempt} failed: ${(error as Error).message}`
      }
    }
  }

  // Dependency-ordered, concurrent scheduling: start every node whose upstream nodes have all settled.
  const settled = new Set<string>()
  const running = new Map<string, Promise<void>>()
  let failure: { nodeId: string; error: unknown } | undefined
  const ready = (node: PipelineNode): boolean => incoming.get(node.id)!.every((edge) => settled.has(edge.source))
  try {
    for (;;) {
      if (!failure) {
        for (const node of nodes.values()) {
          if (settled.has(node.id) || running.has(node.id) || !ready(node)) continue
          const promise = runNode(node).then(
            () => {
              settled.add(node.id)
              running.delete(node.id)
            },
            (error: unknown) => {
              failure ??= { nodeId: node.id, error }
              running.delete(node.id)
              runController.abort(error)
            },
          )
          running.set(node.id, promise)
        }
      }
      if (running.size === 0) break
      await Promise.race(running.values())
    }
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort)
  }
  // Nodes whose turn never came (after a failure or a cancel) say so, rather than waiting forever.
  for (const nodeTrace of Object.values(trace.nodes)) {
    if (nodeTrace.status !== 'pending') continue
    nodeTrace.status = 'not-run'
    options.onNode?.(nodeTrace)
  }
  const outputNode = definition.nodes.find(
    (node) => node.type === 'output' && trace.nodes[node.id]!.status === 'succeeded',
  )
  const cancelled = options.signal?.aborted === true
  return {
    status: failure ? (cancelled ? 'cancelled' : 'failed') : outputNode ? 'succeeded' : 'failed',
    output: outputNode ? asText(outputs.get(outputNode.id)?.out) : null,
    error: failure
      ? cancelled
        ? 'Cancelled.'
        : `${failure.nodeId}: ${(failure.error as Error).message}`
      : outputNode
        ? null
        : 'No Output node was reached.',
    failedNode: failure?.nodeId ?? null,
    trace,
    tokensIn,
    tokensOut,
    durationMs: performance.now() - started,
  }
}

function safeRegex(pattern: string, nodeId: string): RegExp {
  try {
    return new RegExp(pattern, 'i')
  } catch (error) {
    throw new NodeError(
      `${nodeId}: the route pattern /${pattern}/ is not a valid regular expression (${(error as Error).message}).`,
    )
  }
}

export { promptVariables }
