import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { withConsole } from './console-page'

process.env.LARDER_GPU = 'off'

let dir = ''
let tinyPath = ''

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-playground-'))
  tinyPath = join(dir, 'tiny-chat.gguf')
  await writeTinyLlamaGguf(tinyPath, { seed: 3, name: 'Tiny-Chat' })
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('playground', () => {
  it('offers to load a model that is not loaded, streams a reply with tokens/s, checks the JSON schema, and unloads', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const tiny = await serve.call<{ id: number }>('models.register', { path: tinyPath })
      await console.open('playground')
      await console.testId('playground-page').waitFor()

      await console.testId('playground-target').click()
      await ui.page.locator('.n-base-select-option', { hasText: 'tiny-chat' }).click()
      await console.testId('playground-not-loaded').waitFor()
      await console.testId('playground-load').click()
      await console.testId('playground-not-loaded').waitFor({ state: 'detached' })
      const loaded = await serve.call<{ loaded: { threads: number } | null }>('models.get', { id: tiny.id })
      expect(loaded.loaded).not.toBeNull()

      // Record what the reply looked like while it was still streaming.
      await ui.page.evaluate(() => {
        const seen: number[] = []
        ;(window as unknown as { streamedLengths: number[] }).streamedLengths = seen
        new MutationObserver(() => {
          const turn = document.querySelector('[data-testid="chat-turn"][data-streaming="true"]')
          const text = turn?.querySelector('[data-testid="chat-turn-content"]')?.textContent ?? ''
          if (turn && text.length > 0) seen.push(text.length)
        }).observe(document.querySelector('[data-testid="playground-turns"]')!, {
          subtree: true,
          childList: true,
          characterData: true,
          attributes: true,
        })
      })
      await console.testId('playground-max-tokens').locator('input').fill('48')
      await console.testId('playground-seed').locator('input').fill('1')
      const input = console.testId('playground-input').locator('textarea')
      await input.fill('Once upon a time')
      // Shift+Enter breaks the line; Enter sends.
      await input.press('Shift+Enter')
      await expect(input.inputValue()).resolves.toBe('Once upon a time\n')
      await input.press('Enter')

      const reply = console.finishedReplies.first()
      await reply.locator('[data-testid="turn-stats"]').waitFor({ timeout: 30_000 })
      const tokensPerSecond = Number(
        await reply.locator('[data-testid="turn-stats"]').getAttribute('data-tokens-per-second'),
      )
      expect(tokensPerSecond).toBeGreaterThan(0)
      await expect(reply.locator('[data-testid="turn-speed"]').innerText()).resolves.toMatch(/tokens\/s/)
      expect((await reply.locator('[data-testid="chat-turn-content"]').innerText()).length).toBeGreaterThan(0)
      const streamed = await ui.page.evaluate(
        () => (window as unknown as { streamedLengths: number[] }).streamedLengths,
      )
      expect(streamed.length).toBeGreaterThan(0)

      // An invalid JSON schema is caught before anything is sent.
      await console.testId('playground-json-mode').click()
      await console.testId('playground-json-schema').locator('textarea').fill('{"type": "object",')
      await console.testId('playground-schema-error').waitFor()
      await input.fill('Tell me more')
      await input.press('Enter')
      await ui.page.getByText('Fix the JSON schema first').waitFor()
      await expect(console.finishedReplies.count()).resolves.toBe(1)
      await console.testId('playground-json-mode').click()

      // Turn two sends the conversation so far: its prompt tokens are counted (more than turn one's, never 0).
      const tokensIn = async (index: number) =>
        Number(
          await console.finishedReplies.nth(index).locator('[data-testid="turn-stats"]').getAttribute('data-tokens-in'),
        )
      await input.fill('Tell me more')
      await input.press('Enter')
      await console.finishedReplies.nth(1).locator('[data-testid="turn-stats"]').waitFor({ timeout: 30_000 })
      expect(await tokensIn(0)).toBeGreaterThan(0)
      expect(await tokensIn(1)).toBeGreaterThan(await tokensIn(0))

      // Regenerate replaces the last answer with a new one (same conversation, one more model call).
      const turns = console.testId('chat-turn')
      await expect(turns.count()).resolves.toBe(4)
      await console.finishedReplies.nth(1).locator('[data-testid="turn-regenerate"]').click()
      await ui.page
        .locator('[data-testid="chat-turn"][data-streaming="true"]')
        .waitFor({ state: 'detached', timeout: 30_000 })
      await console.finishedReplies.nth(1).locator('[data-testid="turn-stats"]').waitFor({ timeout: 30_000 })
      await expect(turns.count()).resolves.toBe(4)
      await console.finishedReplies.first().locator('[data-testid="turn-copy"]').waitFor()

      // A system prompt preset fills the box; the conversation is still there after a reload.
      await console.testId('playground-preset').click()
      await ui.page.locator('.n-base-select-option', { hasText: 'Support agent' }).click()
      await expect(console.testId('playground-system').locator('textarea').inputValue()).resolves.toMatch(
        /customer support agent/,
      )
      await console.reload()
      await console.open('playground')
      await expect(turns.count()).resolves.toBe(4)

      // Clearing asks first.
      await console.testId('playground-clear').click()
      await console.testId('confirm-clear').click()
      await console.testId('playground-empty').waitFor()

      // Unload from the Models page.
      await console.open('models')
      await console.modelRow(tiny.id, true).waitFor()
      await console.testId(`model-open-${tiny.id}`).click()
      await console.testId('model-unload').click()
      await console.modelRow(tiny.id, false).waitFor()
      expect(ui.problems).toEqual([])
    })
  }, 90_000)
})
