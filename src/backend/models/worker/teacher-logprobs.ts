/**
 * A teacher's next-token distribution at every position of a given answer (teacher forcing): the prompt (a chat
 * through the model's own chat wrapper, as `LlamaChat` formats it, or plain text) and the answer's tokens are
 * evaluated with node-llama-cpp's `controlledEvaluate`; at each answer position we keep the top-k tokens with their
 * log-probs and the probability mass left outside them (the tail). Runs inside the model worker.
 *
 * What the numbers are: `controlledEvaluate` returns probabilities after its sampler chain. We ask for temperature 1
 * with top-k, top-p and min-p switched off, so they are the model's softmax over the whole vocabulary; the map is
 * then cut to the top k, and the tail is 1 minus their sum (clamped at 0 for rounding).
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp'
import { answerPositionProbabilities, FULL_SOFTMAX } from './teacher-forcing'

export interface TeacherLogprobsRequest {
  messages?: { role: 'system' | 'user' | 'assistant'; content: string }[]
  prompt?: string
  answer: string
  k: number
}

export interface TeacherLogprobsResult {
  k: number
  normalisation: string
  promptTokens: number
  tokens: {
    token: string
    logprob: number | null
    top: { token: string; logprob: number }[]
    tailMass: number | null
  }[]
}

export const NORMALISATION =
  'controlledEvaluate probabilities with temperature 1, top-k 0 (off), top-p 1 and min-p 0: the full softmax; ' +
  'top-k kept, tail = 1 - sum(top-k)'

async function promptTokens(model: LlamaModel, request: TeacherLogprobsRequest): Promise<Token[]> {
  if (request.prompt !== undefined) return model.tokenize(request.prompt, false)
  const { resolveChatWrapper } = await import('node-llama-cpp')
  const wrapper = resolveChatWrapper(model)
  const history = [
    ...request.messages!.map((message) =>
      message.role === 'assistant'
        ? { type: 'model' as const, response: [message.content] }
        : { type: message.role, text: message.content },
    ),
    { type: 'model' as const, response: [] },
  ]
  const { contextText } = wrapper.generateContextState({ chatHistory: history as never })
  return contextText.tokenize(model.tokenizer)
}

export async function teacherLogprobs(
  model: LlamaModel,
  sequence: LlamaContextSequence,
  request: TeacherLogprobsRequest,
): Promise<TeacherLogprobsResult> {
  const prompt = await promptTokens(model, request)
  const answer = model.tokenize(request.answer, false)
  if (prompt.length + answer.length >= sequence.contextSize) {
    throw new Error(
      `The prompt and answer take ${prompt.length + answer.length} tokens; the teacher's context holds ${sequence.contextSize}.`,
    )
  }
  const forced = await answerPositionProbabilities(sequence, [...prompt, ...answer], prompt.length, FULL_SOFTMAX)
  const tokens: TeacherLogprobsResult['tokens'] = []
  for (let i = 0; i < answer.length; i++) {
    const probabilities = forced[i]
    const target = answer[i]!
    if (!probabilities) {
      tokens.push({ token: model.detokenize([target]), logprob: null, top: [], tailMass: null })
      continue
    }
    const top: { token: string; logprob: number }[] = []
    let mass = 0
    for (const [token, probability] of probabilities) {
      if (top.length >= request.k) break
      top.push({ token: model.detokenize([token]), logprob: Math.log(Math.max(probability, 1e-30)) })
      mass += probability
    }
    const p = probabilities.get(target)
    tokens.push({
      token: model.detokenize([target]),
      logprob: p !== undefined && p > 0 ? Math.log(p) : null,
      top,
      tailMass: Math.max(0, 1 - mass),
    })
  }
  return { k: request.k, normalisation: NORMALISATION, promptTokens: prompt.length, tokens }
}
