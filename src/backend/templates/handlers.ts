/** Handlers for the Templates area of the contract (`templates.*`) and its job kind. */
import type { templateMethods } from '../../shared/contract'
import type { AreaHandlers } from '../api/dispatch'
import type { Backend } from '../backend'
import type { JobKind } from '../jobs/runner'
import { GENERATE_JOB, TemplatesService, type GenerateParams } from './service'

function serviceOf(backend: Backend): TemplatesService {
  return new TemplatesService(backend.workspace, backend.events, backend.models)
}

export function templatesGenerateJob(backend: Backend): JobKind<GenerateParams> {
  return serviceOf(backend).generateJob()
}

export function templateHandlers(backend: Backend): AreaHandlers<typeof templateMethods> {
  const templates = serviceOf(backend)
  return {
    'templates.list': () => templates.list(),
    'templates.get': ({ id }) => templates.get(id),
    'templates.create': ({ definition }) => templates.create(definition),
    'templates.update': ({ id, definition, expectedRevision }) => templates.update(id, definition, expectedRevision),
    'templates.import': ({ text, replace }) => templates.importText(text, replace),
    'templates.remove': ({ id }) => templates.remove(id),
    'templates.variants.list': (input) => templates.listVariants(input),
    'templates.variants.add': (input) => templates.addVariant(input),
    'templates.variants.update': (input) => templates.updateVariant(input),
    'templates.variants.approve': (input) => templates.approve(input),
    'templates.variants.reject': (input) => templates.reject(input),
    'templates.variants.reopen': (input) => templates.reopen(input),
    'templates.preview': (input) => templates.preview(input),
    'templates.plan': (input) => templates.plan(input),
    'templates.generate': (input) => {
      const { params, plan } = templates.prepareGeneration(input)
      return { job: backend.runner.enqueue(GENERATE_JOB, params), plan }
    },
    'templates.runs.list': ({ familyId, limit }) => templates.runs(familyId, limit),
    'templates.publish': ({ familyId, note }) => templates.publish(familyId, note),
    'templates.versions.list': ({ familyId }) => templates.versions(familyId),
    'templates.versions.get': ({ familyId, version }) => templates.version(familyId, version),
    'templates.versions.diff': ({ familyId, from, to }) => templates.diff(familyId, from, to),
  }
}
