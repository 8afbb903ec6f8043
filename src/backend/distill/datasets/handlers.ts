/** Handlers for distillation datasets (`distill.datasets.*`, `distill.teach`, `distill.judge`) and their jobs. */
import type { distillDatasetMethods } from '../../../shared/contract'
import type { AreaHandlers } from '../../api/dispatch'
import type { CacheService } from '../../cache/service'
import type { JobRunner } from '../../jobs/runner'
import type { ModelsService } from '../../models/service'
import type { PipelinesService } from '../../pipelines/service'
import type { Workspace } from '../../workspace/workspace'
import { EXPAND_JOB, expandJob } from '../teacher/expand'
import { JUDGE_JOB, judgeJob } from '../teacher/judge'
import { TEACH_JOB, teachJob } from '../teacher/teach'
import { DatasetsService } from './service'

export interface DatasetsDeps {
  workspace: Workspace
  cache: CacheService
  models: ModelsService
  pipelines: PipelinesService
  runner: JobRunner
}

/** Builds the datasets service and registers its jobs with the runner. */
export function datasetsArea(deps: DatasetsDeps): DatasetsService {
  const datasets = new DatasetsService(deps.workspace, deps.cache)
  deps.runner.register(teachJob(datasets.repo, deps.models))
  deps.runner.register(judgeJob(datasets.repo, deps.models, deps.pipelines))
  deps.runner.register(expandJob(datasets, deps.models))
  return datasets
}

export function datasetHandlers(
  datasets: DatasetsService,
  runner: JobRunner,
): AreaHandlers<typeof distillDatasetMethods> {
  const enqueue = (kind: string, params: { datasetId: number }) => {
    datasets.mustGet(params.datasetId)
    return { job: runner.enqueue(kind, params) }
  }
  return {
    'distill.datasets.create': (input) => datasets.create(input),
    'distill.datasets.list': () => ({ items: datasets.repo.listDatasets() }),
    'distill.datasets.get': ({ datasetId }) => datasets.get(datasetId),
    'distill.datasets.delete': ({ datasetId }) => ({ deleted: datasets.repo.deleteDataset(datasetId) }),
    'distill.datasets.addSource': (input) => datasets.addSource(input),
    'distill.datasets.examples': (input) => datasets.examples(input),
    'distill.datasets.review': (input) => datasets.review(input),
    'distill.datasets.edit': ({ id, answer }) => datasets.edit(id, answer),
    'distill.datasets.freeze': ({ datasetId, note }) => datasets.freeze(datasetId, note ?? null),
    'distill.datasets.export': (input) => datasets.exportVersion(input),
    'distill.datasets.expand': (input) => enqueue(EXPAND_JOB, input),
    'distill.teach': (input) => enqueue(TEACH_JOB, input),
    'distill.judge': (input) => enqueue(JUDGE_JOB, input),
  }
}
