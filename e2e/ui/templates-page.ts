/**
 * Page object for the Templates and Export pages: families, import, generation, review with the live preview,
 * versions, and the CDN export form. Selectors are data-testid only; every wait is on a condition.
 */
import type { Locator, Page } from 'playwright-core'

export class TemplatesPage {
  constructor(readonly page: Page) {}

  testId(id: string): Locator {
    return this.page.getByTestId(id)
  }

  // Families
  get root(): Locator {
    return this.testId('templates-page')
  }
  familyRow(name: string): Locator {
    return this.testId(`family-row-${name}`)
  }
  panelFor(name: string): Locator {
    return this.page.locator(`[data-testid="family-panel"][data-name="${name}"]`)
  }
  tab(name: 'review' | 'generate' | 'versions' | 'definition'): Locator {
    return this.testId(`family-tab-${name}`)
  }

  /** Pastes a family file into the import dialog and submits it; the dialog stays open on an error. */
  async importText(text: string): Promise<void> {
    if (!(await this.testId('import-dialog').isVisible())) await this.testId('templates-import').click()
    await this.testId('import-text').locator('textarea').fill(text)
    await this.testId('import-submit').click()
  }

  // Generation
  get plan(): Locator {
    return this.testId('generate-plan')
  }
  progress(status?: string): Locator {
    return this.page.locator(`[data-testid="generate-progress"]${status ? `[data-status="${status}"]` : ''}`)
  }
  result(status?: string): Locator {
    return this.page.locator(`[data-testid="generate-result"]${status ? `[data-status="${status}"]` : ''}`)
  }

  // Review
  segmentRow(key: string): Locator {
    return this.testId(`segment-row-${key}`)
  }
  async reviewSegment(key: string): Promise<void> {
    // The segment table starts folded, so the variants to review are in view first.
    if (!(await this.segmentRow(key).isVisible()))
      await this.testId('segments-collapse').locator('.n-collapse-item__header').first().click()
    await this.segmentRow(key).click()
    await this.page.locator(`[data-testid="segment-picker"][data-segment="${key}"]`).waitFor()
  }
  variant(id: number, state?: string): Locator {
    return this.page.locator(`[data-testid="variant-${id}"]${state ? `[data-state="${state}"]` : ''}`)
  }
  editorText(id: number): Locator {
    return this.testId(`variant-editor-text-${id}`).locator('textarea')
  }

  // Preview
  previewResult(status?: number): Locator {
    return this.page.locator(`[data-testid="preview-result"]${status ? `[data-status="${status}"]` : ''}`)
  }
  get previewText(): Locator {
    return this.testId('preview-text')
  }
  get previewData(): Locator {
    return this.testId('preview-data').locator('textarea')
  }
  get previewUser(): Locator {
    return this.testId('preview-user').locator('input')
  }

  // Versions
  versionRow(version: number): Locator {
    return this.testId(`version-row-${version}`)
  }
  async publish(note = ''): Promise<void> {
    if (note) await this.testId('publish-note').locator('input').fill(note)
    await this.testId('publish').click()
    await this.testId('confirm-publish').click()
  }
  /**
   * Picks an option of a Naive UI select by its label. A closing menu stays in the page while it fades out, so this
   * waits for it to go before the next select opens (or an option of the old menu could be clicked).
   */
  async choose(select: Locator, label: string): Promise<void> {
    const noMenu = () =>
      this.page.waitForFunction(() =>
        Array.from(document.querySelectorAll('.n-base-select-menu')).every(
          (menu) => menu.getClientRects().length === 0,
        ),
      )
    await noMenu()
    await select.click()
    await this.page.locator('.n-base-select-option:visible', { hasText: label }).first().click()
    await noMenu()
  }

  // Export
  get exportRoot(): Locator {
    return this.testId('export-page')
  }
  exportResult(status?: string): Locator {
    return this.page.locator(`[data-testid="export-result"]${status ? `[data-status="${status}"]` : ''}`)
  }
  exportField(name: 'out-dir' | 'since' | 'tar'): Locator {
    return this.testId(`export-${name}`).locator('input')
  }
}
