/**
 * Training data for the built-in trainer: JSONL in OpenAI's chat format (`{"messages": [{role, content}, ...]}`, what
 * every trainer and fine-tuning API reads) or plain text (documents separated by blank lines). Bad JSONL lines are
 * reported with their line numbers and the rest is used; a file with nothing usable is a clear error.
 *
 * The train/validation split is by a stable hash of each example's content, so an example lands on the same side
 * whatever else the file holds, in whatever order (and duplicates never straddle the split).
 */
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { extname } from 'node:path'

export type ChatRole = 'system' | 'user' | 'assistant'
export interface ChatMessage {
  role: ChatRole
  content: string
}

export type DatasetFormat = 'chat' | 'text'
export type Split = 'train' | 'val'

export interface ChatExample {
  line: number
  kind: 'chat'
  messages: ChatMessage[]
  split: Split
}
export interface TextExample {
  line: number
  kind: 'text'
  text: string
  split: Split
}
export type DatasetExample = ChatExample | TextExample

export interface DatasetProblem {
  line: number
  message: string
}

export interface ParsedDataset {
  format: DatasetFormat
  examples: DatasetExample[]
  problems: DatasetProblem[]
  /** SHA-256 of the file's bytes: the dataset's identity in a run's provenance. */
  sha256: string
  bytes: number
  lines: number
}

export class DatasetError extends Error {
  constructor(
    message: string,
    readonly problems: DatasetProblem[] = [],
  ) {
    super(message)
    this.name = 'DatasetError'
  }
}

export const MAX_DATASET_BYTES = 512 * 1024 * 1024
const ROLES: readonly ChatRole[] = ['system', 'user', 'assistant']

/** Chat JSONL by extension (.jsonl/.json), plain text by extension (.txt/.md), otherwise by the first character. */
export function detectFormat(path: string, text: string): DatasetFormat {
  const extension = extname(path).toLowerCase()
  if (extension === '.jsonl' || extension === '.json' || extension === '.ndjson') return 'chat'
  if (extension === '.txt' || extension === '.md' || extension === '.text') return 'text'
  return text.trimStart().startsWith('{') ? 'chat' : 'text'
}

/** Checks one JSONL line; returns the messages or says what is wrong in words an operator can act on. */
export function parseChatLine(line: string): { messages: ChatMessage[] } | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return { error: `not valid JSON (${(error as Error).message})` }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' }
  const messages = (value as { messages?: unknown }).messages
  if (!Array.isArray(messages)) return { error: 'has no "messages" array' }
  if (messages.length === 0) return { error: '"messages" is empty' }
  const parsed: ChatMessage[] = []
  for (const [index, message] of messages.entries()) {
    if (typeof message !== 'object' || message === null) return { error: `message ${index + 1} is not an object` }
    const { role, content } = message as { role?: unknown; content?: unknown }
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      return { error: `message ${index + 1} has role ${JSON.stringify(role)} (expected system, user or assistant)` }
    }
    if (typeof content !== 'string') return { error: `message ${index + 1} has no text "content"` }
    parsed.push({ role: role as ChatRole, content })
  }
  if (!parsed.some((message) => message.role === 'assistant' && message.content.trim().length > 0)) {
    return { error: 'has no assistant answer to learn from' }
  }
  return { messages: parsed }
}

/** A number in [0, 1) from the SHA-256 of the example's content: the same content always gets the same number. */
export function stableFraction(content: string): number {
  const digest = createHash('sha256').update(content).digest()
  return digest.readUInt32BE(0) / 0x1_0000_0000
}

type Unsplit = Omit<ChatExample, 'split'> | Omit<TextExample, 'split'>

function exampleKey(example: Unsplit): string {
  return example.kind === 'chat' ? JSON.stringify(example.messages) : example.text
}

/**
 * Assigns each example to validation when its stable fraction is below `valFraction`. With at least two examples and
 * none chosen, the one with the smallest fraction goes to validation, so there is always a validation curve.
 */
export function splitExamples<T extends Unsplit>(examples: T[], valFraction: number): Array<T & { split: Split }> {
  const fractions = examples.map((example) => stableFraction(exampleKey(example)))
  const result = examples.map((example, index) => ({
    ...example,
    split: (fractions[index]! < valFraction ? 'val' : 'train') as Split,
  }))
  if (valFraction > 0 && result.length >= 2 && !result.some((example) => example.split === 'val')) {
    const smallest = fractions.indexOf(Math.min(...fractions))
    const key = exampleKey(result[smallest]!)
    for (const example of result) if (exampleKey(example) === key) example.split = 'val'
  }
  if (result.length >= 2 && result.every((example) => example.split === 'val')) {
    const largest = fractions.indexOf(Math.max(...fractions))
    result[largest]!.split = 'train'
  }
  return result
}

function parseChat(text: string, problems: DatasetProblem[]): Array<Omit<ChatExample, 'split'>> {
  const examples: Array<Omit<ChatExample, 'split'>> = []
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, index) => {
    const line = raw.trim()
    if (line.length === 0) return
    const parsed = parseChatLine(line)
    if ('error' in parsed) problems.push({ line: index + 1, message: `Line ${index + 1} ${parsed.error}.` })
    else examples.push({ line: index + 1, kind: 'chat', messages: parsed.messages })
  })
  return examples
}

function parseText(text: string): Array<Omit<TextExample, 'split'>> {
  const examples: Array<Omit<TextExample, 'split'>> = []
  const lines = text.split(/\r?\n/)
  let start = -1
  let buffer: string[] = []
  const flush = (): void => {
    const document = buffer.join('\n').trim()
    if (document.length > 0) examples.push({ line: start + 1, kind: 'text', text: document })
    buffer = []
    start = -1
  }
  lines.forEach((line, index) => {
    if (line.trim().length === 0) {
      flush()
      return
    }
    if (start < 0) start = index
    buffer.push(line)
  })
  flush()
  return examples
}

/** Parses a dataset's text. Throws `DatasetError` when nothing in it can be trained on. */
export function parseDataset(
  text: string,
  options: { format: DatasetFormat; valFraction: number; sha256?: string; bytes?: number },
): ParsedDataset {
  const problems: DatasetProblem[] = []
  const sha256 = options.sha256 ?? createHash('sha256').update(text).digest('hex')
  const lineCount = text.length === 0 ? 0 : text.split(/\r?\n/).length
  if (text.trim().length === 0) throw new DatasetError('The dataset is empty: there is nothing to train on.')
  const raw: Unsplit[] = options.format === 'chat' ? parseChat(text, problems) : parseText(text)
  if (raw.length === 0) {
    throw new DatasetError(
      `No line of the dataset is usable: ${problems
        .slice(0, 3)
        .map((problem) => problem.message)
        .join(' ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''} ` +
        'Each line must be a JSON object like {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}.',
      problems,
    )
  }
  return {
    format: options.format,
    examples: splitExamples(raw, options.valFraction) as DatasetExample[],
    problems,
    sha256,
    bytes: options.bytes ?? Buffer.byteLength(text),
    lines: lineCount,
  }
}

/** Reads and parses a dataset file. */
export function readDataset(path: string, options: { valFraction: number; format?: DatasetFormat }): ParsedDataset {
  let size: number
  try {
    const stat = statSync(path)
    if (!stat.isFile()) throw new DatasetError(`${path} is a folder, not a dataset file: name a .jsonl or .txt file.`)
    size = stat.size
  } catch (error) {
    if (error instanceof DatasetError) throw error
    throw new DatasetError(`No dataset file at ${path}.`)
  }
  if (size > MAX_DATASET_BYTES) {
    throw new DatasetError(
      `The dataset is ${Math.round(size / 1024 / 1024)} MiB; the built-in trainer reads at most 512 MiB.`,
    )
  }
  const bytes = readFileSync(path)
  const text = bytes.toString('utf8')
  return parseDataset(text, {
    format: options.format ?? detectFormat(path, text),
    valFraction: options.valFraction,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    bytes: bytes.length,
  })
}

/** The documented plain template, used when the student has no chat template llama.cpp knows. */
export const PLAIN_ROLE_LABELS: Record<ChatRole, string> = {
  system: 'System',
  user: 'User',
  assistant: 'Assistant',
}

/**
 * `System: ...\nUser: ...\nAssistant: ...\n`, one line per message. A prompt for generation ends with
 * `Assistant:` and a space, where the answer starts. (docs/distillation.md shows it.)
 */
export function formatPlain(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  const text = messages.map((message) => `${PLAIN_ROLE_LABELS[message.role]}: ${message.content}\n`).join('')
  return addGenerationPrompt ? `${text}${PLAIN_ROLE_LABELS.assistant}: ` : text
}
