/**
 * The Templates area: template families (slots, segments, constraints), their variants and review, the generation
 * job (batched, constrained, validated, resumable), previews that render exactly as the edge does, and published
 * versions with diffs. The CDN export reads the published versions (src/backend/export).
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import {
  LARGE_GENERATION_CALLS,
  familyDefinitionSchema,
  type FamilyDefinition,
  type GenerationRun,
  type MethodOutput,
  type ParsedInput,
  type PreviewResult,
  type PublishedVariantSnapshot,
  type TemplateFamily,
  type TemplateFamilySummary,
  type TemplateProblemInfo,
  type TemplateVariant,
  type VersionDiff,
} from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import {
  checkVariant,
  listSegments,
  matchingFallback,
  personalise,
  previewOutcome,
  problemOf,
  resolveSegment,
  type FamilyRuntime,
  type RuntimeVariant,
  type Segment,
} from '../../shared/template-render/index'
import type { EventBus } from '../events'
import type { JobContext, JobKind } from '../jobs/runner'
import { runBatch, type BatchItemResult } from '../models/batch'
import type { ModelsService } from '../models/service'
import { ModelsRepository } from '../models/repository'
import type { Workspace } from '../workspace/workspace'
import { jsonErrorPosition } from './json-position'
import { buildRequest, judgeOutput, type ConstraintMode, type PlannedRequest } from './generation'
import { TemplatesRepository, type StoredFamily, type StoredVariant } from './repository'
import { message } from '../../shared/messages'

export const GENERATE_JOB = 'templates.generate'

type Target = { model: number } | { provider: number }

const generateParamsSchema = z.object({
  familyId: z.int(),
  target: z.union([z.object({ model: z.int() }).strict(), z.object({ provider: z.int() }).strict()]),
  targetLabel: z.string(),
  segments: z.array(z.string()).optional(),
  mode: z.enum(['fill', 'add']),
})
export type GenerateParams = z.infer<typeof generateParamsSchema>

/** Saved once when a run starts; the run's committed variants say which answers are done. */
const checkpointSchema = z.object({
  runId: z.int(),
  plan: z.array(z.object({ key: z.string(), firstOrdinal: z.int(), needed: z.int() })),
})
type GenerationCheckpoint = z.infer<typeof checkpointSchema>

interface PlannedSegment {
  segment: Segment
  /** Variants of the segment so far (all states): new ones continue the ordinals, so their seeds differ. */
  existing: number
  needed: number
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

export function runtimeOf(name: string, definition: FamilyDefinition, version: number | null): FamilyRuntime {
  return { name, version, slots: definition.slots, dimensions: definition.segments, fallbacks: definition.fallbacks }
}

function problemsOf(variant: StoredVariant, definition: FamilyDefinition): TemplateProblemInfo[] {
  return checkVariant(variant.template, definition.slots, definition.constraints).problems
}

function isAbortedBy(signal: AbortSignal, why: 'cancelled' | 'shutdown'): boolean {
  return signal.aborted && (signal.reason as { why?: unknown } | undefined)?.why === why
}

export class TemplatesService {
  constructor(
    private readonly workspace: Workspace,
    private readonly events: EventBus,
    private readonly models: ModelsService,
  ) {}

  private get repo(): TemplatesRepository {
    return new TemplatesRepository(this.workspace.db)
  }

  private changed(familyId: number, removed = false): void {
    this.events.emit('templates.changed', { familyId, removed })
  }

  mustGetFamily(id: number, path: string[] = ['id']): StoredFamily {
    const family = this.repo.getFamily(id)
    if (!family) throw ApiError.of('not_found', message('error.familyNotFound', { id }), { path })
    return family
  }

  familyByName(name: string): StoredFamily {
    const family = this.repo.familyByName(name)
    if (!family) {
      throw new ApiError({ code: 'not_found', message: `No template family is named "${name}".`, path: ['name'] })
    }
    return family
  }

  private summary(family: StoredFamily): TemplateFamilySummary {
    const counts = { draft: 0, approved: 0, rejected: 0 }
    for (const row of this.repo.stateCounts(family.id)) counts[row.state] += row.count
    return {
      id: family.id,
      name: family.name,
      purpose: family.definition.purpose,
      revision: family.revision,
      publishedVersion: family.publishedVersion,
      segmentCount: listSegments(family.definition.segments).length,
      slotCount: family.definition.slots.length,
      variantsPerSegment: family.definition.variantsPerSegment,
      variantCounts: counts,
      createdAt: family.createdAt,
      updatedAt: family.updatedAt,
    }
  }

  list(): MethodOutput<'templates.list'> {
    return { items: this.repo.listFamilies().map((family) => this.summary(family)) }
  }

  get(id: number): TemplateFamily {
    const family = this.mustGetFamily(id)
    const { definition } = family
    const counts = new Map<string, { draft: number; approved: number; rejected: number }>()
    for (const row of this.repo.stateCounts(id)) {
      const entry = counts.get(row.segmentKey) ?? { draft: 0, approved: 0, rejected: 0 }
      entry[row.state] += row.count
      counts.set(row.segmentKey, entry)
    }
    const latest = new Map(this.repo.latestSegmentStats(id).map((stats) => [stats.segmentKey, stats]))
    const runtime = runtimeOf(family.name, definition, null)
    const segments = listSegments(definition.segments).map((segment) => {
      const segmentCounts = counts.get(segment.key) ?? { draft: 0, approved: 0, rejected: 0 }
      const stats = latest.get(segment.key)
      return {
        key: segment.key,
        values: segment.values,
        counts: segmentCounts,
        missing: Math.max(0, definition.variantsPerSegment - segmentCounts.draft - segmentCounts.approved),
        hasFallback: matchingFallback(runtime, segment) !== undefined,
        lastGeneration: stats
          ? { ...stats, tokensPerSecond: stats.generationMs > 0 ? (stats.tokensOut * 1000) / stats.generationMs : 0 }
          : null,
      }
    })
    return { ...this.summary(family), definition, segments, publish: this.publishReadiness(family).state }
  }

  /** What publishing now would snapshot, and whether it may (the checks `publish` enforces). */
  private publishReadiness(family: StoredFamily): {
    state: TemplateFamily['publish']
    variants: ReturnType<TemplatesService['workingSnapshot']>
    contentHash: string
  } {
    const notReady = (code: NonNullable<TemplateFamily['publish']['code']>, reason: string) => ({
      state: { ready: false, code, reason },
      variants: [],
      contentHash: '',
    })
    const invalid = this.repo
      .listVariants({ familyId: family.id, states: ['approved'] })
      .items.map((variant) => ({ variant, problems: problemsOf(variant, family.definition) }))
      .filter((entry) => entry.problems.length > 0)
    if (invalid.length > 0) {
      return notReady(
        'invalid',
        `Approved variants no longer fit the family definition: ${invalid
          .slice(0, 5)
          .map((entry) => `variant ${entry.variant.id} (${entry.problems[0]!.message})`)
          .join('; ')}. Edit or reject them, then publish.`,
      )
    }
    const variants = this.workingSnapshot(family)
    const runtime = runtimeOf(family.name, family.definition, null)
    const covered = new Set(variants.filter((v) => v.weight > 0).map((variant) => variant.segmentKey))
    const empty = listSegments(family.definition.segments).filter(
      (segment) => !covered.has(segment.key) && !matchingFallback(runtime, segment),
    )
    if (empty.length > 0) {
      return notReady(
        'uncovered',
        `${empty.length} segment${empty.length > 1 ? 's have' : ' has'} no approved variant and no fallback: ${empty
          .slice(0, 5)
          .map((segment) => segment.key || '(all)')
          .join('; ')}${empty.length > 5 ? '; ...' : ''}. Approve variants there or add a fallback, then publish.`,
      )
    }
    const contentHash = sha256(JSON.stringify({ definition: family.definition, variants }))
    const latest =
      family.publishedVersion !== null ? this.repo.getVersion(family.id, family.publishedVersion) : undefined
    if (latest && latest.contentHash === contentHash) {
      return notReady('unchanged', `Nothing changed since version ${latest.version}; there is nothing to publish.`)
    }
    return { state: { ready: true, code: null, reason: null }, variants, contentHash }
  }

  create(definition: FamilyDefinition): TemplateFamily {
    if (this.repo.familyByName(definition.name)) {
      throw new ApiError({
        code: 'conflict',
        message: `A template family named "${definition.name}" already exists.`,
        path: ['definition', 'name'],
      })
    }
    const family = this.repo.insertFamily(definition)
    this.changed(family.id)
    return this.get(family.id)
  }

  update(id: number, definition: FamilyDefinition, expectedRevision?: number): TemplateFamily {
    const family = this.mustGetFamily(id)
    if (definition.name !== family.name) {
      throw new ApiError({
        code: 'invalid_input',
        message: `A family keeps its name ("${family.name}"): the edge addresses it by name. Import a copy under the new name instead.`,
        path: ['definition', 'name'],
      })
    }
    if (expectedRevision !== undefined && expectedRevision !== family.revision) {
      throw new ApiError({
        code: 'conflict',
        message: `The family changed since you opened it (revision ${family.revision}, you edited ${expectedRevision}). Reload and apply your change again.`,
      })
    }
    this.repo.updateDefinition(id, definition)
    this.changed(id)
    return this.get(id)
  }

  /** Imports a family file (the format of docs/templates.md); errors say where in the file the problem is. */
  importText(text: string, replace: boolean): MethodOutput<'templates.import'> {
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch (error) {
      throw new ApiError({ code: 'invalid_input', message: jsonErrorMessage(text, error), path: ['text'] })
    }
    const parsed = familyDefinitionSchema.safeParse(raw)
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        path: issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part)),
        message: issue.message,
      }))
      const first = issues[0]!
      throw new ApiError({
        code: 'invalid_input',
        message: `The family file is not valid at "${first.path.join('.') || '(top level)'}": ${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : ''}`,
        path: first.path,
        ...(issues.length > 1 ? { issues } : {}),
      })
    }
    const existing = this.repo.familyByName(parsed.data.name)
    if (existing && !replace) {
      throw new ApiError({
        code: 'conflict',
        message: `A template family named "${parsed.data.name}" already exists. Import with replace (--replace) to update its definition.`,
        path: ['name'],
      })
    }
    if (existing) return { family: this.update(existing.id, parsed.data), created: false }
    return { family: this.create(parsed.data), created: true }
  }

  remove(id: number): { removed: boolean } {
    const removed = this.repo.removeFamily(id)
    if (removed) this.changed(id, true)
    return { removed }
  }

  private withProblems(variant: StoredVariant, definition: FamilyDefinition): TemplateVariant {
    return { ...variant, problems: problemsOf(variant, definition) }
  }

  listVariants(input: ParsedInput<'templates.variants.list'>): MethodOutput<'templates.variants.list'> {
    const family = this.mustGetFamily(input.familyId, ['familyId'])
    const page = this.repo.listVariants(input)
    return { items: page.items.map((variant) => this.withProblems(variant, family.definition)), total: page.total }
  }

  private mustGetSegment(family: StoredFamily, segmentKey: string): Segment {
    const segment = listSegments(family.definition.segments).find((candidate) => candidate.key === segmentKey)
    if (!segment) {
      const known = listSegments(family.definition.segments).map((candidate) => candidate.key || '""')
      throw new ApiError({
        code: 'invalid_input',
        message: `"${segmentKey}" is not a segment of ${family.name} (for example ${known.slice(0, 4).join('; ')}).`,
        path: ['segmentKey'],
      })
    }
    return segment
  }

  private checkedTemplate(family: StoredFamily, template: string): string {
    const analysis = checkVariant(template, family.definition.slots, family.definition.constraints)
    if (analysis.problems.length > 0 || analysis.canonical === null) {
      throw new ApiError({
        code: 'invalid_input',
        message: `The template cannot be used: ${analysis.problems.map((problem) => problem.message).join(' ')}`,
        path: ['template'],
        issues: analysis.problems.map((problem) => ({ path: ['template'], message: problem.message })),
      })
    }
    return analysis.canonical
  }

  addVariant(input: ParsedInput<'templates.variants.add'>): TemplateVariant {
    const family = this.mustGetFamily(input.familyId, ['familyId'])
    const segment = this.mustGetSegment(family, input.segmentKey)
    const variant = this.repo.insertVariant({
      familyId: family.id,
      segmentKey: segment.key,
      template: this.checkedTemplate(family, input.template),
      state: 'draft',
      origin: 'manual',
      weight: input.weight,
    })
    this.changed(family.id)
    return this.withProblems(variant, family.definition)
  }

  /** Editing the text sends an approved or rejected variant back to draft: the new text needs a review. */
  updateVariant(input: ParsedInput<'templates.variants.update'>): TemplateVariant {
    const variant = this.repo.getVariant(input.id)
    if (!variant)
      throw new ApiError({ code: 'not_found', message: `Variant ${input.id} does not exist.`, path: ['id'] })
    const family = this.mustGetFamily(variant.familyId)
    const template = input.template !== undefined ? this.checkedTemplate(family, input.template) : undefined
    this.workspace.db.transaction(() => {
      if (template !== undefined && template !== variant.template) {
        this.repo.updateVariant(variant.id, {
          template,
          ...(variant.origin === 'generated' ? { origin: 'edited' as const } : {}),
        })
        if (variant.state !== 'draft') this.repo.setState([variant.id], 'draft', null)
      }
      if (input.weight !== undefined) this.repo.updateVariant(variant.id, { weight: input.weight })
    })()
    this.changed(family.id)
    return this.withProblems(this.repo.getVariant(variant.id)!, family.definition)
  }

  approve(input: ParsedInput<'templates.variants.approve'>): MethodOutput<'templates.variants.approve'> {
    const family = this.mustGetFamily(input.familyId, ['familyId'])
    const candidates = input.all
      ? this.repo.listVariants({ familyId: family.id, segmentKey: input.segmentKey, states: ['draft'] }).items
      : (input.ids ?? []).map((id) => this.repo.getVariant(id) ?? id)
    const approve: number[] = []
    const skipped: { id: number; reason: string }[] = []
    for (const candidate of candidates) {
      if (typeof candidate === 'number') {
        skipped.push({ id: candidate, reason: 'no such variant' })
        continue
      }
      if (candidate.familyId !== family.id) {
        skipped.push({ id: candidate.id, reason: `belongs to another family` })
        continue
      }
      const problems = problemsOf(candidate, family.definition)
      if (problems.length > 0) skipped.push({ id: candidate.id, reason: problems.map((p) => p.message).join(' ') })
      else approve.push(candidate.id)
    }
    const approved = this.repo.setState(approve, 'approved', null)
    this.changed(family.id)
    return { approved, skipped }
  }

  private ownedIds(familyId: number, ids: number[]): number[] {
    const owned = ids.filter((id) => this.repo.getVariant(id)?.familyId === familyId)
    const foreign = ids.filter((id) => !owned.includes(id))
    if (foreign.length > 0) {
      throw new ApiError({
        code: 'not_found',
        message: `Variant${foreign.length > 1 ? 's' : ''} ${foreign.join(', ')} ${foreign.length > 1 ? 'are' : 'is'} not in this family.`,
        path: ['ids'],
      })
    }
    return owned
  }

  reject(input: ParsedInput<'templates.variants.reject'>): { rejected: number } {
    this.mustGetFamily(input.familyId, ['familyId'])
    const ids = this.ownedIds(input.familyId, input.ids)
    const reason = input.reason?.trim()
    const rejected = this.repo.setState(ids, 'rejected', [
      reason ? { code: 'operator', message: reason } : problemOf('operator', message('template.rejectedByOperator')),
    ])
    this.changed(input.familyId)
    return { rejected }
  }

  reopen(input: ParsedInput<'templates.variants.reopen'>): { reopened: number } {
    this.mustGetFamily(input.familyId, ['familyId'])
    const reopened = this.repo.setState(this.ownedIds(input.familyId, input.ids), 'draft', null)
    this.changed(input.familyId)
    return { reopened }
  }

  /** The variants publishing would snapshot now: approved, still valid, in a segment of the current grid. */
  private workingSnapshot(family: StoredFamily): PublishedVariantSnapshot[] {
    const segmentKeys = new Set(listSegments(family.definition.segments).map((segment) => segment.key))
    return this.repo
      .listVariants({ familyId: family.id, states: ['approved'] })
      .items.filter((variant) => segmentKeys.has(variant.segmentKey))
      .filter((variant) => problemsOf(variant, family.definition).length === 0)
      .map(({ id, segmentKey, template, weight }) => ({ id, segmentKey, template, weight }))
  }

  /** Renders exactly as the exported edge worker does (the same `personalise` from src/shared/template-render). */
  preview(input: ParsedInput<'templates.preview'>): PreviewResult {
    const family = this.mustGetFamily(input.familyId, ['familyId'])
    let definition = family.definition
    let version: number | null = null
    let variants: PublishedVariantSnapshot[]
    if (input.source === 'published') {
      if (family.publishedVersion === null) {
        throw new ApiError({
          code: 'not_found',
          message: `${family.name} is not published yet: publish it, or preview the working variants.`,
          path: ['source'],
        })
      }
      const published = this.repo.getVersion(family.id, family.publishedVersion)!
      definition = published.definition
      version = published.version
      variants = published.variants
    } else {
      variants = this.workingSnapshot(family)
    }
    const resolved = resolveSegment(definition.segments, input.segment)
    if (!resolved.ok) {
      throw new ApiError({ code: 'invalid_input', message: resolved.message, path: ['segment', resolved.dimension] })
    }
    let templateProblems: TemplateProblemInfo[] = []
    let candidates: RuntimeVariant[] = variants.filter((variant) => variant.segmentKey === resolved.key)
    let variantId = input.variantId
    if (input.template !== undefined) {
      const analysis = checkVariant(input.template, definition.slots, definition.constraints)
      templateProblems = analysis.problems
      // The unsaved text stands in as the segment's only variant (id 0 is never a stored id).
      candidates = analysis.canonical === null ? [] : [{ id: 0, template: analysis.canonical, weight: 1 }]
      variantId = undefined
    } else if (variantId !== undefined && !candidates.some((variant) => variant.id === variantId)) {
      // Previewing a draft (or any stored variant of the segment) before it is approved.
      const stored = this.repo.getVariant(variantId)
      if (stored && stored.familyId === family.id && stored.segmentKey === resolved.key && input.source === 'working') {
        candidates = [...candidates, { id: stored.id, template: stored.template, weight: stored.weight }]
      }
    }
    const result = personalise({
      family: runtimeOf(family.name, definition, version),
      segment: resolved,
      variants: candidates,
      data: input.data,
      userId: input.userId,
      variantId,
    })
    return previewOutcome(result, version, templateProblems)
  }

  private planSegments(family: StoredFamily, only: string[] | undefined, mode: 'fill' | 'add'): PlannedSegment[] {
    const all = listSegments(family.definition.segments)
    let chosen = all
    if (only) {
      const known = new Set(all.map((segment) => segment.key))
      const unknown = only.filter((key) => !known.has(key))
      if (unknown.length > 0) {
        throw new ApiError({
          code: 'invalid_input',
          message: `Not segments of ${family.name}: ${unknown.slice(0, 5).join('; ')}.`,
          path: ['segments'],
        })
      }
      const wanted = new Set(only)
      chosen = all.filter((segment) => wanted.has(segment.key))
    }
    const counts = new Map<string, { total: number; usable: number }>()
    for (const row of this.repo.stateCounts(family.id)) {
      const entry = counts.get(row.segmentKey) ?? { total: 0, usable: 0 }
      entry.total += row.count
      if (row.state !== 'rejected') entry.usable += row.count
      counts.set(row.segmentKey, entry)
    }
    const perSegment = family.definition.variantsPerSegment
    return chosen.map((segment) => {
      const count = counts.get(segment.key) ?? { total: 0, usable: 0 }
      return {
        segment,
        existing: count.total,
        needed: mode === 'add' ? perSegment : Math.max(0, perSegment - count.usable),
      }
    })
  }

  plan(input: ParsedInput<'templates.plan'>): MethodOutput<'templates.plan'> {
    const family = this.mustGetFamily(input.familyId, ['familyId'])
    const planned = this.planSegments(family, input.segments, input.mode).filter((segment) => segment.needed > 0)
    const calls = planned.reduce((sum, segment) => sum + segment.needed, 0)
    return {
      segments: planned.length,
      calls,
      needsConfirmation: calls > LARGE_GENERATION_CALLS,
      maxOutputTokens: calls * family.definition.generation.maxTokens,
    }
  }

  /** The model or provider a generation uses: the one asked for, else the family's, resolved by name. */
  resolveTarget(family: StoredFamily, explicit: Target | undefined): { target: Target; label: string } {
    const models = new ModelsRepository(this.workspace.db)
    if (explicit) {
      if ('model' in explicit) return { target: explicit, label: `model ${this.models.get(explicit.model).name}` }
      const provider = models.getProvider(explicit.provider)
      if (!provider) {
        throw new ApiError({
          code: 'not_found',
          message: `Provider ${explicit.provider} does not exist.`,
          path: ['target'],
        })
      }
      return { target: explicit, label: `provider ${provider.name}` }
    }
    const named = family.definition.generation.target
    if (!named) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${family.name} names no model or provider (generation.target); choose one for this run.`,
        path: ['target'],
      })
    }
    if ('model' in named) {
      const model = models.byName(named.model)
      if (!model) {
        throw new ApiError({
          code: 'not_found',
          message: `${family.name} asks for the model "${named.model}", which is not registered here. Register it or choose another.`,
          path: ['target'],
        })
      }
      return { target: { model: model.id }, label: `model ${model.name}` }
    }
    const provider = models.listProviders().find((candidate) => candidate.name === named.provider)
    if (!provider) {
      throw new ApiError({
        code: 'not_found',
        message: `${family.name} asks for the provider "${named.provider}", which is not configured here.`,
        path: ['target'],
      })
    }
    return { target: { provider: provider.id }, label: `provider ${provider.name}` }
  }

  /** Checks the plan and resolves the target before a job exists, so mistakes are reported at once. */
  prepareGeneration(input: ParsedInput<'templates.generate'>): {
    params: GenerateParams
    plan: MethodOutput<'templates.plan'>
  } {
    const family = this.mustGetFamily(input.familyId, ['familyId'])
    const plan = this.plan(input)
    if (plan.calls === 0) {
      throw new ApiError({
        code: 'conflict',
        message: `Every chosen segment of ${family.name} already has ${family.definition.variantsPerSegment} variants. Generate with mode "add" for more.`,
      })
    }
    if (plan.needsConfirmation && !input.confirmLargeGrid) {
      throw new ApiError({
        code: 'conflict',
        message: `This would make ${plan.calls.toLocaleString('en')} generation calls (${plan.segments} segments, up to ${plan.maxOutputTokens.toLocaleString('en')} output tokens). Confirm to go ahead (confirmLargeGrid, or --yes on the command line).`,
        path: ['confirmLargeGrid'],
      })
    }
    const { target, label } = this.resolveTarget(family, input.target)
    return {
      params: {
        familyId: family.id,
        target,
        targetLabel: label,
        mode: input.mode,
        ...(input.segments ? { segments: input.segments } : {}),
      },
      plan,
    }
  }

  runs(familyId: number, limit: number): { items: GenerationRun[] } {
    this.mustGetFamily(familyId, ['familyId'])
    const items = this.repo.listRuns(familyId, limit).map((run) => {
      const segments = this.repo.runSegments(run.id).map((stats) => ({
        ...stats,
        tokensPerSecond: stats.generationMs > 0 ? (stats.tokensOut * 1000) / stats.generationMs : 0,
      }))
      // A run left "running" by a job that has ended (a crash it did not resume from) takes the job's outcome.
      let status = run.status
      if (status === 'running' && run.jobId !== null) {
        const job = this.workspace.jobs.get(run.jobId)
        if (job && job.status !== 'running' && job.status !== 'queued') status = job.status
      }
      return {
        id: run.id,
        familyId: run.familyId,
        jobId: run.jobId,
        target: run.target,
        mode: run.mode,
        plannedCalls: run.plannedCalls,
        status,
        segments,
        totals: {
          accepted: segments.reduce((sum, s) => sum + s.accepted, 0),
          rejected: segments.reduce((sum, s) => sum + s.rejected, 0),
          tokensIn: segments.reduce((sum, s) => sum + s.tokensIn, 0),
          tokensOut: segments.reduce((sum, s) => sum + s.tokensOut, 0),
          generationMs: segments.reduce((sum, s) => sum + s.generationMs, 0),
        },
        createdAt: run.createdAt,
        finishedAt: run.finishedAt,
      }
    })
    return { items }
  }

  /** Snapshots the approved variants as the next version; refuses a version the edge could not serve in full. */
  publish(familyId: number, note: string | undefined): MethodOutput<'templates.publish'> {
    const family = this.mustGetFamily(familyId, ['familyId'])
    const { state, variants, contentHash } = this.publishReadiness(family)
    if (!state.ready) throw new ApiError({ code: 'conflict', message: state.reason! })
    const stored = this.workspace.db.transaction(() =>
      this.repo.insertVersion({
        familyId,
        version: this.repo.nextVersion(familyId),
        definition: family.definition,
        variants,
        variantCount: variants.length,
        contentHash,
        note: note ?? null,
      }),
    )()
    this.changed(familyId)
    const { definition: _definition, variants: _variants, ...summary } = stored
    return summary
  }

  versions(familyId: number): MethodOutput<'templates.versions.list'> {
    this.mustGetFamily(familyId, ['familyId'])
    return { items: this.repo.listVersions(familyId) }
  }

  version(familyId: number, version: number): MethodOutput<'templates.versions.get'> {
    this.mustGetFamily(familyId, ['familyId'])
    const stored = this.repo.getVersion(familyId, version)
    if (!stored) {
      throw new ApiError({ code: 'not_found', message: `Version ${version} does not exist.`, path: ['version'] })
    }
    return stored
  }

  diff(familyId: number, from: number, to: number | 'working'): VersionDiff {
    const family = this.mustGetFamily(familyId, ['familyId'])
    const before = this.version(familyId, from)
    const after =
      to === 'working'
        ? { definition: family.definition, variants: this.workingSnapshot(family) }
        : this.repo.getVersion(familyId, to)
    if (!after) throw new ApiError({ code: 'not_found', message: `Version ${to} does not exist.`, path: ['to'] })
    const definitionChanges = jsonDifferences(before.definition, after.definition)
    const keys = [...new Set([...before.variants, ...after.variants].map((variant) => variant.segmentKey))].sort()
    const summary = { added: 0, removed: 0, changed: 0, unchanged: 0 }
    const segments: VersionDiff['segments'] = []
    for (const segmentKey of keys) {
      const old = new Map(before.variants.filter((v) => v.segmentKey === segmentKey).map((v) => [v.id, v]))
      const now = new Map(after.variants.filter((v) => v.segmentKey === segmentKey).map((v) => [v.id, v]))
      const added = [...now.values()].filter((variant) => !old.has(variant.id))
      const removed = [...old.values()].filter((variant) => !now.has(variant.id))
      const changed: VersionDiff['segments'][number]['changed'] = []
      for (const [id, current] of now) {
        const previous = old.get(id)
        if (!previous) continue
        if (previous.template !== current.template || previous.weight !== current.weight) {
          changed.push({
            id,
            before: { template: previous.template, weight: previous.weight },
            after: { template: current.template, weight: current.weight },
          })
        } else summary.unchanged++
      }
      summary.added += added.length
      summary.removed += removed.length
      summary.changed += changed.length
      if (added.length + removed.length + changed.length > 0) segments.push({ segmentKey, added, removed, changed })
    }
    return { familyId, from, to, definitionChanges, segments, summary }
  }

  generateJob(): JobKind<GenerateParams> {
    return {
      kind: GENERATE_JOB,
      params: generateParamsSchema,
      // Every answer is committed as it arrives; a resumed job asks only for what is missing.
      resumable: true,
      title: (params) =>
        message('job.generateVariants', {
          family: this.repo.getFamily(params.familyId)?.name ?? `#${params.familyId}`,
          // The label's "model " prefix is English; the name alone reads in every language.
          target: params.targetLabel.replace(/^model /, ''),
        }),
      run: (context) => this.runGeneration(context),
    }
  }

  private async runGeneration(context: JobContext<GenerateParams>): Promise<unknown> {
    const { params } = context
    const repo = this.repo
    const family = this.mustGetFamily(params.familyId, ['familyId'])
    const saved = checkpointSchema.safeParse(context.checkpoint)
    let checkpoint: GenerationCheckpoint
    if (saved.success && repo.getRun(saved.data.runId)) {
      checkpoint = saved.data
      context.log('info', `Continuing run ${checkpoint.runId}; answers already saved are not asked again.`)
    } else {
      const planned = this.planSegments(family, params.segments, params.mode).filter((segment) => segment.needed > 0)
      const run = repo.createRun({
        familyId: family.id,
        jobId: context.jobId,
        target: params.targetLabel,
        mode: params.mode,
        plannedCalls: planned.reduce((sum, segment) => sum + segment.needed, 0),
        familyRevision: family.revision,
      })
      checkpoint = {
        runId: run.id,
        plan: planned.map((segment) => ({
          key: segment.segment.key,
          firstOrdinal: segment.existing,
          needed: segment.needed,
        })),
      }
      context.saveCheckpoint(checkpoint)
    }
    const runId = checkpoint.runId
    try {
      const result = await this.generateRemaining(context, family, checkpoint)
      repo.finishRun(runId, 'succeeded')
      this.changed(family.id)
      return result
    } catch (error) {
      if (isAbortedBy(context.signal, 'cancelled')) repo.finishRun(runId, 'cancelled')
      else if (!isAbortedBy(context.signal, 'shutdown')) repo.finishRun(runId, 'failed')
      this.changed(family.id)
      throw error
    }
  }

  private async generateRemaining(
    context: JobContext<GenerateParams>,
    family: StoredFamily,
    checkpoint: GenerationCheckpoint,
  ): Promise<unknown> {
    const { params } = context
    const repo = this.repo
    const definition = family.definition
    const segmentsByKey = new Map(listSegments(definition.segments).map((segment) => [segment.key, segment]))

    if ('model' in params.target) await this.ensureLoaded(params.target.model, context)
    const { provider, concurrency } = this.models.providerFor(params.target)
    let mode: ConstraintMode
    if (definition.generation.constraint === 'auto') mode = provider.kind === 'local' ? 'grammar' : 'json-schema'
    else mode = definition.generation.constraint
    if (mode === 'grammar' && provider.kind !== 'local') {
      throw new Error(
        'A GBNF grammar constraint needs a local model; set generation.constraint to "json-schema" or "auto" for a provider.',
      )
    }

    const answered = repo.answeredSeeds(checkpoint.runId)
    const pending: PlannedRequest[] = []
    const remainingBySegment = new Map<string, number>()
    let alreadyDone = 0
    for (const entry of checkpoint.plan) {
      const segment = segmentsByKey.get(entry.key)
      if (!segment) continue // The family's segments changed since the run started.
      const seeds = answered.get(entry.key) ?? new Set<number>()
      let remaining = 0
      for (let i = 0; i < entry.needed; i++) {
        const planned = buildRequest(definition, segment, entry.firstOrdinal + i, mode, provider.kind)
        if (seeds.has(planned.seed)) {
          alreadyDone++
          continue
        }
        pending.push(planned)
        remaining++
      }
      if (remaining > 0) remainingBySegment.set(entry.key, remaining)
    }
    const total = alreadyDone + pending.length
    context.log(
      'info',
      `${pending.length} generation call${pending.length === 1 ? '' : 's'} to make (${alreadyDone} already answered) on ${provider.id}, ${mode} constraint, up to ${concurrency} at once.`,
    )
    context.progress(total > 0 ? alreadyDone / total : 1, `${alreadyDone} of ${total} answers`)

    const stopEarly = new AbortController()
    const signal = AbortSignal.any([context.signal, stopEarly.signal])
    let successes = 0
    let failures = 0
    let lastFailure = ''
    let accepted = 0
    let rejected = 0
    let done = alreadyDone
    const segmentStarted = new Map<string, number>()
    const started = performance.now()

    /** An answer the model gave, judged: a draft variant or a rejected one (a failed call is not an answer). */
    const commit = (planned: PlannedRequest, item: Extract<BatchItemResult, { ok: true }>): void => {
      const key = planned.segment.key
      const siblings = repo
        .listVariants({ familyId: family.id, segmentKey: key, states: ['draft', 'approved'] })
        .items.map((variant) => ({ id: variant.id, template: variant.template }))
      const judged = judgeOutput(definition, item.result, siblings)
      if (judged.accepted) accepted++
      else rejected++
      const remaining = (remainingBySegment.get(key) ?? 1) - 1
      remainingBySegment.set(key, remaining)
      this.workspace.db.transaction(() => {
        if (!repo.getFamily(family.id)) throw new Error(`The family ${family.name} was deleted while generating.`)
        repo.insertVariant({
          familyId: family.id,
          segmentKey: key,
          template: judged.template,
          rawOutput: item.result.text,
          state: judged.accepted ? 'draft' : 'rejected',
          rejection: judged.accepted ? null : judged.problems,
          origin: 'generated',
          runId: checkpoint.runId,
          seed: planned.seed,
          tokensIn: item.result.tokensIn,
          tokensOut: item.result.tokensOut,
          generationMs: item.result.durationMs,
        })
        if (remaining === 0) {
          const totals = repo.segmentTotals(checkpoint.runId, key)
          const firstAt = totals.firstAt ? Date.parse(totals.firstAt) - totals.firstGenerationMs : Date.now()
          const startedHere = segmentStarted.get(key)
          const segmentStart = Math.min(firstAt, startedHere ?? firstAt)
          repo.recordSegment(checkpoint.runId, {
            segmentKey: key,
            requested: totals.requested,
            accepted: totals.accepted,
            rejected: totals.rejected,
            tokensIn: totals.tokensIn,
            tokensOut: totals.tokensOut,
            generationMs: totals.generationMs,
            wallMs: Math.max(0, Date.now() - segmentStart),
          })
          // The checkpoint moves in the same transaction as the answer that completed the segment.
          context.saveCheckpoint(checkpoint)
        }
      })()
      done++
      const segmentsLeft = [...remainingBySegment.values()].filter((count) => count > 0).length
      context.progress(
        done / total,
        `${done} of ${total} answers; ${segmentsLeft} segment${segmentsLeft === 1 ? '' : 's'} to go (last: ${key || 'all'})`,
      )
    }

    if (pending.length > 0) {
      for (const planned of pending) {
        if (!segmentStarted.has(planned.segment.key)) segmentStarted.set(planned.segment.key, Date.now())
      }
      try {
        await runBatch(
          pending.map((planned) => planned.request),
          [{ provider, concurrency }],
          {
            signal,
            onItemDone: (item) => {
              const planned = pending[item.index]!
              if (item.ok) {
                successes++
                commit(planned, item)
                return
              }
              // A failed model call is the job's error, never a rejected variant: nothing is saved for it, so the
              // next run asks for it again.
              failures++
              lastFailure = item.error
              context.log('error', `A call for ${planned.segment.key || 'the family'} failed: ${item.error}`)
              // A provider that fails everything (wrong URL, model missing) stops the job at once.
              if (successes === 0 && failures >= 3)
                stopEarly.abort(new Error(`Stopped: the first ${failures} calls failed. Last error: ${lastFailure}`))
            },
          },
        )
      } catch (error) {
        if (stopEarly.signal.aborted && !context.signal.aborted) throw stopEarly.signal.reason
        throw error
      }
    }
    if (failures > 0) {
      throw new Error(
        `${failures} of ${pending.length} model calls failed (last error: ${lastFailure}). The ${successes} answers received are saved; generate again to ask only for the missing ones.`,
      )
    }
    const seconds = (performance.now() - started) / 1000
    const segments = repo.runSegments(checkpoint.runId)
    const tokensOut = segments.reduce((sum, s) => sum + s.tokensOut, 0)
    const generationMs = segments.reduce((sum, s) => sum + s.generationMs, 0)
    context.log('info', `Accepted ${accepted} and rejected ${rejected} answers in ${seconds.toFixed(1)} s.`)
    return {
      runId: checkpoint.runId,
      segments: segments.length,
      calls: total,
      accepted: segments.reduce((sum, s) => sum + s.accepted, 0),
      rejected: segments.reduce((sum, s) => sum + s.rejected, 0),
      tokensIn: segments.reduce((sum, s) => sum + s.tokensIn, 0),
      tokensOut,
      tokensPerSecond: generationMs > 0 ? (tokensOut * 1000) / generationMs : 0,
      seconds,
    }
  }

  /** A resumed job runs in a fresh process where no model is loaded yet: load the one this run uses. */
  private async ensureLoaded(modelId: number, context: JobContext<GenerateParams>): Promise<void> {
    const model = this.models.get(modelId)
    if (model.loaded) return
    context.log('info', `Loading ${model.name} for generation.`)
    await this.models.load({
      id: modelId,
      sequences: 4,
      contextSize: Math.min(2048, model.contextLength ?? 2048),
    })
  }
}

function jsonErrorMessage(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const where = jsonErrorPosition(text)
  if (!where) return `The family file is not valid JSON: ${message}`
  const line = text.split('\n')[where.line - 1] ?? ''
  const near = line.slice(Math.max(0, where.column - 20), where.column + 20).trim()
  return `The family file is not valid JSON at line ${where.line}, column ${where.column} (near "${near}").`
}

/** Paths where two JSON values differ (objects by key, arrays by index), for the version diff. */
export function jsonDifferences(
  before: unknown,
  after: unknown,
  path = '',
): { path: string; before: unknown; after: unknown }[] {
  const isRecord = (value: unknown): value is Record<string, unknown> =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
  if (Array.isArray(before) && Array.isArray(after)) {
    const out: { path: string; before: unknown; after: unknown }[] = []
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      out.push(...jsonDifferences(before[i], after[i], path ? `${path}.${i}` : String(i)))
    }
    return out
  }
  if (isRecord(before) && isRecord(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    return keys.flatMap((key) => jsonDifferences(before[key], after[key], path ? `${path}.${key}` : key))
  }
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [{ path, before: before ?? null, after: after ?? null }]
}
