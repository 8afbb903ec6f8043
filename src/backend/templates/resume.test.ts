// A crash in the middle of generation: a real backend process is SIGKILLed while its job talks to a real HTTP model
// server; the next backend resumes the job from its checkpoint and asks only for the answers that were not saved.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import type { GenerationRun, TemplateFamily } from '../../shared/contract'
import { startTemplateWriter } from '../../../test/fixtures/template-writer-server'
import { tempDir, waitUntil } from '../../../test/helpers'
import { Backend } from '../backend'

const familyText = readFileSync(join(import.meta.dirname, '../../../test/data/templates/order-shipped.json'), 'utf8')

describe('generation after a crash', () => {
  it('resumes without asking again for answers already saved', async () => {
    const writer = await startTemplateWriter(
      (request) => ({
        template: `[${request.segment} #${request.variantNumber}] Hi {{name}}, your {{product}} shipped.`,
      }),
      { delayMs: 80 },
    )
    const home = tempDir('larder-templates-crash-')
    const seed = Backend.open({ home })
    await seed.call('providers.save', { name: 'template-writer', baseUrl: writer.baseUrl, model: 'w', concurrency: 2 })
    const { family } = (await seed.call('templates.import', {
      text: JSON.stringify({ ...JSON.parse(familyText), constraints: { nearDuplicateThreshold: 1 } }),
    })) as { family: TemplateFamily }
    await seed.close()

    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/templates-crash-child.ts', home, String(family.id)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const jobId = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /JOB (\d+)/.exec(chunk.toString())
        if (match) resolve(Number(match[1]))
      })
      child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${stderr}`)))
    })
    const db = new Database(join(home, 'larder.db'), { readonly: true })
    const saved = (): { seed: number }[] => db.prepare('SELECT seed FROM template_variants').all() as { seed: number }[]
    await waitUntil(() => saved().length >= 5, 20_000, 'five saved answers')
    const exited = new Promise((resolve) => child.on('exit', resolve))
    child.kill('SIGKILL')
    await exited
    const savedBeforeCrash = new Set(saved().map((row) => row.seed))
    db.close()
    expect(savedBeforeCrash.size).toBeLessThan(12)
    const requestsBeforeCrash = writer.requests.length

    const backend = Backend.open({ home, runner: { heartbeatMs: 50 } })
    expect(backend.workspace.jobs.get(jobId)!.status).toBe('running')
    backend.start()
    const job = await backend.runner.waitFor(jobId)
    expect(job.status).toBe('succeeded')
    expect(job.attempts).toBe(2)
    const resumedSeeds = writer.requests.slice(requestsBeforeCrash).map((request) => request.seed!)
    // Nothing saved before the crash was asked again; everything else was, once.
    expect(resumedSeeds.filter((s) => savedBeforeCrash.has(s))).toEqual([])
    expect(new Set(resumedSeeds).size).toBe(resumedSeeds.length)
    expect(savedBeforeCrash.size + resumedSeeds.length).toBe(12)
    const { items } = (await backend.call('templates.variants.list', { familyId: family.id })) as { items: unknown[] }
    expect(items).toHaveLength(12)
    const runs = (await backend.call('templates.runs.list', { familyId: family.id })) as { items: GenerationRun[] }
    expect(runs.items).toHaveLength(1)
    expect(runs.items[0]).toMatchObject({ status: 'succeeded', totals: { accepted: 12, rejected: 0 } })
    expect(runs.items[0]!.segments.map((s) => s.requested)).toEqual([3, 3, 3, 3])
    const logs = backend.workspace.jobs.logs(jobId, 0, 100).map((entry) => entry.message)
    expect(logs.some((message) => /Continuing run 1; answers already saved are not asked again/.test(message))).toBe(
      true,
    )
    await backend.close()
    await writer.close()
  })

  it('cancels between answers, keeps what was saved, and a fill run asks only for the rest', async () => {
    const writer = await startTemplateWriter(
      (request) => ({
        template: `[${request.segment} #${request.variantNumber}] Hello {{name}}: {{product}} is coming.`,
      }),
      { delayMs: 60 },
    )
    const backend = Backend.open({ home: tempDir('larder-templates-cancel-') }).start()
    await backend.call('providers.save', {
      name: 'template-writer',
      baseUrl: writer.baseUrl,
      model: 'w',
      concurrency: 1,
    })
    const { family } = (await backend.call('templates.import', {
      text: JSON.stringify({ ...JSON.parse(familyText), constraints: { nearDuplicateThreshold: 1 } }),
    })) as { family: TemplateFamily }
    const { job } = (await backend.call('templates.generate', { familyId: family.id })) as { job: { id: number } }
    await waitUntil(() => (backend.workspace.jobs.get(job.id)?.progress ?? 0) >= 0.25, 10_000, 'a quarter done')
    await backend.call('jobs.cancel', { id: job.id })
    expect((await backend.runner.waitFor(job.id)).status).toBe('cancelled')
    const runs = (await backend.call('templates.runs.list', { familyId: family.id })) as { items: GenerationRun[] }
    expect(runs.items[0]!.status).toBe('cancelled')
    const kept = ((await backend.call('templates.variants.list', { familyId: family.id })) as { total: number }).total
    expect(kept).toBeGreaterThanOrEqual(3)
    expect(kept).toBeLessThan(12)
    const plan = (await backend.call('templates.plan', { familyId: family.id })) as { calls: number }
    expect(plan.calls).toBe(12 - kept)
    const again = (await backend.call('templates.generate', { familyId: family.id })) as { job: { id: number } }
    expect((await backend.runner.waitFor(again.job.id)).status).toBe('succeeded')
    expect(((await backend.call('templates.variants.list', { familyId: family.id })) as { total: number }).total).toBe(
      12,
    )
    await backend.close()
    await writer.close()
  })
})
