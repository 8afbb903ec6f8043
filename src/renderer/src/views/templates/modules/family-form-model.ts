/**
 * The family form's editable shape, and its conversion to and from the family definition of the contract. Empty
 * optional fields are left out, so a saved family file stays as small as the documented format allows.
 */
import {
  type GENERATION_CONSTRAINTS,
  familyDefinitionSchema,
  type FamilyDefinition,
  type FamilyDefinitionInput,
} from '../../../../../shared/contract'
import { type SLOT_ESCAPES, type SLOT_TYPES, segmentCount } from '../../../../../shared/template-render/index'

export interface SlotForm {
  name: string
  type: (typeof SLOT_TYPES)[number]
  required: boolean
  description: string
  maxLength: number | null
  pattern: string
  examples: string[]
  escape: (typeof SLOT_ESCAPES)[number]
}

export interface DimensionForm {
  name: string
  values: string[]
  default: string | null
}

export interface FallbackForm {
  /** Per dimension: the value it applies to, or null for any. */
  when: Record<string, string | null>
  template: string
}

export interface FamilyForm {
  name: string
  purpose: string
  prompt: string
  slots: SlotForm[]
  segments: DimensionForm[]
  variantsPerSegment: number
  constraints: {
    maxLength: number | null
    mustInclude: string[]
    banned: string[]
    nearDuplicateThreshold: number
  }
  generation: {
    /** `model:<name>` or `provider:<name>`, or null for none (chosen per run). */
    target: string | null
    temperature: number
    topP: number | null
    topK: number | null
    maxTokens: number
    seed: number
    constraint: (typeof GENERATION_CONSTRAINTS)[number]
  }
  fallbacks: FallbackForm[]
}

export function blankSlot(): SlotForm {
  return {
    name: '',
    type: 'text',
    required: true,
    description: '',
    maxLength: null,
    pattern: '',
    examples: [],
    escape: 'html',
  }
}

export function blankForm(): FamilyForm {
  return {
    name: '',
    purpose: '',
    prompt: '',
    slots: [{ ...blankSlot(), name: 'name', maxLength: 40, examples: ['Mina'] }],
    segments: [{ name: 'locale', values: ['en'], default: 'en' }],
    variantsPerSegment: 3,
    constraints: { maxLength: null, mustInclude: [], banned: [], nearDuplicateThreshold: 0.9 },
    generation: {
      target: null,
      temperature: 0.8,
      topP: null,
      topK: null,
      maxTokens: 160,
      seed: 1,
      constraint: 'auto',
    },
    fallbacks: [],
  }
}

export function formOf(definition: FamilyDefinition): FamilyForm {
  const target = definition.generation.target
  return {
    name: definition.name,
    purpose: definition.purpose,
    prompt: definition.prompt,
    slots: definition.slots.map((slot) => ({
      name: slot.name,
      type: slot.type,
      required: slot.required,
      description: slot.description ?? '',
      maxLength: slot.maxLength ?? null,
      pattern: slot.pattern ?? '',
      examples: [...slot.examples],
      escape: slot.escape,
    })),
    segments: definition.segments.map((dimension) => ({
      name: dimension.name,
      values: [...dimension.values],
      default: dimension.default ?? null,
    })),
    variantsPerSegment: definition.variantsPerSegment,
    constraints: {
      maxLength: definition.constraints.maxLength ?? null,
      mustInclude: [...definition.constraints.mustInclude],
      banned: [...definition.constraints.banned],
      nearDuplicateThreshold: definition.constraints.nearDuplicateThreshold,
    },
    generation: {
      target: target ? ('model' in target ? `model:${target.model}` : `provider:${target.provider}`) : null,
      temperature: definition.generation.temperature,
      topP: definition.generation.topP ?? null,
      topK: definition.generation.topK ?? null,
      maxTokens: definition.generation.maxTokens,
      seed: definition.generation.seed,
      constraint: definition.generation.constraint,
    },
    fallbacks: definition.fallbacks.map((fallback) => ({
      when: Object.fromEntries(
        definition.segments.map((dimension) => [dimension.name, fallback.when[dimension.name] ?? null]),
      ),
      template: fallback.template,
    })),
  }
}

type FamilyTarget = NonNullable<FamilyDefinition['generation']['target']>

function targetOf(key: string | null): FamilyTarget | undefined {
  const match = key ? /^(model|provider):(.+)$/.exec(key) : null
  if (!match) return undefined
  return match[1] === 'model' ? { model: match[2]! } : { provider: match[2]! }
}

export function definitionOf(form: FamilyForm): FamilyDefinitionInput {
  const target = targetOf(form.generation.target)
  return {
    formatVersion: 1,
    name: form.name.trim(),
    purpose: form.purpose.trim(),
    prompt: form.prompt.trim(),
    slots: form.slots.map((slot) => ({
      name: slot.name.trim(),
      type: slot.type,
      required: slot.required,
      ...(slot.description.trim() ? { description: slot.description.trim() } : {}),
      ...(slot.maxLength !== null ? { maxLength: slot.maxLength } : {}),
      ...(slot.pattern ? { pattern: slot.pattern } : {}),
      examples: slot.examples,
      escape: slot.escape,
    })),
    segments: form.segments.map((dimension) => ({
      name: dimension.name.trim(),
      values: dimension.values,
      ...(dimension.default ? { default: dimension.default } : {}),
    })),
    variantsPerSegment: form.variantsPerSegment,
    constraints: {
      ...(form.constraints.maxLength !== null ? { maxLength: form.constraints.maxLength } : {}),
      mustInclude: form.constraints.mustInclude,
      banned: form.constraints.banned,
      nearDuplicateThreshold: form.constraints.nearDuplicateThreshold,
    },
    generation: {
      ...(target ? { target } : {}),
      temperature: form.generation.temperature,
      ...(form.generation.topP !== null ? { topP: form.generation.topP } : {}),
      ...(form.generation.topK !== null ? { topK: form.generation.topK } : {}),
      maxTokens: form.generation.maxTokens,
      seed: form.generation.seed,
      constraint: form.generation.constraint,
    },
    fallbacks: form.fallbacks.map((fallback) => ({
      when: Object.fromEntries(
        Object.entries(fallback.when).filter((entry): entry is [string, string] => entry[1] !== null),
      ),
      template: fallback.template,
    })),
  }
}

export interface FormIssue {
  /** e.g. "slots.1.name" */
  path: string
  message: string
}

/** The contract's own checks (the ones the backend runs), so mistakes show before saving. */
export function validate(form: FamilyForm): FormIssue[] {
  const parsed = familyDefinitionSchema.safeParse(definitionOf(form))
  if (parsed.success) return []
  return parsed.error.issues.map((issue) => ({
    path: issue.path.map((part) => String(part)).join('.'),
    message: issue.message,
  }))
}

export function segmentTotal(form: FamilyForm): number {
  return segmentCount(form.segments.map((dimension) => ({ name: dimension.name, values: dimension.values })))
}
