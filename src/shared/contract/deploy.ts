/**
 * Deploying CDN bundles to object storage (any S3-compatible store) and the record of what is live where. The
 * secret of a saved target goes in once and never comes back out (hasSecret says whether one is stored).
 */
import { z } from 'zod'
import { absolutePath, id, resourceName, timestamp } from './common'
import { jobSchema } from './core'

const targetUrl = z
  .string()
  .max(1024)
  .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'write s3://bucket/prefix')
const endpoint = z.url({ protocol: /^https?$/ }).max(1024)
const region = z.string().regex(/^[a-z0-9-]{1,40}$/, 'a region such as us-east-1 or auto')

const targetRef = {
  /** s3://bucket/prefix; optional when a saved target is named. */
  to: targetUrl.optional(),
  /** The store's address for anything but AWS S3 (R2, MinIO, GCS interoperability); implies path-style requests. */
  endpoint: endpoint.optional(),
  region: region.optional(),
  /** A saved target (its keys are used); without it the standard environment/profile credential chain is. */
  target: resourceName.optional(),
}

export const deployPlanSchema = z.object({
  target: z.string(),
  bundleVersion: z.int(),
  manifestHash: z.string(),
  workspaceId: z.string(),
  tenant: z.string().nullable(),
  live: z
    .object({ version: z.int(), manifestHash: z.string(), workspaceId: z.string(), created: z.string() })
    .nullable(),
  alreadyLive: z.boolean(),
  objects: z.int().nonnegative(),
  present: z.int().nonnegative(),
  upload: z.object({ objects: z.int().nonnegative(), bytes: z.int().nonnegative() }),
  /** Objects on the target the new manifest does not name. */
  dropped: z.int().nonnegative(),
  /** Of those, the ones past the grace period that the deploy will delete. */
  deletableNow: z.int().nonnegative(),
  graceSeconds: z.int().nonnegative(),
  steps: z.array(z.string()),
})
export type DeployPlan = z.infer<typeof deployPlanSchema>

const verifySchema = z.object({ manifestMatches: z.boolean(), sampled: z.int(), failures: z.array(z.string()) })

export const deploymentSchema = z.object({
  id,
  jobId: id.nullable(),
  target: z.string(),
  endpoint: z.string().nullable(),
  action: z.enum(['deploy', 'rollback']),
  version: z.int(),
  manifestHash: z.string(),
  previousManifestHash: z.string().nullable(),
  tenant: z.string().nullable(),
  counts: z.record(z.string(), z.number()),
  uploaded: z.int(),
  deleted: z.int(),
  verify: verifySchema.nullable(),
  deployedBy: z.string(),
  deployedAt: timestamp,
  /** Objects added and removed compared with the deployment before it on the same target (null: the first). */
  diff: z.object({ added: z.int(), removed: z.int() }).nullable(),
  /** Whether this is the target's newest switch (what Larder last made live there). */
  live: z.boolean(),
})
export type Deployment = z.infer<typeof deploymentSchema>

export const savedTargetSchema = z.object({
  id,
  name: z.string(),
  url: z.string(),
  endpoint: z.string().nullable(),
  region: z.string().nullable(),
  accessKeyId: z.string().nullable(),
  hasSecret: z.boolean(),
  createdAt: timestamp,
  updatedAt: timestamp,
})
export type SavedTarget = z.infer<typeof savedTargetSchema>

export const deployMethods = {
  'export.deploy': {
    input: z
      .object({
        /** A folder `export cdn` wrote (its public/ holds manifest.json, objects/ and worker.js). */
        bundleDir: absolutePath,
        ...targetRef,
        /** Only print the plan; nothing is written. */
        dryRun: z.boolean().default(false),
        /** Replace a target that serves another workspace's bundle. */
        force: z.boolean().default(false),
        /** Objects a replaced manifest named are deleted only this long after it stopped being live. */
        graceSeconds: z
          .int()
          .min(0)
          .max(90 * 86400)
          .default(86400),
      })
      .strict(),
    output: z.object({ plan: deployPlanSchema, job: jobSchema.nullable() }),
  },
  'export.rollback': {
    input: z
      .object({ ...targetRef, version: z.int().positive().optional(), force: z.boolean().default(false) })
      .strict(),
    output: z.object({
      target: z.string(),
      version: z.int(),
      manifestHash: z.string(),
      replacedVersion: z.int(),
      writes: z.literal(1),
    }),
  },
  'export.deployments': {
    input: z.object({ target: z.string().max(1024).optional(), limit: z.int().min(1).max(500).default(100) }).strict(),
    output: z.object({ items: z.array(deploymentSchema) }),
  },
  'export.targets.list': {
    input: z.object({}).strict(),
    output: z.object({ items: z.array(savedTargetSchema) }),
  },
  'export.targets.save': {
    input: z
      .object({
        name: resourceName,
        url: targetUrl,
        endpoint: endpoint.optional(),
        region: region.optional(),
        accessKeyId: z.string().min(1).max(256).optional(),
        /** Stored encrypted; blank on an edit keeps the stored one. */
        secretAccessKey: z.string().max(1024).optional(),
      })
      .strict(),
    output: savedTargetSchema,
  },
  'export.targets.remove': {
    input: z.object({ name: resourceName }).strict(),
    output: z.object({ ok: z.literal(true) }),
  },
} as const
