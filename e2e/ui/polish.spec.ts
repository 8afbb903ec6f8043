/**
 * Console polish at 1280x720 (issue 11): dense tables whose last columns stay in view and whose header stays put
 * while the rows scroll, no "Please Input" placeholders, and request-log rows that open into a drawer with the
 * request as keyed, the parameters, the key hash, the reason and the entry that answered.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Locator } from 'playwright-core'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { startFakeEndpoint } from '../../test/fixtures/openai-server'
import { withConsole } from './console-page'
import { PipelinesPage } from './pipelines-page'

let dir = ''
let tinyPath = ''
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-polish-'))
  tinyPath = join(dir, 'tiny-polish.gguf')
  await writeTinyLlamaGguf(tinyPath, { seed: 3, name: 'Tiny-Polish' })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const VIEWPORT = { width: 1280, height: 720 }

async function box(locator: Locator): Promise<{ x: number; y: number; width: number; height: number }> {
  const found = await locator.boundingBox()
  if (!found) throw new Error('not rendered')
  return found
}

describe('console polish at 1280x720', () => {
  it('dense tables keep their last columns and header in view; log rows open into a drawer', async () => {
    const upstream = await startFakeEndpoint({ name: 'upstream' })
    try {
      await withConsole({}, async ({ serve, ui, console }) => {
        const page = ui.page
        await page.setViewportSize(VIEWPORT)
        await serve.call('providers.save', { name: 'upstream', baseUrl: upstream.baseUrl, model: 'm' })
        const { secret } = await serve.call<{ secret: string }>('gateway.keys.create', { tenant: 'default' })
        const ask = async (content: string, extra: Record<string, unknown> = {}) => {
          const response = await fetch(`${serve.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'upstream', messages: [{ role: 'user', content }], ...extra }),
          })
          await response.text()
        }
        for (let i = 0; i < 20; i++) await ask(`Question number ${i}: where is my parcel today?`)
        await ask('What are the opening hours?', { max_tokens: 40 })

        // Models: the actions column is in view at 1280 px.
        const model = await serve.call<{ id: number }>('models.register', { path: tinyPath })
        await console.open('models')
        const remove = console.testId(`model-remove-${model.id}`)
        await remove.waitFor()
        const removeBox = await box(remove)
        expect(removeBox.x + removeBox.width).toBeLessThanOrEqual(VIEWPORT.width)
        await expect(page.getByText('Please Input').count()).resolves.toBe(0)

        // Cache entries: the Updated column is in view, many rows fit, the header stays while the rows scroll.
        await console.open('cache')
        await console.entryRows.nth(19).waitFor()
        const table = console.testId('entries-table')
        const updated = table.locator('th', { hasText: 'Updated' })
        const updatedBox = await box(updated)
        expect(updatedBox.x + updatedBox.width).toBeLessThanOrEqual(VIEWPORT.width)
        const rowBoxes = await Promise.all((await console.entryRows.all()).map((row) => row.boundingBox()))
        const fitting = rowBoxes.filter((row) => row && row.y >= 0 && row.y + row.height <= VIEWPORT.height).length
        await page.screenshot({ path: '/tmp/larder-polish-cache-entries-720.png' })
        expect(fitting).toBeGreaterThanOrEqual(6)
        await table.locator('.n-data-table-base-table-body').first().hover()
        const headerBefore = await box(table.locator('thead').first())
        await page.mouse.wheel(0, 400)
        await page.waitForFunction(
          () => (document.querySelector('[data-testid="entries-table"] .n-scrollbar-container')?.scrollTop ?? 0) > 100,
        )
        expect((await box(table.locator('thead').first())).y).toBe(headerBefore.y)
        expect(await table.locator('.n-data-table-resize-button').count()).toBeGreaterThan(3)
        await page.screenshot({ path: '/tmp/larder-polish-cache-entries-720.png' })

        // Request log: a row opens into a drawer with the request, parameters, key hash, reason and entry.
        await console.cacheTab('log').click()
        const row = page.locator('[data-testid^="log-row-"]').first()
        await row.waitFor()
        await row.click()
        const drawer = console.testId('log-drawer')
        await drawer.waitFor()
        await console.testId('log-drawer-request').waitFor()
        await expect(console.testId('log-drawer-request').innerText()).resolves.toContain('What are the opening hours?')
        await expect(console.testId('log-drawer-params').innerText()).resolves.toBe('max_tokens 40')
        await expect(console.testId('log-drawer-reason').getAttribute('data-reason')).resolves.toBe('no-entry')
        await expect(console.testId('log-drawer-key').innerText()).resolves.toMatch(/^[0-9a-f]{16,}$/)
        await expect(console.testId('log-drawer-response').innerText()).resolves.toContain(
          'What are the opening hours?',
        )
        await drawer.screenshot({ path: '/tmp/larder-polish-log-drawer.png' })
        await console.testId('log-drawer-open-entry').click()
        await console.testId('entry-drawer').waitFor()
        await page.keyboard.press('Escape')
        await console.testId('entry-drawer').waitFor({ state: 'hidden' })
        await drawer.locator('.n-base-close').click()
        await drawer.waitFor({ state: 'hidden' })

        // Jobs: each links to what it made, a failure shows its error in the list, no duplicate status caption.
        const { items: namespaces } = await serve.call<{ items: { id: number }[] }>('cache.namespaces.list')
        const failed = await serve.call<{ job: { id: number } }>('cache.log.import', {
          namespaceId: namespaces[0]!.id,
          path: dir,
          format: 'jsonl',
        })
        const quantized = await serve.call<{ job: { id: number } }>('gguf.quantize', {
          id: model.id,
          type: 'Q8_0',
          evaluate: false,
        })
        await console.open('jobs')
        await console.jobRow(failed.job.id, 'failed').waitFor()
        await expect(console.testId(`job-error-${failed.job.id}`).innerText()).resolves.toMatch(/\S/)
        await console.jobRow(quantized.job.id, 'succeeded').waitFor({ timeout: 120_000 })
        const link = console.testId(`job-link-${quantized.job.id}`)
        await expect(link.getAttribute('data-kind')).resolves.toBe('model')
        await expect(console.jobRow(quantized.job.id).innerText()).resolves.not.toMatch(/Succeeded[\s\S]*Succeeded/)
        await page.screenshot({ path: '/tmp/larder-polish-jobs-720.png' })
        await link.click()
        await page.locator('[data-testid="nav-models"][aria-current="page"]').waitFor()
        await expect(console.testId('model-drawer-name').innerText()).resolves.toBe('tiny-polish-Q8_0')
        expect(ui.problems.filter((problem) => !/favicon/.test(problem))).toEqual([])
      })
    } finally {
      await upstream.close()
    }
  }, 240_000)

  it('the wheel over the pipeline canvas scrolls the page; Ctrl+wheel zooms the canvas', async () => {
    await withConsole({}, async ({ ui, console }) => {
      const page = ui.page
      await page.setViewportSize(VIEWPORT)
      await console.open('pipelines')
      const pipelines = new PipelinesPage(page)
      await pipelines.create('wheel-check')
      const viewport = page.locator('.vue-flow__transformationpane')
      await viewport.waitFor()
      const transform = () => viewport.evaluate((element) => (element as HTMLElement).style.transform)
      const before = await transform()
      expect(before).toMatch(/scale/)
      const canvasBox = await box(pipelines.canvas)
      await page.mouse.move(canvasBox.x + canvasBox.width / 2, canvasBox.y + canvasBox.height / 2)
      const scroller = page.locator('.n-layout-content .n-scrollbar-container').first()
      const scrolledBefore = await scroller.evaluate((element) => element.scrollTop)
      await page.mouse.wheel(0, 200)
      await page.waitForFunction(
        (start) => (document.querySelector('.n-layout-content .n-scrollbar-container')?.scrollTop ?? 0) > start,
        scrolledBefore,
      )
      expect(await transform()).toBe(before)
      const moved = await box(pipelines.canvas)
      await page.mouse.move(moved.x + moved.width / 2, Math.max(moved.y, 0) + 60)
      await page.keyboard.down('Control')
      await page.mouse.wheel(0, 300)
      await page.keyboard.up('Control')
      await page.waitForFunction(
        (start) => (document.querySelector('.vue-flow__transformationpane') as HTMLElement).style.transform !== start,
        before,
      )
    })
  })
})
