import { describe, expect, it } from 'vitest'
import { withConsole } from './console-page'

/** A few tens of megabytes copied in small, spaced steps: slow enough to watch, quick enough for a test. */
const PREFILL_MB = 24
const WATCHABLE = { pagesPerStep: 64, stepDelayMs: 40 }
const SLOW = { pagesPerStep: 16, stepDelayMs: 200 }

describe('jobs page', () => {
  it("shows a backup job's progress live, and its log growing in the drawer", async () => {
    await withConsole({ prefillMegabytes: PREFILL_MB }, async ({ serve, ui, console }) => {
      await console.testId('jobs-page').waitFor()
      const id = await console.startBackup(WATCHABLE)

      // The row appears without a reload (job.updated inserts it at the top of page 1) and its bar moves.
      await console.jobRow(id).waitFor()
      const first = await console.waitForProgress(id, 1, 80)
      const later = await console.waitForProgress(id, first + 1, 100)
      expect(later).toBeGreaterThan(first)

      // Open the log while the copy is still running: lines written after opening must arrive live.
      await console.jobLogsButton(id).click()
      await console.logsDrawer.waitFor()
      await console.logLines.filter({ hasText: 'Copying' }).first().waitFor()
      await console.logLines.filter({ hasText: 'Backup verified' }).first().waitFor({ timeout: 40_000 })
      await console.jobRow(id, 'succeeded').waitFor()
      await expect(console.progressOf(id)).resolves.toBe(100)
      const result = await console.testId('job-logs-result').innerText()
      expect(result).toContain('"integrity": "ok"')

      // What the page shows is what the backend has.
      const logs = await serve.call<{ items: { seq: number }[] }>('jobs.logs', { id })
      await expect(console.logLines.count()).resolves.toBe(logs.items.length)
      expect(ui.problems).toEqual([])
    })
  })

  it('cancels a running job only after confirmation', async () => {
    await withConsole({ prefillMegabytes: PREFILL_MB }, async ({ serve, ui, console }) => {
      await console.testId('jobs-page').waitFor()
      const id = await console.startBackup(SLOW)
      await console.jobRow(id, 'running').waitFor()
      await console.waitForProgress(id, 1, 99)

      // Saying no leaves it running.
      await console.jobCancel(id).click()
      await console.declineCancel.click()
      await console.confirmCancel.waitFor({ state: 'hidden' })
      await expect(serve.call<{ status: string }>('jobs.get', { id })).resolves.toMatchObject({ status: 'running' })

      await console.jobCancel(id).click()
      await console.confirmCancel.click()
      await console.jobRow(id, 'cancelled').waitFor()
      await expect(console.jobCancel(id).count()).resolves.toBe(0)
      await expect(serve.call('jobs.get', { id })).resolves.toMatchObject({ status: 'cancelled' })

      // The status filter narrows the table to the chosen statuses, on the server.
      const done = await console.startBackup()
      await console.jobRow(done, 'succeeded').waitFor()
      await console.testId('jobs-status-filter').click()
      await ui.page.locator('.n-base-select-option', { hasText: 'Cancelled' }).click()
      await console.jobRow(done).waitFor({ state: 'detached' })
      await console.jobRow(id, 'cancelled').waitFor()
      expect(ui.problems).toEqual([])
    })
  })
})
