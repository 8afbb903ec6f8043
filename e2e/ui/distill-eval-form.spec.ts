/**
 * Starting an evaluation from the console: in a real browser against `larder serve`, the Evaluations tab's form
 * takes a frozen dataset version (its eval split), a student from the library and a task metric; the backend runs
 * `distill.eval` (a real tiny GGUF answering in the model worker) and the report appears with the student's row.
 * The form refuses to start without a student, and a version without eval examples cannot be picked.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DatasetVersion } from '../../src/shared/contract'
import { Backend } from '../../src/backend/backend'
import { toChatJsonl, triageExamples } from '../../src/backend/distill/synthetic'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { withConsole } from './console-page'

let dir = ''
let home = ''
let version: DatasetVersion
const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-evalform-'))
  home = join(dir, 'home')
  const backend = Backend.open({ home, models: { cpuOnly: true } }).start()
  try {
    const file = join(dir, 'answered.jsonl')
    writeFileSync(file, toChatJsonl(triageExamples(24, 5)))
    const dataset = (await backend.call('distill.datasets.create', { name: 'triage' })) as { id: number }
    await backend.call('distill.datasets.addSource', {
      datasetId: dataset.id,
      source: { kind: 'file', path: file, format: 'auto' },
      evalPercent: 25,
    })
    const { items } = (await backend.call('distill.datasets.examples', { datasetId: dataset.id, limit: 500 })) as {
      items: { id: number }[]
    }
    await backend.call('distill.datasets.review', {
      datasetId: dataset.id,
      ids: items.map((i) => i.id),
      action: 'approve',
    })
    version = (await backend.call('distill.datasets.freeze', { datasetId: dataset.id })) as DatasetVersion
    const student = join(dir, 'student.gguf')
    await writeTinyLlamaGguf(student, { seed: 3 })
    await backend.call('models.register', { path: student, name: 'tiny-student' })
  } finally {
    await backend.close()
  }
}, 300_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('Distillation: a new evaluation from the console', () => {
  it('evaluates a student on a dataset version and shows its report', async () => {
    await withConsole({ home }, async ({ ui, console }) => {
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 720 })
      await console.open('distillation')
      await page.locator('.n-tabs-tab', { hasText: 'Evaluations' }).click()
      await console.testId('eval-form-toggle').click()
      await console.testId('eval-form').waitFor()
      // The newest version of the chosen dataset is picked for the operator; no student yet: cannot start.
      await console.testId('eval-dataset').click()
      await page.locator('.n-base-select-option', { hasText: 'triage' }).click()
      await expect(console.testId('eval-version').innerText()).resolves.toContain(`v1 · ${version.evalCount} eval`)
      await expect(console.testId('eval-start').isDisabled()).resolves.toBe(true)
      await console.testId('eval-students').click()
      await page.locator('.n-base-select-option', { hasText: 'tiny-student' }).click()
      await page.keyboard.press('Escape')
      await console.testId('eval-metric').click()
      await page.locator('.n-base-select-option', { hasText: 'ROUGE-L' }).click()
      await console.testId('eval-max-examples').locator('input').fill('4')
      await page.screenshot({ path: join(shots, 'larder-evalform-form.png') })
      await console.testId('eval-start').click()
      await console.testId('eval-form').waitFor({ state: 'detached' })
      await console.testId('report-table').waitFor({ timeout: 240_000 })
      await expect(console.testId('report-table').innerText()).resolves.toContain('tiny-student')
      await expect(console.testId('report-example').count()).resolves.toBe(Math.min(4, version.evalCount))
      // No teacher was chosen: token metrics are not drawn as empty bars; the reason is said instead.
      await expect(console.testId('report-token-skipped').innerText()).resolves.toMatch(/No teacher model was given/)
      await page.screenshot({ path: join(shots, 'larder-evalform-report.png') })
      expect(ui.problems).toEqual([])
    })
  }, 400_000)
})
