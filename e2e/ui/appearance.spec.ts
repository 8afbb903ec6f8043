import { describe, expect, it } from 'vitest'
import { withConsole } from './console-page'

describe('appearance settings', () => {
  it('switches theme and language at once, saves them, and keeps them across a reload', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const html = ui.page.locator('html')
      await console.open('settings')
      // Headless Chromium prefers light, so "system" starts light.
      await ui.page.locator('html[data-theme="light"]').waitFor()

      await console.theme('dark').click()
      await ui.page.locator('html[data-theme="dark"]').waitFor()
      await console.chooseLanguage('ko')
      await expect(console.nav('jobs').innerText()).resolves.toBe('작업')
      await expect(console.testId('settings-page').locator('h1').innerText()).resolves.toBe('설정')

      // Saved in the workspace, not only in this page.
      await expect.poll(() => serve.call('settings.get')).toMatchObject({ theme: 'dark', language: 'ko' })

      await console.reload()
      await expect(html.getAttribute('data-theme')).resolves.toBe('dark')
      await expect(html.getAttribute('lang')).resolves.toBe('ko')
      await expect(console.theme('dark').locator('input').isChecked()).resolves.toBe(true)
      await expect(console.nav('settings').innerText()).resolves.toBe('설정')

      await console.theme('light').click()
      await console.chooseLanguage('en')
      await ui.page.locator('html[data-theme="light"]').waitFor()
      await expect(console.nav('jobs').innerText()).resolves.toBe('Jobs')
      await console.reload()
      await expect(html.getAttribute('lang')).resolves.toBe('en')
      await expect(console.theme('light').locator('input').isChecked()).resolves.toBe(true)
      expect(ui.problems).toEqual([])
    })
  })
})
