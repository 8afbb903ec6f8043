/**
 * OpenAI's fine-tuning API on Larder's gateway, over the job runner and the built-in trainer, so an on-prem Larder
 * is a fine-tuning service for other tools (the official `openai` client works against it):
 *   POST /v1/files (multipart: file, purpose), GET /v1/files, GET /v1/files/{id}
 *   POST /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs/{id},
 *   POST /v1/fine_tuning/jobs/{id}/cancel, GET /v1/fine_tuning/jobs/{id}/events (newest first, `after` pages back; `message` and `metrics` events),
 *   GET .../{id}/checkpoints
 * A job is a `distill.train` run of the model named `model` (a registered GGUF); its status is the Larder job's.
 * Files and jobs belong to the tenant of the gateway key; another tenant's ids do not exist (404).
 * Hyperparameters: `n_epochs`; `learning_rate_multiplier` scales the built-in trainer's 3e-4; `batch_size` is not
 * used (the trainer batches tokens). `metadata.larder_max_steps` bounds a run (tests, trials). A validation file's
 * lines join the training data; the trainer's stable-hash split picks validation examples.
 */
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import type { DistillRun, Job } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { Backend } from '../backend'
import { eventsPage, jobEvents } from './fine-tuning-events'
import { GatewayError, parseJsonText, readText, sendJson } from './http'

const MAX_FILE_BYTES = 256 * 1024 * 1024
const BASE_LR = 3e-4

interface FileRow {
  id: number
  tenant: string
  filename: string
  purpose: string
  path: string
  bytes: number
  created_at: string
}

interface FtJobRow {
  id: number
  tenant: string
  run_id: number
  model: string
  training_file: number
  validation_file: number | null
  suffix: string | null
  seed: number
  created_at: string
}

export function isFineTuningPath(pathname: string): boolean {
  return pathname === '/v1/files' || pathname.startsWith('/v1/files/') || pathname.startsWith('/v1/fine_tuning/')
}

const seconds = (iso: string | null): number | null => (iso ? Math.floor(Date.parse(iso) / 1000) : null)
const notFound = (what: string): GatewayError => new GatewayError(404, `No such ${what}.`, { code: 'not_found' })

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        reject(new GatewayError(413, `The upload is over ${limit} bytes.`, { code: 'payload_too_large' }))
        request.removeAllListeners('data')
        request.resume()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolve(Buffer.concat(chunks)))
    request.on('error', reject)
  })
}

function fileObject(row: FileRow) {
  return {
    id: `file-${row.id}`,
    object: 'file',
    bytes: row.bytes,
    created_at: seconds(row.created_at),
    filename: row.filename,
    purpose: row.purpose,
    status: 'processed',
  }
}

const STATUS: Record<Job['status'], string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
}

export class FineTuningApi {
  constructor(
    private readonly backend: Backend,
    private readonly tenant: string,
  ) {}

  private get db() {
    return this.backend.workspace.db
  }

  private idOf(raw: string, prefix: string, what: string): number {
    const match = new RegExp(`^${prefix}-(\\d+)$`).exec(raw)
    if (!match) throw notFound(what)
    return Number(match[1])
  }

  file(raw: string): FileRow {
    const row = this.db
      .prepare('SELECT * FROM fine_tuning_files WHERE id = ? AND tenant = ?')
      .get(this.idOf(raw, 'file', 'file'), this.tenant) as FileRow | undefined
    if (!row) throw notFound(`file ${raw}`)
    return row
  }

  private ftJob(raw: string): FtJobRow {
    const row = this.db
      .prepare('SELECT * FROM fine_tuning_jobs WHERE id = ? AND tenant = ?')
      .get(this.idOf(raw, 'ftjob', 'fine-tuning job'), this.tenant) as FtJobRow | undefined
    if (!row) throw notFound(`fine-tuning job ${raw}`)
    return row
  }

  async upload(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const type = request.headers['content-type'] ?? ''
    if (!type.startsWith('multipart/form-data')) {
      throw new GatewayError(400, 'Upload the file as multipart/form-data with fields "file" and "purpose".', {
        param: 'file',
      })
    }
    const body = await readBody(request, MAX_FILE_BYTES)
    let form: FormData
    try {
      form = await new Request('http://larder/v1/files', {
        method: 'POST',
        headers: { 'content-type': type },
        body: new Uint8Array(body),
      }).formData()
    } catch (error) {
      throw new GatewayError(400, `The multipart body cannot be read: ${(error as Error).message}`, { param: 'file' })
    }
    const file = form.get('file')
    const purpose = form.get('purpose')
    if (!(file instanceof Blob)) throw new GatewayError(400, 'The "file" field is missing.', { param: 'file' })
    if (typeof purpose !== 'string' || !purpose) {
      throw new GatewayError(400, 'The "purpose" field is missing (use "fine-tune").', { param: 'purpose' })
    }
    const dir = join(this.backend.workspace.paths.home, 'fine-tuning', 'files')
    mkdirSync(dir, { recursive: true })
    const bytes = Buffer.from(await file.arrayBuffer())
    const filename = 'name' in file && typeof file.name === 'string' ? file.name : 'upload.jsonl'
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO fine_tuning_files (tenant, filename, purpose, path, bytes, created_at) VALUES (?, ?, ?, '', ?, ?)`,
        )
        .run(this.tenant, filename.slice(0, 200), purpose.slice(0, 50), bytes.length, new Date().toISOString())
        .lastInsertRowid,
    )
    const path = join(dir, `file-${id}.jsonl`)
    writeFileSync(path, bytes)
    this.db.prepare('UPDATE fine_tuning_files SET path = ? WHERE id = ?').run(path, id)
    sendJson(response, fileObject(this.file(`file-${id}`)))
  }

  listFiles(response: ServerResponse): void {
    const rows = this.db
      .prepare('SELECT * FROM fine_tuning_files WHERE tenant = ? ORDER BY id DESC LIMIT 1000')
      .all(this.tenant) as FileRow[]
    sendJson(response, { object: 'list', data: rows.map(fileObject), has_more: false })
  }

  private jobObject(row: FtJobRow) {
    const run = this.backend.distill.repo.get(row.run_id) as DistillRun
    const job = run.jobId ? this.backend.workspace.jobs.get(run.jobId) : undefined
    const status = job ? STATUS[job.status] : 'failed'
    return {
      id: `ftjob-${row.id}`,
      object: 'fine_tuning.job',
      model: row.model,
      created_at: seconds(row.created_at),
      finished_at: seconds(job?.finishedAt ?? null),
      fine_tuned_model: status === 'succeeded' ? (run.result?.modelName ?? run.name) : null,
      organization_id: `org-${this.tenant}`,
      result_files: [],
      status,
      validation_file: row.validation_file ? `file-${row.validation_file}` : null,
      training_file: `file-${row.training_file}`,
      hyperparameters: {
        n_epochs: (run.hyperparameters as { epochs?: number }).epochs ?? null,
        learning_rate_multiplier: ((run.hyperparameters as { lr?: number }).lr ?? BASE_LR) / BASE_LR,
        batch_size: 'auto',
      },
      trained_tokens: run.result?.tokensTrained ?? null,
      error:
        status === 'failed' ? { code: 'training_failed', message: job?.error ?? 'The run failed.', param: null } : null,
      seed: row.seed,
      estimated_finish: null,
      integrations: [],
      metadata: null,
      user_provided_suffix: row.suffix,
    }
  }

  private hyperparameters(body: Record<string, unknown>): Record<string, unknown> {
    const method = body.method as { supervised?: { hyperparameters?: Record<string, unknown> } } | undefined
    const hp = (method?.supervised?.hyperparameters ?? body.hyperparameters ?? {}) as Record<string, unknown>
    const result: Record<string, unknown> = { threads: 1 }
    if (typeof hp.n_epochs === 'number') result.epochs = hp.n_epochs
    if (typeof hp.learning_rate_multiplier === 'number') result.lr = BASE_LR * hp.learning_rate_multiplier
    const metadata = body.metadata as Record<string, unknown> | undefined
    const maxSteps = Number(metadata?.larder_max_steps)
    if (Number.isInteger(maxSteps) && maxSteps > 0) result.maxSteps = maxSteps
    if (typeof body.seed === 'number') result.seed = body.seed
    return result
  }

  /** The training data the run reads: the training file, plus the validation file's lines when one is given. */
  private dataFor(training: FileRow, validation: FileRow | null, id: number): string {
    if (!validation) return training.path
    const path = join(this.backend.workspace.paths.home, 'fine-tuning', `job-${id}-data.jsonl`)
    copyFileSync(training.path, path)
    appendFileSync(path, '\n')
    appendFileSync(path, readFileSync(validation.path))
    return path
  }

  async create(request: IncomingMessage, response: ServerResponse, maxBodyBytes: number): Promise<void> {
    const body = parseJsonText(await readText(request, maxBodyBytes)) as Record<string, unknown>
    if (typeof body !== 'object' || body === null) throw new GatewayError(400, 'Send a JSON object.')
    if (typeof body.model !== 'string') throw new GatewayError(400, '"model" is required.', { param: 'model' })
    if (typeof body.training_file !== 'string') {
      throw new GatewayError(400, '"training_file" is required.', { param: 'training_file' })
    }
    const model = (await this.backend.models.list()).items.find((candidate) => candidate.name === body.model)
    if (!model) {
      throw new GatewayError(404, `There is no model "${body.model}" to fine-tune here.`, {
        param: 'model',
        code: 'model_not_found',
      })
    }
    const training = this.file(body.training_file)
    const validation = typeof body.validation_file === 'string' ? this.file(body.validation_file) : null
    const suffix = typeof body.suffix === 'string' ? body.suffix.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 40) : null
    const seed = typeof body.seed === 'number' ? body.seed : 42
    const next = Number(this.db.prepare('SELECT coalesce(max(id), 0) + 1 FROM fine_tuning_jobs').pluck().get())
    const name = `ft:${model.name}:${suffix || this.tenant}:${next}`
    let started: { job: Job; run: DistillRun }
    try {
      started = (await this.backend.call('distill.train', {
        student: { modelId: model.id },
        data: this.dataFor(training, validation, next),
        name,
        hyperparameters: this.hyperparameters(body),
      })) as { job: Job; run: DistillRun }
    } catch (error) {
      if (error instanceof ApiError && error.code === 'invalid_input') {
        throw new GatewayError(400, error.message, { param: 'training_file', code: 'invalid_training_file' })
      }
      throw error
    }
    this.db
      .prepare(
        `INSERT INTO fine_tuning_jobs (id, tenant, run_id, model, training_file, validation_file, suffix, seed, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        next,
        this.tenant,
        started.run.id,
        model.name,
        training.id,
        validation?.id ?? null,
        suffix,
        seed,
        new Date().toISOString(),
      )
    sendJson(response, this.jobObject(this.ftJob(`ftjob-${next}`)))
  }

  listJobs(response: ServerResponse): void {
    const rows = this.db
      .prepare('SELECT * FROM fine_tuning_jobs WHERE tenant = ? ORDER BY id DESC LIMIT 100')
      .all(this.tenant) as FtJobRow[]
    sendJson(response, { object: 'list', data: rows.map((row) => this.jobObject(row)), has_more: false })
  }

  retrieve(raw: string, response: ServerResponse): void {
    sendJson(response, this.jobObject(this.ftJob(raw)))
  }

  async cancel(raw: string, response: ServerResponse): Promise<void> {
    const row = this.ftJob(raw)
    const run = this.backend.distill.repo.get(row.run_id)
    const job = run?.jobId ? this.backend.workspace.jobs.get(run.jobId) : undefined
    if (job && (job.status === 'queued' || job.status === 'running')) {
      await this.backend.call('jobs.cancel', { id: job.id })
      if (job.status === 'running') await this.backend.runner.waitFor(job.id)
    }
    sendJson(response, this.jobObject(row))
  }

  /** Newest first, as OpenAI lists them (log lines and thinned training metrics); `after` pages back. */
  events(raw: string, response: ServerResponse, limit: number, after: string | null): void {
    const row = this.ftJob(raw)
    const run = this.backend.distill.repo.get(row.run_id)
    const job = run?.jobId ? this.backend.workspace.jobs.get(run.jobId) : undefined
    const events = jobEvents({
      key: `${this.backend.workspace.paths.home}#${row.id}`,
      ftJobId: row.id,
      logs: run?.jobId ? this.backend.workspace.jobs.logs(run.jobId, 0, 10_000) : [],
      points: this.backend.distill.repo.pointsInOrder(row.run_id),
      checkpoints: this.backend.distill.repo.checkpoints(row.run_id),
      totalSteps: run?.prepared?.totalSteps ?? null,
      terminal: !job || (job.status !== 'queued' && job.status !== 'running'),
    })
    sendJson(response, eventsPage(events, limit, after))
  }

  checkpoints(raw: string, response: ServerResponse): void {
    const row = this.ftJob(raw)
    const run = this.backend.distill.repo.get(row.run_id)!
    const data = this.backend.distill.repo
      .checkpoints(row.run_id)
      .slice()
      .reverse()
      .map((checkpoint) => ({
        id: `ftckpt-${row.id}-${checkpoint.step}`,
        object: 'fine_tuning.job.checkpoint',
        created_at: seconds(checkpoint.createdAt),
        fine_tuned_model_checkpoint: `${run.name}:ckpt-step-${checkpoint.step}`,
        step_number: checkpoint.step,
        metrics: { step: checkpoint.step, valid_loss: checkpoint.valLoss },
        fine_tuning_job_id: `ftjob-${row.id}`,
      }))
    sendJson(response, {
      object: 'list',
      data,
      has_more: false,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
    })
  }
}

/** Routes one fine-tuning or files request (the caller has authenticated the tenant). */
export async function fineTuning(
  backend: Backend,
  request: IncomingMessage,
  response: ServerResponse,
  tenant: string,
  url: URL,
  maxBodyBytes: number,
): Promise<void> {
  const api = new FineTuningApi(backend, tenant)
  const path = url.pathname
  const method = request.method ?? 'GET'
  const jobMatch = /^\/v1\/fine_tuning\/jobs\/([^/]+)(?:\/(cancel|events|checkpoints))?$/.exec(path)
  if (path === '/v1/files' && method === 'POST') return api.upload(request, response)
  if (path === '/v1/files' && method === 'GET') return api.listFiles(response)
  if (path.startsWith('/v1/files/') && method === 'GET') {
    sendJson(response, fileObject(api.file(path.slice('/v1/files/'.length))))
    return
  }
  if (path === '/v1/fine_tuning/jobs' && method === 'POST') return api.create(request, response, maxBodyBytes)
  if (path === '/v1/fine_tuning/jobs' && method === 'GET') return api.listJobs(response)
  if (jobMatch && method === 'GET' && !jobMatch[2]) return api.retrieve(jobMatch[1]!, response)
  if (jobMatch && method === 'POST' && jobMatch[2] === 'cancel') return api.cancel(jobMatch[1]!, response)
  if (jobMatch && method === 'GET' && jobMatch[2] === 'events') {
    const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get('limit') ?? 20) || 20))
    return api.events(jobMatch[1]!, response, limit, url.searchParams.get('after'))
  }
  if (jobMatch && method === 'GET' && jobMatch[2] === 'checkpoints') return api.checkpoints(jobMatch[1]!, response)
  throw new GatewayError(404, `Unknown endpoint ${method} ${path}.`, { code: 'unknown_url' })
}
