import { describe, expect, it } from 'vitest'
import { launchBrowser, startServe } from '../harness'
import { AREAS, UNBUILT_AREAS, withConsole } from './console-page'

describe('console shell', () => {
  it('loads with every area in the menu, opens on Jobs, and reports a live connection', async () => {
    await withConsole({}, async ({ ui, console }) => {
      for (const area of AREAS) await expect(console.nav(area).isVisible()).resolves.toBe(true)
      await console.testId('jobs-page').waitFor()
      expect(new URL(ui.page.url()).hash).toBe('#/jobs')
      await ui.page.locator('[data-testid="connection-state"][data-state="connected"]').waitFor()
      await expect(console.testId('product-name').innerText()).resolves.toContain('Larder')
      // The strict CSP holds: no refused scripts, styles or eval, and no other console errors.
      expect(ui.problems).toEqual([])
    })
  })

  it('says plainly that the unbuilt areas are not built yet, with no made-up data', async () => {
    await withConsole({}, async ({ ui, console }) => {
      for (const area of UNBUILT_AREAS) {
        await console.open(area)
        const panel = ui.page.locator(`[data-testid="not-built"][data-area="${area}"]`)
        await panel.waitFor()
        const text = await panel.innerText()
        expect(text).toMatch(/not built yet/i)
        expect((await console.testId('not-built-description').innerText()).length).toBeGreaterThan(60)
        // Nothing that looks like data: no tables, no progress bars.
        expect(await panel.locator('table, [data-progress]').count()).toBe(0)
      }
      expect(ui.problems).toEqual([])
    })
  })

  it('can be driven from the keyboard: a menu item opens with Enter', async () => {
    await withConsole({}, async ({ ui, console }) => {
      await console.nav('settings').focus()
      await ui.page.keyboard.press('Enter')
      await console.testId('settings-page').waitFor()
      await console.nav('cache').focus()
      await ui.page.keyboard.press(' ')
      await console.testId('cache-page').waitFor()
    })
  })

  it('tells a browser opened without the printed link how to get in', async () => {
    const serve = await startServe()
    const browser = await launchBrowser()
    try {
      const page = await browser.newPage()
      await page.goto(`${serve.url}/#/jobs`)
      await page.locator('html[data-app-state="unauthorized"]').waitFor({ timeout: 30_000 })
      const text = await page.getByTestId('unauthorized').innerText()
      expect(text).toContain('Open the link that larder serve printed in the terminal; it contains the access token')
      expect(await page.getByTestId('nav-jobs').count()).toBe(0)
    } finally {
      await browser.close()
      await serve.stop()
    }
  })
})
