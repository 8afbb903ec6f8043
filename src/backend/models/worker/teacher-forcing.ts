/**
 * Teacher forcing, the one mechanism behind the dataset teacher's log-probs (`teacher-logprobs.ts`) and the
 * evaluation's token metrics (`distill/eval/token-metrics.ts`): `tokens` are evaluated once with node-llama-cpp's
 * `controlledEvaluate`, and the next-token probabilities are read at every position that predicts an answer token
 * (`tokens[answerStart..]`). `options` is the sampler chain the probabilities come after (node-llama-cpp's default
 * when absent); callers say which they use. Runs inside the model worker.
 */
import type { LlamaContextSequence, Token } from 'node-llama-cpp'

export interface ForcingOptions {
  temperature?: number
  topK?: number
  topP?: number
  minP?: number
}

/** The model's softmax over the whole vocabulary: temperature 1, top-k / top-p / min-p off. */
export const FULL_SOFTMAX: ForcingOptions = { temperature: 1, topK: 0, topP: 1, minP: 0 }

/** One map per answer token (`undefined` where llama.cpp returned none), in answer order. */
export async function answerPositionProbabilities(
  sequence: LlamaContextSequence,
  tokens: readonly Token[],
  answerStart: number,
  options?: ForcingOptions,
): Promise<Array<Map<Token, number> | undefined>> {
  // The token before the answer predicts its first token; with no tokens before it, that position has no map.
  const first = answerStart - 1
  const generateNext = options ? { probabilities: true, options } : { probabilities: true }
  // The last token predicts nothing we read, so it is not evaluated.
  const input = tokens
    .slice(0, -1)
    .map((token, index) => (index >= first ? ([token, { generateNext }] as const) : token))
  const results = await sequence.controlledEvaluate(input as never)
  const maps: Array<Map<Token, number> | undefined> = []
  type Result = { next?: { probabilities?: Map<Token, number> } } | undefined
  for (let index = first; index < tokens.length - 1; index++) {
    maps.push(index < 0 ? undefined : (results[index] as Result)?.next?.probabilities)
  }
  return maps
}
