/** `larder templates ...` (families, generation, review, publishing, rendering) and `larder bench render`. */
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline/promises'
import { resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import type {
  Job,
  Model,
  PreviewResult,
  ProviderConfig,
  TemplateFamily,
  TemplateFamilySummary,
  TemplateVariant,
  VersionDiff,
} from '../../shared/contract'
import { ApiError } from '../../shared/errors'
import { Backend } from '../../backend/backend'
import { defaultThreads } from '../../backend/models/model-host'
import { EXIT } from '../exit-codes'
import type { CliContext } from '../main'
import { CliExit, positiveInt } from '../options'

type OpenBackend = ReturnType<CliContext['openBackend']>

/** `locale=en,tone=formal` -> {locale: "en", tone: "formal"}. */
export function segmentOption(value: string): Record<string, string> {
  const values: Record<string, string> = {}
  if (value.trim() === '') return values
  for (const part of value.split(',')) {
    const at = part.indexOf('=')
    if (at < 1) throw new InvalidArgumentError('write the segment as dimension=value pairs, e.g. locale=en,tone=formal')
    values[part.slice(0, at).trim()] = part.slice(at + 1).trim()
  }
  return values
}

function jsonObjectOption(value: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    throw new InvalidArgumentError(`must be a JSON object, e.g. '{"name": "Mina"}'`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`must be a JSON object, e.g. '{"name": "Mina"}'`)
  }
  return parsed as Record<string, unknown>
}

function idList(value: string): number[] {
  const ids = value.split(',').map((part) => Number(part.trim()))
  if (ids.length === 0 || ids.some((id) => !Number.isInteger(id) || id < 1)) {
    throw new InvalidArgumentError('must be comma-separated variant ids, e.g. 12,15,16')
  }
  return ids
}

function versionOption(value: string): number | 'working' {
  if (value === 'working') return value
  const version = Number(value)
  if (!Number.isInteger(version) || version < 1) throw new InvalidArgumentError('must be a version number or "working"')
  return version
}

async function familyNamed(backend: OpenBackend, name: string): Promise<TemplateFamilySummary> {
  const { items } = (await backend.call('templates.list', {})) as { items: TemplateFamilySummary[] }
  const family = items.find((candidate) => candidate.name === name || String(candidate.id) === name)
  if (!family) {
    throw new ApiError({
      code: 'not_found',
      message: `No template family named "${name}". See \`larder templates list\`, or import one with \`larder templates import FILE\`.`,
    })
  }
  return family
}

export function registerTemplateCommands(program: Command, context: CliContext): void {
  const { io } = context
  const out = (text: string): void => io.out(text.endsWith('\n') ? text : `${text}\n`)
  const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2))
  const templates = program
    .command('templates')
    .description('Template families: slots and segments, generated variants, review, publishing, rendering.')

  templates
    .command('import')
    .description('Import a template family from a JSON file (the format is in docs/templates.md).')
    .argument('<file>', 'family JSON file')
    .option('--replace', 'replace the definition of an existing family of the same name')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { replace?: boolean; json?: boolean }, command: Command) => {
      let text: string
      try {
        text = readFileSync(resolve(file), 'utf8')
      } catch (error) {
        throw new ApiError({
          code: 'not_found',
          message: `Cannot read ${file} (${(error as NodeJS.ErrnoException).code}).`,
        })
      }
      await context.withBackend(command, async (backend) => {
        const { family, created } = (await backend.call('templates.import', {
          text,
          replace: options.replace ?? false,
        })) as {
          family: TemplateFamily
          created: boolean
        }
        if (options.json) return printJson({ family, created })
        out(
          `${created ? 'Imported' : 'Updated'} ${family.name}: ${family.slotCount} slots, ${family.segmentCount} segments, ${family.variantsPerSegment} variants wanted per segment (revision ${family.revision}).`,
        )
      })
    })

  templates
    .command('list')
    .description('List template families with their variant counts.')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const { items } = (await backend.call('templates.list', {})) as { items: TemplateFamilySummary[] }
        if (options.json) return printJson({ items })
        if (items.length === 0) return out('No template families yet. Import one with `larder templates import FILE`.')
        out('  ID  NAME                          SEGMENTS  DRAFT  APPROVED  REJECTED  PUBLISHED')
        for (const f of items) {
          out(
            `${String(f.id).padStart(4)}  ${f.name.padEnd(28)}  ${String(f.segmentCount).padStart(8)}  ${String(f.variantCounts.draft).padStart(5)}  ${String(f.variantCounts.approved).padStart(8)}  ${String(f.variantCounts.rejected).padStart(8)}  ${f.publishedVersion === null ? '-' : `v${f.publishedVersion}`}`,
          )
        }
      })
    })

  templates
    .command('show')
    .description('Show a family: its segments, what each still needs, and the last generation per segment.')
    .argument('<name>', 'family name or id')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const family = (await backend.call('templates.get', {
          id: (await familyNamed(backend, name)).id,
        })) as TemplateFamily
        if (options.json) return printJson(family)
        out(
          `${family.name} (revision ${family.revision}, ${family.publishedVersion ? `published v${family.publishedVersion}` : 'not published'})`,
        )
        if (family.purpose) out(`  ${family.purpose}`)
        out(`  slots: ${family.definition.slots.map((s) => `${s.name}${s.required ? '' : '?'}`).join(', ')}`)
        for (const segment of family.segments) {
          const stats = segment.lastGeneration
            ? `  last run: ${segment.lastGeneration.tokensOut} tokens, ${(segment.lastGeneration.wallMs / 1000).toFixed(1)} s`
            : ''
          out(
            `  ${(segment.key || '(all)').padEnd(36)} draft ${segment.counts.draft}  approved ${segment.counts.approved}  rejected ${segment.counts.rejected}${segment.missing ? `  needs ${segment.missing}` : ''}${stats}`,
          )
        }
      })
    })

  templates
    .command('generate')
    .description('Generate variants for every segment (those still missing, by default) as a job with a progress bar.')
    .argument('<name>', 'family name or id')
    .option('--model <model>', 'a registered model (name or id); loaded here for the run')
    .option('--provider <provider>', 'a configured OpenAI-compatible provider (name or id)')
    .option('--segment <key...>', 'only these segments, e.g. locale=en,tone=formal')
    .option('--add', 'generate variantsPerSegment more per segment instead of filling what is missing')
    .option('--threads <n>', `CPU threads for a local model (default here: ${defaultThreads()})`, positiveInt)
    .option('--sequences <n>', 'parallel sequences for a local model', positiveInt, 4)
    .option('-y, --yes', 'do not ask before a very large run')
    .option('--json', 'print the finished job as JSON')
    .action(
      async (
        name: string,
        options: {
          model?: string
          provider?: string
          segment?: string[]
          add?: boolean
          threads?: number
          sequences: number
          yes?: boolean
          json?: boolean
        },
        command: Command,
      ) => {
        if (options.model && options.provider) {
          io.err('Give --model or --provider, not both.\n')
          throw new CliExit(EXIT.usage)
        }
        await context.withBackend(command, async (backend) => {
          const family = await familyNamed(backend, name)
          let target: { model: number } | { provider: number } | undefined
          if (options.model) {
            const { items } = (await backend.call('models.list', {})) as { items: Model[] }
            const model = items.find((m) => m.name === options.model || String(m.id) === options.model)
            if (!model)
              throw new ApiError({
                code: 'not_found',
                message: `No model named "${options.model}". See \`larder models list\`.`,
              })
            target = { model: model.id }
          } else if (options.provider) {
            const { items } = (await backend.call('providers.list', {})) as { items: ProviderConfig[] }
            const provider = items.find((p) => p.name === options.provider || String(p.id) === options.provider)
            if (!provider)
              throw new ApiError({ code: 'not_found', message: `No provider named "${options.provider}".` })
            target = { provider: provider.id }
          }
          const request = {
            familyId: family.id,
            mode: options.add ? 'add' : 'fill',
            ...(target ? { target } : {}),
            ...(options.segment ? { segments: options.segment } : {}),
          }
          const plan = (await backend.call('templates.plan', request)) as { calls: number; needsConfirmation: boolean }
          let confirmLargeGrid = options.yes ?? false
          if (plan.needsConfirmation && !confirmLargeGrid && io.stdinIsTTY) {
            const prompt = createInterface({ input: process.stdin, output: process.stderr })
            const answer = await prompt.question(`This makes ${plan.calls} generation calls. Go ahead? [y/N] `)
            prompt.close()
            confirmLargeGrid = /^y(es)?$/i.test(answer.trim())
            if (!confirmLargeGrid) {
              io.err('Nothing generated.\n')
              throw new CliExit(EXIT.interrupted)
            }
          }
          // The model is loaded in this process with the CLI's thread and sequence settings.
          if (target && 'model' in target) {
            const model = (await backend.call('models.get', { id: target.model })) as Model
            await backend.call('models.load', {
              id: model.id,
              threads: options.threads ?? defaultThreads(),
              sequences: options.sequences,
              contextSize: Math.min(2048, model.contextLength ?? 2048),
            })
          }
          const code = await context.runJobHere(
            backend,
            async () =>
              ((await backend.call('templates.generate', { ...request, confirmLargeGrid })) as { job: Job }).job,
            options.json ?? false,
          )
          if (code !== EXIT.ok) throw new CliExit(code)
        })
      },
    )

  templates
    .command('variants')
    .description('List the variants of a family, with why each rejected one was rejected.')
    .argument('<name>', 'family name or id')
    .option('--segment <key>', 'only this segment, e.g. locale=en,tone=formal')
    .option('--state <state...>', 'only these states (draft approved rejected)')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { segment?: string; state?: string[]; json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const family = await familyNamed(backend, name)
        const { items, total } = (await backend.call('templates.variants.list', {
          familyId: family.id,
          ...(options.segment !== undefined ? { segmentKey: options.segment } : {}),
          ...(options.state ? { states: options.state } : {}),
          limit: 5000,
        })) as { items: TemplateVariant[]; total: number }
        if (options.json) return printJson({ items, total })
        for (const v of items) {
          const why = v.rejection
            ? `  <- ${v.rejection.map((p) => p.message).join(' ')}`
            : v.problems.length
              ? `  (problems: ${v.problems.map((p) => p.message).join(' ')})`
              : ''
          out(
            `${String(v.id).padStart(5)}  ${v.state.padEnd(8)}  ${(v.segmentKey || '(all)').padEnd(28)}  ${v.template}${why}`,
          )
        }
        out(`${total} variant${total === 1 ? '' : 's'}.`)
      })
    })

  templates
    .command('approve')
    .description(
      'Approve drafts: all of them (--all) or the given ids; variants with problems are skipped with the reason.',
    )
    .argument('<name>', 'family name or id')
    .option('--all', 'every draft without problems')
    .option('--ids <ids>', 'comma-separated variant ids', idList)
    .option('--segment <key>', 'with --all: only this segment')
    .action(async (name: string, options: { all?: boolean; ids?: number[]; segment?: string }, command: Command) => {
      if (Boolean(options.all) === Boolean(options.ids)) {
        io.err('Give either --all or --ids.\n')
        throw new CliExit(EXIT.usage)
      }
      await context.withBackend(command, async (backend) => {
        const family = await familyNamed(backend, name)
        const result = (await backend.call('templates.variants.approve', {
          familyId: family.id,
          ...(options.all ? { all: true } : { ids: options.ids }),
          ...(options.segment !== undefined ? { segmentKey: options.segment } : {}),
        })) as { approved: number; skipped: { id: number; reason: string }[] }
        out(`Approved ${result.approved} variant${result.approved === 1 ? '' : 's'}.`)
        for (const skipped of result.skipped) io.err(`  skipped ${skipped.id}: ${skipped.reason}\n`)
        if (result.skipped.length > 0 && result.approved === 0) throw new CliExit(EXIT.failed)
      })
    })

  templates
    .command('reject')
    .description('Reject variants, with a reason kept beside them.')
    .argument('<name>', 'family name or id')
    .requiredOption('--ids <ids>', 'comma-separated variant ids', idList)
    .option('--reason <text>', 'why')
    .action(async (name: string, options: { ids: number[]; reason?: string }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const family = await familyNamed(backend, name)
        const { rejected } = (await backend.call('templates.variants.reject', {
          familyId: family.id,
          ids: options.ids,
          ...(options.reason ? { reason: options.reason } : {}),
        })) as { rejected: number }
        out(`Rejected ${rejected} variant${rejected === 1 ? '' : 's'}.`)
      })
    })

  templates
    .command('publish')
    .description('Snapshot the approved variants as the next version (what `larder export cdn` exports).')
    .argument('<name>', 'family name or id')
    .option('--note <text>', 'a note kept with the version')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { note?: string; json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const family = await familyNamed(backend, name)
        const version = (await backend.call('templates.publish', {
          familyId: family.id,
          ...(options.note ? { note: options.note } : {}),
        })) as { version: number; variantCount: number; contentHash: string }
        if (options.json) return printJson(version)
        out(
          `Published ${family.name} v${version.version}: ${version.variantCount} variants (${version.contentHash.slice(0, 12)}).`,
        )
      })
    })

  templates
    .command('versions')
    .description('List the published versions of a family.')
    .argument('<name>', 'family name or id')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }, command: Command) => {
      await context.withBackend(command, async (backend) => {
        const family = await familyNamed(backend, name)
        const { items } = (await backend.call('templates.versions.list', { familyId: family.id })) as {
          items: { version: number; variantCount: number; publishedAt: string; note: string | null }[]
        }
        if (options.json) return printJson({ items })
        if (items.length === 0) return out(`${family.name} is not published yet.`)
        for (const v of items)
          out(`v${v.version}  ${v.publishedAt}  ${v.variantCount} variants${v.note ? `  ${v.note}` : ''}`)
      })
    })

  templates
    .command('diff')
    .description('What changed between two versions (or between a version and what publishing now would give).')
    .argument('<name>', 'family name or id')
    .argument('<from>', 'version number', versionOption)
    .argument('[to]', 'version number, or "working" (default)', versionOption, 'working')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        from: number | 'working',
        to: number | 'working',
        options: { json?: boolean },
        command: Command,
      ) => {
        if (from === 'working') {
          io.err('<from> must be a version number.\n')
          throw new CliExit(EXIT.usage)
        }
        await context.withBackend(command, async (backend) => {
          const family = await familyNamed(backend, name)
          const diff = (await backend.call('templates.versions.diff', { familyId: family.id, from, to })) as VersionDiff
          if (options.json) return printJson(diff)
          out(
            `v${from} -> ${to === 'working' ? 'working' : `v${to}`}: ${diff.summary.added} added, ${diff.summary.removed} removed, ${diff.summary.changed} changed, ${diff.summary.unchanged} unchanged`,
          )
          for (const change of diff.definitionChanges)
            out(`  definition ${change.path}: ${JSON.stringify(change.before)} -> ${JSON.stringify(change.after)}`)
          for (const segment of diff.segments) {
            out(`  ${segment.segmentKey || '(all)'}`)
            for (const v of segment.added) out(`    + ${v.id}  ${v.template}`)
            for (const v of segment.removed) out(`    - ${v.id}  ${v.template}`)
            for (const v of segment.changed) out(`    ~ ${v.id}  ${v.before.template} -> ${v.after.template}`)
          }
        })
      },
    )

  templates
    .command('render')
    .description('Render a family for one reader exactly as the exported edge worker does.')
    .argument('<name>', 'family name or id')
    .option('--segment <values>', 'segment values, e.g. locale=en,tone=formal', segmentOption, {})
    .option('--data <json>', `profile data, e.g. '{"name": "Mina"}'`, jsonObjectOption, {})
    .option('--user <id>', 'user id (decides the variant; the same user always gets the same one)', '')
    .option('--variant <id>', 'render this variant instead of choosing by user', positiveInt)
    .option('--published', 'use the published version (as exported) instead of the approved variants now')
    .option('--json', 'print JSON')
    .action(
      async (
        name: string,
        options: {
          segment: Record<string, string>
          data: Record<string, unknown>
          user: string
          variant?: number
          published?: boolean
          json?: boolean
        },
        command: Command,
      ) => {
        await context.withBackend(command, async (backend) => {
          const family = await familyNamed(backend, name)
          const result = (await backend.call('templates.preview', {
            familyId: family.id,
            segment: options.segment,
            data: options.data,
            userId: options.user,
            source: options.published ? 'published' : 'working',
            ...(options.variant ? { variantId: options.variant } : {}),
          })) as PreviewResult
          if (options.json) printJson(result)
          else if (result.ok) out(result.text!)
          else io.err(`${result.status}: ${result.message}\n`)
          if (!result.ok) throw new CliExit(EXIT.failed)
        })
      },
    )

  const bench =
    program.commands.find((candidate) => candidate.name() === 'bench') ??
    program.command('bench').description('Benchmarks that print numbers.')
  bench
    .command('render')
    .description(
      'Renders/s of the template renderer vs mustache.js, Handlebars and hand-written code; worker latency in workerd.',
    )
    .option('--no-workerd', 'skip the workerd measurements')
    .option('--requests <n>', 'requests per workerd latency measurement', positiveInt, 1000)
    .option('--json', 'print one JSON object')
    .action(async (options: { workerd: boolean; requests: number; json?: boolean }) => {
      const { benchNodeRenderers, benchWorkerd } = await import('../../backend/templates/render-bench')
      const node = await benchNodeRenderers()
      const workerd = options.workerd
        ? await benchWorkerd((home) => Backend.open({ home, runner: { concurrency: 1 } }), options.requests)
        : null
      if (options.json) return printJson({ node, workerd })
      const millions = (value: number): string => `${(value / 1e6).toFixed(2)} M/s`.padStart(10)
      out('case       data   larder     mustache.js  handlebars  by hand     larder/mustache.js')
      for (const row of node) {
        out(
          `${row.case.padEnd(10)} ${row.data.padEnd(6)} ${millions(row.larder)} ${millions(row.mustacheJs)}  ${millions(row.handlebars)}  ${millions(row.byHand)}  ${row.speedup.toFixed(2)}x`,
        )
      }
      if (workerd) {
        out(`workerd: ${(workerd.rendersPerSecond / 1e6).toFixed(2)} M renders/s (sentence case)`)
        out(
          `workerd worker p50 (p95): render ${workerd.render.p50Ms.toFixed(2)} ms (${workerd.render.p95Ms.toFixed(2)}), cache hit ${workerd.cacheHit.p50Ms.toFixed(2)} ms (${workerd.cacheHit.p95Ms.toFixed(2)}) over ${workerd.render.requests} requests each`,
        )
      }
    })
}
