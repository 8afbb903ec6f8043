/**
 * The Pipelines page in a real browser against the built `larder serve`: a person builds draft → judge → revise from
 * the palette by dragging and connecting, picks models in the side panel, saves, runs it and reads the trace (each
 * node's tokens and time); then exports the JSON, imports it under another name, and diffs and restores versions.
 * Models are two OpenAI-compatible test servers on 127.0.0.1 (one drafts, one reviews with a fixed score).
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFakeEndpoint, type FakeEndpoint } from '../../test/fixtures/openai-server'
import { withConsole } from './console-page'
import { PipelinesPage } from './pipelines-page'

let drafter: FakeEndpoint
let reviewer: FakeEndpoint

beforeAll(async () => {
  // The drafter is a little slow, so that the canvas can be seen showing a node as running.
  drafter = await startFakeEndpoint({ name: 'drafter', delayMs: 400 })
  reviewer = await startFakeEndpoint({ name: 'reviewer', judgeScore: 8 })
})

afterAll(async () => {
  await drafter?.close()
  await reviewer?.close()
})

describe('Pipelines page', () => {
  it('builds, runs, traces, exports, imports, diffs and restores a pipeline', async () => {
    await withConsole({}, async ({ serve, ui, console: shell }) => {
      const drafterId = (
        await serve.call<{ id: number }>('providers.save', { name: 'drafter', baseUrl: drafter.baseUrl, model: 'd' })
      ).id
      const reviewerId = (
        await serve.call<{ id: number }>('providers.save', { name: 'reviewer', baseUrl: reviewer.baseUrl, model: 'r' })
      ).id
      const page = ui.page
      const p = new PipelinesPage(page)

      await shell.open('pipelines')
      await p.root.waitFor()
      await p.create('support-reply')
      await p.waitVersion(1)
      expect((await p.nodeIds()).sort()).toEqual(['input', 'output'])

      // Build draft -> judge -> revise from the palette.
      expect(await p.dropNode('llm', { x: 0.3, y: 0.2 })).toBe('llm')
      await p.renameSelected('draft')
      await p.chooseTarget(`provider-${drafterId}`)
      expect(await p.dropNode('judge', { x: 0.5, y: 0.75 })).toBe('judge')
      await p.chooseTarget(`provider-${reviewerId}`)
      await p.setNumber('node-threshold', 9)
      expect(await p.dropNode('reflect', { x: 0.7, y: 0.2 })).toBe('revise')
      await p.chooseTarget(`provider-${reviewerId}`)
      await p.setNumber('node-threshold', 9)
      await p.setNumber('node-max-iterations', 2)
      // Unconnected inputs are problems on the canvas, and Run says why it is disabled.
      await page.locator('[data-testid="node-revise"][data-problems="1"]').waitFor()
      await p.tab('run')
      await expect.poll(() => p.testId('run-button').isDisabled()).toBe(true)

      await p.connect(['input', 'out'], ['draft', 'in'])
      await p.connect(['draft', 'out'], ['judge', 'in'])
      await p.connect(['judge', 'fail'], ['revise', 'in'])
      await p.connect(['judge', 'pass'], ['output', 'in'])
      await p.connect(['revise', 'out'], ['output', 'in'])
      await p.waitProblems(0)
      expect(await page.locator('.vue-flow__edge').count()).toBe(5)

      // Copy, paste, delete and undo on the canvas.
      await p.select('draft')
      await page.keyboard.press('Control+c')
      await page.keyboard.press('Control+v')
      await p.node('draft_2').waitFor()
      await page.keyboard.press('Delete')
      await p.node('draft_2').waitFor({ state: 'detached' })
      await page.keyboard.press('Control+z')
      await p.node('draft_2').waitFor()
      await page.keyboard.press('Control+z')
      await p.node('draft_2').waitFor({ state: 'detached' })
      await p.waitProblems(0)

      await p.save('draft, judge and revise')
      await p.waitVersion(2)

      // Run: nodes light up as they run, then the output shows.
      await p.testId('run-input').locator('textarea').fill('Where is my order #123?')
      await p.testId('run-button').click()
      await p.nodeWithStatus('draft', 'running').waitFor()
      await p.runStatus('succeeded').waitFor()
      for (const id of ['input', 'draft', 'judge', 'revise', 'output'])
        await p.nodeWithStatus(id, 'succeeded').waitFor()
      expect(await p.testId('run-output').textContent()).toContain('reviewer says')
      // judge.pass was not taken: its edge is not on the path; input -> draft -> judge -> revise -> output is.
      await expect.poll(() => page.locator('.vue-flow__edge.edge--path').count()).toBe(4)

      // The trace: every node with its tokens and time; the loop's rounds and its warning.
      await p.testId('run-open-trace').click()
      await p.testId('trace-viewer').waitFor()
      for (const id of ['draft', 'judge', 'revise']) {
        const row = p.traceNode(id)
        expect(Number(await row.getAttribute('data-tokens-in'))).toBeGreaterThan(0)
        expect(Number(await row.getAttribute('data-tokens-out'))).toBeGreaterThan(0)
        expect(await row.getByTestId('trace-node-tokens').textContent()).toMatch(/\d+ in · \d+ out/)
        expect(await row.getByTestId('trace-node-ms').textContent()).toMatch(/\d+ ms/)
      }
      expect(Number(await p.traceNode('draft').getAttribute('data-duration-ms'))).toBeGreaterThanOrEqual(400)
      await p.traceNode('revise').click()
      await p.page.locator('[data-testid="trace-detail"][data-node-id="revise"]').waitFor()
      expect(await p.testId('trace-warning').textContent()).toContain('Stopped after 2 iteration(s)')
      expect(await p.page.getByTestId('trace-iteration').count()).toBe(2)
      expect(await p.page.getByTestId('trace-call').count()).toBe(3)
      // Each call's prompt as sent, one per call, folded until opened.
      expect(await p.page.getByTestId('trace-prompt').count()).toBe(3)
      await p.page.getByTestId('trace-prompt').last().locator('.n-collapse-item__header').click()
      await expect.poll(() => p.page.getByTestId('trace-prompt').last().innerText()).toMatch(/user[\s\S]*\S/)
      await p.page.screenshot({ path: '/tmp/larder-polish2-trace-prompt.png', fullPage: true })

      // The ledger counts the calls per node.
      await p.tab('ledger')
      await p.testId('ledger-node-revise').waitFor()
      expect(await p.testId('ledger-node-draft').textContent()).toContain('1')

      // Export the JSON.
      const [download] = await Promise.all([page.waitForEvent('download'), p.testId('editor-export').click()])
      const exported = readFileSync((await download.path())!, 'utf8')
      const definition = JSON.parse(exported) as { format: string; version: number; name: string; nodes: unknown[] }
      expect(definition).toMatchObject({ format: 'larder.pipeline', version: 1, name: 'support-reply' })
      expect(definition.nodes).toHaveLength(5)

      // Import: a wrong version is refused with the backend's reason; the export imports under another name.
      await p.testId('editor-back').click()
      await p.row('support-reply').waitFor()
      await p.testId('pipelines-import').click()
      await p
        .testId('import-text')
        .locator('textarea')
        .fill(JSON.stringify({ ...definition, version: 2 }))
      await p.testId('import-submit').click()
      expect(await p.testId('import-error').textContent()).toContain('format version 2')
      await p.testId('import-file').setInputFiles({
        name: 'support-reply.pipeline.json',
        mimeType: 'application/json',
        buffer: Buffer.from(exported),
      })
      await p.testId('import-name').locator('input').fill('support-reply-copy')
      await p.testId('import-submit').click()
      await p.editorFor('support-reply-copy').waitFor()
      await p.waitVersion(1)
      await p.waitProblems(0)

      // A second version of the copy, then diff the two and restore the first.
      await p.select('judge')
      await p.setNumber('node-threshold', 8)
      await p.save('lower the bar')
      await p.waitVersion(2)
      await p.testId('editor-versions').click()
      await p.versionPick(1).click()
      await p.versionPick(2).click()
      await p.testId('versions-compare').click()
      const change = p.testId('diff-node-judge').getByTestId('diff-change')
      await change.waitFor()
      expect((await change.textContent())?.replace(/\s+/g, '')).toContain('config.threshold9→8')
      await p.testId('version-restore-1').click()
      await p.testId('confirm-restore-version').click()
      await p.waitVersion(3)
      await p.testId('version-row-3').waitFor()
      await page.keyboard.press('Escape')
      await p.testId('versions-drawer').waitFor({ state: 'detached' })
      await p.select('judge')
      expect(await p.testId('node-threshold').locator('input').inputValue()).toBe('9')

      // Both pipelines are listed with their versions and last run.
      await p.testId('editor-back').click()
      await p.page.locator('[data-testid^="pipeline-last-run-"][data-status="succeeded"]').waitFor()
      expect(await p.row('support-reply-copy').textContent()).toContain('v3')
      // The refused import is a 400 the browser logs; nothing else may have gone wrong.
      expect(ui.problems.filter((problem) => !/status of 400/.test(problem))).toEqual([])
    })
  })
})
