/**
 * Which tensors train. llama.cpp offers every F32 tensor except the token embedding (which stays frozen) to a
 * parameter filter; "all" keeps them all, "last N" keeps the last N transformer blocks plus the final norm and the
 * output projection, which adapts a model to a domain at a fraction of the memory for gradients and AdamW state.
 */
export type LayerSelection = 'all' | { last: number }

const FROZEN = new Set(['token_embd.weight', 'rope_freqs.weight'])
const HEAD = new Set(['output.weight', 'output_norm.weight', 'output.bias', 'output_norm.bias'])

export function isTrainable(name: string, selection: LayerSelection, blockCount: number): boolean {
  if (FROZEN.has(name)) return false
  if (selection === 'all') return true
  if (HEAD.has(name)) return true
  const block = /^blk\.(\d+)\./.exec(name)
  if (!block) return false
  return Number(block[1]) >= blockCount - selection.last
}

/** Parses the CLI's `--layers all | last:N`. */
export function parseLayerSelection(text: string): LayerSelection {
  if (text === 'all') return 'all'
  const match = /^last:(\d+)$/.exec(text)
  if (!match || Number(match[1]) < 1) throw new RangeError('--layers takes "all" or "last:N" with N at least 1')
  return { last: Number(match[1]) }
}
