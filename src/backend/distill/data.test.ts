import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../../test/helpers'
import { DatasetError, formatPlain, parseDataset, readDataset, splitExamples, stableFraction } from './data'

const line = (user: string, answer: string): string =>
  JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: answer },
    ],
  })

describe('dataset parsing', () => {
  it('reads OpenAI chat JSONL, reports bad lines by number and uses the rest', () => {
    const text = [
      line('a', 'b'),
      '{not json',
      JSON.stringify({ prompt: 'x' }),
      '',
      JSON.stringify({ messages: [{ role: 'user', content: 'only a question' }] }),
      JSON.stringify({
        messages: [
          { role: 'robot', content: 'x' },
          { role: 'assistant', content: 'y' },
        ],
      }),
      line('c', 'd'),
    ].join('\n')
    const dataset = parseDataset(text, { format: 'chat', valFraction: 0 })
    expect(dataset.examples.map((example) => example.line)).toEqual([1, 7])
    expect(dataset.problems.map((problem) => problem.line)).toEqual([2, 3, 5, 6])
    expect(dataset.problems[0]!.message).toMatch(/^Line 2 not valid JSON/)
    expect(dataset.problems[1]!.message).toBe('Line 3 has no "messages" array.')
    expect(dataset.problems[2]!.message).toBe('Line 5 has no assistant answer to learn from.')
    expect(dataset.problems[3]!.message).toMatch(/role "robot"/)
  })

  it('refuses an empty dataset and one with no usable line, saying why', () => {
    expect(() => parseDataset('  \n\n', { format: 'chat', valFraction: 0.1 })).toThrowError(/dataset is empty/)
    try {
      parseDataset('{"a":1}\nnope\n', { format: 'chat', valFraction: 0.1 })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(DatasetError)
      expect((error as DatasetError).message).toMatch(
        /No line of the dataset is usable: Line 1 has no "messages" array\. Line 2 not valid JSON/,
      )
      expect((error as DatasetError).problems).toHaveLength(2)
    }
  })

  it('splits by a stable hash: the same example lands on the same side whatever else is in the file', () => {
    const examples = Array.from({ length: 400 }, (_, index) => ({
      line: index + 1,
      kind: 'text' as const,
      text: `doc ${index}`,
    }))
    const first = splitExamples(examples, 0.1)
    const shuffled = splitExamples([...examples].reverse().slice(0, 200), 0.1)
    const side = new Map(first.map((example) => [example.text, example.split]))
    for (const example of shuffled) expect(example.split).toBe(side.get(example.text))
    const val = first.filter((example) => example.split === 'val').length
    expect(val).toBeGreaterThan(20)
    expect(val).toBeLessThan(65)
    expect(stableFraction('doc 1')).toBe(stableFraction('doc 1'))
  })

  it('always holds out one example when there are at least two, and never holds out all', () => {
    const two = splitExamples(
      [
        { line: 1, kind: 'text' as const, text: 'alpha' },
        { line: 2, kind: 'text' as const, text: 'beta' },
      ],
      0.0001,
    )
    expect(two.filter((example) => example.split === 'val')).toHaveLength(1)
    const all = splitExamples(
      [
        { line: 1, kind: 'text' as const, text: 'alpha' },
        { line: 2, kind: 'text' as const, text: 'beta' },
      ],
      1,
    )
    expect(all.filter((example) => example.split === 'train')).toHaveLength(1)
  })

  it('reads plain text as documents separated by blank lines, and detects the format', () => {
    const dir = tempDir()
    const path = join(dir, 'notes.txt')
    writeFileSync(path, 'First document\nstill first.\n\n\nSecond one.\n')
    const dataset = readDataset(path, { valFraction: 0 })
    expect(dataset.format).toBe('text')
    expect(dataset.examples.map((example) => (example.kind === 'text' ? example.text : ''))).toEqual([
      'First document\nstill first.',
      'Second one.',
    ])
    expect(dataset.examples.map((example) => example.line)).toEqual([1, 5])
    expect(dataset.sha256).toMatch(/^[0-9a-f]{64}$/)
    const jsonl = join(dir, 'data.jsonl')
    writeFileSync(jsonl, `${line('q', 'a')}\n`)
    expect(readDataset(jsonl, { valFraction: 0 }).format).toBe('chat')
    expect(() => readDataset(join(dir, 'missing.jsonl'), { valFraction: 0 })).toThrowError(/No dataset file/)
    expect(() => readDataset(dir, { valFraction: 0 })).toThrowError(/is a folder, not a dataset file/)
  })

  it('formats chat with the documented plain template', () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi' },
      { role: 'assistant' as const, content: 'Hello.' },
    ]
    expect(formatPlain(messages, false)).toBe('System: Be brief.\nUser: Hi\nAssistant: Hello.\n')
    expect(formatPlain(messages.slice(0, 2), true)).toBe('System: Be brief.\nUser: Hi\nAssistant: ')
  })
})
