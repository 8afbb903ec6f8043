/**
 * The hot path's shortcut past zod: a chat body made only of the common fields (model, text messages of the usual
 * roles, the usual sampling numbers) is checked here by hand, in a fraction of the time. Anything else (tools,
 * response_format, stream_options, content parts, unknown fields, any doubtful value) goes to the zod schema, which
 * stays the authority: `plain-chat.test.ts` proves that every body accepted here is one zod accepts.
 */

const PLAIN_ROLES = new Set(['system', 'developer', 'user', 'assistant'])

function inRange(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && value >= min && value <= max
}

function wholeAtLeast(value: unknown, min: number): boolean {
  return Number.isSafeInteger(value) && (value as number) >= min
}

/** Each common field's check (the same bounds as the zod schema in requests.ts). */
const PLAIN_FIELDS: Record<string, (value: unknown) => boolean> = {
  model: (value) => typeof value === 'string' && value.length >= 1 && value.length <= 200,
  messages: plainMessages,
  temperature: (value) => inRange(value, 0, 2),
  top_p: (value) => inRange(value, 0, 1),
  presence_penalty: (value) => inRange(value, -2, 2),
  frequency_penalty: (value) => inRange(value, -2, 2),
  max_tokens: (value) => wholeAtLeast(value, 1),
  max_completion_tokens: (value) => wholeAtLeast(value, 1),
  top_k: (value) => wholeAtLeast(value, 0),
  seed: (value) => Number.isSafeInteger(value),
  n: (value) => value === 1,
  stream: (value) => typeof value === 'boolean',
  user: (value) => typeof value === 'string',
}

function plainMessages(value: unknown): boolean {
  if (!Array.isArray(value) || value.length < 1 || value.length > 500) return false
  for (const message of value as unknown[]) {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) return false
    const { role, content } = message as Record<string, unknown>
    if (typeof role !== 'string' || !PLAIN_ROLES.has(role) || typeof content !== 'string') return false
    for (const key in message) if (key !== 'role' && key !== 'content') return false
  }
  return true
}

/** True when `body` is a chat body of common fields only, each valid. False means: ask zod. */
export function isPlainChat(body: unknown): body is Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false
  if (!('model' in body) || !('messages' in body)) return false
  for (const key in body) {
    const check = PLAIN_FIELDS[key]
    if (!check || !check((body as Record<string, unknown>)[key])) return false
  }
  return true
}
