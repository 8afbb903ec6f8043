/**
 * The promote form of the Distillation page's Promotions tab in a real browser against `larder serve`, over a
 * workspace with two registered tiny GGUF models, a real evaluation of one against the other (its gate passes), a
 * provider, a pipeline whose "draft" node runs the base model, and a template family already promoted to the
 * provider. From the report's "Promote…" the operator picks "Pipeline node" with the keyboard, the pipeline and its
 * model node; the student passed the gate, so no override is needed. The history then lists both kinds with readable
 * labels, and rolling the node's promotion back (after the confirmation) restores the base model in the pipeline.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Job } from '../../src/shared/contract'
import type { PipelineDefinition } from '../../src/shared/pipeline-definition'
import { Backend } from '../../src/backend/backend'
import { writeTinyLlamaGguf } from '../../src/backend/gguf/index'
import { toChatJsonl, triageExamples } from '../../src/backend/distill/synthetic'
import { withConsole } from './console-page'

let dir = ''
let home = ''
let pipelineId = 0
const ids: Record<string, number> = {}
const shots = process.env.LARDER_SCREENSHOTS ?? '/tmp'

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-promote-'))
  home = join(dir, 'home')
  const backend = Backend.open({ home, models: { cpuOnly: true } }).start()
  try {
    for (const [name, seed] of [
      ['base', 1],
      ['student', 2],
    ] as const) {
      const path = join(dir, `${name}.gguf`)
      await writeTinyLlamaGguf(path, { seed })
      ids[name] = ((await backend.call('models.register', { path, name })) as { id: number }).id
    }
    // A real (cheap) evaluation of the untrained student against the base model, with a gate of no thresholds: the
    // student's verdict passes, so the form promotes it from the report without an override.
    const data = join(dir, 'eval.jsonl')
    writeFileSync(data, toChatJsonl(triageExamples(2, 5)))
    const started = (await backend.call('distill.eval', {
      data,
      teacher: { model: ids.base },
      students: [{ modelId: ids.student }],
      maxTokens: 4,
      contextSize: 256,
    })) as { job: Job }
    expect((await backend.runner.waitFor(started.job.id)).error).toBeNull()
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
      // From the report: "Promote…" on the student's row opens the Promotions tab with the student and the report.
      await page.locator('.n-tabs-tab', { hasText: 'Evaluations' }).click()
      await console.testId('report-promote').scrollIntoViewIfNeeded()
      await page.screenshot({ path: join(shots, 'larder-promote-report.png') })
      await console.testId('report-promote').click()
      await console.testId('promote-form').waitFor()
      await console.testId('promote-model').filter({ hasText: 'student' }).waitFor()
      await console.testId('promote-evaluation').filter({ hasText: 'Report 1' }).waitFor()

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
      await page.locator('.n-base-select-menu').first().waitFor({ state: 'hidden' })
      await page.screenshot({ path: join(shots, 'larder-promote-form.png') })
      await console.testId('promote-submit').click()
      await expect(console.testId('promote-done').innerText()).resolves.toMatch(
        /Promoted: pipeline support-reply node draft now uses student\./,
      )
      expect(await draftTarget()).toEqual({ model: ids.student, name: 'student' })

      const rows = console.testId('promotion-row')
      await expect(rows.count()).resolves.toBe(2)
      await expect(rows.nth(0).innerText()).resolves.toMatch(
        /pipeline support-reply node draft\s+student\s+Passed \(report 1\)/,
      )
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
