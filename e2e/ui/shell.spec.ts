import { describe, expect, it } from 'vitest'
import { launchBrowser, startServe } from '../harness'
import { AREAS, withConsole } from './console-page'

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

  it('has no placeholder pages left: every area opens its own page', async () => {
    await withConsole({}, async ({ ui, console }) => {
      for (const area of AREAS) {
        await console.open(area)
        await console.testId(`${area}-page`).waitFor()
        expect(await ui.page.locator('[data-testid="not-built"]').count()).toBe(0)
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
