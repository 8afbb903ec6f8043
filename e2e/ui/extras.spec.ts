import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { startFakeEndpoint, type FakeEndpoint } from '../../test/fixtures/openai-server'
import { withConsole } from './console-page'

process.env.LARDER_GPU = 'off'

let dir = ''
let tinyPath = ''
let endpoint: FakeEndpoint

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-extras-'))
  tinyPath = join(dir, 'tiny-chat.gguf')
  // Wider than the default tiny model, so a reply takes seconds (about 170 tokens/s on one thread) and Stop lands
  // mid-stream; with seed 1 it does not end early on its own.
  await writeTinyLlamaGguf(tinyPath, {
    seed: 3,
    name: 'Tiny-Chat',
    embeddingLength: 512,
    feedForwardLength: 1536,
    blockCount: 8,
    contextLength: 4096,
    weightType: 'F16',
  })
  endpoint = await startFakeEndpoint({ name: 'fake-vllm' })
})
afterAll(async () => {
  await endpoint.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('console extras', () => {
  it('stops a streaming reply in the Playground, keeping what was generated', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const tiny = await serve.call<{ id: number }>('models.register', { path: tinyPath })
      await serve.call('models.load', { id: tiny.id, threads: 1, contextSize: 4096 })
      await console.open('playground')
      await console.testId('playground-target').click()
      await ui.page.locator('.n-base-select-option', { hasText: 'tiny-chat' }).click()
      // Long enough that the reply is still streaming when Stop is pressed.
      await console.testId('playground-max-tokens').locator('input').fill('1500')
      await console.testId('playground-seed').locator('input').fill('1')
      const input = console.testId('playground-input').locator('textarea')
      await input.fill('Once upon a time')
      await input.press('Enter')
      await ui.page.waitForFunction(() => {
        const turn = document.querySelector('[data-testid="chat-turn"][data-streaming="true"]')
        return (turn?.querySelector('[data-testid="chat-turn-content"]')?.textContent ?? '').length > 0
      })
      await console.testId('playground-stop').click()
      const reply = console.finishedReplies.first()
      const stats = reply.locator('[data-testid="turn-stats"][data-finish-reason="aborted"]')
      await stats.waitFor()
      await expect(stats.innerText()).resolves.toContain('aborted')
      expect((await reply.locator('[data-testid="chat-turn-content"]').innerText()).length).toBeGreaterThan(0)
      // Stopped well before the limit, and the composer is ready again.
      const tokensOut = Number(/(\d+) out/.exec(await stats.innerText())?.[1] ?? '0')
      expect(tokensOut).toBeGreaterThan(0)
      expect(tokensOut).toBeLessThan(1500)
      await console.testId('playground-send').waitFor()
      expect(ui.problems).toEqual([])
    })
  }, 60_000)

  it('tests provider connections, keeps cost estimates across a reload, shows money saved, and fits the Jobs table', async () => {
    await withConsole({ prefillMegabytes: 24 }, async ({ serve, ui, console }) => {
      const good = await serve.call<{ id: number }>('providers.save', {
        name: 'fake-vllm',
        baseUrl: endpoint.baseUrl,
        model: 'fake',
      })
      const broken = await serve.call<{ id: number }>('providers.save', {
        name: 'broken',
        baseUrl: 'http://127.0.0.1:9/v1',
        model: 'nothing',
      })

      // Test connection: ok shows success, a dead endpoint shows its error.
      await console.open('models')
      await console.testId(`provider-test-${good.id}`).click()
      await ui.page.locator(`[data-testid="provider-test-result-${good.id}"][data-ok="true"]`).waitFor()
      await ui.page.getByText('fake-vllm answered').waitFor()
      await console.testId(`provider-test-${broken.id}`).click()
      await ui.page.locator(`[data-testid="provider-test-result-${broken.id}"][data-ok="false"]`).waitFor()
      await ui.page.getByText('broken did not answer').waitFor()

      // Cost estimates are saved in the settings and survive a reload.
      await console.open('settings')
      const card = console.testId('pricing-card')
      await card.waitFor()
      await console.testId('pricing-input').locator('input').fill('0.5')
      await console.testId('pricing-output').locator('input').fill('1.5')
      await console.testId('pricing-currency').locator('input').fill('EUR')
      await console.testId('pricing-save').click()
      await ui.page.getByText('Saved the prices.').waitFor()
      await console.reload()
      await card.waitFor()
      await expect(console.testId('pricing-input').locator('input').inputValue()).resolves.toBe('0.5')
      await expect(console.testId('pricing-output').locator('input').inputValue()).resolves.toBe('1.5')
      await expect(console.testId('pricing-currency').locator('input').inputValue()).resolves.toBe('EUR')
      const settings = await serve.call<{ pricing: unknown }>('settings.get')
      expect(settings.pricing).toEqual({ inputPer1kTokens: 0.5, outputPer1kTokens: 1.5, currency: 'EUR' })

      // The Cache analytics show what the hits saved and the misses cost, in that currency, at today's prices applied
      // to the logged token counts (gateway log rows as the gateway writes them; the stored estimate, from when the row
      // was written, does not count).
      const { namespace } = await serve.call<{ namespace: { id: number } }>('cache.namespaces.save', {
        name: 'support',
      })
      const db = new Database(join(serve.home, 'larder.db'))
      const insert = db.prepare(
        `INSERT INTO request_log (at, namespace_id, key_hash, prompt_text, hit_kind, latency_ms, tokens_in, tokens_out,
           cost_estimate, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'gateway')`,
      )
      for (let i = 0; i < 4; i++) {
        insert.run(
          new Date().toISOString(),
          namespace.id,
          'k1',
          'hello',
          i === 0 ? 'miss' : 'hit-exact',
          5,
          10,
          20,
          0.25,
        )
      }
      db.close()
      await console.open('cache')
      await console.cacheTab('analytics').click()
      // Per request 10 tokens in at 0.5 and 20 out at 1.5 per 1,000: 0.035; three hits saved 0.105.
      await expect(console.testId('analytics-cost-saved').innerText()).resolves.toMatch(/€\s?0\.105|0\.105\s?€/)
      await expect(console.testId('analytics-cost-spent').innerText()).resolves.toMatch(/€\s?0\.035|0\.035\s?€/)
      await expect(console.testId('analytics-priced').innerText()).resolves.toMatch(/€0\.50 per 1,000 tokens in/)

      // Jobs at 1280 x 800: Cancel and Logs of a running job are inside the window.
      const jobId = await console.startBackup({ pagesPerStep: 1, stepDelayMs: 20 })
      await console.open('jobs')
      await console.jobCancel(jobId).waitFor()
      for (const button of [console.jobCancel(jobId), console.jobLogsButton(jobId)]) {
        const box = await button.boundingBox()
        expect(box).not.toBeNull()
        expect(box!.x + box!.width).toBeLessThanOrEqual(1280 - 16)
      }
      await console.jobCancel(jobId).click()
      await console.confirmCancel.click()
      await console.jobRow(jobId, 'cancelled').waitFor()
      expect(ui.problems).toEqual([])
    })
  }, 60_000)
})
