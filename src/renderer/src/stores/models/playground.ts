import { defineStore } from 'pinia'
import { computed, reactive, ref, watch } from 'vue'
import type { MethodInput, MethodOutput } from '../../../../shared/contract'
import { api } from '../../api'

export type GenerateResult = MethodOutput<'models.generate'>
export type GenerationTarget = MethodInput<'models.generate'>['target']

export interface ChatTurn {
  id: number
  role: 'user' | 'assistant'
  content: string
  /** Still receiving tokens. */
  streaming?: boolean
  stats?: Pick<GenerateResult, 'tokensIn' | 'tokensOut' | 'tokensPerSecond' | 'finishReason' | 'durationMs'>
  error?: string
}

const HISTORY_KEY = 'larder.playground.turns'
const HISTORY_TURNS = 200

/** The conversation kept from the last session; anything unreadable is dropped. */
function savedTurns(): ChatTurn[] {
  try {
    const parsed = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]') as unknown
    if (!Array.isArray(parsed)) return []
    return parsed.filter(
      (turn): turn is ChatTurn =>
        turn !== null &&
        typeof turn === 'object' &&
        typeof (turn as ChatTurn).id === 'number' &&
        ((turn as ChatTurn).role === 'user' || (turn as ChatTurn).role === 'assistant') &&
        typeof (turn as ChatTurn).content === 'string',
    )
  } catch {
    return []
  }
}

export interface Sampling {
  maxTokens: number
  temperature: number
  topP: number
  topK: number
  /** null: a random seed each time. */
  seed: number | null
}

export type SchemaCheck =
  | { ok: true; schema: Record<string, unknown> | undefined }
  | { ok: false; reason: 'syntax' | 'notObject'; detail: string }

/** The JSON-schema box, checked before anything is sent: empty means no schema. */
export function checkJsonSchema(text: string): SchemaCheck {
  if (text.trim() === '') return { ok: true, schema: undefined }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return { ok: false, reason: 'syntax', detail: (error as Error).message }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'notObject', detail: Array.isArray(parsed) ? 'array' : typeof parsed }
  }
  return { ok: true, schema: parsed as Record<string, unknown> }
}

/** `model:3` or `provider:2`: one select value for either kind of target. */
export function targetKey(target: GenerationTarget): string {
  return 'model' in target ? `model:${target.model}` : `provider:${target.provider}`
}
export function parseTargetKey(key: string | null): GenerationTarget | null {
  const match = key ? /^(model|provider):(\d+)$/.exec(key) : null
  if (!match) return null
  return match[1] === 'model' ? { model: Number(match[2]) } : { provider: Number(match[2]) }
}

let streamCounter = 0

/**
 * The Playground: one conversation with a loaded local model or a provider, streamed token by token
 * (`stream.token` events for this call's streamId), with the sampling parameters and optional JSON-schema output.
 */
export const usePlaygroundStore = defineStore('playground', () => {
  const targetKeyValue = ref<string | null>(null)
  const systemPrompt = ref('')
  const sampling = reactive<Sampling>({ maxTokens: 256, temperature: 0.7, topP: 0.95, topK: 40, seed: null })
  const jsonMode = ref(false)
  const jsonSchemaText = ref(
    '{\n  "type": "object",\n  "properties": { "answer": { "type": "string" } },\n  "required": ["answer"]\n}',
  )
  const turns = ref<ChatTurn[]>(savedTurns())
  const generating = ref(false)
  const stopping = ref(false)
  let nextTurnId = Math.max(0, ...turns.value.map((turn) => turn.id)) + 1
  // The conversation survives a reload and a restart (this browser's storage), as a chat app's history does.
  watch(
    turns,
    (value) => {
      const finished = value.filter((turn) => !turn.streaming)
      localStorage.setItem(HISTORY_KEY, JSON.stringify(finished.slice(-HISTORY_TURNS)))
    },
    { deep: true },
  )
  let activeStream: { id: string; turn: ChatTurn } | null = null

  const target = computed(() => parseTargetKey(targetKeyValue.value))

  api.on('stream.token', (token) => {
    if (!activeStream || token.streamId !== activeStream.id || token.done) return
    activeStream.turn.content += token.text
  })

  function conversation(): { role: 'system' | 'user' | 'assistant'; content: string }[] {
    const messages: { role: 'system' | 'user' | 'assistant'; content: string }[] = []
    if (systemPrompt.value.trim()) messages.push({ role: 'system', content: systemPrompt.value })
    for (const turn of turns.value) {
      if (turn.error || turn.streaming) continue
      messages.push({ role: turn.role, content: turn.content })
    }
    return messages
  }

  /** Sends the user's text and streams the reply into the conversation. Rejects with the ApiError on failure. */
  async function send(text: string): Promise<GenerateResult> {
    const chosen = target.value
    if (!chosen) throw new Error('No target')
    const schema = jsonMode.value ? checkJsonSchema(jsonSchemaText.value) : ({ ok: true, schema: undefined } as const)
    if (!schema.ok) throw new Error(schema.detail)
    turns.value.push({ id: nextTurnId++, role: 'user', content: text })
    return reply(chosen, schema.schema)
  }

  /** Drops the last answer and asks again with the same conversation (a new sample unless the seed is fixed). */
  async function regenerate(): Promise<GenerateResult> {
    const chosen = target.value
    if (!chosen) throw new Error('No target')
    const schema = jsonMode.value ? checkJsonSchema(jsonSchemaText.value) : ({ ok: true, schema: undefined } as const)
    if (!schema.ok) throw new Error(schema.detail)
    if (turns.value.at(-1)?.role === 'assistant') turns.value.pop()
    if (turns.value.at(-1)?.role !== 'user') throw new Error('Nothing to regenerate')
    return reply(chosen, schema.schema)
  }

  async function reply(chosen: GenerationTarget, jsonSchema: unknown): Promise<GenerateResult> {
    const messages = conversation()
    turns.value.push({ id: nextTurnId++, role: 'assistant', content: '', streaming: true })
    // The reactive copy: changes through it re-render.
    const turn = turns.value.at(-1)!
    const streamId = `playground-${Date.now()}-${++streamCounter}`
    activeStream = { id: streamId, turn }
    generating.value = true
    try {
      const result = await api.call('models.generate', {
        target: chosen,
        messages,
        sampling: {
          maxTokens: sampling.maxTokens,
          temperature: sampling.temperature,
          topP: sampling.topP,
          topK: sampling.topK,
          ...(sampling.seed !== null ? { seed: sampling.seed } : {}),
        },
        ...(jsonSchema ? { jsonSchema: jsonSchema as Record<string, unknown> } : {}),
        streamId,
      })
      turn.content = result.text
      turn.stats = {
        tokensIn: result.tokensIn,
        tokensOut: result.tokensOut,
        tokensPerSecond: result.tokensPerSecond,
        finishReason: result.finishReason,
        durationMs: result.durationMs,
      }
      return result
    } catch (error) {
      turn.error = (error as Error).message
      throw error
    } finally {
      turn.streaming = false
      if (activeStream?.id === streamId) activeStream = null
      generating.value = false
    }
  }

  /** Stops the reply being streamed; `send` then resolves with what was generated and finish reason "aborted". */
  async function stop(): Promise<boolean> {
    const stream = activeStream
    if (!stream) return false
    stopping.value = true
    try {
      return (await api.call('models.stop', { streamId: stream.id })).stopped
    } finally {
      stopping.value = false
    }
  }

  function clear(): void {
    turns.value = []
  }

  return {
    targetKey: targetKeyValue,
    target,
    systemPrompt,
    sampling,
    jsonMode,
    jsonSchemaText,
    turns,
    generating,
    stopping,
    send,
    regenerate,
    stop,
    clear,
  }
})
