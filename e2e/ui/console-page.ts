/**
 * Page object for the console: every selector the UI specs use, in one place. Specs select by data-testid and
 * wait on conditions (attribute selectors, waitForFunction), never on fixed delays.
 */
import type { Locator, Page } from 'playwright-core'
import { openConsole, startServe, type ConsoleHandle, type ServeHandle, type ServeOptions } from '../harness'

export const AREAS = [
  'models',
  'playground',
  'cache',
  'templates',
  'pipelines',
  'distillation',
  'jobs',
  'export',
  'settings',
] as const
export type Area = (typeof AREAS)[number]

export interface Pacing {
  pagesPerStep: number
  stepDelayMs: number
}

export class ConsolePage {
  constructor(readonly page: Page) {}

  testId(id: string): Locator {
    return this.page.getByTestId(id)
  }

  async waitReady(): Promise<void> {
    await this.page.locator('html[data-app-state="ready"]').waitFor()
  }

  async reload(): Promise<void> {
    await this.page.reload()
    await this.waitReady()
  }

  nav(area: Area): Locator {
    return this.testId(`nav-${area}`)
  }

  async open(area: Area): Promise<void> {
    await this.nav(area).click()
    await this.page.locator(`[data-testid="nav-${area}"][aria-current="page"]`).waitFor()
  }

  // Jobs page
  jobRow(id: number, status?: string): Locator {
    return this.page.locator(`[data-testid="job-row-${id}"]${status ? `[data-status="${status}"]` : ''}`)
  }
  jobCancel(id: number): Locator {
    return this.testId(`job-cancel-${id}`)
  }
  jobLogsButton(id: number): Locator {
    return this.testId(`job-logs-${id}`)
  }
  get confirmCancel(): Locator {
    return this.testId('confirm-cancel')
  }
  get declineCancel(): Locator {
    return this.testId('confirm-cancel-no')
  }
  get logsDrawer(): Locator {
    return this.testId('job-logs')
  }
  get logLines(): Locator {
    return this.testId('job-log-line')
  }

  /** The percentage a job's progress bar shows (its data-progress attribute). */
  async progressOf(id: number): Promise<number> {
    return Number(await this.testId(`job-progress-${id}`).getAttribute('data-progress'))
  }

  /** Waits until a job's bar shows a percentage within [min, max]; returns the percentage it showed. */
  async waitForProgress(id: number, min: number, max: number, timeout = 30_000): Promise<number> {
    const handle = await this.page.waitForFunction(
      ([jobId, low, high]) => {
        const value = document.querySelector(`[data-testid="job-progress-${jobId}"]`)?.getAttribute('data-progress')
        const p = value === null || value === undefined ? NaN : Number(value)
        return p >= low && p <= high ? p : false
      },
      [id, min, max] as const,
      { timeout },
    )
    return (await handle.jsonValue()) as number
  }

  /** Starts a backup with the given pacing through the console's own session, as a script in the page would. */
  async startBackup(pacing?: Pacing): Promise<number> {
    return this.page.evaluate(async (pacing) => {
      const response = await fetch('/api/backup.create', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        credentials: 'same-origin',
        body: JSON.stringify(pacing ? { pacing } : {}),
      })
      const body = (await response.json()) as {
        ok: boolean
        result: { job: { id: number } }
        error?: { message: string }
      }
      if (!body.ok) throw new Error(body.error?.message)
      return body.result.job.id
    }, pacing)
  }

  // Models page and Playground
  modelRow(id: number, loaded?: boolean): Locator {
    return this.page.locator(
      `[data-testid="model-row-${id}"]${loaded === undefined ? '' : `[data-loaded="${loaded}"]`}`,
    )
  }
  modelDrawer(loaded?: boolean): Locator {
    return this.page.locator(`[data-testid="model-drawer"]${loaded === undefined ? '' : `[data-loaded="${loaded}"]`}`)
  }
  /** The assistant's finished replies in the Playground (streaming over, stats shown). */
  get finishedReplies(): Locator {
    return this.page.locator('[data-testid="chat-turn"][data-role="assistant"][data-streaming="false"]')
  }

  // Cache page
  cacheTab(name: 'entries' | 'analytics' | 'plan' | 'log' | 'transfer' | 'gateway'): Locator {
    return this.testId(`cache-tab-${name}`)
  }
  entryRow(id: number, state?: string): Locator {
    return this.page.locator(`[data-testid="entry-row-${id}"]${state ? `[data-state="${state}"]` : ''}`)
  }
  get entryRows(): Locator {
    return this.page.locator('[data-testid^="entry-row-"]')
  }

  // Settings page
  theme(value: 'system' | 'light' | 'dark'): Locator {
    return this.testId(`theme-${value}`)
  }
  async chooseLanguage(value: 'en' | 'ko'): Promise<void> {
    await this.testId('language-select').click()
    await this.testId(`language-option-${value}`).click()
    await this.page.locator(`html[lang="${value}"]`).waitFor()
  }
  get backupNow(): Locator {
    return this.testId('backup-now')
  }
  backupResult(status?: string): Locator {
    return this.page.locator(`[data-testid="backup-result"]${status ? `[data-status="${status}"]` : ''}`)
  }
  restoreResult(status?: string): Locator {
    return this.page.locator(`[data-testid="restore-result"]${status ? `[data-status="${status}"]` : ''}`)
  }
  backupRows(prefix = ''): Locator {
    return this.page.locator(`[data-testid^="backup-row-${prefix}"]`)
  }
  restoreButton(name: string): Locator {
    return this.testId(`restore-${name}`)
  }
  get confirmRestore(): Locator {
    return this.testId('confirm-restore')
  }
}

export interface ConsoleFixture {
  serve: ServeHandle
  ui: ConsoleHandle
  console: ConsolePage
}

/** A fresh workspace, its `larder serve`, and a signed-in console; all torn down after `body`, even on failure. */
export async function withConsole(
  options: ServeOptions,
  body: (fixture: ConsoleFixture) => Promise<void>,
): Promise<void> {
  const serve = await startServe(options)
  let ui: ConsoleHandle | undefined
  try {
    ui = await openConsole(serve.loginUrl)
    ui.page.setDefaultTimeout(30_000)
    await body({ serve, ui, console: new ConsolePage(ui.page) })
  } finally {
    await ui?.close()
    await serve.stop()
  }
}
