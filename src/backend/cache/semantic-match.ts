/**
 * When a semantic neighbour may answer a request: the one rule the gateway serves by (`CacheService.lookup`) and the
 * planner predicts with (`planning/semantic-what-if.ts`), so a prediction and what is then served agree.
 */
import { semanticText, type CacheableRequest, type CanonicalRequest } from '../../shared/cache-key'
import { refusingGuard, type GuardSettings } from './guards'

/** Neighbours above the threshold considered per request, best first (the first acceptable one is served). */
export const SEMANTIC_CANDIDATES = 5

/**
 * Null when `candidate` may answer the request; else why not: 'mismatch' (another model, kind or answer-changing
 * parameters: a paraphrase only counts for the same ones) or the name of the guard that refused it.
 * `query` is the request's semantic text (`semanticText`).
 */
export function semanticRefusal(
  query: string,
  request: CanonicalRequest,
  candidate: CanonicalRequest,
  guards: GuardSettings,
): string | null {
  if (
    candidate.model !== request.model ||
    candidate.kind !== request.kind ||
    JSON.stringify(candidate.params) !== JSON.stringify(request.params)
  ) {
    return 'mismatch'
  }
  return refusingGuard(query, semanticText(candidate as CacheableRequest), guards)
}
