/**
 * A synthetic extraction task ("invoice text -> JSON") with exact answers, for the trainer's tests, the training
 * benchmark and the docs. The answer's fields come from closed sets named somewhere in the text (vendor, currency,
 * status), so a student of a hundred thousand parameters learns the format within a couple of thousand steps;
 * whether an answer parses as JSON, and which fields are right, is easy to check.
 */
import { createSeededRandom } from '../gguf/tiny-model'
import type { ChatMessage } from './data'

const VENDORS = ['Acme Ltd', 'Globex', 'Initech', 'Umbrella Co', 'Hooli', 'Stark Parts', 'Wayne Supply', 'Tyrell']
const CURRENCIES = ['EUR', 'USD', 'GBP', 'KRW']
const STATUSES = ['paid', 'overdue', 'open']
const PHRASES = [
  (v: string, n: number, c: string, s: string) => `Invoice ${n} from ${v}, ${c}, ${s}.`,
  (v: string, n: number, c: string, s: string) => `${v} sent invoice ${n} in ${c}; it is ${s}.`,
  (v: string, n: number, c: string, s: string) => `Status ${s}: ${c} invoice ${n} by ${v}.`,
]

export interface InvoiceAnswer {
  vendor: string
  currency: string
  status: string
}

export interface InvoiceExample {
  messages: ChatMessage[]
  answer: InvoiceAnswer
}

export function invoiceExamples(count: number, seed = 7): InvoiceExample[] {
  const random = createSeededRandom(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  return Array.from({ length: count }, () => {
    const answer = { vendor: pick(VENDORS), currency: pick(CURRENCIES), status: pick(STATUSES) }
    const number = 1000 + Math.floor(random() * 9000)
    return {
      answer,
      messages: [
        { role: 'user', content: pick(PHRASES)(answer.vendor, number, answer.currency, answer.status) },
        { role: 'assistant', content: JSON.stringify(answer) },
      ],
    }
  })
}

/** One JSONL line per example, as `larder distill train --data` reads it. */
export function toChatJsonl(examples: ReadonlyArray<{ messages: ChatMessage[] }>): string {
  return examples.map((example) => JSON.stringify({ messages: example.messages })).join('\n') + '\n'
}
