import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { withConsole } from './console-page'

process.env.LARDER_GPU = 'off'

let dir = ''
let widePath = ''

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-quantization-'))
  // 256 wide, so the k-quant mixtures apply rather than falling back.
  widePath = join(dir, 'wide-e2e.gguf')
  await writeTinyLlamaGguf(widePath, { seed: 9, embeddingLength: 256, feedForwardLength: 512, name: 'Wide-E2E' })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('models page: k-quant types and the comparison across types', () => {
  it('offers the types grouped by size with bits per weight, says how to get an importance matrix, and compares Q8_0 / Q6_K / Q5_K_M / Q4_K_M / Q3_K_M in one table and one chart', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const wide = await serve.call<{ id: number; name: string }>('models.register', { path: widePath })
      await console.open('models')
      await console.testId(`model-open-${wide.id}`).click()
      await console.modelDrawer(false).waitFor()

      // The picker: groups by size and quality, each type with what it gives for this model.
      await console.page.locator('[data-testid="quantize-type"][data-plan-loaded="true"]').waitFor()
      await console.testId('quantize-type').click()
      const menu = console.page.locator('.n-base-select-menu:visible')
      await menu.waitFor()
      await expect(menu.innerText()).resolves.toMatch(/Near lossless[\s\S]*Balanced[\s\S]*Compact[\s\S]*Smallest/)
      await expect(menu.innerText()).resolves.toMatch(
        /Q4_K_M · 4\.\d\d bits\/weight · [\d.]+ [kM]B · recommended default/,
      )
      await expect(
        console.page.locator('.n-base-select-option--disabled', { hasText: 'Q2_K_S' }).count(),
      ).resolves.toBe(1)
      await ui.page.screenshot({ path: '/tmp/larder-quantize-types.png' })
      await console.page.keyboard.press('Escape')
      await expect(console.testId('imatrix-note').innerText()).resolves.toMatch(
        /node-llama-cpp does not expose.*llama-imatrix/s,
      )

      // The comparison: five types by default, one row each, sizes falling, and the chart.
      await console.testId('sweep-empty').waitFor()
      await console.testId('sweep-start').click()
      await console.testId('sweep-table').waitFor({ timeout: 240_000 })
      const rows = console.testId('sweep-table').locator('tbody tr')
      await expect(rows.count()).resolves.toBe(5)
      await expect(rows.first().innerText()).resolves.toMatch(/^Q8_0/)
      await expect(rows.last().innerText()).resolves.toMatch(/^Q3_K_M/)
      await console.page.locator('[data-testid="sweep-chart"][data-points="5"] canvas').waitFor()
      await console.testId('sweep-metric-top1').click()
      await console.testId('type-comparison').scrollIntoViewIfNeeded()
      await ui.page.screenshot({ path: '/tmp/larder-quantize-comparison.png', fullPage: true })

      // The comparison outlives a reload (the job's result, found again for this model).
      await console.reload()
      await console.open('models')
      await console.testId(`model-open-${wide.id}`).click()
      await console.testId('sweep-table').waitFor()
      await expect(console.testId('sweep-table').locator('tbody tr').count()).resolves.toBe(5)
    })
  }, 360_000)
})
