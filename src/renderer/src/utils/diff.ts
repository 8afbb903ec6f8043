/**
 * A word-level diff (longest common subsequence over words and the whitespace between them), enough to show what
 * an operator changed in a cached answer. Answers are short; past `MAX_CELLS` the texts are compared by lines.
 */
export interface DiffPart {
  kind: 'same' | 'added' | 'removed'
  text: string
}

const MAX_CELLS = 4_000_000

function tokenize(text: string): string[] {
  return text.match(/\s+|[^\s]+/g) ?? []
}

function diffTokens(a: string[], b: string[]): DiffPart[] {
  // Strip the common head and tail first: edits are usually small.
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let endA = a.length
  let endB = b.length
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--
    endB--
  }
  const midA = a.slice(start, endA)
  const midB = b.slice(start, endB)
  const n = midA.length
  const m = midB.length
  // lengths[i][j]: LCS length of midA[i..] and midB[j..], in one flat array.
  const lengths = new Uint32Array((n + 1) * (m + 1))
  const at = (i: number, j: number): number => i * (m + 1) + j
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[at(i, j)] =
        midA[i] === midB[j] ? lengths[at(i + 1, j + 1)]! + 1 : Math.max(lengths[at(i + 1, j)]!, lengths[at(i, j + 1)]!)
    }
  }
  const parts: DiffPart[] = []
  const push = (kind: DiffPart['kind'], text: string): void => {
    const last = parts.at(-1)
    if (last && last.kind === kind) last.text += text
    else parts.push({ kind, text })
  }
  if (start > 0) push('same', a.slice(0, start).join(''))
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (midA[i] === midB[j]) {
      push('same', midA[i]!)
      i++
      j++
    } else if (lengths[at(i + 1, j)]! >= lengths[at(i, j + 1)]!) {
      push('removed', midA[i++]!)
    } else {
      push('added', midB[j++]!)
    }
  }
  while (i < n) push('removed', midA[i++]!)
  while (j < m) push('added', midB[j++]!)
  if (endA < a.length) push('same', a.slice(endA).join(''))
  return parts
}

/**
 * Word diffs read badly when removals and additions alternate word by word ("~~Here~~A ~~is~~new"): a run of
 * changes (with the plain spaces between them) becomes one removal followed by one addition.
 */
function groupChanges(parts: DiffPart[]): DiffPart[] {
  const grouped: DiffPart[] = []
  let removed = ''
  let added = ''
  const flush = (): void => {
    if (removed) grouped.push({ kind: 'removed', text: removed })
    if (added) grouped.push({ kind: 'added', text: added })
    removed = ''
    added = ''
  }
  parts.forEach((part, index) => {
    const inRun = removed !== '' || added !== ''
    const next = parts[index + 1]
    if (part.kind === 'removed') removed += part.text
    else if (part.kind === 'added') added += part.text
    else if (inRun && next && next.kind !== 'same' && /^\s+$/.test(part.text)) {
      removed += part.text
      added += part.text
    } else {
      flush()
      grouped.push({ ...part })
    }
  })
  flush()
  return grouped
}

/** The changes that turn `before` into `after`. */
export function diffWords(before: string, after: string): DiffPart[] {
  let a = tokenize(before)
  let b = tokenize(after)
  if (a.length * b.length > MAX_CELLS) {
    a = before.split(/(?<=\n)/)
    b = after.split(/(?<=\n)/)
  }
  return groupChanges(diffTokens(a, b))
}
