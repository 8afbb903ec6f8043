/**
 * The demo workspace in a real browser: an empty console offers it; once built (here the quick variant, through
 * the API as a script would, so the suite stays short) every page shows real data. Each page is saved as a
 * screenshot under $LARDER_SCREENSHOTS (default /tmp/larder-demo) to look at.
 *
 * LARDER_DEMO_HOME=<a workspace made by `larder demo`> points the spec at a full demo instead of building one.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { withConsole, type Area } from './console-page'

const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp/larder-demo'
const existingHome = process.env.LARDER_DEMO_HOME

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(shots, { recursive: true })
  // Charts and tables settle after their data arrives; the markers awaited before each shot say it has.
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

describe('demo workspace', () => {
  it('an empty console offers the demo, and after it every page shows real data', async () => {
    await withConsole(existingHome ? { home: existingHome } : {}, async ({ serve, ui, console }) => {
      const page = ui.page
      // Tall enough that each page's charts and tables are in the screenshot (the console scrolls inside).
      await page.setViewportSize({ width: 1440, height: 1700 })
      const open = async (area: Area): Promise<void> => {
        await console.open(area)
      }
      if (!existingHome) {
        await console.open('jobs')
        await page.locator('[data-testid="demo-card"][data-state="offered"]').waitFor()
        await shoot(page, '00-demo-offer')
        const { job } = await serve.call<{ job: { id: number } }>('demo.load', { quick: true })
        // The card follows the job that builds the workspace.
        await page.locator('[data-testid="demo-card"][data-state="running"]').waitFor({ timeout: 60_000 })
        await page.locator(`[data-testid="job-row-${job.id}"][data-status="succeeded"]`).waitFor({ timeout: 600_000 })
        await console.reload()
        await expect(page.getByTestId('demo-card').count()).resolves.toBe(0)
      }

      await open('models')
      await page.locator('[data-testid^="model-row-"]').nth(1).waitFor()
      expect(await page.locator('[data-testid^="model-row-"]').count()).toBeGreaterThanOrEqual(2)
      await shoot(page, '01-models')
      await page.locator('[data-testid^="model-open-"]').first().click()
      await page.getByTestId('model-provenance').waitFor()
      await shoot(page, '01b-model-drawer')
      await page.keyboard.press('Escape')

      await open('playground')
      await page.getByTestId('playground-target').waitFor()
      await shoot(page, '02-playground')

      await open('cache')
      await page.locator('[data-testid^="entry-row-"]').first().waitFor()
      await page.locator('[data-testid^="entry-row-"][data-state="approved"]').first().waitFor()
      await shoot(page, '03-cache-entries')
      await console.cacheTab('analytics').click()
      await page.waitForFunction(
        () => Number(document.querySelector('[data-testid="coverage-chart"]')?.getAttribute('data-points')) > 10,
      )
      await page.locator('[data-testid="coverage-chart"] canvas').waitFor()
      await shoot(page, '03b-cache-analytics')
      await console.cacheTab('log').click()
      await page.locator('[data-testid^="log-row-"]').first().waitFor()
      await shoot(page, '03c-cache-log')

      await open('templates')
      await page.getByTestId('family-row-order-shipped').click()
      await page.getByTestId('family-published').waitFor()
      await shoot(page, '04-templates')

      await open('pipelines')
      await page.locator('[data-testid^="pipeline-open-"]').first().click()
      await page.locator('.vue-flow__node').first().waitFor()
      await shoot(page, '05-pipelines')

      await open('distillation')
      const run = page.locator('[data-testid="distill-run"][data-status="succeeded"]')
      await run.waitFor()
      await page.waitForFunction(() => {
        const charts = document.querySelector('[data-testid="distill-charts"]')
        return (
          Number(charts?.getAttribute('data-train-points')) > 5 && Number(charts?.getAttribute('data-eval-points')) >= 2
        )
      })
      await page.locator('[data-testid="distill-charts"] canvas').first().waitFor()
      await page.getByTestId('distill-result').waitFor()
      await page.getByTestId('distill-result-quantized').waitFor()
      await shoot(page, '06-distillation')

      await open('jobs')
      await page.locator('[data-testid^="job-row-"][data-status="succeeded"]').nth(4).waitFor()
      await shoot(page, '07-jobs')

      await open('export')
      await page.getByTestId('export-row-1').waitFor()
      await shoot(page, '08-export')

      await open('settings')
      await shoot(page, '09-settings')
      expect(ui.problems.filter((problem) => !/favicon/.test(problem))).toEqual([])
    })
  }, 900_000)
})
