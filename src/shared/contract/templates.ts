/**
 * The Templates and Export areas of the contract: template families (slots, segments, constraints, generation
 * settings), their variants and review, generation jobs, published versions, and the CDN export of published
 * templates and approved cache entries. The family JSON format is documented in docs/templates.md.
 */
import { z } from 'zod'
import {
  PROBLEM_CODES,
  SLOT_ESCAPES,
  SLOT_TYPES,
  analyzeTemplate,
  compilePattern,
  prepareSlotData,
  segmentCount,
} from '../template-render/index'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema } from './core'
import { generationTargetSchema } from './models'

/** Refused outright: a grid this large is a mistake, not a plan. */
export const MAX_SEGMENTS = 10_000
/** Generation plans with more calls than this need `confirmLargeGrid` (the console asks first). */
export const LARGE_GENERATION_CALLS = 500
/** Names the edge worker uses in query strings besides dimensions and slots. */
export const RESERVED_NAMES = ['user', 'format', 'segment', 'data', 'variant', 'family'] as const

const slotName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a slot name is a letter or _ followed by letters, digits or _ (up to 64)')
const dimensionName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, 'a dimension name is lowercase letters, digits or _ (up to 32), e.g. "locale"')
const dimensionValue = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a segment value is letters, digits and . _ - (up to 64), e.g. "en"')

export const slotSchema = z
  .object({
    name: slotName,
    type: z.enum(SLOT_TYPES).default('text'),
    required: z.boolean().default(true),
    description: z.string().max(500).optional(),
    maxLength: z.int().min(1).max(10_000).optional(),
    pattern: z
      .string()
      .min(1)
      .max(500)
      .superRefine((pattern, context) => {
        const compiled = compilePattern(pattern)
        if (!compiled.ok) context.addIssue({ code: 'custom', message: compiled.message })
      })
      .optional(),
    examples: z.array(z.string().min(1).max(2000)).max(20).default([]),
    escape: z.enum(SLOT_ESCAPES).default('html'),
  })
  .strict()

export const dimensionSchema = z
  .object({
    name: dimensionName,
    values: z.array(dimensionValue).min(1).max(200),
    default: dimensionValue.optional(),
  })
  .strict()

export const constraintsSchema = z
  .object({
    maxLength: z.int().min(1).max(100_000).optional(),
    mustInclude: z.array(z.string().min(1).max(200)).max(20).default([]),
    banned: z.array(z.string().min(1).max(200)).max(500).default([]),
    nearDuplicateThreshold: z.number().min(0.5).max(1).default(0.9),
  })
  .strict()

export const GENERATION_CONSTRAINTS = ['auto', 'grammar', 'json-schema'] as const

/** A model or provider by name, so a family file works in any workspace that has one of that name. */
export const familyTargetSchema = z.union([
  z.object({ model: resourceName }).strict(),
  z.object({ provider: resourceName }).strict(),
])

export const familyGenerationSchema = z
  .object({
    target: familyTargetSchema.optional(),
    temperature: z.number().min(0).max(5).default(0.8),
    topP: z.number().min(0).max(1).optional(),
    topK: z.int().min(0).max(1000).optional(),
    maxTokens: z.int().min(8).max(4096).default(160),
    /** Seeds are derived from this, the segment and the variant number, so a rerun is reproducible. */
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    /**
     * How output is constrained: `grammar` (local models: a GBNF grammar that can only produce a template using every
     * required slot once), `json-schema` ({"template": string}, any provider), or `auto` (grammar for local models).
     */
    constraint: z.enum(GENERATION_CONSTRAINTS).default('auto'),
  })
  .strict()

export const fallbackSchema = z
  .object({
    when: z.record(dimensionName, dimensionValue).default({}),
    template: z.string().min(1).max(5000),
  })
  .strict()

const familyDefinitionObject = z
  .object({
    formatVersion: z.literal(1).default(1),
    name: resourceName,
    purpose: z.string().max(2000).default(''),
    /** What the model is asked to write; Larder adds the segment, the slots and the constraints. */
    prompt: z.string().min(1).max(20_000),
    slots: z.array(slotSchema).min(1).max(50),
    segments: z.array(dimensionSchema).max(8).default([]),
    variantsPerSegment: z.int().min(1).max(50).default(3),
    constraints: constraintsSchema.prefault({}),
    generation: familyGenerationSchema.prefault({}),
    fallbacks: z.array(fallbackSchema).max(100).default([]),
  })
  .strict()

type FamilyShape = z.output<typeof familyDefinitionObject>

/** Checks that need the whole family: unique names, segments that exist, fallbacks that always render. */
function checkFamily(family: FamilyShape, context: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string): void => {
    context.addIssue({ code: 'custom', path, message })
  }
  const reserved = new Set<string>(RESERVED_NAMES)
  const slotIndex = new Map<string, number>()
  family.slots.forEach((slot, index) => {
    const earlier = slotIndex.get(slot.name)
    if (earlier !== undefined)
      issue(['slots', index, 'name'], `"${slot.name}" is already slot ${earlier}; slot names must be unique`)
    slotIndex.set(slot.name, index)
    if (reserved.has(slot.name)) issue(['slots', index, 'name'], `"${slot.name}" is reserved; choose another slot name`)
    slot.examples.forEach((example, exampleIndex) => {
      const problem = prepareSlotData([{ ...slot, required: true }], { [slot.name]: example }).problems[0]
      if (problem)
        issue(['slots', index, 'examples', exampleIndex], `example ${JSON.stringify(example)}: ${problem.message}`)
    })
  })
  const dimensionIndex = new Map<string, number>()
  family.segments.forEach((dimension, index) => {
    if (dimensionIndex.has(dimension.name))
      issue(['segments', index, 'name'], `dimension "${dimension.name}" is listed twice`)
    dimensionIndex.set(dimension.name, index)
    if (reserved.has(dimension.name))
      issue(['segments', index, 'name'], `"${dimension.name}" is reserved; choose another name`)
    if (slotIndex.has(dimension.name)) {
      issue(
        ['segments', index, 'name'],
        `"${dimension.name}" is also a slot; dimensions and slots need different names`,
      )
    }
    const seen = new Set<string>()
    dimension.values.forEach((value, valueIndex) => {
      if (seen.has(value)) issue(['segments', index, 'values', valueIndex], `"${value}" is listed twice`)
      seen.add(value)
    })
    if (dimension.default !== undefined && !dimension.values.includes(dimension.default)) {
      issue(['segments', index, 'default'], `the default "${dimension.default}" is not one of the values`)
    }
  })
  const segments = segmentCount(family.segments)
  if (segments > MAX_SEGMENTS) {
    issue(
      ['segments'],
      `${segments} segments is more than the ${MAX_SEGMENTS} Larder accepts; use fewer dimension values`,
    )
  }
  family.fallbacks.forEach((fallback, index) => {
    for (const [dimension, value] of Object.entries(fallback.when)) {
      const at = dimensionIndex.get(dimension)
      if (at === undefined)
        issue(['fallbacks', index, 'when', dimension], `"${dimension}" is not a dimension of this family`)
      else if (!family.segments[at]!.values.includes(value)) {
        issue(['fallbacks', index, 'when', dimension], `"${value}" is not a value of ${dimension}`)
      }
    }
    for (const problem of analyzeTemplate(fallback.template, family.slots, 'fallback').problems) {
      issue(['fallbacks', index, 'template'], problem.message)
    }
  })
}

export const familyDefinitionSchema = familyDefinitionObject.superRefine(checkFamily)
export type FamilyDefinition = z.output<typeof familyDefinitionSchema>
export type FamilyDefinitionInput = z.input<typeof familyDefinitionSchema>

export const templateProblemSchema = z.object({
  code: z.enum(PROBLEM_CODES),
  message: z.string(),
  /** The message's key in src/shared/messages.ts and its parameters, for the console to translate. */
  messageKey: z.string().optional(),
  params: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
  slot: z.string().optional(),
})
export type TemplateProblemInfo = z.infer<typeof templateProblemSchema>

export const VARIANT_STATES = ['draft', 'approved', 'rejected'] as const
export const variantStateSchema = z.enum(VARIANT_STATES)
export const VARIANT_ORIGINS = ['generated', 'edited', 'manual', 'imported'] as const

const stateCounts = z.object({
  draft: z.int().nonnegative(),
  approved: z.int().nonnegative(),
  rejected: z.int().nonnegative(),
})

export const variantSchema = z.object({
  id,
  familyId: id,
  segmentKey: z.string(),
  /** The canonical template (slot escaping applied). For a rejected model output: its text, as far as it parsed. */
  template: z.string(),
  /** What the model returned, verbatim (generated variants only). */
  rawOutput: z.string().nullable(),
  state: variantStateSchema,
  origin: z.enum(VARIANT_ORIGINS),
  weight: z.number().min(0),
  /** Why it was rejected: validation problems at generation, or the operator's reason. */
  rejection: z.array(templateProblemSchema).nullable(),
  /** Checked now against the current family definition; a variant with problems cannot be approved. */
  problems: z.array(templateProblemSchema),
  runId: id.nullable(),
  seed: z.int().nullable(),
  tokensIn: z.int().nullable(),
  tokensOut: z.int().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
})
export type TemplateVariant = z.infer<typeof variantSchema>

export const segmentStatsSchema = z.object({
  segmentKey: z.string(),
  requested: z.int().nonnegative(),
  accepted: z.int().nonnegative(),
  rejected: z.int().nonnegative(),
  tokensIn: z.int().nonnegative(),
  tokensOut: z.int().nonnegative(),
  /** Model time spent on this segment's requests (they overlap when run in parallel). */
  generationMs: z.number().nonnegative(),
  /** From the segment's first request to its last answer. */
  wallMs: z.number().nonnegative(),
  tokensPerSecond: z.number().nonnegative(),
  finishedAt: timestamp,
})

export const segmentSummarySchema = z.object({
  key: z.string(),
  values: z.record(z.string(), z.string()),
  counts: stateCounts,
  /** Variants still needed to reach variantsPerSegment (drafts and approved count). */
  missing: z.int().nonnegative(),
  hasFallback: z.boolean(),
  lastGeneration: segmentStatsSchema.nullable(),
})

export const familySummarySchema = z.object({
  id,
  name: z.string(),
  purpose: z.string(),
  /** Increases with every saved change of the definition. */
  revision: z.int().positive(),
  publishedVersion: z.int().positive().nullable(),
  segmentCount: z.int().positive(),
  slotCount: z.int().positive(),
  variantsPerSegment: z.int().positive(),
  variantCounts: stateCounts,
  createdAt: timestamp,
  updatedAt: timestamp,
})
export type TemplateFamilySummary = z.infer<typeof familySummarySchema>

export const familySchema = familySummarySchema.extend({
  definition: familyDefinitionSchema,
  segments: z.array(segmentSummarySchema),
  /**
   * Whether publishing now would make a new version, and if not why: `unchanged` (the same as the live version),
   * `invalid` (approved variants no longer fit the definition), `uncovered` (segments with no approved variant and no
   * fallback). The console disables Publish and says the reason; `templates.publish` refuses with it.
   */
  publish: z.object({
    ready: z.boolean(),
    code: z.enum(['unchanged', 'invalid', 'uncovered']).nullable(),
    reason: z.string().nullable(),
  }),
})
export type TemplateFamily = z.infer<typeof familySchema>

export const generationRunSchema = z.object({
  id,
  familyId: id,
  jobId: id.nullable(),
  /** The model or provider, by name. */
  target: z.string(),
  mode: z.enum(['fill', 'add']),
  plannedCalls: z.int().nonnegative(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  segments: z.array(segmentStatsSchema),
  totals: z.object({
    accepted: z.int().nonnegative(),
    rejected: z.int().nonnegative(),
    tokensIn: z.int().nonnegative(),
    tokensOut: z.int().nonnegative(),
    generationMs: z.number().nonnegative(),
  }),
  createdAt: timestamp,
  finishedAt: timestamp.nullable(),
})
export type GenerationRun = z.infer<typeof generationRunSchema>

export const publishedVariantSchema = z.object({
  id,
  segmentKey: z.string(),
  template: z.string(),
  weight: z.number().min(0),
})
export type PublishedVariantSnapshot = z.infer<typeof publishedVariantSchema>

export const versionSummarySchema = z.object({
  familyId: id,
  version: z.int().positive(),
  variantCount: z.int().nonnegative(),
  /** sha256 of the version's definition and variants. */
  contentHash: z.string(),
  note: z.string().nullable(),
  publishedAt: timestamp,
})

export const versionSchema = versionSummarySchema.extend({
  definition: familyDefinitionSchema,
  variants: z.array(publishedVariantSchema),
})

const variantChange = z.object({
  id,
  before: z.object({ template: z.string(), weight: z.number() }),
  after: z.object({ template: z.string(), weight: z.number() }),
})

export const versionDiffSchema = z.object({
  familyId: id,
  from: z.int().positive(),
  /** A version number, or "working" for what publishing now would snapshot. */
  to: z.union([z.int().positive(), z.literal('working')]),
  definitionChanges: z.array(z.object({ path: z.string(), before: z.unknown(), after: z.unknown() })),
  segments: z.array(
    z.object({
      segmentKey: z.string(),
      added: z.array(publishedVariantSchema),
      removed: z.array(publishedVariantSchema),
      changed: z.array(variantChange),
    }),
  ),
  summary: z.object({
    added: z.int().nonnegative(),
    removed: z.int().nonnegative(),
    changed: z.int().nonnegative(),
    unchanged: z.int().nonnegative(),
  }),
})
export type VersionDiff = z.infer<typeof versionDiffSchema>

export const slotDataProblemSchema = z.object({
  slot: z.string(),
  code: z.enum(['missing', 'invalid', 'too_long']),
  message: z.string(),
  blocking: z.boolean(),
})

export const previewResultSchema = z.object({
  ok: z.boolean(),
  /** Exactly what the edge worker answers for the same inputs (null when it would answer an error). */
  text: z.string().nullable(),
  /** The HTTP status the edge answers: 200, 404 (no variant) or 422 (required data missing, no fallback). */
  status: z.union([z.literal(200), z.literal(404), z.literal(422)]),
  code: z.string().nullable(),
  message: z.string().nullable(),
  variantId: id.nullable(),
  fallback: z.boolean(),
  segmentKey: z.string(),
  version: z.int().positive().nullable(),
  dataProblems: z.array(slotDataProblemSchema),
  /** When previewing unsaved template text: what is wrong with it. */
  templateProblems: z.array(templateProblemSchema),
})
export type PreviewResult = z.infer<typeof previewResultSchema>

export const generationPlanSchema = z.object({
  segments: z.int().nonnegative(),
  calls: z.int().nonnegative(),
  /** More calls than LARGE_GENERATION_CALLS: ask the operator, then pass confirmLargeGrid. */
  needsConfirmation: z.boolean(),
  /** An upper bound: calls x maxTokens. */
  maxOutputTokens: z.int().nonnegative(),
})

const generationRequest = z
  .object({
    familyId: id,
    /** Default: the family's generation target. */
    target: generationTargetSchema.optional(),
    /** Only these segment keys (default: every segment). */
    segments: z.array(z.string().max(2000)).max(MAX_SEGMENTS).optional(),
    /** `fill`: generate what each segment lacks to reach variantsPerSegment; `add`: variantsPerSegment more. */
    mode: z.enum(['fill', 'add']).default('fill'),
  })
  .strict()

export const exportCountsSchema = z.object({
  families: z.int().nonnegative(),
  variants: z.int().nonnegative(),
  segments: z.int().nonnegative(),
  namespaces: z.int().nonnegative(),
  cacheEntries: z.int().nonnegative(),
  objects: z.int().nonnegative(),
  /** Objects written to this bundle (all of them, or only the new ones of an incremental export). */
  written: z.int().nonnegative(),
  deleted: z.int().nonnegative(),
  bytes: z.int().nonnegative(),
})

export const cdnExportSchema = z.object({
  id,
  jobId: id.nullable(),
  sequence: z.int().positive(),
  outDir: z.string(),
  tarPath: z.string().nullable(),
  manifestHash: z.string(),
  previousManifestHash: z.string().nullable(),
  namespaces: z.array(z.string()).nullable(),
  counts: exportCountsSchema,
  createdAt: timestamp,
})
export type CdnExport = z.infer<typeof cdnExportSchema>

const familyRef = { familyId: id }

export const templateMethods = {
  'templates.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(familySummarySchema) }),
  },
  'templates.get': {
    input: z.object({ id }).strict(),
    output: familySchema,
  },
  'templates.create': {
    input: z.object({ definition: familyDefinitionSchema }).strict(),
    output: familySchema,
  },
  'templates.update': {
    input: z
      .object({
        id,
        definition: familyDefinitionSchema,
        /** Refuse the update if someone saved in between (the revision the editor started from). */
        expectedRevision: z.int().positive().optional(),
      })
      .strict(),
    output: familySchema,
  },
  'templates.import': {
    input: z
      .object({
        /** The family JSON, as text, so syntax errors can say where they are. */
        text: z.string().min(1).max(2_000_000),
        /** Replace the definition of an existing family of the same name (variants are kept and re-checked). */
        replace: z.boolean().default(false),
      })
      .strict(),
    output: z.object({ family: familySchema, created: z.boolean() }),
  },
  'templates.remove': {
    input: z.object({ id }).strict(),
    output: z.object({ removed: z.boolean() }),
  },
  'templates.variants.list': {
    input: z
      .object({
        ...familyRef,
        segmentKey: z.string().max(2000).optional(),
        states: z.array(variantStateSchema).max(3).optional(),
        limit: z.int().min(1).max(5000).default(1000),
        offset: z.int().min(0).default(0),
      })
      .strict(),
    output: z.object({ items: z.array(variantSchema), total: z.int().nonnegative() }),
  },
  'templates.variants.add': {
    input: z
      .object({
        ...familyRef,
        segmentKey: z.string().max(2000),
        template: z.string().min(1).max(5000),
        weight: z.number().min(0).max(1000).default(1),
      })
      .strict(),
    output: variantSchema,
  },
  'templates.variants.update': {
    input: z
      .object({
        id,
        template: z.string().min(1).max(5000).optional(),
        weight: z.number().min(0).max(1000).optional(),
      })
      .strict(),
    output: variantSchema,
  },
  'templates.variants.approve': {
    input: z
      .object({
        ...familyRef,
        ids: z.array(id).min(1).max(100_000).optional(),
        /** Every draft of the family (or of `segmentKey`) that has no problems. */
        all: z.boolean().optional(),
        segmentKey: z.string().max(2000).optional(),
      })
      .strict()
      .refine((value) => (value.ids !== undefined) !== (value.all === true), {
        message: 'give either ids or all: true',
        path: ['ids'],
      }),
    output: z.object({
      approved: z.int().nonnegative(),
      skipped: z.array(z.object({ id, reason: z.string() })),
    }),
  },
  'templates.variants.reject': {
    input: z
      .object({ ...familyRef, ids: z.array(id).min(1).max(100_000), reason: z.string().max(1000).optional() })
      .strict(),
    output: z.object({ rejected: z.int().nonnegative() }),
  },
  'templates.variants.reopen': {
    input: z.object({ ...familyRef, ids: z.array(id).min(1).max(100_000) }).strict(),
    output: z.object({ reopened: z.int().nonnegative() }),
  },
  'templates.preview': {
    input: z
      .object({
        ...familyRef,
        /** Segment values, e.g. {"locale": "en", "tone": "formal"}; missing ones use the dimension's default. */
        segment: z.record(z.string(), z.string()).default({}),
        /** Profile data, e.g. {"name": "Mina"}. */
        data: z.record(z.string(), z.unknown()).default({}),
        userId: z.string().max(500).default(''),
        /** `working`: the approved variants now; `published`: the published version, as the edge has it. */
        source: z.enum(['working', 'published']).default('working'),
        variantId: id.optional(),
        /** Unsaved template text to preview instead of a stored variant. */
        template: z.string().min(1).max(5000).optional(),
      })
      .strict(),
    output: previewResultSchema,
  },
  'templates.plan': {
    input: generationRequest,
    output: generationPlanSchema,
  },
  'templates.generate': {
    input: generationRequest.extend({ confirmLargeGrid: z.boolean().default(false) }).strict(),
    output: z.object({ job: jobSchema, plan: generationPlanSchema }),
  },
  'templates.runs.list': {
    input: z.object({ ...familyRef, limit: z.int().min(1).max(200).default(20) }).strict(),
    output: z.object({ items: z.array(generationRunSchema) }),
  },
  'templates.publish': {
    input: z.object({ ...familyRef, note: z.string().max(1000).optional() }).strict(),
    output: versionSummarySchema,
  },
  'templates.versions.list': {
    input: z.object(familyRef).strict(),
    output: z.object({ items: z.array(versionSummarySchema) }),
  },
  'templates.versions.get': {
    input: z.object({ ...familyRef, version: z.int().positive() }).strict(),
    output: versionSchema,
  },
  'templates.versions.diff': {
    input: z
      .object({ ...familyRef, from: z.int().positive(), to: z.union([z.int().positive(), z.literal('working')]) })
      .strict(),
    output: versionDiffSchema,
  },
} as const

const exportFilter = {
  /**
   * The tenant whose cache the bundle carries: a bundle (and its worker) serves one tenant. Without it the bundle holds
   * templates only, and naming namespaces is refused.
   */
  tenant: resourceName.optional(),
  /** That tenant's cache namespaces to include, by name (default: all of the tenant's). */
  namespaces: z.array(resourceName).max(1000).optional(),
  /** Template families to include, by name (default: every published family). */
  families: z.array(resourceName).max(10_000).optional(),
}

export const exportMethods = {
  'export.plan': {
    input: z.object(exportFilter).strict(),
    output: z.object({
      families: z.array(
        z.object({ name: z.string(), version: z.int().positive(), variants: z.int(), segments: z.int() }),
      ),
      unpublishedFamilies: z.array(z.string()),
      namespaces: z.array(z.object({ tenant: z.string(), name: z.string(), entries: z.int().nonnegative() })),
    }),
  },
  'export.cdn': {
    input: z
      .object({
        /** A new or empty folder; the bundle is written beside it and renamed into place when complete. */
        outDir: absolutePath,
        /** The manifest.json of an earlier export of this workspace: write only what changed, plus a deletion list. */
        since: absolutePath.optional(),
        /** Also pack the bundle into this .tar.gz file. */
        tarPath: absolutePath.optional(),
        ...exportFilter,
      })
      .strict(),
    output: z.object({ job: jobSchema }),
  },
  'export.list': {
    input: z.object({ limit: z.int().min(1).max(500).default(50) }).strict(),
    output: z.object({ items: z.array(cdnExportSchema) }),
  },
} as const

export const templateEvents = {
  /** A family, its variants or its versions changed: lists should refresh. */
  'templates.changed': z.object({ familyId: id, removed: z.boolean() }),
} as const
