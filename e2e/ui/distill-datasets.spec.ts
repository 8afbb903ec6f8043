/**
 * The Distillation page's Datasets tab in a real browser against `larder serve`: a dataset imported from a file with
 * a broken line (reported by number) and answered by a real OpenAI-compatible teacher on 127.0.0.1; the review table
 * searches, approves two examples in bulk and edits one (the diff shows the teacher's answer); the approved examples
 * freeze into a version whose card and export appear. A 1280x720 screenshot is saved for a person to look at.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Dataset, Job, SourceSummary } from '../../src/shared/contract'
import { startFakeEndpoint, type FakeEndpoint } from '../../test/fixtures/openai-server'
import { withConsole } from './console-page'

let dir = ''
let teacher: FakeEndpoint
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-datasets-'))
  teacher = await startFakeEndpoint({ name: 'teacher' })
})
afterAll(async () => {
  await teacher.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('Distillation datasets tab', () => {
  it('shows sources, reviews in bulk, edits with a diff, freezes a version and exports it', async () => {
    const file = join(dir, 'prompts.jsonl')
    const prompts = ['Where is order 1042?', 'Cancel order 77 please', 'Refund for order 310', 'Order 5 arrived broken']
    writeFileSync(
      file,
      [...prompts.map((content) => JSON.stringify({ messages: [{ role: 'user', content }] })), '{broken'].join('\n'),
    )
    await withConsole({}, async ({ serve, ui, console }) => {
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 720 })
      const provider = await serve.call<{ id: number }>('providers.save', {
        name: 'teacher',
        baseUrl: teacher.baseUrl,
        model: 'm',
        concurrency: 2,
      })
      const dataset = await serve.call<Dataset>('distill.datasets.create', { name: 'orders' })
      const summary = await serve.call<SourceSummary>('distill.datasets.addSource', {
        datasetId: dataset.id,
        source: { kind: 'file', path: file },
      })
      expect(summary.problems[0]!.line).toBe(5)
      const { job } = await serve.call<{ job: Job }>('distill.teach', {
        datasetId: dataset.id,
        teachers: [{ provider: provider.id }],
        topLogprobs: 4,
      })
      for (let tries = 0; tries < 300; tries++) {
        const current = await serve.call<Job>('jobs.get', { id: job.id })
        if (current.status === 'succeeded') break
        expect(['queued', 'running']).toContain(current.status)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }

      await console.open('distillation')
      await page.locator('.n-tabs-tab', { hasText: 'Datasets' }).click()
      await console.testId('datasets-tab').waitFor()
      await expect(console.testId('dataset-counts').innerText()).resolves.toMatch(
        /4 examples · 4 answered · 0 approved/,
      )
      await page.screenshot({ path: '/tmp/larder-dsdata-datasets-top.png' })
      const rows = page.locator('[data-testid="review-table"] tbody tr')
      await expect.poll(() => rows.count()).toBe(4)

      // Search narrows the table; bulk approve two rows.
      await console.testId('review-search').locator('input').fill('order 77')
      await console.testId('review-search').locator('input').press('Enter')
      await expect.poll(() => rows.count()).toBe(1)
      await console.testId('review-search').locator('input').fill('')
      await console.testId('review-search').locator('input').press('Enter')
      await expect.poll(() => rows.count()).toBe(4)
      await rows.nth(0).locator('.n-checkbox').click()
      await rows.nth(1).locator('.n-checkbox').click()
      await console.testId('review-approve').click()
      await expect.poll(() => console.testId('dataset-counts').innerText()).toMatch(/2 approved/)

      // Edit an answer: the table shows the new one and, struck through, the teacher's.
      await rows.nth(0).getByRole('button', { name: 'Edit' }).click()
      await rows.nth(0).locator('textarea').fill('Order 1042 ships tomorrow.')
      await rows.nth(0).getByRole('button', { name: 'Save' }).click()
      await expect.poll(() => rows.nth(0).locator('del').count()).toBe(1)

      await console.testId('version-freeze').click()
      await console.testId('version-card').first().waitFor()
      await expect(console.testId('version-card').first().innerText()).resolves.toMatch(/v1[\s\S]*teacher/)
      await console.testId('version-export').first().click()
      await expect(console.testId('version-exported').innerText()).resolves.toMatch(/Wrote 2 examples/)
      await page.screenshot({ path: '/tmp/larder-dsdata-datasets-tab.png' })
    })
  }, 180_000)
})
