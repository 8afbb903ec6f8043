/**
 * The Distillation page in a real browser against `larder serve`: the dataset check, a refused request with the
 * backend's reason, a real training run started from the form with its live curves, checkpoints and result card
 * (linking to the trained model, whose drawer shows where it came from), and cancelling a run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toChatJsonl, triageExamples } from '../../src/backend/distill/synthetic'
import { withConsole } from './console-page'

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-distill-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('Distillation page', () => {
  it('checks the data, refuses bad input, trains a student with live curves and links the result', async () => {
    const data = join(dir, 'triage.jsonl')
    writeFileSync(data, `${toChatJsonl(triageExamples(160, 21))}{"broken": true}\n`)
    await withConsole({}, async ({ ui, console }) => {
      const page = ui.page
      await console.open('distillation')
      await console.testId('distill-form').waitFor()

      // A missing file: the backend's reason, and nothing started.
      await console.testId('distill-data').locator('input').fill(join(dir, 'missing.jsonl'))
      await console.testId('distill-start').click()
      await expect(console.testId('distill-error').innerText()).resolves.toMatch(/No dataset file/)

      // The check says what the trainer will see, bad line included.
      await console.testId('distill-data').locator('input').fill(data)
      await console.testId('distill-check').click()
      const check = page.locator('[data-testid="distill-check-result"][data-examples="160"]')
      await check.waitFor()
      await expect(console.testId('distill-check-problems').innerText()).resolves.toMatch(/Line 161/)

      await console.testId('distill-name').locator('input').fill('e2e-student')
      await console.testId('distill-epochs').locator('input').fill('1')
      await console.testId('distill-epochs').locator('input').blur()
      await console.testId('distill-advanced').click()
      await console.testId('distill-threads').locator('input').fill('1')
      await console.testId('distill-threads').locator('input').blur()
      await console.testId('distill-quantize').click() // off: no Q8_0 copy for this run
      await console.testId('distill-start').click()

      const run = page.locator('[data-testid="distill-run"][data-status="succeeded"]')
      await run.waitFor({ timeout: 300_000 })
      await page.waitForFunction(() => {
        const charts = document.querySelector('[data-testid="distill-charts"]')
        return (
          Number(charts?.getAttribute('data-train-points')) > 10 &&
          Number(charts?.getAttribute('data-eval-points')) === 2
        )
      })
      await page.locator('[data-testid="distill-checkpoints"][data-count="1"]').waitFor()
      await page.locator('[data-testid^="distill-run-"][data-status="succeeded"]').first().waitFor()
      const result = console.testId('distill-result')
      await result.waitFor()
      await expect(console.testId('distill-result-val').innerText()).resolves.toMatch(/\d\.\d{3} → \d\.\d{3}/)
      await page.screenshot({
        path: join(process.env.LARDER_SCREENSHOTS ?? '/tmp/larder-demo', 'distillation-run.png'),
        fullPage: true,
      })

      // The result links to the model; its drawer says where it came from.
      await console.testId('distill-result-model').click()
      await console.testId('model-provenance').waitFor()
      await expect(console.testId('model-provenance').innerText()).resolves.toMatch(/run 1/)
      await page.keyboard.press('Escape')
      await console.testId('model-provenance').waitFor({ state: 'detached' })

      // A longer run, cancelled from the page: it ends cancelled, and the backend says so.
      await console.open('distillation')
      await console.testId('distill-data').locator('input').fill(data)
      await console.testId('distill-name').locator('input').fill('e2e-cancelled')
      await console.testId('distill-epochs').locator('input').fill('50')
      await console.testId('distill-epochs').locator('input').blur()
      await console.testId('distill-start').click()
      await page
        .locator('[data-testid="distill-run"][data-run-id="2"][data-status="running"]')
        .waitFor({ timeout: 60_000 })
      await console.testId('distill-cancel').click()
      await page.locator('.n-popconfirm__action button.n-button--primary-type').click()
      await page
        .locator('[data-testid="distill-run"][data-run-id="2"][data-status="cancelled"]')
        .waitFor({ timeout: 60_000 })
      // The one refused request (the missing file) is the only thing the browser logged.
      expect(ui.problems.filter((problem) => !/status of 400/.test(problem))).toEqual([])
    })
  }, 600_000)
})
