/** Handlers for traffic planning (`cache.plan`, `cache.plan.embed`): given only the services they use. */
import type { planningMethods } from '../../../shared/contract'
import { ApiError } from '../../../shared/errors'
import type { AreaHandlers } from '../../api/dispatch'
import type { JobRunner } from '../../jobs/runner'
import { SettingsRepository } from '../../settings/repository'
import type { Workspace } from '../../workspace/workspace'
import type { CacheService } from '../service'
import { noEmbedderMessage, PLAN_EMBED_JOB, vectorStoreFor } from './embed-job'
import { makePlan } from './plan'

export function planningHandlers(services: {
  workspace: Workspace
  cache: CacheService
  runner: JobRunner
}): AreaHandlers<typeof planningMethods> {
  const { workspace, cache, runner } = services
  return {
    'cache.plan': ({ namespaceId, ...plan }) => {
      // Reading through `cache.repo` writes what the gateway queued first, so the plan sees what was served.
      const namespace = cache.namespace(namespaceId)
      return makePlan(workspace.db, {
        namespace,
        plan,
        settings: new SettingsRepository(workspace.db).get(),
        vectors: () => vectorStoreFor(workspace, namespace)?.load() ?? null,
      })
    },
    'cache.plan.embed': ({ namespaceId }) => {
      const namespace = cache.namespace(namespaceId)
      if (!namespace.embedder)
        throw new ApiError({ code: 'invalid_input', message: noEmbedderMessage(namespace), path: ['namespaceId'] })
      return { job: runner.enqueue(PLAN_EMBED_JOB, { namespaceId }) }
    },
  }
}
