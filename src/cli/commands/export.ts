/** `larder export cdn`: published templates and approved cache entries as a CDN bundle with an edge worker. */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { DeployPlan, Job, MethodOutput } from '../../shared/contract'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'

interface TargetOptions {
  to?: string
  endpoint?: string
  region?: string
  target?: string
  json?: boolean
}

function targetInput(options: TargetOptions): Record<string, string> {
  return {
    ...(options.to ? { to: options.to } : {}),
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.target ? { target: options.target } : {}),
  }
}

function planText(plan: DeployPlan): string {
  const live = plan.live ? `version ${plan.live.version} (${plan.live.manifestHash.slice(0, 12)})` : 'nothing yet'
  const head = `Deploy version ${plan.bundleVersion} (${plan.manifestHash.slice(0, 12)}) to ${plan.target}; live now: ${live}${plan.alreadyLive ? ' (the same manifest)' : ''}.`
  return `${head}\n${plan.steps.map((step, index) => `  ${index + 1}. ${step}`).join('\n')}\n`
}

function withTargetOptions(command: Command): Command {
  return command
    .option('--to <url>', 'the target: s3://bucket/prefix (AWS S3, Cloudflare R2, MinIO, GCS interoperability)')
    .option(
      '--endpoint <url>',
      "the store's endpoint when it is not AWS S3 (e.g. https://<account>.r2.cloudflarestorage.com)",
    )
    .option('--region <name>', 'the region (default: AWS_REGION or us-east-1; R2 uses auto)')
    .option('--target <name>', "a target saved in the console's settings (its keys are used)")
    .option('--json', 'print JSON only')
}

export function registerExportCommands(program: Command, context: CliContext): void {
  const group = program.command('export').description('Export to a CDN: a static bundle plus a ready edge worker.')
  group
    .command('cdn')
    .description(
      'Write published template versions and approved cache entries as content-addressed objects, manifest.json and worker.js.',
    )
    .requiredOption('--out <dir>', 'a new or empty folder for the bundle')
    .option(
      '--since <manifest>',
      'an earlier manifest.json of this workspace: write only what changed, plus a deletion list',
    )
    .option(
      '--tenant <name>',
      'the tenant whose cache the bundle carries (a bundle serves one tenant; without it: templates only)',
    )
    .option('--namespace <name...>', "only these of the tenant's cache namespaces (default: all of them)")
    .option('--family <name...>', 'only these template families (default: every published one)')
    .option('--tar <file>', 'also write the bundle as one .tar.gz')
    .option('--json', 'print the finished job as JSON')
    .action(
      async (
        options: {
          out: string
          since?: string
          tenant?: string
          namespace?: string[]
          family?: string[]
          tar?: string
          json?: boolean
        },
        command: Command,
      ) => {
        const backend = context.openBackend(command)
        try {
          const code = await context.runJobHere(
            backend,
            async () =>
              (
                (await backend.call('export.cdn', {
                  outDir: resolve(options.out),
                  ...(options.since ? { since: resolve(options.since) } : {}),
                  ...(options.tar ? { tarPath: resolve(options.tar) } : {}),
                  ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
                  ...(options.namespace ? { namespaces: options.namespace } : {}),
                  ...(options.family ? { families: options.family } : {}),
                })) as { job: Job }
              ).job,
            options.json ?? false,
          )
          if (code !== EXIT.ok) throw new CliExit(code)
        } finally {
          await backend.close()
        }
      },
    )

  registerDeployCommands(group, context)
}

function registerDeployCommands(group: Command, context: CliContext): void {
  withTargetOptions(
    group
      .command('deploy <bundle>')
      .description(
        'Upload a bundle to object storage: the objects the target lacks, then worker.js, then manifest.json last; verify; delete dropped objects after the grace period.',
      ),
  )
    .option('--dry-run', 'print the plan and write nothing')
    .option('--force', "replace a target that serves another workspace's bundle")
    .option(
      '--grace <seconds>',
      'delete objects a replaced manifest named only this long after (default 86400)',
      positiveInt,
    )
    .action(
      async (
        bundle: string,
        options: TargetOptions & { dryRun?: boolean; force?: boolean; grace?: number },
        command: Command,
      ) => {
        const backend = context.openBackend(command)
        try {
          const input = {
            bundleDir: resolve(bundle),
            ...targetInput(options),
            dryRun: options.dryRun ?? false,
            force: options.force ?? false,
            ...(options.grace !== undefined ? { graceSeconds: options.grace } : {}),
          }
          if (input.dryRun) {
            const { plan } = (await backend.call('export.deploy', input)) as MethodOutput<'export.deploy'>
            context.io.out(
              options.json ? `${JSON.stringify(plan, null, 2)}\n` : `Dry run: nothing written.\n${planText(plan)}`,
            )
            return
          }
          const code = await context.runJobHere(
            backend,
            async () => {
              const { plan, job } = (await backend.call('export.deploy', input)) as MethodOutput<'export.deploy'>
              if (!options.json) context.io.err(planText(plan))
              return job!
            },
            options.json ?? false,
          )
          if (code !== EXIT.ok) throw new CliExit(code)
        } finally {
          await backend.close()
        }
      },
    )
  withTargetOptions(
    group
      .command('rollback')
      .description(
        'Make an earlier deployed manifest live again: one write of manifest.json (its objects must still be stored).',
      ),
  )
    .option('--version <n>', 'the version to go back to (default: the one before the live one)', positiveInt)
    .option('--force', "roll back a target that serves another workspace's bundle")
    .action(async (options: TargetOptions & { version?: number; force?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const result = (await backend.call('export.rollback', {
          ...targetInput(options),
          ...(options.version !== undefined ? { version: options.version } : {}),
          force: options.force ?? false,
        })) as MethodOutput<'export.rollback'>
        context.io.out(
          options.json
            ? `${JSON.stringify(result, null, 2)}\n`
            : `${result.target}: version ${result.version} is live again (was ${result.replacedVersion}); ${result.writes} write.\n`,
        )
      })
    })
  group
    .command('deployments')
    .description('Which bundle version is live at which target, since when, deployed by whom, and what changed.')
    .option('--to <url>', 'only this target')
    .option('--json', 'print JSON only')
    .action(async (options: { to?: string; json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const { items } = (await backend.call(
          'export.deployments',
          options.to ? { target: options.to } : {},
        )) as MethodOutput<'export.deployments'>
        if (options.json) {
          context.io.out(`${JSON.stringify(items, null, 2)}\n`)
          return
        }
        if (items.length === 0) context.io.out('No deployments yet.\n')
        for (const item of items) {
          const diff = item.diff ? ` +${item.diff.added} -${item.diff.removed} objects` : ''
          context.io.out(
            `${item.live ? '*' : ' '} ${item.target}  v${item.version} ${item.action} ${item.deployedAt} by ${item.deployedBy}${diff}\n`,
          )
        }
      })
    })
}
