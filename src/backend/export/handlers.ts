/** Handlers for the Export area of the contract (`export.*`) and its job kind. */
import type { exportMethods } from '../../shared/contract'
import type { AreaHandlers } from '../api/dispatch'
import type { Backend } from '../backend'
import type { JobKind } from '../jobs/runner'
import { CDN_EXPORT_JOB, ExportService, type ExportParams } from './service'

export function cdnExportJob(backend: Backend): JobKind<ExportParams> {
  return new ExportService(backend.workspace).job()
}

export function exportHandlers(backend: Backend): AreaHandlers<typeof exportMethods> {
  const exporter = new ExportService(backend.workspace)
  return {
    'export.plan': (input) => exporter.plan(input),
    'export.cdn': (input) => ({ job: backend.runner.enqueue(CDN_EXPORT_JOB, exporter.prepare(input)) }),
    'export.list': ({ limit }) => exporter.list(limit),
  }
}
