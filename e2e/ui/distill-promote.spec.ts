/**
 * The promote form of the Distillation page's Promotions tab in a real browser against `larder serve`, over a
 * workspace with two registered tiny GGUF models, a provider, a pipeline whose "draft" node runs the base model, and
 * a template family already promoted to the provider. The operator picks "Pipeline node" with the keyboard, the
 * pipeline and its model node, the student and an override reason; the history then lists both kinds with readable
 * labels, and rolling the node's promotion back (after the confirmation) restores the base model in the pipeline.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PipelineDefinition } from '../../src/shared/pipeline-definition'
import { Backend } from '../../src/backend/backend'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { withConsole } from './console-page'

let dir = ''
let home = ''
let pipelineId = 0
const ids: Record<string, number> = {}
const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-promote-'))
  home = join(dir, 'home')
  const backend = Backend.open({ home, models: { cpuOnly: true } })
  try {
    for (const [name, seed] of [
      ['base', 1],
      ['student', 2],
    ] as const) {
      const path = join(dir, `${name}.gguf`)
      await writeTinyLlamaGguf(path, { seed })
      ids[name] = ((await backend.call('models.register', { path, name })) as { id: number }).id
    }
    await backend.call('providers.save', { name: 'remote-ft', baseUrl: 'http://127.0.0.1:9/v1', model: 'ft:x' })
    const saved = (await backend.call('pipelines.save', {
      definition: {
        format: 'larder.pipeline',
        version: 1,
        name: 'support-reply',
        nodes: [
          { id: 'input', type: 'input', config: {} },
          { id: 'draft', type: 'llm', config: { target: { model: ids.base }, prompt: 'Reply: {{input}}' } },
          { id: 'output', type: 'output', config: {} },
        ],
        edges: [
          { id: 'e1', source: 'input', target: 'draft' },
          { id: 'e2', source: 'draft', target: 'output' },
        ],
      },
    })) as { pipeline: { id: number } }
    pipelineId = saved.pipeline.id
    const { family } = (await backend.call('templates.import', {
      text: JSON.stringify({
        name: 'order-shipped',
        prompt: 'Say it shipped.',
        slots: [{ name: 'name', type: 'text', required: true }],
        generation: { target: { model: 'base' } },
      }),
    })) as { family: { id: number } }
    const { items } = (await backend.call('providers.list', {})) as { items: Array<{ id: number }> }
    await backend.call('distill.promote', {
      target: { familyId: family.id },
      providerId: items[0]!.id,
      override: 'remote fine-tune writes this family',
      actor: 'e2e',
    })
  } finally {
    await backend.close()
  }
}, 120_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function draftTarget(): Promise<unknown> {
  const backend = Backend.open({ home, models: { cpuOnly: true } })
  try {
    const { definition } = (await backend.call('pipelines.get', { id: pipelineId })) as {
      definition: PipelineDefinition
    }
    return definition.nodes.find((node) => node.id === 'draft')!.config.target
  } finally {
    await backend.close()
  }
}

describe('Distillation: promote to a pipeline node', () => {
  it('promotes a student to a pipeline node from the form and rolls it back after confirmation', async () => {
    await withConsole({ home }, async ({ serve, ui, console }) => {
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 900 })
      await console.open('distillation')
      await page.locator('.n-tabs-tab', { hasText: 'Promotions' }).click()
      await console.testId('promote-form').waitFor()

      // Keyboard: focus the target kind's first radio and move to "Pipeline node" with the arrow key.
      await console.testId('promote-kind').locator('input[type=radio]').first().focus()
      await page.keyboard.press('ArrowRight')
      await console.testId('promote-pipeline').waitFor()
      await console.testId('promote-pipeline').click()
      await page.keyboard.type('support')
      await page.keyboard.press('Enter')
      // The node picker lists only nodes that call a model; the single one is chosen already.
      await console.testId('promote-pipeline').filter({ hasText: 'support-reply (default)' }).waitFor()
      await console.testId('promote-node').filter({ hasText: 'draft · llm' }).waitFor()
      await console.testId('promote-node').click()
      await page.locator('.n-base-select-option:visible', { hasText: 'draft · llm' }).waitFor()
      await expect(page.locator('.n-base-select-option', { hasText: /· (input|output)$/ }).count()).resolves.toBe(0)
      await page.keyboard.press('Escape')
      await console.testId('promote-model').click()
      await page.locator('.n-base-select-option:visible', { hasText: 'student' }).click()
      await console.testId('promote-override').locator('input').fill('canary on the draft node')
      await page.screenshot({ path: join(shots, 'larder-promote-form.png') })
      await console.testId('promote-submit').click()
      await expect(console.testId('promote-done').innerText()).resolves.toMatch(
        /Promoted: pipeline support-reply node draft now uses student\./,
      )
      expect(await draftTarget()).toEqual({ model: ids.student, name: 'student' })

      const rows = console.testId('promotion-row')
      await expect(rows.count()).resolves.toBe(2)
      await expect(rows.nth(0).innerText()).resolves.toMatch(/pipeline support-reply node draft\s+student/)
      await expect(rows.nth(1).innerText()).resolves.toMatch(/family order-shipped\s+provider remote-ft/)
      await console.testId('distill-promotions').scrollIntoViewIfNeeded()
      await page.screenshot({ path: join(shots, 'larder-promote-history.png') })

      await rows.nth(0).getByTestId('promotion-rollback').click()
      await expect(page.locator('.n-popconfirm').innerText()).resolves.toMatch(
        /Restore the previous target of pipeline support-reply node draft\?/,
      )
      await page.locator('.n-popconfirm__action button.n-button--primary-type').click()
      await rows.nth(0).getByTestId('promotion-rollback').waitFor({ state: 'detached' })
      await expect(rows.nth(0).innerText()).resolves.toMatch(/Rolled back by console/)
      await page.screenshot({ path: join(shots, 'larder-promote-rolled-back.png') })

      // The form in Korean (per-area locale file).
      await serve.call('settings.update', { language: 'ko' })
      await console.reload()
      await console.open('distillation')
      await page.locator('.n-tabs-tab', { hasText: '승격' }).click()
      await console.testId('promote-form').filter({ hasText: '학생 모델 승격' }).waitFor()
      await console.testId('promote-kind').locator('.n-radio').nth(2).click()
      await console.testId('promote-family').waitFor()
      await page.screenshot({ path: join(shots, 'larder-promote-korean.png') })
      expect(ui.problems).toEqual([])
    })
    expect(await draftTarget()).toEqual({ model: ids.base, name: 'base' })
  }, 300_000)
})
