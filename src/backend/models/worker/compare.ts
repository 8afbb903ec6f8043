/**
 * Quality of a quantized model against its original, measured the way llama.cpp's perplexity tool does: both
 * models read the same text token by token; at each position we compare their next-token distributions (KL
 * divergence of quantized from original, top-1 agreement) and score the true next token (perplexity).
 * Runs inside the model worker (it calls llama.cpp).
 */
import type { Llama, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp'

export interface CompareRequest {
  originalPath: string
  quantizedPath: string
  text: string
  /** Evaluate at most this many positions (tokens of the text). */
  maxPositions: number
  contextSize: number
  threads: number
}

export interface ModelScore {
  perplexity: number
  tokensPerSecond: number
  sizeBytes: number
}

export interface CompareResult {
  positions: number
  meanKlDivergence: number
  maxKlDivergence: number
  top1Agreement: number
  original: ModelScore
  quantized: ModelScore
}

const FLOOR = 1e-10
const CHUNK = 32

interface Side {
  model: LlamaModel
  sequence: LlamaContextSequence
  nll: number
  seconds: number
  dispose(): Promise<void>
}

async function open(llama: Llama, path: string, contextSize: number, threads: number): Promise<Side> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 })
  const context = await model.createContext({ contextSize: Math.min(contextSize, model.trainContextSize), threads })
  return {
    model,
    sequence: context.getSequence(),
    nll: 0,
    seconds: 0,
    dispose: async () => {
      await context.dispose()
      await model.dispose()
    },
  }
}

async function distributions(side: Side, tokens: Token[]): Promise<Map<Token, number>[]> {
  const started = performance.now()
  const results = await side.sequence.controlledEvaluate(
    tokens.map((token) => [token, { generateNext: { probabilities: true } }] as const) as never,
  )
  side.seconds += (performance.now() - started) / 1000
  return results.map((result) => result?.next.probabilities ?? new Map<Token, number>())
}

export async function compareModels(
  llama: Llama,
  request: CompareRequest,
  onProgress: (done: number, total: number) => void,
): Promise<CompareResult> {
  const original = await open(llama, request.originalPath, request.contextSize, request.threads)
  const quantized = await open(llama, request.quantizedPath, request.contextSize, request.threads)
  try {
    const tokens = original.model.tokenize(request.text)
    const other = quantized.model.tokenize(request.text)
    if (tokens.length !== other.length || tokens.some((token, i) => token !== other[i])) {
      throw new Error('The two models tokenize the text differently; they are not the same model at two precisions.')
    }
    // Leave room in the context; every evaluated position predicts the next token, so the last one has no target.
    const usable = Math.min(tokens.length, request.maxPositions + 1, original.sequence.contextSize - 1)
    if (usable < 2) throw new Error('The text is too short: it needs at least two tokens.')
    const total = usable - 1
    let klSum = 0
    let klMax = 0
    let agree = 0
    for (let start = 0; start < total; start += CHUNK) {
      const chunk = tokens.slice(start, Math.min(start + CHUNK, total))
      const [a, b] = [await distributions(original, chunk), await distributions(quantized, chunk)]
      for (let i = 0; i < chunk.length; i++) {
        const p = a[i]!
        const q = b[i]!
        const target = tokens[start + i + 1]!
        original.nll -= Math.log(Math.max(p.get(target) ?? 0, FLOOR))
        quantized.nll -= Math.log(Math.max(q.get(target) ?? 0, FLOOR))
        let kl = 0
        for (const [token, probability] of p) {
          if (probability > 0) kl += probability * Math.log(probability / Math.max(q.get(token) ?? 0, FLOOR))
        }
        klSum += kl
        klMax = Math.max(klMax, kl)
        const topP = p.keys().next().value
        const topQ = q.keys().next().value
        if (topP !== undefined && topP === topQ) agree++
      }
      onProgress(Math.min(start + CHUNK, total), total)
    }
    const score = (side: Side): ModelScore => ({
      perplexity: Math.exp(side.nll / total),
      tokensPerSecond: side.seconds > 0 ? total / side.seconds : 0,
      sizeBytes: side.model.size,
    })
    return {
      positions: total,
      meanKlDivergence: klSum / total,
      maxKlDivergence: klMax,
      top1Agreement: agree / total,
      original: score(original),
      quantized: score(quantized),
    }
  } finally {
    await original.dispose()
    await quantized.dispose()
  }
}
