/** `larder replica`: a stateless server for a published bundle (the edge worker's code on Node), misses upstream. */
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { Replica } from '../../backend/export/replica'
import type { CliContext } from '../main'

function portNumber(value: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new InvalidArgumentError('must be 0..65535')
  return parsed
}

function seconds(value: string): number {
  const parsed = Number(value)
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('must be a whole number of seconds >= 1')
  return parsed
}

export function registerReplicaCommand(program: Command, context: CliContext): void {
  program
    .command('replica')
    .description(
      'Serve a published CDN bundle statelessly (the edge worker on Node), sending misses to an upstream gateway; run any number behind a load balancer.',
    )
    .requiredOption(
      '--bundle <url|dir>',
      'the bundle: a folder `export cdn` wrote, or the URL its public/ is served at',
    )
    .option('--upstream <url>', "the gateway's OpenAI-compatible base URL for misses, e.g. http://gateway:8787/v1")
    .option('--port <port>', 'port to listen on (0 picks a free one)', portNumber, 8790)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--state <dir>', "where a URL bundle's last good copy is kept (default: under the workspace home)")
    .option('--refresh <seconds>', 'how often to look for a newer manifest', seconds, 60)
    .option('--tenant <name>', 'the tenant this replica serves (the bundle must be its)')
    .option('--cors-origins <list>', 'origins allowed to call from a browser (comma-separated, or *)')
    .action(
      async (
        options: {
          bundle: string
          upstream?: string
          port: number
          host: string
          state?: string
          refresh: number
          tenant?: string
          corsOrigins?: string
        },
        command: Command,
      ) => {
        const source = createHash('sha256').update(options.bundle).digest('hex').slice(0, 16)
        const replica = new Replica({
          bundle: options.bundle,
          upstream: options.upstream,
          host: options.host,
          port: options.port,
          stateDir: options.state ? resolve(options.state) : join(context.homeOf(command), 'replicas', source),
          refreshSeconds: options.refresh,
          tenant: options.tenant,
          corsOrigins: options.corsOrigins,
        })
        const { url, health } = await replica.start()
        context.io.out(`Larder replica serving ${options.bundle} at ${url}\n`)
        context.io.out(
          health.ok
            ? `Bundle version ${health.bundleVersion}${health.servingLastGoodCopy ? ' (the last good copy: the bundle URL is unreachable)' : ''}.\n`
            : `No bundle to serve yet: ${health.lastError}\n`,
        )
        if (health.lastError) context.io.err(`${health.lastError}\n`)
        context.io.out(`Misses go to ${options.upstream ?? 'nowhere (404): pass --upstream'}. Health: ${url}/healthz\n`)
        await new Promise<void>((done) => {
          const stop = (): void => {
            void replica.stop().then(done)
          }
          process.once('SIGINT', stop)
          process.once('SIGTERM', stop)
        })
      },
    )
}
