/**
 * The three kinds of promotion target, each behind one small interface: what it is called and what it serves now
 * (`inspect`, recorded as the promotion's `previous`), switching it to the student (`apply`) and putting the previous
 * setting back (`restore`). Each goes through its area's own save path (the cache's namespace save, a new pipeline
 * version, a family update), never SQL on those tables, so validation, versions and change events stay theirs.
 *
 * No tenant check: promotion is an operator action in the console and the CLI (the same trust as saving a pipeline or
 * a family there), so a target of any tenant may be promoted; it only has to exist.
 */
import { familyDefinitionSchema, type FamilyDefinition, type PromotionTarget } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import { nodeUsesModel, type PipelineDefinition } from '../../../shared/pipeline-definition'
import type { CacheService } from '../../cache/service'
import type { PipelinesService } from '../../pipelines/service'
import type { TemplatesService } from '../../templates/service'

/** The student being promoted: a registered model or a provider, with its name. */
export interface Student {
  kind: 'model' | 'provider'
  id: number
  name: string
}

export interface TargetKind {
  /** A readable label and the current setting; a 4xx when the target does not exist or cannot take a student. */
  inspect(): { label: string; previous: unknown }
  apply(student: Student, note: string): void
  restore(previous: unknown, note: string): void
}

export interface TargetServices {
  cache: CacheService
  pipelines: PipelinesService
  templates: TemplatesService
}

export function targetKind(target: PromotionTarget, services: TargetServices, rollback = false): TargetKind {
  if ('namespaceId' in target) return namespaceTarget(target.namespaceId, services.cache)
  if ('pipelineId' in target) return pipelineNodeTarget(target.pipelineId, target.nodeId, services.pipelines, rollback)
  return familyTarget(target.familyId, services.templates, rollback)
}

const gone = (what: string, rollback: boolean): ApiError =>
  new ApiError({
    code: 'not_found',
    message: rollback ? `${what} no longer exists, so there is nothing to restore.` : `${what} does not exist.`,
    path: ['target'],
  })

function namespaceTarget(namespaceId: number, cache: CacheService): TargetKind {
  const save = (generationTarget: { model: number } | { provider: number } | null): void => {
    const namespace = cache.namespace(namespaceId)
    cache.saveNamespace({ id: namespace.id, tenant: namespace.tenant, name: namespace.name, generationTarget })
  }
  return {
    inspect: () => {
      const namespace = cache.namespace(namespaceId)
      return {
        label: `namespace ${namespace.tenant}/${namespace.name}`,
        previous: { generationTarget: namespace.generationTarget },
      }
    },
    apply: (student) => save(student.kind === 'model' ? { model: student.id } : { provider: student.id }),
    restore: (previous) =>
      save((previous as { generationTarget: { model: number } | { provider: number } | null }).generationTarget),
  }
}

function pipelineNodeTarget(
  pipelineId: number,
  nodeId: string,
  pipelines: PipelinesService,
  rollback: boolean,
): TargetKind {
  const load = (): { name: string; definition: PipelineDefinition; node: PipelineDefinition['nodes'][number] } => {
    let definition: PipelineDefinition
    try {
      definition = pipelines.definition(pipelineId)
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') throw gone(`Pipeline ${pipelineId}`, rollback)
      throw error
    }
    const node = definition.nodes.find((candidate) => candidate.id === nodeId)
    if (!node) throw gone(`Node "${nodeId}" of pipeline ${definition.name}`, rollback)
    return { name: definition.name, definition, node }
  }
  const save = (target: unknown, note: string): void => {
    const { definition } = load()
    const nodes = definition.nodes.map((node) =>
      node.id === nodeId ? { ...node, config: { ...node.config, target } } : node,
    )
    pipelines.save({ ...definition, nodes }, { id: pipelineId, note })
  }
  return {
    inspect: () => {
      const { name, node } = load()
      if (!nodeUsesModel(node)) {
        throw new ApiError({
          code: 'invalid_input',
          message: `Node "${nodeId}" of pipeline ${name} (${node.type === 'router' ? 'a rules router' : `type ${node.type}`}) calls no model, so there is nothing to switch to a student. Choose an llm, judge, reflect or classifier router node.`,
          path: ['target', 'nodeId'],
        })
      }
      return { label: `pipeline ${name} node ${nodeId}`, previous: { target: node.config.target ?? null } }
    },
    apply: (student, note) =>
      save(
        student.kind === 'model'
          ? { model: student.id, name: student.name }
          : { provider: student.id, name: student.name },
        note,
      ),
    restore: (previous, note) => save((previous as { target: unknown }).target ?? null, note),
  }
}

type FamilyTarget = NonNullable<FamilyDefinition['generation']['target']>

function familyTarget(familyId: number, templates: TemplatesService, rollback: boolean): TargetKind {
  const load = () => {
    try {
      return templates.mustGetFamily(familyId, ['target', 'familyId'])
    } catch (error) {
      if (error instanceof ApiError && error.code === 'not_found') throw gone(`Template family ${familyId}`, rollback)
      throw error
    }
  }
  const save = (target: FamilyTarget | null): void => {
    const family = load()
    const { target: _replaced, ...generation } = family.definition.generation
    // Validated as the console's save is (the contract's schema), then saved through the family's update.
    const parsed = familyDefinitionSchema.safeParse({
      ...family.definition,
      generation: target ? { ...generation, target } : generation,
    })
    if (!parsed.success) {
      throw new ApiError({
        code: 'invalid_input',
        message: `Family ${family.name} cannot take this target: ${parsed.error.issues[0]!.message}`,
        path: ['target', 'familyId'],
      })
    }
    templates.update(familyId, parsed.data)
  }
  return {
    inspect: () => {
      const family = load()
      return { label: `family ${family.name}`, previous: { target: family.definition.generation.target ?? null } }
    },
    apply: (student) => save(student.kind === 'model' ? { model: student.name } : { provider: student.name }),
    restore: (previous) => save((previous as { target: FamilyTarget | null }).target),
  }
}
