/**
 * Slots: the named blanks of a template family (`{{name}}`, `{{product}}` ...), and the checks that make a Mustache
 * string a usable template of that family. Shared by the backend (generation, review), the console (live checks
 * while editing) and, for slot data, the edge worker.
 */
import { message, type Message, type MessageKey, type MessageParams } from '../messages'
import { TemplateSyntaxError, compileTemplate, parseTemplate, type TemplateNode } from './mustache'

export const SLOT_TYPES = ['text', 'number', 'date', 'money'] as const
export type SlotType = (typeof SLOT_TYPES)[number]
export const SLOT_ESCAPES = ['html', 'none'] as const
export type SlotEscape = (typeof SLOT_ESCAPES)[number]

export interface SlotDefinition {
  name: string
  type: SlotType
  required: boolean
  description?: string | undefined
  /** Longest value accepted at render time, in characters (code points). */
  maxLength?: number | undefined
  /** A regular expression the whole value must match at render time. */
  pattern?: string | undefined
  examples: string[]
  /** `html`: the value is HTML-escaped when filled in (the default); `none`: inserted as is. */
  escape: SlotEscape
}

export interface TemplateConstraints {
  /** Longest rendered text, in characters, when every slot holds its longest example. */
  maxLength?: number | undefined
  /** Phrases every variant must contain (case-insensitive). */
  mustInclude: string[]
  /** Phrases no variant may contain (case-insensitive). */
  banned: string[]
  /** Variants of one segment at least this similar (0..1, character trigrams) count as duplicates. */
  nearDuplicateThreshold: number
}

export const PROBLEM_CODES = [
  'syntax',
  'set_delimiter',
  'unknown_slot',
  'missing_required_slot',
  'duplicate_slot',
  'unguarded_optional_slot',
  'required_slot_in_section',
  'too_long',
  'missing_phrase',
  'banned_phrase',
  'near_duplicate',
  'invalid_output',
  'truncated_output',
  'generation_failed',
  'operator',
  'broken_text',
] as const
export type ProblemCode = (typeof PROBLEM_CODES)[number]

export interface TemplateProblem {
  code: ProblemCode
  message: string
  /** The message as a key of shared/messages.ts plus parameters, for the console to translate. */
  messageKey?: MessageKey
  params?: MessageParams
  slot?: string
}

export interface TemplateAnalysis {
  problems: TemplateProblem[]
  /**
   * The template with every slot tag written the way its slot's escaping says (`{{x}}` escapes, `{{{x}}}` does
   * not), so any Mustache renderer fills it in the same way; null when it does not parse.
   */
  canonical: string | null
  /** Interpolations per slot. */
  usage: Record<string, number>
}

/**
 * `variant`: a template the edge picks for a segment; every required slot must appear.
 * `fallback`: the text used when required data is missing; every slot must sit inside its own section
 * (`{{#name}}Hi {{name}}{{/name}}`) so whatever is missing leaves no gap.
 */
export type TemplateRole = 'variant' | 'fallback'

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length]!
}

function unknownSlotMessage(name: string, slots: SlotDefinition[]): Message {
  const known = slots.map((slot) => slot.name)
  const closest = known
    .map((candidate) => ({ candidate, distance: editDistance(name.toLowerCase(), candidate.toLowerCase()) }))
    .sort((a, b) => a.distance - b.distance)[0]
  const params = { tag: `{{${name}}}`, slots: known.join(', ') }
  return closest && closest.distance <= 2
    ? message('template.unknownSlotSuggest', { ...params, suggestion: `{{${closest.candidate}}}` })
    : message('template.unknownSlot', params)
}

/** A problem whose message is translatable. */
export function problemOf(code: ProblemCode, said: Message, slot?: string): TemplateProblem {
  return {
    code,
    message: said.text,
    messageKey: said.key,
    params: said.params,
    ...(slot === undefined ? {} : { slot }),
  }
}

interface Occurrence {
  slot: string
  /** Inside a section of the same slot (so it only renders when the slot has a value). */
  guarded: boolean
  /** Inside a section or inverted section of another slot, or an inverted section of its own. */
  conditional: boolean
  escape: boolean
  span: { start: number; end: number }
  raw: boolean
}

export function analyzeTemplate(source: string, slots: SlotDefinition[], role: TemplateRole): TemplateAnalysis {
  const problems: TemplateProblem[] = []
  const usage: Record<string, number> = {}
  let parsed
  try {
    parsed = parseTemplate(source)
  } catch (error) {
    if (error instanceof TemplateSyntaxError) {
      return { problems: [{ code: 'syntax', message: error.message }], canonical: null, usage }
    }
    throw error
  }
  if (parsed.details.setDelimiters.length > 0) {
    problems.push(
      problemOf('set_delimiter', message('template.setDelimiter', { tag: '{{=<% %>=}}', example: '{{name}}' })),
    )
  }
  const bySlot = new Map(slots.map((slot) => [slot.name, slot]))
  const occurrences: Occurrence[] = []
  const reportedUnknown = new Set<string>()
  const unknown = (name: string): void => {
    if (reportedUnknown.has(name)) return
    reportedUnknown.add(name)
    problems.push(problemOf('unknown_slot', unknownSlotMessage(name, slots), name))
  }
  // `sections` holds the enclosing sections from the outside in.
  const walk = (nodes: TemplateNode[], sections: { slot: string; inverted: boolean }[]): void => {
    for (const node of nodes) {
      if (node.kind === 'text') continue
      if (node.kind === 'section') {
        if (!bySlot.has(node.name)) unknown(node.name)
        walk(node.children, [...sections, { slot: node.name, inverted: node.inverted }])
        continue
      }
      // `{{.}}` inside `{{#slot}}` is that slot's value.
      const innermost = sections[sections.length - 1]
      const slot = node.name === '.' && innermost && !innermost.inverted ? innermost.slot : node.name
      if (!bySlot.has(slot)) {
        unknown(node.name)
        continue
      }
      usage[slot] = (usage[slot] ?? 0) + 1
      occurrences.push({
        slot,
        guarded: sections.some((section) => section.slot === slot && !section.inverted),
        conditional: sections.some((section) => section.slot !== slot || section.inverted),
        escape: node.escape,
        span: node.span,
        raw: node.name === '.',
      })
    }
  }
  walk(parsed.nodes, [])

  for (const slot of slots) {
    const mine = occurrences.filter((occurrence) => occurrence.slot === slot.name)
    if (role === 'fallback' || !slot.required) {
      if (mine.some((occurrence) => !occurrence.guarded)) {
        const tags = { tag: `{{${slot.name}}}`, open: `{{#${slot.name}}}`, close: `{{/${slot.name}}}` }
        const key = role === 'fallback' ? 'template.fallbackUnguarded' : 'template.optionalUnguarded'
        problems.push(problemOf('unguarded_optional_slot', message(key, tags), slot.name))
      }
      continue
    }
    if (mine.length === 0) {
      const said = message('template.missingRequiredSlot', { tag: `{{${slot.name}}}` })
      problems.push(problemOf('missing_required_slot', said, slot.name))
      continue
    }
    if (!mine.some((occurrence) => !occurrence.conditional)) {
      const said = message('template.requiredSlotInSection', { tag: `{{${slot.name}}}` })
      problems.push(problemOf('required_slot_in_section', said, slot.name))
    }
    const unconditional = mine.filter((occurrence) => !occurrence.conditional && !occurrence.guarded).length
    if (unconditional > 1) {
      const said = message('template.duplicateSlot', { tag: `{{${slot.name}}}`, count: unconditional })
      problems.push(problemOf('duplicate_slot', said, slot.name))
    }
  }

  // Rewrite slot tags so the escaping is the slot's, not whatever the writer (or the model) typed.
  let canonical = source
  if (parsed.details.setDelimiters.length === 0) {
    const rewrites = occurrences
      .filter((occurrence) => occurrence.escape !== (bySlot.get(occurrence.slot)!.escape === 'html'))
      .sort((a, b) => b.span.start - a.span.start)
    for (const occurrence of rewrites) {
      const name = occurrence.raw ? '.' : occurrence.slot
      const tag = bySlot.get(occurrence.slot)!.escape === 'html' ? `{{${name}}}` : `{{{${name}}}}`
      canonical = canonical.slice(0, occurrence.span.start) + tag + canonical.slice(occurrence.span.end)
    }
  }
  return { problems, canonical, usage }
}

export function codePointLength(text: string): number {
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    // A high surrogate followed by a low one is one character.
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    count++
  }
  return count
}

/** Data that fills every slot with its longest example (or a value of its maximum length): the worst case. */
export function longestExampleData(slots: SlotDefinition[]): Record<string, string> {
  const data: Record<string, string> = {}
  for (const slot of slots) {
    const longest = [...slot.examples].sort((a, b) => codePointLength(b) - codePointLength(a))[0]
    data[slot.name] = longest ?? 'x'.repeat(Math.min(slot.maxLength ?? 12, 200))
  }
  return data
}

/** U+FFFD: what a decoder writes for bytes that are not UTF-8, e.g. a model's byte tokens cut mid-character. */
export const REPLACEMENT_CHARACTER = '\uFFFD'
export const BROKEN_TEXT_MESSAGE = message('template.brokenText', { char: REPLACEMENT_CHARACTER }).text

export function checkConstraints(
  canonical: string,
  slots: SlotDefinition[],
  constraints: TemplateConstraints,
): TemplateProblem[] {
  const problems: TemplateProblem[] = []
  if (canonical.includes(REPLACEMENT_CHARACTER)) {
    problems.push(problemOf('broken_text', message('template.brokenText', { char: REPLACEMENT_CHARACTER })))
  }
  const filled = compileTemplate(canonical).render(longestExampleData(slots))
  const length = codePointLength(filled)
  if (constraints.maxLength !== undefined && length > constraints.maxLength) {
    problems.push(problemOf('too_long', message('template.tooLong', { length, limit: constraints.maxLength })))
  }
  const lower = filled.toLowerCase()
  for (const phrase of constraints.mustInclude) {
    if (!lower.includes(phrase.toLowerCase())) {
      problems.push(problemOf('missing_phrase', message('template.missingPhrase', { phrase })))
    }
  }
  for (const phrase of constraints.banned) {
    if (lower.includes(phrase.toLowerCase())) {
      problems.push(problemOf('banned_phrase', message('template.bannedPhrase', { phrase })))
    }
  }
  return problems
}

/** Everything wrong with a candidate variant: syntax, slots, then (if it parses) the family's constraints. */
export function checkVariant(
  source: string,
  slots: SlotDefinition[],
  constraints: TemplateConstraints,
): TemplateAnalysis {
  const analysis = analyzeTemplate(source, slots, 'variant')
  if (analysis.canonical === null) return analysis
  return { ...analysis, problems: [...analysis.problems, ...checkConstraints(analysis.canonical, slots, constraints)] }
}
