/**
 * The train form's third trainer in a real browser: `larder serve` trains through a fine-tuning API — its own
 * gateway, reached through a provider with a tenant key (the same path as one Larder training through another). The
 * form picks the provider, the run succeeds at the "remote", and its result card names the remote model and links
 * to the provider it registered. Screenshots: /tmp/larder-ftclient-form.png, /tmp/larder-ftclient-result.png.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ProviderConfig } from '../../src/shared/contract'
import { writeScratchStudent } from '../../src/backend/distill/student'
import { toChatJsonl, triageExamples } from '../../src/backend/distill/synthetic'
import { withConsole } from './console-page'

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-ftclient-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('Distillation page, fine-tuning API trainer', () => {
  it('picks a provider, trains at the remote and links the provider it made', async () => {
    const data = join(dir, 'triage.jsonl')
    writeFileSync(data, toChatJsonl(triageExamples(60, 5)))
    const base = join(dir, 'base.gguf')
    await writeScratchStudent(base, {
      embeddingLength: 32,
      blockCount: 1,
      headCount: 2,
      feedForwardLength: 64,
      contextLength: 256,
      seed: 3,
      name: 'base',
    })
    await withConsole({}, async ({ serve, ui, console }) => {
      const page = ui.page
      await serve.call('models.register', { path: base, name: 'base-student' })
      const { secret } = await serve.call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })
      const provider = await serve.call<ProviderConfig>('providers.save', {
        name: 'larder-remote',
        baseUrl: `${serve.url}/v1`,
        apiKey: secret,
        model: 'base-student',
      })
      await console.open('distillation')
      await console.testId('distill-trainer-api').click()
      await console.testId('distill-api-provider').click()
      await page.getByText('larder-remote (base-student)').click()
      await console.testId('distill-api-suffix').locator('input').fill('ui')
      await console.testId('distill-data').locator('input').fill(data)
      await console.testId('distill-check').click()
      await page.locator('[data-testid="distill-check-result"][data-examples="60"]').waitFor()
      await console.testId('distill-name').locator('input').fill('ui-remote')
      await console.testId('distill-epochs').locator('input').fill('1')
      await console.testId('distill-epochs').locator('input').blur()
      // The local-only parts are gone: no student, no Q8_0 copy, no trainer internals.
      expect(await console.testId('distill-student-kind').count()).toBe(0)
      expect(await console.testId('distill-quantize').count()).toBe(0)
      await page.setViewportSize({ width: 1400, height: 1600 })
      await console.testId('distill-form').screenshot({ path: '/tmp/larder-ftclient-form.png' })

      await console.testId('distill-start').click()
      await page.locator('[data-testid="distill-run"][data-status="succeeded"]').waitFor({ timeout: 300_000 })
      const link = console.testId('distill-result-provider')
      await expect(link.innerText()).resolves.toMatch(/^ft:base-student:ui:\d+$/)
      await expect(console.testId('distill-result-remote').innerText()).resolves.toMatch(/job ftjob-\d+/)
      await console.testId('distill-result').screenshot({ path: '/tmp/larder-ftclient-result.png' })
      const providers = await serve.call<{ items: ProviderConfig[] }>('providers.list', {})
      const made = providers.items.find((item) => item.name === 'ui-remote')!
      expect(made.model).toMatch(/^ft:base-student:ui:\d+$/)
      expect(made.id).not.toBe(provider.id)
      await link.click()
      await page.locator(`[data-testid="provider-row-${made.id}"].linked`).waitFor()
    })
  }, 600_000)
})
