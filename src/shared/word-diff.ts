/** A word-level diff of two answers (LCS), for the evaluation report's side-by-side view. Pure. */
export function wordDiff(reference: string, answer: string): Array<{ op: 'same' | 'add' | 'del'; text: string }> {
  const a = reference.split(/(\s+)/).filter((part) => part.length > 0)
  const b = answer.split(/(\s+)/).filter((part) => part.length > 0)
  const table: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i]![j] = a[i] === b[j] ? table[i + 1]![j + 1]! + 1 : Math.max(table[i + 1]![j]!, table[i]![j + 1]!)
    }
  }
  const out: Array<{ op: 'same' | 'add' | 'del'; text: string }> = []
  const push = (op: 'same' | 'add' | 'del', text: string): void => {
    const last = out.at(-1)
    if (last && last.op === op) last.text += text
    else out.push({ op, text })
  }
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push('same', a[i]!)
      i++
      j++
    } else if (table[i + 1]![j]! >= table[i]![j + 1]!) push('del', a[i++]!)
    else push('add', b[j++]!)
  }
  while (i < a.length) push('del', a[i++]!)
  while (j < b.length) push('add', b[j++]!)
  return out
}
