import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  startTemplateWriter,
  type TemplateWriter,
  type WriterRequest,
} from '../../test/fixtures/template-writer-server'
import { withConsole } from './console-page'
import { TemplatesPage } from './templates-page'

const familyText = readFileSync(join(import.meta.dirname, '../../test/data/templates/order-shipped.json'), 'utf8')

/** Two good variants per segment and one answer that is not the JSON asked for (kept as rejected). */
function script(request: WriterRequest): { template: string } | { raw: string } {
  const tag = `[${request.segment}]`
  if (request.variantNumber === 1) {
    return { template: `${tag} Hi {{name}}, your {{product}} is on its way{{#date}} and arrives {{date}}{{/date}}.` }
  }
  if (request.variantNumber === 2) return { template: `${tag} Good news, {{name}}: we sent your {{product}} today.` }
  return { raw: 'Sorry, I cannot help with that.' }
}

interface Variant {
  id: number
  state: string
  template: string
}

let writer: TemplateWriter

beforeAll(async () => {
  // Slow enough that the progress bar is seen between 0 and 100 %.
  writer = await startTemplateWriter(script, { delayMs: 250 })
})
afterAll(() => writer.close())

describe('templates', () => {
  it('imports a family, generates with progress, reviews and edits, previews as the edge does, publishes and diffs', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const page = new TemplatesPage(ui.page)
      await serve.call('providers.save', {
        name: 'template-writer',
        baseUrl: writer.baseUrl,
        model: 'writer',
        concurrency: 2,
      })
      await console.open('templates')
      await page.testId('templates-empty').waitFor()

      // Import: a syntax error is reported with its line and column, then the real file goes in.
      await page.importText('{\n  "name": "x",\n  "slots": [,]\n}')
      await expect(page.testId('import-error-message').innerText()).resolves.toContain('line 3, column 13')
      await page.importText(familyText)
      await page.familyRow('order-shipped').waitFor()
      await page.panelFor('order-shipped').waitFor()
      const familyId = Number(await page.testId('family-panel').getAttribute('data-family-id'))
      const variants = async (segmentKey: string, states?: string[]): Promise<Variant[]> =>
        (
          await serve.call<{ items: Variant[] }>('templates.variants.list', {
            familyId,
            segmentKey,
            ...(states ? { states } : {}),
          })
        ).items

      // Generate: the plan, then the job with a live progress bar and per-segment tokens and time.
      await page.tab('generate').click()
      await page.page.locator('[data-testid="generate-plan"][data-calls="12"]').waitFor()
      await page.testId('generate-start').click()
      await page.progress('running').waitFor()
      await ui.page.waitForFunction(() => {
        const bar = document.querySelector('[data-testid="generate-progress"]')
        const progress = Number(bar?.getAttribute('data-progress'))
        return bar?.getAttribute('data-status') === 'running' && progress > 0 && progress < 100
      })
      await page.result('succeeded').waitFor({ timeout: 20_000 })
      await expect(page.result().innerText()).resolves.toMatch(/8 drafts, 4 rejected/)
      await expect(ui.page.locator('[data-testid^="segment-stats-locale="]').count()).resolves.toBe(4)
      expect(writer.requests).toHaveLength(12)

      // A second run can be cancelled; what it saved is kept.
      await page.testId('generate-mode-add').click()
      await page.testId('generate-start').click()
      await page.progress('running').waitFor()
      await page.testId('generate-cancel').click()
      await page.testId('confirm-generate-cancel').click()
      await page.result('cancelled').waitFor({ timeout: 20_000 })

      // Review the formal English segment: reject with a reason, approve one.
      await page.tab('review').click()
      // At 1280x720 the first variant to review is in view without scrolling: the open family comes before the list.
      await ui.page.setViewportSize({ width: 1280, height: 720 })
      await ui.page.evaluate(() => document.querySelectorAll('*').forEach((element) => (element.scrollTop = 0)))
      const firstCard = ui.page.locator('[data-testid^="variant-"][data-state]').first()
      await firstCard.waitFor()
      const cardBox = await firstCard.boundingBox()
      await ui.page.screenshot({ path: '/tmp/larder-polish2-templates-review.png' })
      expect(cardBox!.y + 40).toBeLessThan(720)
      await page.reviewSegment('locale=en,tone=formal')
      const [first, second] = await variants('locale=en,tone=formal', ['draft'])
      const invalid = (await variants('locale=en,tone=formal', ['rejected'])).find((v) =>
        v.template.startsWith('Sorry'),
      )!
      await expect(page.testId(`variant-rejection-${invalid.id}`).innerText()).resolves.toContain(
        'not the JSON {"template": "..."}',
      )
      await page.testId(`variant-reject-${second!.id}`).click()
      await page.testId('reject-reason').locator('input').fill('Too casual for a formal tone')
      await page.testId('confirm-reject').click()
      await page.variant(second!.id, 'rejected').waitFor()
      await expect(page.testId(`variant-rejection-${second!.id}`).innerText()).resolves.toContain(
        'Too casual for a formal tone',
      )
      await page.testId(`variant-approve-${first!.id}`).click()
      await page.variant(first!.id, 'approved').waitFor()

      // The live preview renders exactly what the backend (and the edge worker) answers.
      await page.previewUser.fill('reader-42')
      await page.previewResult(200).waitFor()
      const shown = await page.previewText.innerText()
      expect(shown).toContain('Mina')
      const backend = await serve.call<{ text: string; variantId: number }>('templates.preview', {
        familyId,
        segment: { locale: 'en', tone: 'formal' },
        data: { name: 'Mina', product: 'Jasmine tea', date: 'Tuesday, March 3' },
        userId: 'reader-42',
      })
      expect(shown).toBe(backend.text)
      await expect(page.previewResult().getAttribute('data-variant')).resolves.toBe(String(backend.variantId))
      await page.page.locator(`[data-testid="variant-${backend.variantId}"][data-chosen="true"]`).waitFor()
      // Invalid JSON is caught with a clear message; missing required data without a fallback is the edge's 422.
      await page.previewData.fill('{"name": "Mina",')
      await page.testId('preview-data-error').waitFor()
      await page.previewData.fill('{"product": "Jasmine tea"}')
      await page.previewResult(422).waitFor()
      await expect(page.testId('preview-message').innerText()).resolves.toContain(
        'No value for the required slot "name"',
      )
      // The friendly segment: bulk approval, then the same data gets its fallback instead of a sentence with a gap.
      await page.reviewSegment('locale=en,tone=friendly')
      const friendly = await variants('locale=en,tone=friendly', ['draft'])
      expect(friendly).toHaveLength(2)
      await page.testId('approve-all').click()
      for (const variant of friendly) await page.variant(variant.id, 'approved').waitFor()
      await page.page.locator('[data-testid="preview-result"][data-status="200"][data-fallback="true"]').waitFor()
      await expect(page.previewText.innerText()).resolves.toBe('Your order is on its way.')

      // Publish v1 (every other segment is covered by a fallback).
      await page.tab('versions').click()
      await page.publish('first')
      await page.versionRow(1).waitFor()
      await page.page.locator('[data-testid="family-published"][data-version="1"]').waitFor()
      // Nothing changed since: Publish is disabled and says why (no 409 after a click).
      await page.page.locator('[data-testid="publish-blocked"][data-code="unchanged"]').waitFor()
      await expect(page.testId('publish').isDisabled()).resolves.toBe(true)

      // Edit an approved variant: unknown slots show before saving, the fixed text saves, and it needs approving again.
      await page.tab('review').click()
      await page.reviewSegment('locale=en,tone=formal')
      await page.testId(`variant-edit-${first!.id}`).click()
      await page.editorText(first!.id).fill('Dear {{nmae}}, your {{product}} has shipped.')
      await expect(page.testId('variant-editor-problems').innerText()).resolves.toContain('Did you mean {{name}}?')
      await expect(page.testId(`variant-save-${first!.id}`).isDisabled()).resolves.toBe(true)
      // The preview follows the unsaved text and says it cannot be used yet.
      await page.page.locator('[data-testid="preview-mode"][data-mode="draft"]').waitFor()
      await page.testId('preview-template-problems').waitFor()
      await page.editorText(first!.id).fill('Dear {{name}}, your {{product}} has shipped.')
      await page.testId(`variant-save-${first!.id}`).click()
      await page.variant(first!.id, 'draft').waitFor()
      await expect(page.testId(`variant-text-${first!.id}`).innerText()).resolves.toBe(
        'Dear {{name}}, your {{product}} has shipped.',
      )
      await page.testId(`variant-approve-${first!.id}`).click()
      await page.variant(first!.id, 'approved').waitFor()

      // Publish v2 and compare it with v1: the edited variant is the one change.
      await page.tab('versions').click()
      await page.publish()
      await page.versionRow(2).waitFor()
      await page.choose(page.testId('diff-from'), 'v1')
      await page.choose(page.testId('diff-to'), 'v2')
      await page.testId('diff-compare').click()
      const diff = page.page.locator('[data-testid="diff-result"][data-changed="1"]')
      await diff.waitFor()
      await expect(diff.getAttribute('data-added')).resolves.toBe('0')
      await expect(page.testId('diff-segment-locale=en,tone=formal').innerText()).resolves.toContain('Dear')

      // A grid that needs hundreds of calls asks first, with the backend's own numbers.
      await serve.call('templates.import', {
        text: JSON.stringify({
          name: 'big-grid',
          prompt: 'Say hello.',
          slots: [{ name: 'name', examples: ['Mina'] }],
          segments: [{ name: 'locale', values: ['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8', 'a9', 'b0'] }],
          variantsPerSegment: 50,
          generation: { target: { provider: 'template-writer' } },
        }),
      })
      await page.familyRow('big-grid').click()
      await page.panelFor('big-grid').waitFor()
      await page.tab('generate').click()
      await page.page.locator('[data-testid="generate-plan"][data-calls="550"]').waitFor()
      const asked = writer.requests.length
      await page.testId('generate-start').click()
      await ui.page.getByText('This would make 550 generation calls').waitFor()
      await page.testId('confirm-large-grid-no').click()
      expect(writer.requests.length).toBe(asked)
      await expect(page.testId('generate-job').count()).resolves.toBe(0)

      expect(ui.problems.filter((problem) => !/status of (400|409)/.test(problem))).toEqual([])
    })
  })
})

describe('template family form', () => {
  it('creates a family from the form, catching a duplicate slot before it is saved', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const page = new TemplatesPage(ui.page)
      await console.open('templates')
      await page.testId('templates-new').click()
      await page.testId('family-form').waitFor()
      // The slot editor's inputs share one line although only the name carries feedback.
      const tops = await Promise.all(
        ['slot-name-0', 'slot-type-0', 'slot-max-length-0', 'slot-escape-0'].map(
          async (id) => (await page.testId(id).boundingBox())!.y,
        ),
      )
      expect(Math.max(...tops) - Math.min(...tops)).toBeLessThan(2)
      await page.testId('family-name').locator('input').fill('welcome')
      await page.testId('family-prompt').locator('textarea').fill('Write a short welcome message.')
      // A second dimension value: two segments.
      await page.testId('dimension-values-0').locator('button.n-button--dashed').click()
      await page.testId('dimension-values-0').locator('input').fill('ko')
      await page.testId('dimension-values-0').locator('input').press('Enter')
      await ui.page.locator('[data-testid="segment-total"][data-count="2"]').waitFor()
      // A second slot named like the first is refused with its field path, before anything is sent.
      await page.testId('slot-add').click()
      await page.testId('slot-name-1').locator('input').fill('name')
      await page.testId('family-save').click()
      await expect(page.testId('family-form-issues').innerText()).resolves.toContain(
        'slots.1.name: "name" is already slot 0',
      )
      await page.testId('slot-name-1').locator('input').fill('city')
      await page.testId('slot-required-1').click()
      await page.testId('family-save').click()
      await page.familyRow('welcome').waitFor()
      await page.panelFor('welcome').waitFor()
      const { items } = await serve.call<{ items: { name: string; slotCount: number; segmentCount: number }[] }>(
        'templates.list',
      )
      expect(items).toEqual([expect.objectContaining({ name: 'welcome', slotCount: 2, segmentCount: 2 })])
      expect(ui.problems).toEqual([])
    })
  })
})
