/**
 * Slot `pattern`s run on RE2 semantics (re2js, pure JavaScript, the same in the backend, the console and the edge
 * worker): matching takes time linear in the input, so a pattern like `(a+)+b` cannot stall the event loop of the
 * backend or of a worker that anonymous callers reach. RE2 has no backreferences or lookaround; a pattern that
 * needs them is refused when the family is saved, with RE2's reason.
 */
import { RE2JS } from 're2js'

export type CompiledPattern = { ok: true; matches(value: string): boolean } | { ok: false; message: string }

const cache = new Map<string, CompiledPattern>()
const CACHE_LIMIT = 1000

/** Compiles a slot pattern (matched against the whole value), remembering the result. Never throws. */
export function compilePattern(pattern: string): CompiledPattern {
  let compiled = cache.get(pattern)
  if (compiled) return compiled
  try {
    const re = RE2JS.compile(pattern)
    compiled = { ok: true, matches: (value) => re.matches(value) }
  } catch (error) {
    const reason = (error as Error).message.replace(/^error parsing regexp: /, '')
    compiled = { ok: false, message: `not a valid pattern (RE2 syntax: no backreferences or lookaround): ${reason}` }
  }
  if (cache.size >= CACHE_LIMIT) cache.clear()
  cache.set(pattern, compiled)
  return compiled
}
