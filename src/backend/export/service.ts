/**
 * CDN export: published template versions and approved cache entries as a static bundle with a ready edge worker
 * (layout in edge-worker/bundle-format.ts). Runs as a job with progress. The bundle is written into a staging folder
 * beside the target and renamed into place only when complete, so a failure or a cancel leaves nothing half-written;
 * `since` writes only the objects an earlier manifest of this workspace lacks, plus the list of objects to delete.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { z } from 'zod'
import { DEFAULT_NORMALIZATION, type NormalizationRules } from '../../shared/cache-key'
import type { CdnExport, MethodOutput, ParsedInput } from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { listExportableCacheEntries } from '../cache/export-source'
import type { JobKind } from '../jobs/runner'
import { ensureWritableFolder } from '../workspace/workspace'
import type { Workspace } from '../workspace/workspace'
import { WorkspaceError } from '../db/errors'
import { TemplatesRepository } from '../templates/repository'
import { buildBundle, sha256Hex, type NamespaceSnapshot, type PublishedFamilySnapshot } from './bundle'
import { BUNDLE_FORMAT, objectPath } from './edge-worker/bundle-format'
import { writeTarball } from './tarball'
import { message } from '../../shared/messages'

export const CDN_EXPORT_JOB = 'export.cdn'

const exportParamsSchema = z.object({
  outDir: z.string(),
  /** The one tenant whose cache is exported; absent: templates only. */
  tenant: z.string().optional(),
  since: z.string().optional(),
  tarPath: z.string().optional(),
  namespaces: z.array(z.string()).optional(),
  families: z.array(z.string()).optional(),
})
export type ExportParams = z.infer<typeof exportParamsSchema>

/** The parts of an earlier manifest an incremental export relies on. */
const previousManifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.int().positive(),
  workspaceId: z.string(),
  /** Absent in format version 1 (bundles were not per tenant then). */
  tenant: z.string().nullable().optional(),
  objects: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
})

interface PreviousManifest {
  hash: string
  tenant: string | null | undefined
  version: number
  objects: string[]
}

function manifestIn(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) return path
  const inPublic = join(path, 'public', 'manifest.json')
  return existsSync(inPublic) ? inPublic : join(path, 'manifest.json')
}

function stagingFolder(outDir: string, jobId: number): string {
  return join(dirname(outDir), `.${basename(outDir)}.partial-${jobId}`)
}

export class ExportService {
  constructor(private readonly workspace: Workspace) {}

  workspaceId(): string {
    return this.workspace.db.prepare('SELECT workspace_id FROM export_identity WHERE id = 1').pluck().get() as string
  }

  /** Namespaces of one tenant, or of every tenant (the plan, for the console's picker). */
  private namespaceRows(tenant: string | undefined): {
    tenant: string
    name: string
    normalization: NormalizationRules
  }[] {
    const rows = this.workspace.db
      .prepare(
        'SELECT tenant, name, normalization FROM cache_namespaces WHERE (? IS NULL OR tenant = ?) ORDER BY tenant, name',
      )
      .all(tenant ?? null, tenant ?? null) as { tenant: string; name: string; normalization: string }[]
    return rows.map((row) => ({
      tenant: row.tenant,
      name: row.name,
      normalization: { ...DEFAULT_NORMALIZATION, ...(JSON.parse(row.normalization) as Partial<NormalizationRules>) },
    }))
  }

  private checkFilters(
    tenant: string | undefined,
    namespaces: string[] | undefined,
    families: string[] | undefined,
  ): void {
    if (namespaces) {
      const known = new Set(this.namespaceRows(tenant).map((row) => row.name))
      const unknown = namespaces.filter((name) => !known.has(name))
      if (unknown.length > 0) {
        throw new ApiError({
          code: 'not_found',
          message: `No cache namespace named ${unknown.map((name) => `"${name}"`).join(', ')}${tenant ? ` for tenant "${tenant}"` : ''}.`,
          path: ['namespaces'],
        })
      }
    }
    if (families) {
      const repo = new TemplatesRepository(this.workspace.db)
      for (const name of families) {
        const family = repo.familyByName(name)
        if (!family)
          throw new ApiError({ code: 'not_found', message: `No template family named "${name}".`, path: ['families'] })
        if (family.publishedVersion === null) {
          throw new ApiError({
            code: 'conflict',
            message: `${name} is not published; only published versions are exported. Publish it first.`,
            path: ['families'],
          })
        }
      }
    }
  }

  plan(input: ParsedInput<'export.plan'>): MethodOutput<'export.plan'> {
    this.checkFilters(input.tenant, input.namespaces, input.families)
    const repo = new TemplatesRepository(this.workspace.db)
    const wanted = input.families ? new Set(input.families) : null
    const families = repo
      .latestVersions()
      .filter((family) => !wanted || wanted.has(family.name))
      .map((family) => ({
        name: family.name,
        version: family.version,
        variants: family.variantCount,
        segments: new Set(family.variants.map((variant) => variant.segmentKey)).size,
      }))
    const unpublishedFamilies = repo
      .listFamilies()
      .filter((family) => family.publishedVersion === null && (!wanted || wanted.has(family.name)))
      .map((family) => family.name)
    const counts = new Map<string, number>()
    const rows = this.namespaceRows(input.tenant)
    for (const tenant of new Set(rows.map((row) => row.tenant))) {
      for (const entry of listExportableCacheEntries(this.workspace.db, {
        tenant,
        namespaces: input.namespaces ?? [],
      })) {
        const key = `${entry.tenant}/${entry.namespace}`
        counts.set(key, (counts.get(key) ?? 0) + 1)
      }
    }
    const namespaces = rows
      .filter((row) => !input.namespaces || input.namespaces.includes(row.name))
      .map((row) => ({ tenant: row.tenant, name: row.name, entries: counts.get(`${row.tenant}/${row.name}`) ?? 0 }))
    return { families, unpublishedFamilies, namespaces }
  }

  /** Refuses a folder that is not empty or cannot be written (before a job exists, and again when it runs). */
  checkOutDir(outDir: string): void {
    if (existsSync(outDir)) {
      if (!statSync(outDir).isDirectory()) {
        throw new ApiError({
          code: 'conflict',
          message: `${outDir} is a file; give a folder for the bundle.`,
          path: ['outDir'],
        })
      }
      if (readdirSync(outDir).length > 0) {
        throw new ApiError({
          code: 'conflict',
          message: `${outDir} is not empty. Export into a new or empty folder, so a bundle never mixes with old files.`,
          path: ['outDir'],
        })
      }
    }
    try {
      ensureWritableFolder(dirname(outDir), 'folder for the bundle')
    } catch (error) {
      if (error instanceof WorkspaceError)
        throw new ApiError({ code: 'invalid_input', message: error.message, path: ['outDir'] })
      throw error
    }
  }

  /** `since` may name the manifest or the bundle folder holding it (public/manifest.json, or manifest.json before). */
  private readPreviousManifest(given: string): PreviousManifest {
    const path = manifestIn(given)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (error) {
      throw new ApiError({
        code: 'not_found',
        message: `Cannot read the earlier manifest ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}).`,
        path: ['since'],
      })
    }
    let raw: unknown
    try {
      raw = JSON.parse(text)
    } catch {
      throw new ApiError({
        code: 'invalid_input',
        message: `${path} is not JSON, so it is not a Larder manifest.`,
        path: ['since'],
      })
    }
    const parsed = previousManifestSchema.safeParse(raw)
    if (!parsed.success) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${path} is not a Larder CDN manifest (${parsed.error.issues[0]!.path.join('.')}: ${parsed.error.issues[0]!.message}).`,
        path: ['since'],
      })
    }
    const mine = this.workspaceId()
    if (parsed.data.workspaceId !== mine) {
      throw new ApiError({
        code: 'invalid_input',
        message: `${path} was written by another workspace (${parsed.data.workspaceId}; this one is ${mine}). An incremental export must follow a manifest of this workspace: export in full (without --since) instead.`,
        path: ['since'],
      })
    }
    return {
      hash: sha256Hex(text),
      tenant: parsed.data.tenant,
      version: parsed.data.version,
      objects: parsed.data.objects,
    }
  }

  /** An incremental bundle continues a deployment of the same tenant (or of templates only). */
  private checkSameTenant(previous: PreviousManifest, tenant: string | undefined): void {
    if (previous.tenant !== undefined && previous.tenant !== (tenant ?? null)) {
      throw new ApiError({
        code: 'invalid_input',
        message: `The earlier manifest is ${previous.tenant === null ? 'a templates-only bundle' : `tenant "${previous.tenant}"'s bundle`}; an incremental export must be for the same tenant.`,
        path: ['since'],
      })
    }
  }

  prepare(input: ParsedInput<'export.cdn'>): ExportParams {
    if (input.namespaces && input.tenant === undefined) {
      throw new ApiError({
        code: 'invalid_input',
        message:
          'Say which tenant the bundle is for (--tenant NAME): a bundle and its worker serve one tenant, and namespace names repeat across tenants.',
        path: ['tenant'],
      })
    }
    const outDir = resolve(input.outDir)
    this.checkOutDir(outDir)
    if (input.since) this.checkSameTenant(this.readPreviousManifest(input.since), input.tenant)
    if (input.tarPath) {
      const tarPath = resolve(input.tarPath)
      const inside = relative(outDir, tarPath)
      if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
        throw new ApiError({
          code: 'invalid_input',
          message: 'Write the .tar.gz outside the bundle folder.',
          path: ['tarPath'],
        })
      }
      if (existsSync(tarPath)) {
        throw new ApiError({
          code: 'conflict',
          message: `${tarPath} already exists; choose a new file name.`,
          path: ['tarPath'],
        })
      }
      try {
        ensureWritableFolder(dirname(tarPath), 'folder for the .tar.gz')
      } catch (error) {
        if (error instanceof WorkspaceError)
          throw new ApiError({ code: 'invalid_input', message: error.message, path: ['tarPath'] })
        throw error
      }
    }
    this.checkFilters(input.tenant, input.namespaces, input.families)
    return {
      outDir,
      ...(input.tenant !== undefined ? { tenant: input.tenant } : {}),
      ...(input.since ? { since: input.since } : {}),
      ...(input.tarPath ? { tarPath: resolve(input.tarPath) } : {}),
      ...(input.namespaces ? { namespaces: input.namespaces } : {}),
      ...(input.families ? { families: input.families } : {}),
    }
  }

  /** Everything the bundle carries, read in one transaction so the bundle is a consistent snapshot. */
  private snapshot(params: ExportParams): {
    families: PublishedFamilySnapshot[]
    namespaces: NamespaceSnapshot[]
    sequence: number
    lastManifestHash: string | null
  } {
    const db = this.workspace.db
    return db.transaction(() => {
      const wantedFamilies = params.families ? new Set(params.families) : null
      const families = new TemplatesRepository(db)
        .latestVersions()
        .filter((family) => !wantedFamilies || wantedFamilies.has(family.name))
        .map((family) => ({
          name: family.name,
          version: family.version,
          contentHash: family.contentHash,
          publishedAt: family.publishedAt,
          definition: family.definition,
          variants: family.variants,
        }))
      // Only the named tenant's namespaces; no tenant, no cache.
      const tenant = params.tenant
      const entries = tenant ? listExportableCacheEntries(db, { tenant, namespaces: params.namespaces ?? [] }) : []
      const namespaces = (tenant ? this.namespaceRows(tenant) : [])
        .filter((row) => !params.namespaces || params.namespaces.includes(row.name))
        .map((row) => ({
          ...row,
          entries: entries.filter((entry) => entry.tenant === row.tenant && entry.namespace === row.name),
        }))
      const last = db
        .prepare('SELECT sequence, manifest_hash AS manifestHash FROM cdn_exports ORDER BY sequence DESC LIMIT 1')
        .get() as { sequence: number; manifestHash: string } | undefined
      return { families, namespaces, sequence: (last?.sequence ?? 0) + 1, lastManifestHash: last?.manifestHash ?? null }
    })()
  }

  job(): JobKind<ExportParams> {
    return {
      kind: CDN_EXPORT_JOB,
      params: exportParamsSchema,
      // Nothing is in place until the final rename, so an interrupted export simply starts over.
      resumable: true,
      title: (params) =>
        message(params.since ? 'job.exportBundleIncremental' : 'job.exportBundle', { bundle: basename(params.outDir) }),
      run: async (context) => {
        const { params } = context
        this.checkOutDir(params.outDir)
        const previous = params.since ? this.readPreviousManifest(params.since) : null
        if (previous) this.checkSameTenant(previous, params.tenant)
        const snapshot = this.snapshot(params)
        const built = buildBundle({
          workspaceId: this.workspaceId(),
          version: Math.max(snapshot.sequence, (previous?.version ?? 0) + 1),
          created: new Date().toISOString(),
          tenant: params.tenant ?? null,
          previousManifestHash: previous?.hash ?? snapshot.lastManifestHash,
          previousObjects: previous?.objects ?? null,
          filters: { namespaces: params.namespaces ?? null, families: params.families ?? null },
          families: snapshot.families,
          namespaces: snapshot.namespaces,
        })
        const { manifest } = built
        context.log(
          'info',
          `${manifest.counts.families} families (${manifest.counts.variants} variants), ${manifest.counts.cacheEntries} cache entries in ${manifest.counts.namespaces} namespaces: ${manifest.counts.objects} objects, ${built.toWrite.length} to write, ${manifest.counts.deleted} to delete.`,
        )
        const staging = stagingFolder(params.outDir, context.jobId)
        rmSync(staging, { recursive: true, force: true })
        const steps = built.toWrite.length + built.files.length + 1 + (params.tarPath ? 1 : 0)
        let done = 0
        const step = (message: string): void => {
          done++
          context.progress(done / steps, message)
        }
        let tarWritten = false
        try {
          mkdirSync(join(staging, 'public', 'objects'), { recursive: true })
          for (const file of built.files) {
            await writeFile(join(staging, file.path), file.text)
            step(file.path)
          }
          for (const [index, hash] of built.toWrite.entries()) {
            context.throwIfAborted()
            await writeFile(join(staging, 'public', objectPath(hash)), built.objects.get(hash)!)
            step(`${index + 1} of ${built.toWrite.length} objects`)
          }
          context.throwIfAborted()
          // The manifest goes last: a folder with a manifest has everything the manifest names.
          await writeFile(join(staging, 'public', 'manifest.json'), built.manifestText)
          step('public/manifest.json')
          if (params.tarPath) {
            await writeTarball(staging, params.tarPath, new Date(manifest.created))
            tarWritten = true
            step(basename(params.tarPath))
          }
          context.throwIfAborted()
          // Only now does anything appear where the operator asked: the folder (and the archive) complete, or nothing.
          this.checkOutDir(params.outDir)
          if (existsSync(params.outDir)) rmdirSync(params.outDir)
          renameSync(staging, params.outDir)
        } catch (error) {
          if (tarWritten && params.tarPath) rmSync(params.tarPath, { force: true })
          throw error
        } finally {
          rmSync(staging, { recursive: true, force: true })
        }
        const manifestHash = sha256Hex(built.manifestText)
        this.workspace.db
          .prepare(
            `INSERT INTO cdn_exports (job_id, sequence, out_dir, tar_path, manifest_hash, previous_manifest_hash,
               namespaces, counts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            context.jobId,
            manifest.version,
            params.outDir,
            params.tarPath ?? null,
            manifestHash,
            manifest.previousManifestHash,
            // What was exported, tenant-qualified ("acme/support"); [] for a templates-only bundle.
            JSON.stringify(snapshot.namespaces.map((namespace) => `${namespace.tenant}/${namespace.name}`)),
            JSON.stringify(manifest.counts),
            manifest.created,
          )
        return {
          outDir: params.outDir,
          tarPath: params.tarPath ?? null,
          version: manifest.version,
          manifestHash,
          previousManifestHash: manifest.previousManifestHash,
          incremental: manifest.incremental,
          counts: manifest.counts,
        }
      },
    }
  }

  list(limit: number): { items: CdnExport[] } {
    const rows = this.workspace.db
      .prepare(
        `SELECT id, job_id AS jobId, sequence, out_dir AS outDir, tar_path AS tarPath, manifest_hash AS manifestHash,
           previous_manifest_hash AS previousManifestHash, namespaces, counts, created_at AS createdAt
         FROM cdn_exports ORDER BY sequence DESC LIMIT ?`,
      )
      .all(limit) as (Omit<CdnExport, 'namespaces' | 'counts'> & { namespaces: string | null; counts: string })[]
    return {
      items: rows.map((row) => ({
        ...row,
        namespaces: row.namespaces ? (JSON.parse(row.namespaces) as string[]) : null,
        counts: JSON.parse(row.counts) as CdnExport['counts'],
      })),
    }
  }
}
