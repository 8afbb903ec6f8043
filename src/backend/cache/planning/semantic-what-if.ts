/**
 * The semantic what-if: how many evaluation requests that are not exact hits of the basis cache (the top N) would be
 * answered by a semantic match at threshold t. It runs the gateway's own pieces on the logged prompts' embeddings
 * (the plan's vector store): the same in-memory index (`semantic-index.ts`, default options), the same number of
 * neighbours above the threshold, and the same acceptance rule (`semantic-match.ts`: model, kind and parameters,
 * then the namespace's guards). So what it predicts is what the gateway serves once those N entries are approved and
 * semantic matching is switched on at t (up to the index's approximate search past 2,048 entries, which only ever
 * finds fewer matches, never more).
 *
 * Every threshold at once: the neighbours are ranked once; at threshold t the gateway serves the first acceptable one
 * of the top few that are >= t, so a request is answered at t exactly when the best acceptable neighbour among the
 * top few overall has similarity >= t.
 */
import type { CachePlan } from '../../../shared/contract'
import { semanticText, type CacheableRequest, type CanonicalRequest } from '../../../shared/cache-key'
import type { GuardSettings } from '../guards'
import { VectorIndex } from '../semantic-index'
import { SEMANTIC_CANDIDATES, semanticRefusal } from '../semantic-match'
import { evalTotal, type PlanCore } from './core'

type SemanticWhatIf = CachePlan['whatIfs']['semantic']

export const SWEEP = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99]
const EXAMPLES = 10

export interface QueryOutcome {
  keyId: number
  requests: number
  /** Similarity of the first candidate (any), and of the first acceptable one with its key id. */
  best: number
  accepted: { similarity: number; keyId: number } | null
}

/** Key ids the what-if needs vectors for: the cache, and the evaluation requests it does not answer exactly. */
function neededKeys(core: PlanCore, top: Int32Array): { cache: number[]; queries: Map<number, number> } {
  const { log } = core
  const inCache = new Uint8Array(log.keys.length)
  for (const keyId of top) inCache[keyId] = 1
  const queries = new Map<number, number>()
  for (let i = core.evalFrom; i < core.evalTo; i++) {
    const keyId = log.key[i]!
    if (!inCache[keyId] && log.canonical[keyId] !== null) queries.set(keyId, (queries.get(keyId) ?? 0) + 1)
  }
  return { cache: [...top].filter((keyId) => log.canonical[keyId] !== null), queries }
}

function buildIndex(core: PlanCore, cache: number[], vectorOf: (keyId: number) => Float32Array): VectorIndex | null {
  if (cache.length === 0) return null
  const index = new VectorIndex(vectorOf(cache[0]!).length)
  index.reserve(cache.length)
  index.bulk((add) => {
    for (const keyId of cache) add(keyId + 1, core.log.keys[keyId]!, vectorOf(keyId))
  })
  return index
}

function outcomeOf(
  index: VectorIndex,
  parsed: (keyId: number) => CanonicalRequest,
  query: { keyId: number; requests: number; vector: Float32Array },
  guards: GuardSettings,
  lowest: number,
): QueryOutcome {
  const request = parsed(query.keyId)
  const text = semanticText(request as CacheableRequest)
  const candidates = index.search(query.vector, lowest).slice(0, SEMANTIC_CANDIDATES)
  const outcome: QueryOutcome = { ...query, best: candidates[0]?.similarity ?? -1, accepted: null }
  for (const candidate of candidates) {
    const keyId = candidate.entryId - 1
    if (semanticRefusal(text, request, parsed(keyId), guards) === null) {
      outcome.accepted = { similarity: candidate.similarity, keyId }
      break
    }
  }
  return outcome
}

/** Everything the aggregate is made of: per distinct evaluation request, its best neighbours' verdict. */
export function semanticOutcomes(
  core: PlanCore,
  top: Int32Array,
  guards: GuardSettings,
  vectors: Map<string, Float32Array>,
  lowest: number,
): { outcomes: QueryOutcome[]; parsed: (keyId: number) => CanonicalRequest } {
  const { log } = core
  const { cache, queries } = neededKeys(core, top)
  const vectorOf = (keyId: number): Float32Array => vectors.get(log.keys[keyId]!)!
  const parsedCache = new Map<number, CanonicalRequest>()
  const parsed = (keyId: number): CanonicalRequest => {
    let found = parsedCache.get(keyId)
    if (!found) {
      found = JSON.parse(log.canonical[keyId]!) as CanonicalRequest
      parsedCache.set(keyId, found)
    }
    return found
  }
  const index = buildIndex(core, cache, vectorOf)
  const outcomes = index
    ? [...queries].map(([keyId, requests]) =>
        outcomeOf(index, parsed, { keyId, requests, vector: vectorOf(keyId) }, guards, lowest),
      )
    : []
  return { outcomes, parsed }
}

export function semanticWhatIf(
  core: PlanCore,
  top: Int32Array,
  settings: { threshold: number; guards: GuardSettings; basisRate: number },
  vectors: Map<string, Float32Array> | null,
): SemanticWhatIf {
  const { log } = core
  const { cache, queries } = neededKeys(core, top)
  const needed = [...cache, ...queries.keys()]
  const embedded = vectors ? needed.filter((keyId) => vectors.has(log.keys[keyId]!)).length : 0
  const empty = { embedded, needed: needed.length, hits: null, extra: null, hitRate: null, refused: null }
  const base = { threshold: settings.threshold, sweep: [], examples: [] }
  if (!vectors) return { status: 'no-embedder', ...base, ...empty }
  if (embedded < needed.length) return { status: 'needs-embedding', ...base, ...empty }

  const thresholds = [...new Set([...SWEEP, settings.threshold])].sort((a, b) => a - b)
  const { outcomes, parsed } = semanticOutcomes(core, top, settings.guards, vectors, thresholds[0]!)
  const total = evalTotal(core)
  const answers = (o: QueryOutcome, t: number): boolean => o.accepted !== null && o.accepted.similarity >= t
  const hitsAt = (t: number): number => outcomes.reduce((sum, o) => sum + (answers(o, t) ? o.requests : 0), 0)
  const hits = hitsAt(settings.threshold)
  const refused = outcomes.reduce(
    (sum, o) => sum + (o.best >= settings.threshold && !answers(o, settings.threshold) ? o.requests : 0),
    0,
  )
  const textOf = (keyId: number): string => log.promptText[keyId] ?? semanticText(parsed(keyId) as CacheableRequest)
  const examples = outcomes
    .filter((o) => answers(o, settings.threshold))
    .sort((a, b) => b.requests - a.requests)
    .slice(0, EXAMPLES)
    .map((o) => ({
      promptText: textOf(o.keyId),
      matchedText: textOf(o.accepted!.keyId),
      similarity: o.accepted!.similarity,
      requests: o.requests,
    }))
  const extra = total > 0 ? hits / total : 0
  return {
    status: 'ready',
    threshold: settings.threshold,
    embedded,
    needed: needed.length,
    hits,
    extra,
    hitRate: settings.basisRate + extra,
    refused,
    sweep: thresholds.map((t) => ({ threshold: t, extra: total > 0 ? hitsAt(t) / total : 0 })),
    examples,
  }
}
