/**
 * Where a JSON text goes wrong. Node's JSON.parse messages do not always carry a position ("Unexpected token ','
 * ... is not valid JSON"), and an operator editing a family file needs the line and column.
 */
export function jsonErrorPosition(text: string): { offset: number; line: number; column: number } | null {
  let at = 0
  const fail = (): never => {
    throw at
  }
  const skipSpace = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++
  }
  const literal = (word: string): void => {
    for (const char of word) {
      if (text[at] !== char) fail()
      at++
    }
  }
  const string = (): void => {
    at++ // opening quote
    for (;;) {
      if (at >= text.length) fail()
      const char = text[at]!
      if (char === '"') {
        at++
        return
      }
      if (char < ' ') fail()
      if (char === '\\') {
        at++
        const escape = text[at]
        if (escape === 'u') {
          for (let i = 1; i <= 4; i++) if (!/[0-9a-fA-F]/.test(text[at + i] ?? '')) fail()
          at += 5
          continue
        }
        if (escape === undefined || !'"\\/bfnrt'.includes(escape)) fail()
      }
      at++
    }
  }
  const number = (): void => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at))
    if (!match) fail()
    at += match![0].length
  }
  const value = (): void => {
    skipSpace()
    const char = text[at]
    if (char === '{') {
      at++
      skipSpace()
      if (text[at] === '}') {
        at++
        return
      }
      for (;;) {
        skipSpace()
        if (text[at] !== '"') fail()
        string()
        skipSpace()
        if (text[at] !== ':') fail()
        at++
        value()
        skipSpace()
        if (text[at] === ',') {
          at++
          continue
        }
        if (text[at] === '}') {
          at++
          return
        }
        fail()
      }
    }
    if (char === '[') {
      at++
      skipSpace()
      if (text[at] === ']') {
        at++
        return
      }
      for (;;) {
        value()
        skipSpace()
        if (text[at] === ',') {
          at++
          continue
        }
        if (text[at] === ']') {
          at++
          return
        }
        fail()
      }
    }
    if (char === '"') return string()
    if (char === 't') return literal('true')
    if (char === 'f') return literal('false')
    if (char === 'n') return literal('null')
    number()
  }
  try {
    value()
    skipSpace()
    if (at < text.length) fail()
    return null
  } catch (offset) {
    if (typeof offset !== 'number') throw offset
    const before = text.slice(0, offset)
    return { offset, line: before.split('\n').length, column: offset - before.lastIndexOf('\n') }
  }
}
