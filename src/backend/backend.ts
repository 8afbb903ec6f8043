/**
 * The backend: one workspace, the job runner, the event bus and the API handlers. The desktop app runs it in an
 * Electron utility process (MessagePort transport); `larder serve` runs it in a plain Node process (HTTP + SSE).
 */
import { existsSync } from 'node:fs'
import { setPathStyle } from '../shared/contract'
import { APP_VERSION } from '../shared/version'
import { ApiError } from '../shared/errors'
import { Dispatcher, type Handlers } from './api/dispatch'
import { EventBus } from './events'
import { JobRunner, type RunnerOptions } from './jobs/runner'
import { publicJob } from './jobs/repository'
import { HASH_JOB, ModelsService, type ModelsServiceOptions } from './models/service'
import { modelHandlers } from './models/handlers'
import { QuantizationJobs } from './models/quantization'
import { cacheHandlers } from './cache/handlers'
import { exportEntriesJob, importEntriesJob, importLogJob, prewarmJob, reembedJob } from './cache/jobs'
import { CacheService } from './cache/service'
import { planEmbedJob } from './cache/planning/embed-job'
import { planningHandlers } from './cache/planning/handlers'
import { pipelineHandlers } from './pipelines/handlers'
import { cdnDeployJob, cdnExportJob, exportHandlers } from './export/handlers'
import { templateHandlers, templatesGenerateJob } from './templates/handlers'
import { PipelinesService } from './pipelines/service'
import { DistillService } from './distill/service'
import { distillHandlers } from './distill/handlers'
import { datasetHandlers, datasetsArea } from './distill/datasets/handlers'
import type { DatasetsService } from './distill/datasets/service'
import { distillEvalHandlers } from './distill/eval/handlers'
import { EvalService } from './distill/eval/service'
import { PromotionService } from './distill/promotion/service'
import { DEMO_JOB, DemoService } from './demo/service'
import { Gateway } from './gateway/gateway'
import {
  BACKUP_JOB,
  RESTORE_JOB,
  backupJobKind,
  defaultBackupPath,
  listBackups,
  restoreJobKind,
} from './workspace/backup-jobs'
import { Workspace, type WorkspaceOptions } from './workspace/workspace'
import { message } from '../shared/messages'

export interface BackendOptions extends WorkspaceOptions {
  home: string
  runner?: RunnerOptions
  /** Check handler results against the contract too (tests and development). */
  validateOutput?: boolean
  models?: ModelsServiceOptions
}

export class Backend {
  readonly events = new EventBus()
  readonly runner: JobRunner
  readonly dispatcher: Dispatcher
  readonly models: ModelsService
  readonly quantization: QuantizationJobs
  readonly cache: CacheService
  readonly pipelines: PipelinesService
  readonly distill: DistillService
  readonly datasets: DatasetsService
  readonly distillEval: EvalService
  readonly promotions: PromotionService
  readonly demo: DemoService
  readonly startedAt = new Date().toISOString()
  private closed = false

  private constructor(
    readonly workspace: Workspace,
    options: BackendOptions,
  ) {
    // Paths in calls are absolute for this machine only (a Windows path on Linux is a relative name, and back).
    setPathStyle(process.platform === 'win32' ? 'win32' : 'posix')
    this.runner = new JobRunner(() => this.workspace.jobs, this.events, options.runner)
    this.runner.register(backupJobKind(workspace))
    this.runner.register(restoreJobKind(workspace, { runningJobs: () => this.runner.runningCount }))
    this.models = new ModelsService(workspace, this.events, options.models)
    this.runner.register(this.models.pullJob())
    this.quantization = new QuantizationJobs(this.models)
    this.runner.register(this.quantization.quantizeJob())
    this.runner.register(this.quantization.sweepJob())
    this.runner.register(this.models.compareJob())
    this.runner.register(this.models.hashJob())
    this.models.onRegistered = (model) => {
      const pending = this.workspace.jobs
        .list({ status: ['queued', 'running'], kind: HASH_JOB, limit: 500, offset: 0 })
        .items.some((job) => (job.params as { id?: number }).id === model.id)
      if (!pending) this.runner.enqueue(HASH_JOB, { id: model.id })
    }
    this.cache = new CacheService(workspace, this.events, this.models)
    this.runner.register(importLogJob(workspace, this.cache))
    this.runner.register(prewarmJob(workspace, this.cache, this.models))
    this.runner.register(importEntriesJob(this.cache))
    this.runner.register(exportEntriesJob(workspace, this.cache))
    this.runner.register(reembedJob(workspace, this.cache))
    this.runner.register(planEmbedJob(workspace, this.cache))
    this.pipelines = new PipelinesService(workspace, this.events, this.models, this.cache)
    this.runner.register(this.pipelines.runJob())
    this.runner.register(templatesGenerateJob(this))
    this.runner.register(cdnExportJob(this))
    this.runner.register(cdnDeployJob(this))
    this.distill = new DistillService(workspace, this.events, this.runner, this.models, this.quantization)
    this.runner.register(this.distill.job())
    this.datasets = datasetsArea({
      workspace,
      cache: this.cache,
      models: this.models,
      pipelines: this.pipelines,
      runner: this.runner,
    })
    this.distillEval = new EvalService(workspace, this.events, this.runner, this.models)
    this.runner.register(this.distillEval.job())
    this.promotions = new PromotionService(workspace, this.events, this.models, this.cache, this.pipelines)
    this.demo = new DemoService({
      home: workspace.paths.home,
      call: (method, input) => this.call(method, input),
      waitFor: (jobId) => this.runner.waitFor(jobId),
      gatewayHandler: (token) => {
        const gateway = new Gateway(this, { adminToken: token })
        return (request, response) => {
          const pathname = new URL(request.url ?? '/', 'http://127.0.0.1').pathname
          void gateway.handle(request, response, pathname, 1024 * 1024).then((handled) => {
            if (!handled) response.writeHead(404).end()
          })
        }
      },
    })
    this.runner.register(this.demo.job())
    this.dispatcher = new Dispatcher(this.handlers(), { validateOutput: options.validateOutput ?? false })
  }

  static open(options: BackendOptions): Backend {
    const workspace = Workspace.open(options.home, options)
    return new Backend(workspace, options)
  }

  /** Starts running jobs (and recovers those a crashed process left behind). */
  start(): this {
    this.runner.start()
    return this
  }

  call(method: unknown, input: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(new ApiError({ code: 'unavailable', message: 'Larder is shutting down.' }))
    return this.dispatcher.call(method, input)
  }

  /** Clean stop: jobs interrupted (resumable ones requeued), WAL checkpointed, database closed. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.runner.shutdown()
    await this.models.close()
    // The gateway's queued hit counters, key use and request-log rows (write-behind) go in before closing.
    this.cache.close()
    this.workspace.close()
  }

  private latestDemoJob() {
    const job = this.workspace.jobs.list({ kind: DEMO_JOB, limit: 1, offset: 0 }).items[0]
    return job ? publicJob(job) : null
  }

  private handlers(): Handlers {
    const ws = this.workspace
    return {
      ...modelHandlers(this),
      ...cacheHandlers(this),
      ...planningHandlers({ workspace: ws, cache: this.cache, runner: this.runner }),
      ...pipelineHandlers(this),
      ...templateHandlers(this),
      ...exportHandlers(this),
      ...distillHandlers(this.distill),
      ...datasetHandlers(this.datasets, this.runner),
      ...distillEvalHandlers(this.distillEval, this.promotions, (input) => this.datasets.resolveEvalData(input)),
      'distill.train': (input) => this.distill.start(this.datasets.resolveTrainData(input)),
      'demo.status': async () => this.demo.status(this.latestDemoJob()),
      'demo.load': ({ quick }) => {
        const latest = this.latestDemoJob()
        this.demo.refuseIfBusy(latest !== null && (latest.status === 'queued' || latest.status === 'running'))
        return { job: this.runner.enqueue(DEMO_JOB, { quick }) }
      },
      'system.info': () => {
        const status = ws.status()
        return {
          appVersion: APP_VERSION,
          home: ws.paths.home,
          databasePath: ws.paths.database,
          schemaVersion: status.current,
          latestSchemaVersion: status.latest,
          platform: `${process.platform}-${process.arch}`,
          nodeVersion: process.versions.node,
          pid: process.pid,
          startedAt: this.startedAt,
        }
      },
      'db.status': () => ws.status(),
      'jobs.list': (input) => {
        const page = ws.jobs.list(input)
        return { items: page.items.map(publicJob), total: page.total }
      },
      'jobs.get': ({ id }) => {
        const job = ws.jobs.get(id)
        if (!job) throw ApiError.of('not_found', message('error.jobNotFound', { id }), { path: ['id'] })
        return publicJob(job)
      },
      'jobs.logs': ({ id, afterSeq, limit }) => {
        if (!ws.jobs.get(id)) throw ApiError.of('not_found', message('error.jobNotFound', { id }), { path: ['id'] })
        return { items: ws.jobs.logs(id, afterSeq ?? 0, limit) }
      },
      'jobs.cancel': ({ id }) => this.runner.cancel(id),
      'backup.create': ({ path, pacing }) => ({
        job: this.runner.enqueue(BACKUP_JOB, { path: path ?? defaultBackupPath(ws), pacing: pacing ?? {} }),
      }),
      'backup.list': () => ({ items: listBackups(ws) }),
      'backup.restore': ({ path }) => {
        if (!existsSync(path)) {
          throw new ApiError({ code: 'not_found', message: `No backup file at ${path}.`, path: ['path'] })
        }
        const busy = ws.jobs.list({ status: ['queued', 'running'], limit: 1, offset: 0 }).total
        if (busy > 0) {
          throw new ApiError({
            code: 'conflict',
            message: 'Jobs are queued or running. Wait for them to finish or cancel them, then restore.',
          })
        }
        return { job: this.runner.enqueue(RESTORE_JOB, { path }) }
      },
      'settings.get': () => ws.settings.get(),
      'settings.update': (patch) => ws.settings.update(patch),
    }
  }
}
