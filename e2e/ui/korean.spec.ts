/**
 * The console in Korean, in a real browser: every page in light and dark at 1280x720, with no leftover English UI
 * words, backend messages (a job's title and log) translated from their message keys, and the bundled Noto Sans KR
 * face loaded (the test machines have no CJK system font, so Hangul renders only through it). Screenshots go to
 * $LARDER_SCREENSHOTS (default /tmp/larder-korean) to look at. LARDER_DEMO_HOME=<a workspace made by `larder demo`>
 * runs the same checks on a workspace with data on every page.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { AREAS, withConsole } from './console-page'

const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp/larder-korean'
const existingHome = process.env.LARDER_DEMO_HOME

/**
 * English UI words that must not appear on a Korean page (whole words, case-sensitive). Names the operator chose,
 * model files and technical terms (CDN, JSON, GGUF, Q8_0) are not in the list.
 */
const LEFTOVER_ENGLISH = [
  'Models',
  'Playground',
  'Templates',
  'Pipelines',
  'Distillation',
  'Jobs',
  'Settings',
  'Please Input',
  'Please Select',
  'No Data',
  'Cancel',
  'Save',
  'Delete',
  'Refresh',
  'Loading',
  'Status',
  'Created',
  'Updated',
  'Started.',
  'Finished.',
  'Back up workspace',
  'Quantize model',
  'Generate template variants',
  'Run pipeline',
  'is not a slot',
  'Too similar',
  'Cancelled',
  'Succeeded',
  'Failed',
  'Running',
  'Queued',
]

function leftovers(text: string): string[] {
  return LEFTOVER_ENGLISH.filter((word) =>
    new RegExp(`(^|[^A-Za-z])${word.replace('.', '\\.')}($|[^A-Za-z])`).test(text),
  )
}

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(shots, { recursive: true })
  // The Hangul slices of the font load when text first needs them; shoot once they have.
  await page.evaluate(async () => {
    await document.fonts.ready
  })
  await page.screenshot({ path: join(shots, `${name}.png`) })
}

/** Whether the bundled Noto Sans KR face for Hangul has been fetched and is in use. */
async function koreanFaceLoaded(page: Page): Promise<{ loaded: number; check: boolean }> {
  return page.evaluate(async () => {
    await document.fonts.ready
    const faces = [...document.fonts].filter((face) => face.family.replace(/"/g, '') === 'Noto Sans KR')
    return {
      loaded: faces.filter((face) => face.status === 'loaded').length,
      check: document.fonts.check('16px "Noto Sans KR"', '작업'),
    }
  })
}

describe('the console in Korean', () => {
  it('translates every page and backend messages, and renders Hangul with the bundled font', async () => {
    await withConsole(existingHome ? { home: existingHome } : {}, async ({ serve, ui, console }) => {
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 720 })
      await serve.call('settings.update', { language: 'ko', theme: 'light' })
      const { job } = await serve.call<{ job: { id: number } }>('backup.create', {})
      await console.reload()
      await expect(page.locator('html').getAttribute('lang')).resolves.toBe('ko')

      // A backend message: the job's title and log lines come from message keys, in Korean.
      await console.open('jobs')
      await console.jobRow(job.id, 'succeeded').waitFor({ timeout: 120_000 })
      const title = await console.testId(`job-title-${job.id}`).innerText()
      expect(title).toMatch(/^워크스페이스를 .+\(으\)로 백업$/)
      await console.jobLogsButton(job.id).click()
      await console.logLines.nth(1).waitFor()
      const lines = await console.logLines.allInnerTexts()
      expect(lines.join('\n')).toContain('시작했습니다.')
      expect(lines.join('\n')).toContain('완료했습니다.')
      await shoot(page, 'ko-light-jobs-logs')
      await page.keyboard.press('Escape')
      await console.logsDrawer.waitFor({ state: 'hidden' })

      for (const theme of ['light', 'dark'] as const) {
        await serve.call('settings.update', { theme })
        await console.reload()
        await page.locator(`html[data-theme="${theme}"]`).waitFor()
        for (const area of AREAS) {
          await console.open(area)
          await page.getByTestId(`${area}-page`).waitFor()
          // Pages fetch their data after mounting: read them once no table shows its loading overlay.
          await page.waitForFunction(() => document.querySelectorAll('.n-data-table-loading-wrapper').length === 0)
          const text = await page.locator('body').innerText()
          expect(leftovers(text), `${theme} ${area}`).toEqual([])
          expect(text, `${theme} ${area}`).toMatch(/[가-힣]/)
          await shoot(page, `ko-${theme}-${area}`)
        }
      }

      // Built-in pipeline ports show Korean labels; the port's own name stays in its tooltip.
      const starters = await serve.call<{ items: { key: string; definition: unknown }[] }>('pipelines.starters', {})
      const judge = starters.items.find((starter) => starter.key === 'draft-judge-revise')!
      const { pipeline } = await serve.call<{ pipeline: { id: number } }>('pipelines.save', {
        definition: { ...(judge.definition as object), name: 'ko-ports' },
      })
      await console.open('pipelines')
      await page.getByTestId(`pipeline-open-${pipeline.id}`).click()
      await page.locator('.pnode__port-name[title="out"]').first().waitFor()
      const ports = await page
        .locator('.pnode__port-name')
        .evaluateAll((spans) => spans.map((span) => ({ name: span.getAttribute('title'), label: span.textContent })))
      const korean: Record<string, string> = { in: '입력', out: '출력', pass: '통과', fail: '실패', score: '점수' }
      expect(ports.length).toBeGreaterThan(2)
      for (const port of ports)
        if (port.name! in korean) expect(port.label?.trim(), port.name!).toBe(korean[port.name!])
      await shoot(page, 'ko-dark-pipeline-editor')

      const font = await koreanFaceLoaded(page)
      expect(font.loaded).toBeGreaterThan(0)
      expect(font.check).toBe(true)
      expect(ui.problems).toEqual([])
    })
  }, 600_000)
})
