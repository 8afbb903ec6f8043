/** Handlers for the Export area of the contract (`export.*`, deploys included) and its job kinds. */
import type { deployMethods, exportMethods } from '../../shared/contract'
import type { AreaHandlers } from '../api/dispatch'
import type { Backend } from '../backend'
import type { JobKind } from '../jobs/runner'
import { CDN_DEPLOY_JOB, DeployService, type DeployParams } from './deploy'
import { CDN_EXPORT_JOB, ExportService, type ExportParams } from './service'

export function cdnExportJob(backend: Backend): JobKind<ExportParams> {
  return new ExportService(backend.workspace).job()
}

export function cdnDeployJob(backend: Backend): JobKind<DeployParams> {
  return new DeployService(backend.workspace).job()
}

export function exportHandlers(backend: Backend): AreaHandlers<typeof exportMethods & typeof deployMethods> {
  const exporter = new ExportService(backend.workspace)
  const deployer = new DeployService(backend.workspace)
  return {
    'export.plan': (input) => exporter.plan(input),
    'export.cdn': (input) => ({ job: backend.runner.enqueue(CDN_EXPORT_JOB, exporter.prepare(input)) }),
    'export.list': ({ limit }) => exporter.list(limit),
    // The plan is also the preflight: credentials, bucket and ownership are checked before a job exists.
    'export.deploy': async (input) => {
      const plan = await deployer.plan(input)
      if (input.dryRun) return { plan, job: null }
      return { plan, job: backend.runner.enqueue(CDN_DEPLOY_JOB, deployer.prepare(input)) }
    },
    'export.rollback': (input) => deployer.rollback(input),
    'export.deployments': (input) => deployer.deployments(input),
    'export.targets.list': () => ({ items: deployer.savedTargets.list() }),
    'export.targets.save': (input) => deployer.savedTargets.save(input),
    'export.targets.remove': ({ name }) => {
      deployer.savedTargets.remove(name)
      return { ok: true as const }
    },
  }
}
