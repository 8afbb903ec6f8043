/**
 * Dataset file formats: OpenAI chat JSONL (`{"messages": [...]}`, the fine-tuning format), ShareGPT
 * (`{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}`) and Alpaca (`{"instruction", "input", "output"}`).
 * Reading reports every bad line by number and keeps the rest; writing adds the teacher's top-k log-probs as a side
 * field (`larder_logprobs`) when an example has them, which trainers that do not know it ignore.
 */
import { basename } from 'node:path'
import type { ExportFormat, LogprobsRecord } from '../../../shared/contract'
import { parseChatLine, type ChatMessage } from '../data'

export type ImportFormat = 'openai' | 'sharegpt' | 'alpaca'

/** One example read from a file or a source: the conversation before the answer, and the answer if there is one. */
export interface Candidate {
  prompt: ChatMessage[]
  answer: string | null
  sourceRef: string | null
}

export interface ParsedFile {
  format: ImportFormat
  candidates: Candidate[]
  problems: { line: number; message: string }[]
}

const SHAREGPT_ROLES: Record<string, ChatMessage['role']> = {
  system: 'system',
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  chatgpt: 'assistant',
}

/** Splits a conversation at its last assistant message: what comes before is the prompt, that message the answer. */
export function splitConversation(messages: ChatMessage[]): { prompt: ChatMessage[]; answer: string | null } {
  const last = messages.at(-1)
  if (last?.role === 'assistant') return { prompt: messages.slice(0, -1), answer: last.content }
  return { prompt: messages, answer: null }
}

function detectLineFormat(value: Record<string, unknown>): ImportFormat | null {
  if (Array.isArray(value.messages)) return 'openai'
  if (Array.isArray(value.conversations)) return 'sharegpt'
  if (typeof value.instruction === 'string') return 'alpaca'
  return null
}

function fromShareGpt(value: Record<string, unknown>): ChatMessage[] | string {
  const turns = value.conversations as unknown[]
  if (turns.length === 0) return '"conversations" is empty'
  const messages: ChatMessage[] = []
  for (const [index, turn] of turns.entries()) {
    const { from, value: text } = (turn ?? {}) as { from?: unknown; value?: unknown }
    const role = typeof from === 'string' ? SHAREGPT_ROLES[from.toLowerCase()] : undefined
    if (!role) return `turn ${index + 1} has "from" ${JSON.stringify(from)} (expected human, gpt or system)`
    if (typeof text !== 'string') return `turn ${index + 1} has no text "value"`
    messages.push({ role, content: text })
  }
  return messages
}

function fromAlpaca(value: Record<string, unknown>): ChatMessage[] | string {
  const { instruction, input, output, system } = value as Record<string, unknown>
  if (typeof instruction !== 'string' || instruction.trim() === '') return 'has an empty "instruction"'
  if (input !== undefined && typeof input !== 'string') return '"input" is not text'
  if (output !== undefined && typeof output !== 'string') return '"output" is not text'
  const user = typeof input === 'string' && input.trim() !== '' ? `${instruction}\n\n${input}` : instruction
  return [
    ...(typeof system === 'string' && system !== '' ? [{ role: 'system' as const, content: system }] : []),
    { role: 'user' as const, content: user },
    ...(typeof output === 'string' && output !== '' ? [{ role: 'assistant' as const, content: output }] : []),
  ]
}

function parseLine(
  line: string,
  format: ImportFormat | 'auto',
): { messages: ChatMessage[]; format: ImportFormat } | string {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (error) {
    return `is not valid JSON (${(error as Error).message})`
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object'
  const record = value as Record<string, unknown>
  const lineFormat = format === 'auto' ? detectLineFormat(record) : format
  if (!lineFormat) return 'is neither OpenAI chat ("messages"), ShareGPT ("conversations") nor Alpaca ("instruction")'
  if (lineFormat === 'openai') {
    // Prompts without an answer are fine here (a teacher answers them); parseChatLine insists on one.
    const withAnswer = Array.isArray(record.messages)
      ? { ...record, messages: [...record.messages, { role: 'assistant', content: 'x' }] }
      : record
    const parsed = parseChatLine(JSON.stringify(withAnswer))
    if ('error' in parsed) return parsed.error
    return { messages: parsed.messages.slice(0, -1), format: lineFormat }
  }
  const messages = lineFormat === 'sharegpt' ? fromShareGpt(record) : fromAlpaca(record)
  return typeof messages === 'string' ? messages : { messages, format: lineFormat }
}

/** Reads a JSONL file of one format (or each line's own, with 'auto'); bad lines are reported by number. */
export function parseDatasetFile(path: string, text: string, format: ImportFormat | 'auto'): ParsedFile {
  const candidates: Candidate[] = []
  const problems: ParsedFile['problems'] = []
  const seen = new Map<ImportFormat, number>()
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim()
    if (line === '') return
    const parsed = parseLine(line, format)
    const number = index + 1
    if (typeof parsed === 'string') {
      problems.push({ line: number, message: `Line ${number} ${parsed}.` })
      return
    }
    const { prompt, answer } = splitConversation(parsed.messages)
    if (!prompt.some((message) => message.role === 'user' && message.content.trim() !== '')) {
      problems.push({ line: number, message: `Line ${number} has no user message to learn from.` })
      return
    }
    seen.set(parsed.format, (seen.get(parsed.format) ?? 0) + 1)
    candidates.push({ prompt, answer, sourceRef: `${basename(path)}:${number}` })
  })
  const detected = format !== 'auto' ? format : ([...seen.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'openai')
  return { format: detected, candidates, problems }
}

export interface ExportRecord {
  messages: ChatMessage[]
  logprobs: LogprobsRecord | null
}

/** One exported line in the chosen format. */
export function formatExportLine(record: ExportRecord, format: ExportFormat): string {
  const side = record.logprobs ? { larder_logprobs: record.logprobs } : {}
  if (format === 'openai') return JSON.stringify({ messages: record.messages, ...side })
  if (format === 'sharegpt') {
    const from = { system: 'system', user: 'human', assistant: 'gpt' } as const
    return JSON.stringify({
      conversations: record.messages.map((message) => ({ from: from[message.role], value: message.content })),
      ...side,
    })
  }
  const system = record.messages.filter((message) => message.role === 'system').map((message) => message.content)
  const users = record.messages.filter((message) => message.role === 'user').map((message) => message.content)
  const answer = record.messages.findLast((message) => message.role === 'assistant')?.content ?? ''
  return JSON.stringify({
    instruction: users.join('\n\n'),
    input: '',
    output: answer,
    ...(system.length > 0 ? { system: system.join('\n\n') } : {}),
    ...side,
  })
}
