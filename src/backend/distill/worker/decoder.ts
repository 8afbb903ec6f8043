/**
 * Plain forward passes in the trainer worker, for what llama.cpp's training loop does not measure: teacher-forced
 * accuracy and loss on the *answer* tokens of held-out chat examples only (the training loss also counts the prompt),
 * and greedy answers to held-out prompts, so an operator sees what the student says after each epoch.
 */
import koffi from 'koffi'
import type { LlamaNative } from '../native/llama'

type Pointer = unknown

interface NativeBatch {
  n_tokens: number
  token: Pointer
  embd: Pointer
  pos: Pointer
  n_seq_id: Pointer
  seq_id: Pointer
  logits: Pointer
}

export interface AnswerScore {
  correct: number
  total: number
  lossSum: number
}

function argmaxAndLogProb(logits: Float32Array, target: number): { best: number; logProb: number } {
  let best = 0
  let max = -Infinity
  for (let index = 0; index < logits.length; index++) {
    const value = logits[index]!
    if (value > max) {
      max = value
      best = index
    }
  }
  let sum = 0
  for (let index = 0; index < logits.length; index++) sum += Math.exp(logits[index]! - max)
  return { best, logProb: (logits[target] ?? -Infinity) - max - Math.log(sum) }
}

export class Decoder {
  private readonly batch: NativeBatch
  private readonly memory: Pointer

  constructor(
    private readonly native: LlamaNative,
    private readonly context: Pointer,
    private readonly vocabularySize: number,
    private readonly capacity: number,
    private readonly contextSize: number,
  ) {
    this.batch = native.call<NativeBatch>('llama_batch_init', capacity, 0, 1)
    this.memory = native.call('llama_get_memory', context)
    // One sequence (id 0) for every token, written once.
    const seqPointers = koffi.decode(this.batch.seq_id, 'void *', capacity) as Pointer[]
    for (const pointer of seqPointers) koffi.encode(pointer, 'int32_t', 0)
    koffi.encode(this.batch.n_seq_id, koffi.array('int32_t', capacity), new Array<number>(capacity).fill(1))
  }

  free(): void {
    this.native.call('llama_batch_free', this.batch)
  }

  /** Decodes `tokens` from position `start`; logits are requested for every position in `outputs` (absolute). */
  private decodeChunk(tokens: ArrayLike<number>, start: number, outputs: (position: number) => boolean): void {
    const count = tokens.length
    const positions = Array.from({ length: count }, (_, index) => start + index)
    koffi.encode(this.batch.token, koffi.array('int32_t', count), Array.from(tokens))
    koffi.encode(this.batch.pos, koffi.array('int32_t', count), positions)
    koffi.encode(
      this.batch.logits,
      koffi.array('int8_t', count),
      positions.map((position) => (outputs(position) ? 1 : 0)),
    )
    const status = this.native.call<number>('llama_decode', this.context, { ...this.batch, n_tokens: count })
    if (status !== 0) throw new Error(`llama_decode failed with status ${status}.`)
  }

  private logitsAt(indexInBatch: number): Float32Array {
    const pointer = this.native.call<Pointer>('llama_get_logits_ith', this.context, indexInBatch)
    return this.native.readFloats(pointer, this.vocabularySize)
  }

  /** Runs `tokens` through the model, calling `onLogits(position, logits)` for positions `from` onwards. */
  private forward(tokens: Int32Array, from: number, onLogits: (position: number, logits: Float32Array) => void): void {
    this.native.call('llama_memory_clear', this.memory, true)
    for (let start = 0; start < tokens.length; start += this.capacity) {
      const chunk = tokens.subarray(start, Math.min(tokens.length, start + this.capacity))
      this.decodeChunk(chunk, start, (position) => position >= from)
      for (let index = 0; index < chunk.length; index++) {
        if (start + index >= from) onLogits(start + index, this.logitsAt(index))
      }
    }
  }

  /** Teacher-forced: does the model predict each answer token (`answerStart`..end) from what precedes it? */
  scoreAnswer(tokens: Int32Array, answerStart: number): AnswerScore {
    const score: AnswerScore = { correct: 0, total: 0, lossSum: 0 }
    if (answerStart < 1 || answerStart >= tokens.length) return score
    this.forward(tokens.subarray(0, tokens.length - 1), answerStart - 1, (position, logits) => {
      const target = tokens[position + 1]!
      const { best, logProb } = argmaxAndLogProb(logits, target)
      score.total++
      if (best === target) score.correct++
      score.lossSum -= logProb
    })
    return score
  }

  /** Greedy continuation of `prompt` until `stop` or `maxTokens`. */
  greedy(prompt: Int32Array, maxTokens: number, stop: number): number[] {
    const produced: number[] = []
    if (prompt.length === 0) return produced
    let last: Float32Array | undefined
    this.forward(prompt, prompt.length - 1, (_position, logits) => {
      last = logits
    })
    let position = prompt.length
    while (last && produced.length < maxTokens && position < this.contextSize) {
      const { best } = argmaxAndLogProb(last, 0)
      if (best === stop) break
      produced.push(best)
      this.decodeChunk([best], position, () => true)
      last = this.logitsAt(0)
      position++
    }
    return produced
  }
}
