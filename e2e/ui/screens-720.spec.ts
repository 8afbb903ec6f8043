/**
 * Every page at 1280x720, light and dark, on the quick demo workspace: PNGs under $LARDER_SCREENSHOTS (default
 * /tmp/larder-screens) for a person to look at. Runs only with LARDER_SCREENS=1 (it builds a demo workspace first);
 * LARDER_DEMO_HOME=<workspace> reuses one. LARDER_LANGUAGE=ko shoots the Korean console.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AREAS, withConsole } from './console-page'

const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp/larder-screens'
const language = process.env.LARDER_LANGUAGE === 'ko' ? 'ko' : 'en'

describe.runIf(process.env.LARDER_SCREENS === '1')('screens at 1280x720', () => {
  it('shoots every page in light and dark', async () => {
    const home = process.env.LARDER_DEMO_HOME
    await withConsole(home ? { home } : {}, async ({ serve, ui, console }) => {
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 720 })
      mkdirSync(shots, { recursive: true })
      if (!home) {
        const { job } = await serve.call<{ job: { id: number } }>('demo.load', { quick: true })
        await console.open('jobs')
        await page.locator(`[data-testid="job-row-${job.id}"][data-status="succeeded"]`).waitFor({ timeout: 900_000 })
      }
      for (const theme of ['light', 'dark'] as const) {
        await serve.call('settings.update', { theme, language })
        await console.reload()
        for (const area of AREAS) {
          await console.open(area)
          await page.waitForLoadState('networkidle')
          await page.screenshot({ path: join(shots, `${language}-${theme}-${area}.png`) })
        }
        await console.open('cache')
        for (const tab of ['analytics', 'plan', 'log'] as const) {
          await console.cacheTab(tab).click()
          await page.waitForLoadState('networkidle')
          await page.screenshot({ path: join(shots, `${language}-${theme}-cache-${tab}.png`) })
        }
      }
      expect(ui.problems.filter((problem) => !/favicon/.test(problem))).toEqual([])
    })
  }, 1_200_000)
})
