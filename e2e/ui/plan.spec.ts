import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeEndpoint, type FakeEndpoint } from '../../test/fixtures/openai-server'
import { drawTraffic, phrasedQuestion, writeLog, type LogLine } from '../../test/fixtures/traffic'
import type { ServeHandle } from '../harness'
import { withConsole } from './console-page'

// The Planning tab against the built `larder serve`: a log imported, the plan's curves, the semantic what-if after
// embedding, "pre-warm these" and "approve these N drafts", then real gateway traffic (HTTP to the served /v1, misses
// answered by a real OpenAI-compatible server on 127.0.0.1) and the projected-vs-realised chart, before and after
// the tail moves. Screenshots go to /tmp/larder-plan-*.png.
let dir = ''
let upstream: FakeEndpoint

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-plan-'))
  // Wide bag-of-words embeddings, so different questions rarely collide and paraphrases stay close.
  upstream = await startFakeEndpoint({ name: 'upstream', embeddingDims: 1024 })
})
afterAll(async () => {
  await upstream.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Job {
  id: number
  status: string
  error: string | null
}

async function finished(serve: ServeHandle, job: Job): Promise<Job> {
  for (let current = job; ;) {
    if (!['queued', 'running'].includes(current.status)) return current
    await new Promise((resolve) => setTimeout(resolve, 50))
    current = await serve.call<Job>('jobs.get', { id: job.id })
  }
}

/** The whole Planning tab in one picture: a window as tall as the page's content, then back. */
async function screenshot(page: Page, path: string): Promise<void> {
  const height = await page.getByTestId('plan-tab').evaluate((element) => element.getBoundingClientRect().height)
  await page.setViewportSize({ width: 1280, height: Math.ceil(height) + 360 })
  await page.getByTestId('plan-tab').screenshot({ path })
  await page.setViewportSize({ width: 1280, height: 800 })
}

async function send(serve: ServeHandle, secret: string, lines: LogLine[]): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < lines.length) {
      const line = lines[next++]!
      const response = await fetch(`${serve.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'x-larder-namespace': 'faq' },
        body: JSON.stringify({ model: line.model, messages: line.messages, temperature: line.temperature }),
      })
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker))
}

describe('planning tab', () => {
  it('shows in-sample vs held-out curves, what-ifs, the budget actions, and projected vs realised with drift', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const provider = await serve.call<{ id: number }>('providers.save', {
        name: 'upstream',
        baseUrl: upstream.baseUrl,
        model: 'm',
        concurrency: 8,
      })
      const { namespace } = await serve.call<{ namespace: { id: number } }>('cache.namespaces.save', {
        tenant: 'acme',
        name: 'faq',
        storeAs: 'none',
        // Approved only: the drafts the plan pre-warms become servable when approved.
        serveDrafts: false,
        generationTarget: { provider: provider.id },
        embedder: { provider: provider.id },
      })
      const traffic = { questions: 400, model: 'upstream', days: 30, text: phrasedQuestion }
      const log = writeLog(join(dir, 'log.jsonl'), drawTraffic({ ...traffic, requests: 6000, seed: 1 }))
      const imported = await serve.call<{ job: Job }>('cache.log.import', { namespaceId: namespace.id, path: log })
      expect((await finished(serve, imported.job)).status).toBe('succeeded')

      await console.open('cache')
      await console.page.locator(`[data-testid="namespace-summary"][data-namespace-id="${namespace.id}"]`).waitFor()
      await console.cacheTab('plan').click()
      const tab = console.page.locator('[data-testid="plan-tab"][data-mode="held-out"]')
      await tab.waitFor()
      const curve = console.page.locator('[data-testid="plan-curve"][data-held-out="yes"]')
      await curve.locator('canvas').waitFor()
      const entries = Number(await tab.getAttribute('data-target-entries'))
      expect(entries).toBeGreaterThan(0)
      await expect(console.testId('plan-target-text').innerText()).resolves.toMatch(
        new RegExp(`Top ${entries.toLocaleString('en-US')} entries reach 9\\d(\\.\\d)?%`),
      )
      await console.testId('plan-realised-none').waitFor()
      await console.testId('plan-note-no-prices').waitFor()

      // The semantic what-if needs the log embedded first: a job with a progress bar.
      await console.page.locator('[data-testid="plan-semantic"][data-status="needs-embedding"]').waitFor()
      await console.testId('plan-embed').click()
      await console.page.locator('[data-testid="plan-semantic"][data-status="ready"]').waitFor()
      await console.testId('plan-sweep').locator('canvas').waitFor()

      // Pre-warm the planned requests, then approve the drafts in one action (with a confirmation).
      await console.page.locator(`[data-testid="plan-budget"][data-missing="${entries}"]`).waitFor()
      await console.testId('plan-prewarm').click()
      await console.page.locator('[data-testid="plan-prewarm-result"]').waitFor()
      await console.page.locator(`[data-testid="plan-budget"][data-drafts="${entries}"]`).waitFor()
      await console.testId('plan-approve').click()
      await console.page.getByRole('button', { name: 'Approve', exact: true }).click()
      await console.page.locator('[data-testid="plan-budget"][data-drafts="0"][data-missing="0"]').waitFor()
      await screenshot(ui.page, '/tmp/larder-plan-1-curves.png')
      await console.testId('plan-curve').screenshot({ path: '/tmp/larder-plan-0-curve.png' })

      // Today's traffic through the gateway; the plan compares it with the projection for what was approved.
      const { secret } = await serve.call<{ secret: string }>('gateway.keys.create', { tenant: 'acme' })
      await send(serve, secret, drawTraffic({ ...traffic, requests: 1500, seed: 2 }))
      await console.cacheTab('analytics').click()
      await console.cacheTab('plan').click()
      const realised = console.page.locator('[data-testid="plan-realised"][data-days="1"]')
      await realised.waitFor()
      await console.testId('plan-realised-chart').locator('canvas').waitFor()
      await console.page.locator('[data-testid="plan-drift"][data-drift="no"]').waitFor()
      await screenshot(ui.page, '/tmp/larder-plan-2-realised.png')

      // The tail moves: requests the log never saw. The day now drifts, and the new misses are named.
      const outage = Array.from({ length: 900 }, (_, i) => ({
        model: 'upstream',
        messages: [{ role: 'user' as const, content: `Is the outage in region ${i % 3} over?` }],
        temperature: 0,
      }))
      await send(serve, secret, outage)
      await console.cacheTab('analytics').click()
      await console.cacheTab('plan').click()
      await console.page.locator('[data-testid="plan-drift"][data-drift="yes"]').waitFor()
      await expect(console.testId('plan-new-misses').innerText()).resolves.toContain('Is the outage in region')
      await screenshot(ui.page, '/tmp/larder-plan-3-drift.png')
      await console.testId('plan-realised').screenshot({ path: '/tmp/larder-plan-4-realised-card.png' })

      // The inputs are keyboard-friendly: a new target re-plans, and the budget follows.
      const target = console.testId('plan-target').locator('input')
      await target.fill('80')
      await target.press('Enter')
      const expected = await serve.call<{ target: { entries: number } }>('cache.plan', {
        namespaceId: namespace.id,
        target: 0.8,
      })
      await console.page.locator(`[data-testid="plan-tab"][data-target-entries="${expected.target.entries}"]`).waitFor()
      await expect(console.testId('plan-budget').getAttribute('data-missing')).resolves.toBe('0')
      expect(ui.problems).toEqual([])
    })
  }, 120_000)
})
