/**
 * Token-level distillation metrics on answer positions only, computed in the model worker (it calls llama.cpp):
 * the teacher reads each eval example (prompt + the teacher's answer) by teacher forcing; at every answer position
 * we keep its top-k next-token probabilities and the remaining tail mass. Each student then reads the same tokens
 * and we measure KL(teacher || student) over the top-k plus one tail bucket, top-1 agreement, and the student's
 * negative log-likelihood of the teacher's answer tokens.
 *
 * Probabilities are what node-llama-cpp's `controlledEvaluate` returns (`generateNext.probabilities`): the
 * distribution after its default sampler chain, normalised over the tokens it lists, the same numbers
 * `gguf compare` uses. A student that tokenizes the text differently is refused with the reason (positions would
 * not line up); the caller still runs task metrics for it.
 */
import type { Llama, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp'
import { answerPositionProbabilities } from '../../models/worker/teacher-forcing'

export interface TokenEvalExample {
  /** The formatted prompt, ending where the answer starts. */
  prompt: string
  /** The formatted prompt followed by the teacher's answer. */
  full: string
}

export interface TokenEvalRequest {
  teacherPath: string
  students: Array<{ key: string; path: string }>
  examples: TokenEvalExample[]
  topK: number
  contextSize: number
  threads: number
}

export interface StudentTokenMetrics {
  key: string
  refused: string | null
  positions: number
  meanKl: number | null
  top1Agreement: number | null
  nll: number | null
  /** Mean KL of each example (null where refused or the example was too long). */
  perExample: Array<number | null>
}

export interface TokenEvalResult {
  topK: number
  positions: number
  skippedExamples: number
  normalisation: string
  students: StudentTokenMetrics[]
}

interface TeacherPosition {
  tokens: Token[]
  probs: number[]
  tail: number
  target: Token
}

const FLOOR = 1e-10

async function open(llama: Llama, path: string, contextSize: number, threads: number) {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
  const context = await model.createContext({ contextSize: Math.min(contextSize, model.trainContextSize), threads })
  const sequence = context.getSequence()
  return {
    model,
    sequence,
    dispose: async () => {
      await context.dispose()
      await model.dispose()
    },
  }
}

interface Tokenized {
  tokens: Token[]
  answerStart: number
}

function tokenizeExample(model: LlamaModel, example: TokenEvalExample): Tokenized {
  const bos = model.tokens.bos
  const withBos = (tokens: Token[]): Token[] => (bos !== null ? [bos, ...tokens] : tokens)
  const tokens = withBos(model.tokenize(example.full, true))
  const prompt = withBos(model.tokenize(example.prompt, true))
  let answerStart = 0
  while (answerStart < prompt.length && prompt[answerStart] === tokens[answerStart]) answerStart++
  return { tokens, answerStart: Math.max(1, answerStart) }
}

/** The probability maps at each answer position (the distribution predicting tokens[answerStart..]). */
async function answerDistributions(sequence: LlamaContextSequence, item: Tokenized): Promise<Map<Token, number>[]> {
  await sequence.clearHistory()
  const maps = await answerPositionProbabilities(sequence, item.tokens, item.answerStart)
  return maps.map((map) => map ?? new Map<Token, number>())
}

function topOf(map: Map<Token, number>, k: number): { tokens: Token[]; probs: number[]; tail: number } {
  const sorted = [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, k)
  const sum = sorted.reduce((total, [, p]) => total + p, 0)
  return { tokens: sorted.map(([t]) => t), probs: sorted.map(([, p]) => p), tail: Math.max(0, 1 - sum) }
}

function klWithTail(teacher: TeacherPosition, student: Map<Token, number>): number {
  let kl = 0
  let covered = 0
  teacher.tokens.forEach((token, index) => {
    const p = teacher.probs[index]!
    const q = student.get(token) ?? 0
    covered += q
    if (p > 0) kl += p * Math.log(p / Math.max(q, FLOOR))
  })
  const qTail = Math.max(0, 1 - covered)
  if (teacher.tail > 1e-9) kl += teacher.tail * Math.log(teacher.tail / Math.max(qTail, FLOOR))
  return Math.max(0, kl)
}

function argmax(map: Map<Token, number>): Token | undefined {
  let best: Token | undefined
  let bestP = -1
  for (const [token, p] of map) {
    if (p > bestP) {
      best = token
      bestP = p
    }
  }
  return best
}

async function teacherPass(
  llama: Llama,
  request: TokenEvalRequest,
): Promise<{ items: Array<Tokenized | null>; positions: Array<TeacherPosition[] | null>; vocab: number }> {
  const teacher = await open(llama, request.teacherPath, request.contextSize, request.threads)
  try {
    const limit = teacher.sequence.contextSize - 1
    const items = request.examples.map((example) => {
      const item = tokenizeExample(teacher.model, example)
      return item.tokens.length <= limit && item.answerStart < item.tokens.length ? item : null
    })
    const positions: Array<TeacherPosition[] | null> = []
    for (const item of items) {
      if (!item) {
        positions.push(null)
        continue
      }
      const maps = await answerDistributions(teacher.sequence, item)
      positions.push(
        maps.map((map, offset) => ({ ...topOf(map, request.topK), target: item.tokens[item.answerStart + offset]! })),
      )
    }
    return { items, positions, vocab: vocabSize(teacher.model) }
  } finally {
    await teacher.dispose()
  }
}

function vocabSize(model: LlamaModel): number {
  const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly unknown[] } } }).tokenizer?.ggml
    ?.tokens
  return Array.isArray(tokens) ? tokens.length : 0
}

function sameTokens(a: Token[], b: Token[]): boolean {
  return a.length === b.length && a.every((token, index) => token === b[index])
}

async function studentPass(
  llama: Llama,
  request: TokenEvalRequest,
  student: { key: string; path: string },
  teacher: Awaited<ReturnType<typeof teacherPass>>,
): Promise<StudentTokenMetrics> {
  const side = await open(llama, student.path, request.contextSize, request.threads)
  const empty = { key: student.key, positions: 0, meanKl: null, top1Agreement: null, nll: null }
  try {
    const studentVocab = vocabSize(side.model)
    if (teacher.vocab && studentVocab && teacher.vocab !== studentVocab) {
      return {
        ...empty,
        refused: `The student's tokenizer has ${studentVocab} tokens and the teacher's ${teacher.vocab}: token positions do not line up, so KL, top-1 agreement and NLL are not computed.`,
        perExample: request.examples.map(() => null),
      }
    }
    let klSum = 0
    let nllSum = 0
    let agree = 0
    let positions = 0
    const perExample: Array<number | null> = []
    for (const [index, example] of request.examples.entries()) {
      const item = teacher.items[index]
      const taught = teacher.positions[index]
      if (!item || !taught) {
        perExample.push(null)
        continue
      }
      const own = tokenizeExample(side.model, example)
      if (!sameTokens(own.tokens, item.tokens)) {
        return {
          ...empty,
          refused: `The student tokenizes example ${index + 1} differently from the teacher (${own.tokens.length} vs ${item.tokens.length} tokens): the tokenizers differ, so token-level metrics are refused.`,
          perExample: request.examples.map(() => null),
        }
      }
      const maps = await answerDistributions(side.sequence, item)
      let exampleKl = 0
      maps.forEach((map, offset) => {
        const position = taught[offset]!
        const kl = klWithTail(position, map)
        exampleKl += kl
        klSum += kl
        nllSum -= Math.log(Math.max(map.get(position.target) ?? 0, FLOOR))
        if (position.tokens[0] !== undefined && argmax(map) === position.tokens[0]) agree++
        positions++
      })
      perExample.push(maps.length > 0 ? exampleKl / maps.length : null)
    }
    if (positions === 0) return { ...empty, refused: 'No eval example fits the context.', perExample }
    return {
      key: student.key,
      refused: null,
      positions,
      meanKl: klSum / positions,
      top1Agreement: agree / positions,
      nll: nllSum / positions,
      perExample,
    }
  } finally {
    await side.dispose()
  }
}

export async function evaluateTokens(
  llama: Llama,
  request: TokenEvalRequest,
  onProgress: (done: number, total: number) => void,
): Promise<TokenEvalResult> {
  const total = request.students.length + 1
  const teacher = await teacherPass(llama, request)
  onProgress(1, total)
  const students: StudentTokenMetrics[] = []
  for (const [index, student] of request.students.entries()) {
    students.push(await studentPass(llama, request, student, teacher))
    onProgress(index + 2, total)
  }
  return {
    topK: request.topK,
    positions: teacher.positions.reduce((sum, list) => sum + (list?.length ?? 0), 0),
    skippedExamples: teacher.items.filter((item) => item === null).length,
    normalisation:
      'controlledEvaluate probabilities (after node-llama-cpp’s default sampler chain), teacher top-k plus one tail bucket',
    students,
  }
}
