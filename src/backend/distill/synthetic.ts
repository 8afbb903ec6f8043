/**
 * A synthetic extraction task with exact answers, for the trainer's tests, the training benchmark and the docs: a
 * customer message in, `{"intent": ..., "urgent": ...}` out. The intent is named by a phrase somewhere in the
 * message and urgency by another, so the answer is read from the input rather than guessed; small students learn
 * it within a couple of thousand steps, and whether an answer parses as JSON (and is right) is easy to check.
 */
import { createSeededRandom } from '../gguf/tiny-model'
import type { ChatMessage } from './data'

const INTENTS: Record<string, readonly string[]> = {
  refund: ['I want my money back', 'please refund me', 'I would like a refund'],
  shipping: ['my package has not arrived', 'where is my delivery', 'the tracking page is stuck'],
  account: ['I cannot log in', 'my password reset fails', 'my account is locked'],
  billing: ['I was charged twice', 'the invoice total is wrong', 'my card was billed again'],
  cancel: ['please cancel my plan', 'stop my subscription', 'I want to close the account'],
}
const URGENT = ['It is urgent.', 'Please help today.', 'I need this fixed now.']
const CALM = ['No rush.', 'Thanks in advance.', 'Whenever you can.']
const OPENERS = ['Hi,', 'Hello,', 'Good morning,', 'Hey team,']

export interface TriageAnswer {
  intent: string
  urgent: boolean
}

export interface TriageExample {
  messages: ChatMessage[]
  answer: TriageAnswer
}

export function triageExamples(count: number, seed = 7): TriageExample[] {
  const random = createSeededRandom(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const intents = Object.keys(INTENTS)
  return Array.from({ length: count }, () => {
    const intent = pick(intents)
    const urgent = random() < 0.5
    const order = 1000 + Math.floor(random() * 9000)
    const text = `${pick(OPENERS)} ${pick(INTENTS[intent]!)} (order ${order}). ${pick(urgent ? URGENT : CALM)}`
    const answer = { intent, urgent }
    return {
      answer,
      messages: [
        { role: 'user', content: text },
        { role: 'assistant', content: JSON.stringify(answer) },
      ],
    }
  })
}

/** One JSONL line per example, as `larder distill train --data` reads it. */
export function toChatJsonl(examples: ReadonlyArray<{ messages: ChatMessage[] }>): string {
  return examples.map((example) => JSON.stringify({ messages: example.messages })).join('\n') + '\n'
}
