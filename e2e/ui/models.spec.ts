import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { withConsole } from './console-page'

// The backend runs models on the CPU here (the harness's `larder serve` inherits this environment).
process.env.LARDER_GPU = 'off'

interface Model {
  id: number
  name: string
  path: string
  loaded: { threads: number; gpuLayers: number } | null
}

let dir = ''
let tinyPath = ''

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-models-'))
  tinyPath = join(dir, 'tiny-e2e.gguf')
  await writeTinyLlamaGguf(tinyPath, { seed: 7, name: 'Tiny-E2E' })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('models page', () => {
  it('lists a registered model, shows its header, loads and unloads it, quantizes it with a quality report, and deletes the copy only after confirmation', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const tiny = await serve.call<Model>('models.register', { path: tinyPath })
      await console.open('models')
      await console.testId('models-page').waitFor()

      // The table lists it with its header facts; the library folder is shown for air-gapped installs.
      const row = console.modelRow(tiny.id)
      await row.waitFor()
      await expect(row.innerText()).resolves.toMatch(new RegExp(`${tiny.name}[\\s\\S]*llama`))
      await expect(console.testId(`model-problems-${tiny.id}`).getAttribute('data-count')).resolves.toBe('0')
      await expect(console.testId('models-library-dir').innerText()).resolves.toContain(serve.home)

      // The drawer summarises the header.
      await console.testId(`model-open-${tiny.id}`).click()
      await console.modelDrawer(false).waitFor()
      await expect(console.testId('model-architecture').innerText()).resolves.toBe('llama')
      await expect(console.testId('model-gguf-version').innerText()).resolves.toBe('3')
      await expect(console.testId('model-tokenizer').innerText()).resolves.toBe('llama')
      expect(Number((await console.testId('model-vocabulary').innerText()).replace(/\D/g, ''))).toBeGreaterThan(0)
      await expect(console.testId('model-chat-template').getAttribute('data-value')).resolves.toBe('false')
      expect(await console.testId('tensor-type-row').count()).toBeGreaterThan(0)
      await console.testId('model-problems').getByText('no problems found').waitFor()

      // Load on the CPU with one thread (more threads than cores is ~1000x slower on this machine).
      // The load form's inputs share one line although their hints differ in length.
      const loadTops = await Promise.all(
        ['load-context', 'load-threads', 'load-sequences'].map(
          async (id) => (await console.testId(id).boundingBox())!.y,
        ),
      )
      expect(Math.max(...loadTops) - Math.min(...loadTops)).toBeLessThan(2)
      await console.testId('load-threads').locator('input').fill('1')
      await console.testId('load-context').locator('input').fill('256')
      await console.testId('load-gpu-cpu').click()
      await console.testId('model-load').click()
      await console.modelDrawer(true).waitFor()
      await console.modelRow(tiny.id, true).waitFor()
      await expect(console.testId('model-loaded-threads').innerText()).resolves.toBe('1')
      const loaded = await serve.call<Model>('models.get', { id: tiny.id })
      expect(loaded.loaded).toMatchObject({ threads: 1, gpuLayers: 0 })

      await console.testId('model-unload').click()
      await console.modelDrawer(false).waitFor()
      await console.modelRow(tiny.id, false).waitFor()

      // Quantize to Q8_0 (picked from the grouped list, which shows bits per weight for this model): progress,
      // then the quality report from the job's result.
      await console.page.locator('[data-testid="quantize-type"][data-plan-loaded="true"]').waitFor()
      await console.testId('quantize-type').click()
      await console.page.locator('.n-base-select-option:visible', { hasText: /^Q8_0 · 8\.\d\d bits\/weight/ }).click()
      await console.testId('quantize-start').click()
      await console.testId('quantize-progress').waitFor()
      await console.testId('quality-report').waitFor({ timeout: 60_000 })
      const kl = Number(await console.testId('quality-kl').innerText())
      expect(kl).toBeGreaterThanOrEqual(0)
      expect(kl).toBeLessThan(0.05)
      await expect(console.testId('quality-top1').innerText()).resolves.toMatch(/%/)
      await expect(console.testId('quality-ratio').innerText()).resolves.toMatch(/of the original/)
      // A fuller comparison on the operator's own text runs as a job and reports the same way.
      await console
        .testId('compare-text')
        .locator('textarea')
        .fill('The quick brown fox jumps over the lazy dog. '.repeat(8))
      await console.testId('compare-start').click()
      await console.testId('compare-report').locator('[data-testid="quality-kl"]').waitFor({ timeout: 60_000 })
      const { items } = await serve.call<{ items: Model[] }>('models.list')
      const quantized = items.find((model) => model.name === `${tiny.name}-Q8_0`)
      expect(quantized).toBeDefined()
      await console.modelRow(quantized!.id).waitFor()

      // Deleting the quantized file asks first and says what goes; saying no keeps everything.
      await ui.page.keyboard.press('Escape')
      await console.modelDrawer().waitFor({ state: 'hidden' })
      // The report outlives the drawer: kept on the quantized model, its verdict is in the table and its drawer
      // says what the numbers mean.
      await expect(console.testId(`model-quality-${quantized!.id}`).getAttribute('data-level')).resolves.toMatch(
        /excellent|good|noticeable|large/,
      )
      await console.testId(`model-name-${quantized!.id}`).click()
      const kept = console.testId('model-quality')
      await kept.locator('li[data-code="top1"]').waitFor()
      await expect(kept.locator('li[data-code="top1"]').innerText()).resolves.toMatch(/Top-1 agreement/)
      await expect(console.testId('model-quality-measured').innerText()).resolves.toMatch(/your text/)
      await kept.scrollIntoViewIfNeeded()
      await kept.screenshot({ path: '/tmp/dayone-model-quality.png' })
      await ui.page.keyboard.press('Escape')
      await console.modelDrawer().waitFor({ state: 'hidden' })
      await console.testId(`model-remove-${quantized!.id}`).click()
      await console.testId('remove-model-dialog').waitFor()
      await console.testId('remove-model-cancel').click()
      await console.testId('remove-model-dialog').waitFor({ state: 'hidden' })
      expect(existsSync(quantized!.path)).toBe(true)
      await console.testId(`model-remove-${quantized!.id}`).click()
      await console.testId('remove-mode-delete').click()
      await expect(console.testId('remove-model-dialog').innerText()).resolves.toContain(quantized!.path)
      await console.testId('remove-model-confirm').click()
      await console.modelRow(quantized!.id).waitFor({ state: 'detached' })
      expect(existsSync(quantized!.path)).toBe(false)
      expect(existsSync(tinyPath)).toBe(true)
      expect(ui.problems).toEqual([])
    })
  }, 120_000)
})
