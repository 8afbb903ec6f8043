/**
 * What the generation job asks a model and how it judges the answers: the prompt for a segment, the output
 * constraint (a GBNF grammar that can only produce a template using every required slot, or a JSON schema), and
 * the checks that accept an answer as a draft variant or keep it as rejected with its reasons.
 */
import type { FamilyDefinition, TemplateProblemInfo } from '../../shared/contract'
import {
  checkVariant,
  codePointLength,
  escapeHtml,
  hash53,
  longestExampleData,
  problemOf,
  type Segment,
} from '../../shared/template-render/index'
import { message } from '../../shared/messages'
import type { GenerateRequest, GenerateResult } from '../models/providers/types'

export type ConstraintMode = 'grammar' | 'json-schema'

export const TEMPLATE_JSON_SCHEMA = {
  type: 'object',
  properties: { template: { type: 'string' } },
  required: ['template'],
  additionalProperties: false,
} as const

function slotTag(slot: FamilyDefinition['slots'][number]): string {
  return slot.escape === 'html' ? `{{${slot.name}}}` : `{{{${slot.name}}}}`
}

function describeSegment(segment: Segment): string {
  const parts = Object.entries(segment.values).map(([dimension, value]) => `${dimension}: ${value}`)
  return parts.length > 0 ? parts.join(', ') : 'everyone'
}

/** The instructions for one variant of one segment. Seeds differ per variant, so the answers differ too. */
export function segmentInstructions(family: FamilyDefinition, segment: Segment, variantNumber: number): string {
  const lines: string[] = []
  if (family.purpose) lines.push(`Purpose: ${family.purpose}`)
  lines.push(`Write one message template for this audience segment: ${describeSegment(segment)}.`)
  lines.push('Use these placeholders exactly as written; they are filled in later for each reader:')
  for (const slot of family.slots) {
    const examples = slot.examples.length > 0 ? `; e.g. ${slot.examples.map((e) => JSON.stringify(e)).join(', ')}` : ''
    const usage = slot.required
      ? 'required, use it once'
      : `optional, only inside {{#${slot.name}}}...{{/${slot.name}}} so it disappears when there is no value`
    const about = slot.description ? ` (${slot.description})` : ''
    lines.push(`- ${slotTag(slot)}: ${slot.type}${about}, ${usage}${examples}`)
  }
  const rules: string[] = ['no other {{...}} tags']
  if (family.constraints.maxLength !== undefined) {
    rules.push(`at most ${family.constraints.maxLength} characters once filled in`)
  }
  if (family.constraints.mustInclude.length > 0) {
    rules.push(`include ${family.constraints.mustInclude.map((p) => JSON.stringify(p)).join(', ')}`)
  }
  if (family.constraints.banned.length > 0) {
    rules.push(`never use ${family.constraints.banned.map((p) => JSON.stringify(p)).join(', ')}`)
  }
  lines.push(`Rules: ${rules.join('; ')}.`)
  lines.push(
    `This is variant ${variantNumber} of ${family.variantsPerSegment}; make it read differently from the others.`,
  )
  lines.push('Answer with JSON only: {"template": "..."}')
  return lines.join('\n')
}

/**
 * For local models: a GBNF grammar whose every sentence is `{"template": "..."}` holding each required slot exactly
 * once (in any order, for up to four slots) between runs of plain text that cannot open another tag. Even a tiny
 * model then produces a well-formed template; the judging below still checks the constraints.
 */
export function templateGrammar(family: FamilyDefinition): string {
  const requiredSlots = family.slots.filter((slot) => slot.required)
  const required = requiredSlots.map(slotTag)
  // Leave room for the longest values, so a grammatical answer also fits the length constraint once filled in.
  const longest = longestExampleData(requiredSlots)
  const valuesLength = requiredSlots.reduce((sum, slot) => sum + codePointLength(escapeHtml(longest[slot.name]!)), 0)
  const budget = (family.constraints.maxLength ?? 160) - valuesLength
  const pieceLength = Math.max(4, Math.min(60, Math.floor(budget / (required.length + 1))))
  const orders = required.length <= 4 ? permutations(required) : [required]
  const gbnfString = (text: string): string => JSON.stringify(text)
  const alternatives = orders.map((order) => ['piece', ...order.flatMap((tag) => [gbnfString(tag), 'piece'])].join(' '))
  return [
    `root ::= "{\\"template\\": \\"" body "\\"}"`,
    `body ::= ${alternatives.map((alternative) => `(${alternative})`).join(' | ')}`,
    // Plain text: no quote, backslash, braces or control characters, so nothing else can become a tag.
    `piece ::= [^"\\\\{}\\x00-\\x1F]{0,${pieceLength}}`,
  ].join('\n')
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]),
  )
}

export interface PlannedRequest {
  segment: Segment
  /** Position among the segment's variants ever generated (keeps seeds distinct across runs). */
  ordinal: number
  seed: number
  request: GenerateRequest
}

export function buildRequest(
  family: FamilyDefinition,
  segment: Segment,
  ordinal: number,
  mode: ConstraintMode,
  providerKind: 'local' | 'openai',
): PlannedRequest {
  const seed = (family.generation.seed + hash53(`${segment.key}#${ordinal}`)) % 2 ** 31
  const instructions = segmentInstructions(family, segment, (ordinal % family.variantsPerSegment) + 1)
  const sampling = {
    maxTokens: family.generation.maxTokens,
    temperature: family.generation.temperature,
    seed,
    ...(family.generation.topP !== undefined ? { topP: family.generation.topP } : {}),
    ...(family.generation.topK !== undefined ? { topK: family.generation.topK } : {}),
  }
  const constraint =
    mode === 'grammar' ? { grammar: templateGrammar(family) } : { jsonSchema: { ...TEMPLATE_JSON_SCHEMA } }
  // Local models get one completion prompt (small GGUF models often have no chat template); servers get a chat.
  const request: GenerateRequest =
    providerKind === 'local'
      ? { ...sampling, ...constraint, prompt: `${family.prompt}\n\n${instructions}\nJSON: ` }
      : {
          ...sampling,
          ...constraint,
          messages: [
            { role: 'system', content: family.prompt },
            { role: 'user', content: instructions },
          ],
        }
  return { segment, ordinal, seed, request }
}

/** Character trigrams of the text with case, punctuation and spacing ignored. */
function trigrams(text: string): Set<string> {
  const normalized = ` ${text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}{}\s]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()} `
  const grams = new Set<string>()
  for (let i = 0; i + 3 <= normalized.length; i++) grams.add(normalized.slice(i, i + 3))
  return grams
}

/** Jaccard similarity of character trigrams: 1 for the same wording, near 0 for unrelated sentences. */
export function similarity(a: string, b: string): number {
  const left = trigrams(a)
  const right = trigrams(b)
  if (left.size === 0 && right.size === 0) return 1
  let shared = 0
  for (const gram of left) if (right.has(gram)) shared++
  return shared / (left.size + right.size - shared)
}

export interface Judgement {
  accepted: boolean
  template: string
  problems: TemplateProblemInfo[]
}

/** Reads the model's answer and decides: a draft variant, or rejected with every reason found. */
export function judgeOutput(
  family: FamilyDefinition,
  result: GenerateResult,
  siblings: { id: number | null; template: string }[],
): Judgement {
  if (result.finishReason === 'length') {
    return {
      accepted: false,
      template: result.text,
      problems: [
        problemOf('truncated_output', message('template.truncatedOutput', { maxTokens: family.generation.maxTokens })),
      ],
    }
  }
  let template: unknown
  try {
    template = (JSON.parse(result.text) as { template?: unknown } | null)?.template
  } catch {
    template = undefined
  }
  if (typeof template !== 'string' || template.trim() === '') {
    return {
      accepted: false,
      template: result.text,
      problems: [problemOf('invalid_output', message('template.invalidOutput', { json: '{"template": "..."}' }))],
    }
  }
  const text = template.trim()
  const analysis = checkVariant(text, family.slots, family.constraints)
  const problems: TemplateProblemInfo[] = [...analysis.problems]
  const canonical = analysis.canonical ?? text
  if (analysis.canonical !== null) {
    let closest: { id: number | null; score: number } | undefined
    for (const sibling of siblings) {
      const score = similarity(canonical, sibling.template)
      if (!closest || score > closest.score) closest = { id: sibling.id, score }
    }
    if (closest && closest.score >= family.constraints.nearDuplicateThreshold) {
      const score = closest.score.toFixed(2)
      problems.push(
        problemOf(
          'near_duplicate',
          closest.id === null
            ? message('template.nearDuplicateRun', { score })
            : message('template.nearDuplicateVariant', { score, variant: closest.id }),
        ),
      )
    }
  }
  return { accepted: problems.length === 0, template: canonical, problems }
}
