/**
 * Token windows: what one training step sees. The examples of a split are joined into one token stream (each
 * starting with BOS and ending with EOS, as the tokenizer and the worker add them) and cut into windows of
 * `context + 1` tokens: the first `context` are the inputs, the last `context` the next-token labels. The last
 * window wraps around to the start, so no example is dropped and even a tiny split fills one window.
 */
import { createSeededRandom } from '../gguf/tiny-model'

export interface TokenWindows {
  /** Window i is tokens [i * (context + 1), (i + 1) * (context + 1)). */
  tokens: Int32Array
  count: number
  context: number
  /** Tokens of the stream (before wrapping). */
  streamTokens: number
}

export function packWindows(sequences: readonly ArrayLike<number>[], context: number, stride = context): TokenWindows {
  const streamLength = sequences.reduce((sum, sequence) => sum + sequence.length, 0)
  if (streamLength === 0) return { tokens: new Int32Array(0), count: 0, context, streamTokens: 0 }
  const stream = new Int32Array(streamLength)
  let at = 0
  for (const sequence of sequences) {
    stream.set(sequence, at)
    at += sequence.length
  }
  const count = Math.max(1, Math.ceil((streamLength - 1) / stride))
  const width = context + 1
  const tokens = new Int32Array(count * width)
  for (let window = 0; window < count; window++) {
    const start = window * stride
    for (let offset = 0; offset < width; offset++)
      tokens[window * width + offset] = stream[(start + offset) % streamLength]!
  }
  return { tokens, count, context, streamTokens: streamLength }
}

/** Inputs and labels of one window, as llama.cpp's dataset wants them. */
export function windowAt(windows: TokenWindows, index: number): { inputs: Int32Array; labels: Int32Array } {
  const width = windows.context + 1
  const start = index * width
  return {
    inputs: windows.tokens.subarray(start, start + windows.context),
    labels: windows.tokens.subarray(start + 1, start + width),
  }
}

/** The order of windows in one epoch: a seeded shuffle (the same seed and epoch give the same order). */
export function epochOrder(count: number, seed: number, epoch: number, shuffle: boolean): number[] {
  const order = Array.from({ length: count }, (_, index) => index)
  if (!shuffle) return order
  const random = createSeededRandom((seed * 7919 + epoch * 104_729) >>> 0)
  for (let index = count - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1))
    ;[order[index], order[other]] = [order[other]!, order[index]!]
  }
  return order
}

/**
 * llama.cpp's common_opt_dataset_init: windows of `context + 1` tokens every `stride` tokens over one stream,
 * without wrapping (the tail that does not fill a window is dropped).
 */
export function strideWindows(stream: Int32Array, context: number, stride: number): TokenWindows {
  const count = Math.max(0, Math.floor((stream.length - context - 1) / stride))
  const width = context + 1
  const tokens = new Int32Array(count * width)
  for (let window = 0; window < count; window++) {
    tokens.set(stream.subarray(window * stride, window * stride + width), window * width)
  }
  return { tokens, count, context, streamTokens: stream.length }
}

/** Windows [from, to) of a set, as a set of their own. */
export function sliceWindows(windows: TokenWindows, from: number, to: number): TokenWindows {
  const width = windows.context + 1
  return {
    tokens: windows.tokens.slice(from * width, to * width),
    count: Math.max(0, to - from),
    context: windows.context,
    streamTokens: (to - from) * windows.context,
  }
}
