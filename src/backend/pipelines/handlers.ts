/** Handlers for the Pipelines area of the contract (`pipelines.*`). */
import type { pipelineMethods } from '../../shared/contract'
import type { AreaHandlers } from '../api/dispatch'
import type { Backend } from '../backend'
import { RUN_JOB } from './service'

export function pipelineHandlers(backend: Backend): AreaHandlers<typeof pipelineMethods> {
  const { pipelines, runner } = backend
  return {
    'pipelines.list': ({ tenant }) => ({ items: pipelines.list(tenant) }),
    'pipelines.get': ({ id, version }) => pipelines.get(id, version),
    'pipelines.save': ({ id, definition, note, tenant }) => pipelines.save(definition, { id, note, tenant }),
    'pipelines.remove': ({ id }) => ({ removed: pipelines.remove(id) }),
    'pipelines.versions': ({ id }) => ({ items: pipelines.versions(id) }),
    'pipelines.diff': ({ id, from, to }) => pipelines.diff(id, from, to),
    'pipelines.restore': ({ id, version }) => pipelines.restore(id, version),
    'pipelines.export': ({ id, version }) => ({ definition: pipelines.exportDefinition(id, version) }),
    'pipelines.import': ({ definition, note, tenant }) =>
      pipelines.save(definition, { note: note ?? 'imported', tenant }),
    'pipelines.starters': () => ({ items: pipelines.starters() }),
    'pipelines.run': ({ id, input, source }) => {
      pipelines.get(id)
      return { job: runner.enqueue(RUN_JOB, { id, input, source }) }
    },
    'pipelines.runs': ({ id, limit, offset }) => pipelines.runs(id, limit, offset),
    'pipelines.runs.get': ({ runId }) => pipelines.run(runId),
    'pipelines.ledger': ({ id }) => pipelines.ledger(id),
  }
}
