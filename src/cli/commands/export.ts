/** `larder export cdn`: published templates and approved cache entries as a CDN bundle with an edge worker. */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import type { Job } from '../../shared/contract'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit } from '../options'

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
}
