/**
 * The Distillation page's Evaluations and Promotions tabs in a real browser against `larder serve`, over a
 * workspace where real training made a teacher and a student, `distill.eval` measured them, and the student was
 * promoted on a cache namespace: the report shows every contestant with its gate verdict and examples; rolling back
 * from the Promotions tab (after the confirmation) restores the namespace's previous target.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CacheNamespace, Evaluation, Job, RunResult } from '../../src/shared/contract'
import { Backend } from '../../src/backend/backend'
import { toChatJsonl, triageExamples } from '../../src/backend/distill/synthetic'
import { withConsole } from './console-page'

let dir = ''
let home = ''
let namespaceId = 0
const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp'

async function train(backend: Backend, data: string, name: string, seed: number, maxSteps: number): Promise<number> {
  const started = (await backend.call('distill.train', {
    student: { scratch: { seed } },
    data,
    name,
    hyperparameters: { epochs: 50, batch: 64, threads: 1, warmupSteps: 20, maxSteps, valPercent: 5 },
  })) as { job: Job }
  const job = await backend.runner.waitFor(started.job.id)
  return (job.result as RunResult).modelId!
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-dseval-'))
  home = join(dir, 'home')
  const backend = Backend.open({ home, models: { cpuOnly: true } }).start()
  try {
    const data = join(dir, 'triage.jsonl')
    writeFileSync(data, toChatJsonl(triageExamples(800, 3)))
    const evalData = join(dir, 'eval.jsonl')
    writeFileSync(evalData, toChatJsonl(triageExamples(8, 99)))
    const teacher = await train(backend, data, 'teacher', 1, 800)
    const student = await train(backend, data, 'student', 2, 250)
    const early = await train(backend, data, 'student-early', 2, 40)
    const started = (await backend.call('distill.eval', {
      data: evalData,
      teacher: { model: teacher },
      students: [{ modelId: early }, { modelId: student }],
      taskMetric: 'rouge',
      maxTokens: 40,
      contextSize: 256,
      localCostPerHour: 0.5,
      gate: { maxKl: 2 },
    })) as { job: Job; evaluation: Evaluation }
    await backend.runner.waitFor(started.job.id)
    const { namespace } = (await backend.call('cache.namespaces.save', { name: 'support' })) as {
      namespace: CacheNamespace
    }
    namespaceId = namespace.id
    await backend.call('distill.promote', {
      target: { namespaceId },
      modelId: student,
      evaluationId: started.evaluation.id,
      override: 'gate check skipped for the screenshot workspace',
      actor: 'e2e',
    })
  } finally {
    await backend.close()
  }
}, 900_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('Distillation: evaluations and promotions', () => {
  it('shows the report and rolls a promotion back after confirmation', async () => {
    await withConsole({ home }, async ({ ui, console }) => {
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 720 })
      await console.open('distillation')
      await page.locator('.n-tabs-tab', { hasText: 'Evaluations' }).click()
      await console.testId('report-table').waitFor()
      await expect(console.testId('report-table').locator('tbody tr').count()).resolves.toBe(3)
      await expect(console.testId('report-example').count()).resolves.toBe(8)
      // Memory: every contestant here is a local model, measured as its own worker's peak RSS.
      for (const cell of await console.testId('report-memory').all()) {
        await expect(cell.innerText()).resolves.toMatch(/^\d+\.\d MB$/)
        await expect(cell.getAttribute('title')).resolves.toMatch(/peak RSS/)
      }
      await expect(console.testId('report-memory').count()).resolves.toBe(3)
      await page.screenshot({ path: join(shots, 'larder-dseval-report.png') })
      await console.testId('report-table').scrollIntoViewIfNeeded()
      await page.screenshot({ path: join(shots, 'larder-dseval-report-table.png') })
      await console.testId('report-example').first().scrollIntoViewIfNeeded()
      await page.screenshot({ path: join(shots, 'larder-dseval-report-examples.png') })

      await page.locator('.n-tabs-tab', { hasText: 'Promotions' }).click()
      await console.testId('promotion-row').first().waitFor()
      await console.testId('promotion-rollback').click()
      await page.locator('.n-popconfirm__action button.n-button--primary-type').click()
      await console.testId('promotion-rollback').waitFor({ state: 'detached' })
      await expect(console.testId('promotion-row').innerText()).resolves.toMatch(/Rolled back by console/)
      await page.screenshot({ path: join(shots, 'larder-dseval-promotions.png') })
      expect(ui.problems).toEqual([])
    })
    const backend = Backend.open({ home, models: { cpuOnly: true } })
    try {
      const { items } = (await backend.call('cache.namespaces.list', {})) as { items: CacheNamespace[] }
      expect(items.find((n) => n.id === namespaceId)!.generationTarget).toBeNull()
    } finally {
      await backend.close()
    }
  }, 300_000)
})
