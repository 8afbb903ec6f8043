/**
 * Deploying an exported CDN bundle to object storage (s3-target.ts), in the order that keeps readers safe:
 *
 *   1. preflight: list the target (wrong credentials or a missing bucket stop here) and read its live manifest
 *      (another workspace's is refused unless forced)
 *   2. upload only the objects the target lacks (each checked against its hash first), then worker.js, then the
 *      manifest's archive copy manifests/<sha256>.json
 *   3. list again: every object the new manifest names must be there
 *   4. write manifest.json: the one write that switches versions
 *   5. verify: read the manifest back and sample objects' hashes
 *   6. delete objects no manifest needs any more, once the grace period is over (readers of an old manifest keep
 *      working meanwhile); never objects written within the grace period (another deploy may be uploading them)
 *
 * The job is resumable: an interrupted run lists the target again and uploads only what is still missing; the live
 * manifest is untouched until step 4, so it never names a missing object. Rollback writes an archived manifest back
 * to manifest.json: one write, after checking that every object it names is still stored.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { hostname, userInfo } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import type { DeployPlan, Deployment, MethodOutput, ParsedInput } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import type { JobContext, JobKind } from '../jobs/runner'
import type { Workspace } from '../workspace/workspace'
import { BUNDLE_FORMAT, objectPath } from './edge-worker/bundle-format'
import { S3Target, type TargetOptions } from './s3-target'
import { TargetStore } from './target-secrets'

export const CDN_DEPLOY_JOB = 'export.deploy'
export const DEFAULT_GRACE_SECONDS = 24 * 3600
const SAMPLE_SIZE = 16
const IMMUTABLE = 'public, max-age=31536000, immutable'
const SHORT = 'public, max-age=60'

const sha256 = (bytes: string | Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

const deployParamsSchema = z.object({
  bundleDir: z.string(),
  to: z.string(),
  endpoint: z.string().optional(),
  region: z.string().optional(),
  /** A saved target whose (encrypted) keys to use; read when the job runs, never stored in the job. */
  target: z.string().optional(),
  force: z.boolean(),
  graceSeconds: z.int().nonnegative(),
  deployedBy: z.string(),
})
export type DeployParams = z.infer<typeof deployParamsSchema>

const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  formatVersion: z.int(),
  version: z.int().positive(),
  workspaceId: z.string(),
  created: z.string(),
  tenant: z.string().nullable().optional(),
  counts: z.record(z.string(), z.number()),
  objects: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
})
type ManifestHead = z.infer<typeof manifestSchema>

interface LocalBundle {
  /** The folder holding manifest.json, objects/ and worker.js (the bundle's public/, or an older flat bundle). */
  root: string
  manifestText: string
  manifestHash: string
  manifest: ManifestHead
}

interface RemoteState {
  present: Set<string>
  stored: { key: string; lastModified: Date | null }[]
  live: { manifest: ManifestHead; hash: string } | null
}

function parseManifest(text: string, where: string): ManifestHead {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new ApiError({ code: 'invalid_input', message: `${where} is not JSON, so not a Larder manifest.` })
  }
  const parsed = manifestSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new ApiError({
      code: 'invalid_input',
      message: `${where} is not a Larder CDN manifest (${issue.path.join('.')}: ${issue.message}).`,
    })
  }
  return parsed.data
}

export function readLocalBundle(dir: string): LocalBundle {
  const root = existsSync(join(dir, 'public', 'manifest.json')) ? join(dir, 'public') : dir
  const path = join(root, 'manifest.json')
  if (!existsSync(path)) {
    throw new ApiError({
      code: 'not_found',
      message: `${dir} has no manifest.json (nor public/manifest.json): give the folder \`larder export cdn\` wrote.`,
      path: ['bundleDir'],
    })
  }
  const manifestText = readFileSync(path, 'utf8')
  const manifest = parseManifest(manifestText, path)
  if (!existsSync(join(root, 'worker.js'))) {
    throw new ApiError({ code: 'not_found', message: `${root} has no worker.js.`, path: ['bundleDir'] })
  }
  return { root, manifestText, manifestHash: sha256(manifestText), manifest }
}

function deployedBy(): string {
  try {
    return `${userInfo().username}@${hostname()}`
  } catch {
    return hostname()
  }
}

export class DeployService {
  private readonly targets: TargetStore

  constructor(private readonly workspace: Workspace) {
    this.targets = new TargetStore(workspace.db, workspace.paths.home)
  }

  get savedTargets(): TargetStore {
    return this.targets
  }

  /** The target to talk to: explicit address and the environment's credentials, or a saved target's. */
  targetFor(input: {
    to?: string | undefined
    endpoint?: string | undefined
    region?: string | undefined
    target?: string | undefined
  }): S3Target {
    const options: TargetOptions = input.target
      ? (() => {
          const saved = this.targets.resolve(input.target)
          return {
            url: input.to ?? saved.url,
            endpoint: input.endpoint ?? saved.endpoint ?? undefined,
            region: input.region ?? saved.region ?? undefined,
            credentials: saved.credentials,
          }
        })()
      : { url: input.to ?? '', endpoint: input.endpoint, region: input.region }
    if (!options.url) {
      throw new ApiError({
        code: 'invalid_input',
        message: 'Say where to deploy: --to s3://bucket/prefix or a saved target.',
        path: ['to'],
      })
    }
    return new S3Target(options)
  }

  private async remoteState(target: S3Target): Promise<RemoteState> {
    const stored = await target.list('objects/')
    const present = new Set(
      stored.map((item) => /^objects\/([0-9a-f]{64})\.json$/.exec(item.key)?.[1]).filter((hash) => hash !== undefined),
    )
    const liveBytes = await target.get('manifest.json')
    if (liveBytes === null) return { present, stored, live: null }
    const text = new TextDecoder().decode(liveBytes)
    return {
      present,
      stored,
      live: { manifest: parseManifest(text, `${target.url} manifest.json`), hash: sha256(text) },
    }
  }

  private checkOwner(bundle: LocalBundle, state: RemoteState, target: S3Target, force: boolean): void {
    const live = state.live?.manifest
    if (!live || live.workspaceId === bundle.manifest.workspaceId || force) return
    throw new ApiError({
      code: 'conflict',
      message: `${target.url} serves a bundle of another workspace (${live.workspaceId}, version ${live.version}); this bundle is workspace ${bundle.manifest.workspaceId}'s. Deploy to another prefix, or pass --force to replace it.`,
      path: ['to'],
    })
  }

  /** Objects that may be deleted now: named by no manifest live within the grace period, and not written within it. */
  private deletable(
    target: S3Target,
    state: RemoteState,
    keep: Set<string>,
    graceSeconds: number,
    now: number,
  ): string[] {
    const cutoff = new Date(now - graceSeconds * 1000).toISOString()
    const rows = this.workspace.db
      .prepare('SELECT objects, deployed_at AS at FROM cdn_deployments WHERE target = ? ORDER BY id')
      .all(target.url) as { objects: string; at: string }[]
    // A manifest stopped being live when the next one was written; within the grace period its readers still count.
    rows.forEach((row, index) => {
      // The newest row is the manifest this deploy replaces: its grace period starts now.
      const replacedAt = rows[index + 1]?.at ?? new Date(now).toISOString()
      if (replacedAt > cutoff) for (const hash of JSON.parse(row.objects) as string[]) keep.add(hash)
    })
    return state.stored
      .filter((item) => {
        const hash = /^objects\/([0-9a-f]{64})\.json$/.exec(item.key)?.[1]
        if (!hash || keep.has(hash)) return false
        return item.lastModified !== null && item.lastModified.getTime() <= now - graceSeconds * 1000
      })
      .map((item) => item.key)
  }

  private buildPlan(bundle: LocalBundle, state: RemoteState, target: S3Target, graceSeconds: number): DeployPlan {
    const missing = bundle.manifest.objects.filter((hash) => !state.present.has(hash))
    const absent = missing.filter((hash) => !existsSync(join(bundle.root, objectPath(hash))))
    if (absent.length > 0) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${absent.length} objects the manifest names are neither on ${target.url} nor in ${bundle.root} (an incremental folder deploys only onto the bundle it follows). Deploy a full export.`,
        path: ['bundleDir'],
      })
    }
    const bytes = missing.reduce((sum, hash) => sum + readFileSync(join(bundle.root, objectPath(hash))).length, 0)
    const wanted = new Set(bundle.manifest.objects)
    const dropped = [...state.present].filter((hash) => !wanted.has(hash)).length
    const deletableNow = this.deletable(target, state, new Set(wanted), graceSeconds, Date.now()).length
    const live = state.live
    return {
      target: target.url,
      bundleVersion: bundle.manifest.version,
      manifestHash: bundle.manifestHash,
      workspaceId: bundle.manifest.workspaceId,
      tenant: bundle.manifest.tenant ?? null,
      live: live
        ? {
            version: live.manifest.version,
            manifestHash: live.hash,
            workspaceId: live.manifest.workspaceId,
            created: live.manifest.created,
          }
        : null,
      alreadyLive: live?.hash === bundle.manifestHash,
      objects: bundle.manifest.objects.length,
      present: bundle.manifest.objects.length - missing.length,
      upload: { objects: missing.length, bytes },
      dropped,
      deletableNow,
      graceSeconds,
      steps: [
        `upload ${missing.length} of ${bundle.manifest.objects.length} objects (${bytes} bytes); ${bundle.manifest.objects.length - missing.length} are already there`,
        'upload worker.js',
        `archive the manifest as manifests/${bundle.manifestHash}.json`,
        `write manifest.json (version ${bundle.manifest.version}${live ? `, replacing version ${live.manifest.version}` : ''}): the switch`,
        `verify: read manifest.json back and check ${Math.min(SAMPLE_SIZE, bundle.manifest.objects.length)} objects' hashes`,
        `delete ${deletableNow} objects no manifest needs (${dropped - deletableNow > 0 ? `${dropped - deletableNow} more after the ${graceSeconds} s grace period` : 'none waiting'})`,
      ],
    }
  }

  /** The plan (dry run), and the preflight of a real deploy: nothing is written. */
  async plan(input: ParsedInput<'export.deploy'>): Promise<DeployPlan> {
    const bundle = readLocalBundle(input.bundleDir)
    const target = this.targetFor(input)
    try {
      const state = await this.remoteState(target)
      this.checkOwner(bundle, state, target, input.force)
      return this.buildPlan(bundle, state, target, input.graceSeconds)
    } finally {
      target.close()
    }
  }

  prepare(input: ParsedInput<'export.deploy'>): DeployParams {
    return {
      bundleDir: input.bundleDir,
      to: this.targetFor(input).url,
      ...(input.endpoint ? { endpoint: input.endpoint } : {}),
      ...(input.region ? { region: input.region } : {}),
      ...(input.target ? { target: input.target } : {}),
      force: input.force,
      graceSeconds: input.graceSeconds,
      deployedBy: deployedBy(),
    }
  }

  private async upload(
    context: JobContext<DeployParams>,
    target: S3Target,
    bundle: LocalBundle,
    missing: string[],
  ): Promise<void> {
    const total = bundle.manifest.objects.length
    const base = total - missing.length
    const done: string[] = []
    for (const [index, hash] of missing.entries()) {
      context.throwIfAborted()
      const bytes = readFileSync(join(bundle.root, objectPath(hash)))
      if (sha256(bytes) !== hash) {
        throw new ApiError({
          code: 'conflict',
          message: `${objectPath(hash)} in ${bundle.root} does not match its hash; export the bundle again.`,
        })
      }
      await target.put(objectPath(hash), bytes, 'application/json', IMMUTABLE)
      done.push(hash)
      if (index % 25 === 24 || index === missing.length - 1)
        context.saveCheckpoint({ manifestHash: bundle.manifestHash, uploaded: done.length + base })
      context.progress(
        (0.85 * (base + index + 1)) / Math.max(1, total),
        `${base + index + 1} of ${total} objects on the target`,
      )
    }
  }

  private async verify(target: S3Target, bundle: LocalBundle): Promise<NonNullable<Deployment['verify']>> {
    const back = await target.get('manifest.json')
    const manifestMatches = back !== null && sha256(back) === bundle.manifestHash
    const objects = bundle.manifest.objects
    const step = Math.max(1, Math.floor(objects.length / SAMPLE_SIZE))
    const sample = objects.filter((_, index) => index % step === 0).slice(0, SAMPLE_SIZE)
    const failures: string[] = []
    for (const hash of sample) {
      const bytes = await target.get(objectPath(hash))
      if (bytes === null || sha256(bytes) !== hash) failures.push(hash)
    }
    return { manifestMatches, sampled: sample.length, failures }
  }

  private record(params: {
    target: S3Target
    jobId: number | null
    action: 'deploy' | 'rollback'
    manifest: ManifestHead
    hash: string
    previous: string | null
    uploaded: number
    deleted: number
    verify: Deployment['verify'] | null
    by: string
  }): number {
    const { target, manifest } = params
    return Number(
      this.workspace.db
        .prepare(
          `INSERT INTO cdn_deployments (job_id, target, endpoint, action, version, manifest_hash, previous_manifest_hash,
             tenant, objects, counts, uploaded, deleted, verify, deployed_by, deployed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          params.jobId,
          target.url,
          target.options.endpoint ?? null,
          params.action,
          manifest.version,
          params.hash,
          params.previous,
          manifest.tenant ?? null,
          JSON.stringify(manifest.objects),
          JSON.stringify(manifest.counts),
          params.uploaded,
          params.deleted,
          params.verify ? JSON.stringify(params.verify) : null,
          params.by,
          new Date().toISOString(),
        ).lastInsertRowid,
    )
  }

  private async runDeploy(context: JobContext<DeployParams>): Promise<unknown> {
    const { params } = context
    const bundle = readLocalBundle(params.bundleDir)
    const target = this.targetFor(params)
    try {
      const state = await this.remoteState(target)
      this.checkOwner(bundle, state, target, params.force)
      const plan = this.buildPlan(bundle, state, target, params.graceSeconds)
      if (context.attempt > 1)
        context.log('info', `Resumed: ${plan.present} of ${plan.objects} objects were already uploaded.`)
      context.log('info', plan.steps.join('; '))
      const missing = bundle.manifest.objects.filter((hash) => !state.present.has(hash))
      await this.upload(context, target, bundle, missing)
      context.throwIfAborted()
      await target.put(
        'worker.js',
        readFileSync(join(bundle.root, 'worker.js')),
        'text/javascript; charset=utf-8',
        SHORT,
      )
      await target.put(`manifests/${bundle.manifestHash}.json`, bundle.manifestText, 'application/json', IMMUTABLE)
      context.progress(0.9, 'worker and manifest archive uploaded')
      // The switch happens only when the target holds every object the new manifest names.
      const after = await this.remoteState(target)
      const stillMissing = bundle.manifest.objects.filter((hash) => !after.present.has(hash))
      if (stillMissing.length > 0)
        throw new ApiError({
          code: 'conflict',
          message: `${stillMissing.length} objects are still missing on ${target.url} after the upload; the live manifest was not changed. Run the deploy again.`,
        })
      context.throwIfAborted()
      await target.put('manifest.json', bundle.manifestText, 'application/json', SHORT)
      context.progress(0.93, 'manifest.json written: the new version is live')
      const verify = await this.verify(target, bundle)
      if (!verify.manifestMatches || verify.failures.length > 0)
        context.log('error', `Verification failed: ${JSON.stringify(verify)}`)
      const doomed = this.deletable(target, after, new Set(bundle.manifest.objects), params.graceSeconds, Date.now())
      await target.delete(doomed)
      const id = this.record({
        target,
        jobId: context.jobId,
        action: 'deploy',
        manifest: bundle.manifest,
        hash: bundle.manifestHash,
        previous: state.live?.hash ?? null,
        uploaded: missing.length,
        deleted: doomed.length,
        verify,
        by: params.deployedBy,
      })
      context.progress(1, `deployed version ${bundle.manifest.version}`)
      return {
        deploymentId: id,
        target: target.url,
        version: bundle.manifest.version,
        manifestHash: bundle.manifestHash,
        uploaded: missing.length,
        skipped: plan.present,
        deleted: doomed.length,
        verify,
      }
    } finally {
      target.close()
    }
  }

  job(): JobKind<DeployParams> {
    return {
      kind: CDN_DEPLOY_JOB,
      params: deployParamsSchema,
      // Uploads are idempotent and the live manifest changes last: a resumed run lists the target and goes on.
      resumable: true,
      title: (params) => `Deploy ${params.bundleDir} to ${params.to}`,
      run: (context) => this.runDeploy(context),
    }
  }

  /** Archived manifests on the target, newest version first. */
  private async archive(target: S3Target): Promise<{ hash: string; text: string; manifest: ManifestHead }[]> {
    const keys = (await target.list('manifests/'))
      .map((item) => /^manifests\/([0-9a-f]{64})\.json$/.exec(item.key)?.[1])
      .filter((hash) => hash !== undefined)
    const out: { hash: string; text: string; manifest: ManifestHead }[] = []
    for (const hash of keys) {
      const bytes = await target.get(`manifests/${hash}.json`)
      if (bytes === null || sha256(bytes) !== hash) continue
      const text = new TextDecoder().decode(bytes)
      out.push({ hash, text, manifest: parseManifest(text, `manifests/${hash}.json`) })
    }
    return out.sort((a, b) => b.manifest.version - a.manifest.version)
  }

  /** Switches the target back to an archived manifest (the one before the live one, or `version`): one write. */
  async rollback(input: ParsedInput<'export.rollback'>): Promise<MethodOutput<'export.rollback'>> {
    const target = this.targetFor(input)
    try {
      const state = await this.remoteState(target)
      if (!state.live)
        throw new ApiError({
          code: 'not_found',
          message: `${target.url} has no live manifest; nothing to roll back.`,
          path: ['to'],
        })
      const mine = this.workspace.db
        .prepare('SELECT workspace_id FROM export_identity WHERE id = 1')
        .pluck()
        .get() as string
      if (state.live.manifest.workspaceId !== mine && !input.force) {
        throw new ApiError({
          code: 'conflict',
          message: `${target.url} serves another workspace's bundle (${state.live.manifest.workspaceId}); pass --force to roll it back anyway.`,
          path: ['to'],
        })
      }
      const archived = await this.archive(target)
      const live = state.live
      const chosen =
        input.version !== undefined
          ? archived.find((item) => item.manifest.version === input.version)
          : archived.find((item) => item.manifest.version < live.manifest.version && item.hash !== live.hash)
      if (!chosen) {
        throw new ApiError({
          code: 'not_found',
          message:
            input.version !== undefined
              ? `${target.url} keeps no manifest of version ${input.version} (kept: ${archived.map((item) => item.manifest.version).join(', ') || 'none'}).`
              : `${target.url} keeps no manifest older than the live version ${live.manifest.version}.`,
          path: ['version'],
        })
      }
      const missing = chosen.manifest.objects.filter((hash) => !state.present.has(hash))
      if (missing.length > 0) {
        throw new ApiError({
          code: 'conflict',
          message: `Version ${chosen.manifest.version} names ${missing.length} objects deleted after the grace period; deploy that bundle again instead of rolling back.`,
          path: ['version'],
        })
      }
      await target.put('manifest.json', chosen.text, 'application/json', SHORT)
      this.record({
        target,
        jobId: null,
        action: 'rollback',
        manifest: chosen.manifest,
        hash: chosen.hash,
        previous: live.hash,
        uploaded: 0,
        deleted: 0,
        verify: null,
        by: deployedBy(),
      })
      return {
        target: target.url,
        version: chosen.manifest.version,
        manifestHash: chosen.hash,
        replacedVersion: live.manifest.version,
        writes: 1,
      }
    } finally {
      target.close()
    }
  }

  /** Deployments, newest first, each with what changed compared with the deployment before it on that target. */
  deployments(input: ParsedInput<'export.deployments'>): MethodOutput<'export.deployments'> {
    const rows = this.workspace.db
      .prepare(
        `SELECT id, job_id AS jobId, target, endpoint, action, version, manifest_hash AS manifestHash,
           previous_manifest_hash AS previousManifestHash, tenant, objects, counts, uploaded, deleted, verify,
           deployed_by AS deployedBy, deployed_at AS deployedAt
         FROM cdn_deployments WHERE (? IS NULL OR target = ?) ORDER BY id`,
      )
      .all(input.target ?? null, input.target ?? null) as (Omit<Deployment, 'counts' | 'verify' | 'diff' | 'live'> & {
      objects: string
      counts: string
      verify: string | null
    })[]
    const lastByTarget = new Map<string, string[]>()
    const liveId = new Map<string, number>()
    const items: Deployment[] = rows.map((row) => {
      const objects = JSON.parse(row.objects) as string[]
      const before = lastByTarget.get(row.target)
      lastByTarget.set(row.target, objects)
      liveId.set(row.target, row.id)
      const now = new Set(objects)
      const then = new Set(before ?? [])
      const { objects: _objects, ...rest } = row
      return {
        ...rest,
        counts: JSON.parse(row.counts) as Record<string, number>,
        verify: row.verify ? (JSON.parse(row.verify) as Deployment['verify']) : null,
        diff: before
          ? {
              added: objects.filter((hash) => !then.has(hash)).length,
              removed: before.filter((hash) => !now.has(hash)).length,
            }
          : null,
        live: false,
      }
    })
    for (const item of items) item.live = liveId.get(item.target) === item.id
    return { items: items.reverse().slice(0, input.limit) }
  }
}
