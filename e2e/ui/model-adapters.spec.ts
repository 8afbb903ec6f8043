// A LoRA adapter in the models table: its row names the base it is served on, in English and Korean.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyLlamaGguf, writeTinyLoraGguf } from '../../src/backend/gguf/index'
import { withConsole } from './console-page'

process.env.LARDER_GPU = 'off'

let dir = ''
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-adapters-'))
  await writeTinyLlamaGguf(join(dir, 'tiny-base.gguf'), { seed: 7 })
  await writeTinyLoraGguf(join(dir, 'support-lora.gguf'), { seed: 5 })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('models page: LoRA adapters', () => {
  it('tags an adapter with its base', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const base = await serve.call<{ id: number }>('models.register', { path: join(dir, 'tiny-base.gguf') })
      const adapter = await serve.call<{ id: number }>('models.register', {
        path: join(dir, 'support-lora.gguf'),
        base: base.id,
      })
      await ui.page.setViewportSize({ width: 1280, height: 720 })
      await console.open('models')
      const tag = console.testId(`model-adapter-${adapter.id}`)
      await expect(tag.innerText()).resolves.toBe('LoRA on tiny-base')
      expect(await console.testId(`model-adapter-${base.id}`).count()).toBe(0)
      await ui.page.screenshot({ path: '/tmp/larder-lora-models-en.png' })
      // Its details drawer opens like any model's.
      await console.testId(`model-open-${adapter.id}`).click()
      await console.modelDrawer(false).waitFor()
      await expect(console.testId('model-architecture').innerText()).resolves.toBe('llama')
      await ui.page.screenshot({ path: '/tmp/larder-lora-drawer-en.png' })
      await ui.page.keyboard.press('Escape')
      await serve.call('settings.update', { language: 'ko' })
      await console.reload()
      await console.open('models')
      await expect(console.testId(`model-adapter-${adapter.id}`).innerText()).resolves.toBe('tiny-base 기반 LoRA')
      await ui.page.evaluate(async () => {
        await document.fonts.ready
      })
      await ui.page.screenshot({ path: '/tmp/larder-lora-models-ko.png' })
    })
  })
})
