// The Export page's Deploy step in a real browser against a real S3 protocol server (s3rver on 127.0.0.1): a target
// saved with its keys (stored encrypted), a dry-run plan, a deploy with progress and verification, the deployments
// view with the live version, and a rollback in one write.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withConsole } from './console-page'

let dir = ''
let server: S3rver
let endpoint = ''

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-deploy-'))
  server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: join(dir, 's3'),
    configureBuckets: [{ name: 'edge', configs: [] }],
  })
  endpoint = `http://127.0.0.1:${(await server.run()).port}`
})
afterAll(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('Deploy step', () => {
  it('plans, deploys with progress and verification, lists deployments and rolls back', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const { namespace } = await serve.call<{ namespace: { id: number } }>('cache.namespaces.save', {
        name: 'support',
      })
      const bundles: string[] = []
      for (const [index, question] of ['Where is my order?', 'Can I return it?'].entries()) {
        await serve.call('cache.entries.create', {
          namespaceId: namespace.id,
          request: { model: 'upstream', prompt: question },
          answer: `Answer ${index + 1}.`,
          state: 'approved',
        })
        const outDir = join(dir, `bundle-${index + 1}`)
        const { job } = await serve.call<{ job: { id: number } }>('export.cdn', { outDir, tenant: 'default' })
        for (;;) {
          const current = await serve.call<{ status: string }>('jobs.get', { id: job.id })
          if (current.status === 'succeeded') break
          expect(['queued', 'running']).toContain(current.status)
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
        bundles.push(outDir)
      }
      const page = ui.page
      await page.setViewportSize({ width: 1280, height: 720 })
      await console.open('export')
      await page.locator('[data-testid="deploy-step"]').waitFor()
      const field = (id: string) => page.locator(`[data-testid="${id}"] input`).first()

      await field('deploy-bundle').fill(bundles[0]!)
      await field('deploy-to').fill('s3://edge/prod')
      await field('deploy-endpoint').fill(endpoint)
      await page.locator('[data-testid="deploy-step"] details summary').click()
      await field('deploy-save-name').fill('local-s3')
      await field('deploy-access-key').fill('S3RVER')
      await field('deploy-secret').fill('S3RVER')
      await page.locator('[data-testid="deploy-save"]').click()
      await expect(page.locator('[data-testid="deploy-notice"]').innerText()).resolves.toContain('local-s3')

      await page.locator('[data-testid="deploy-plan"]').click()
      await page.locator('[data-testid="deploy-plan-view"]').waitFor()
      await expect(page.locator('[data-testid="deploy-plan-view"]').innerText()).resolves.toMatch(
        /Nothing is live at this target yet[\s\S]*Write manifest.json \(version 1\): the switch/,
      )
      await page.locator('[data-testid="deploy-start"]').click()
      await page.locator('[data-testid="deploy-job"][data-status="succeeded"]').waitFor({ timeout: 60_000 })
      await expect(page.locator('[data-testid="deploy-result"]').innerText()).resolves.toMatch(
        /Deployed version 1[\s\S]*Verified/,
      )

      await field('deploy-bundle').fill(bundles[1]!)
      await page.locator('[data-testid="deploy-plan"]').click()
      await page.locator('[data-testid="deploy-plan-view"]', { hasText: 'Live now: version 1' }).waitFor()
      await page.locator('[data-testid="deploy-start"]').click()
      await page.locator('[data-testid="deploy-result"]').filter({ hasText: 'Deployed version 2' }).waitFor()
      const deployments = page.locator('[data-testid="deployments"]')
      await deployments.locator('tr', { hasText: 'v2' }).filter({ hasText: 'live' }).waitFor()
      await expect(deployments.innerText()).resolves.toMatch(/v2: \+\d+ \/ -\d+ objects/)
      await page.locator('[data-testid="deploy-step"]').scrollIntoViewIfNeeded()
      await page.screenshot({ path: '/tmp/larder-deploy-step.png' })
      await deployments.scrollIntoViewIfNeeded()
      await page.screenshot({ path: '/tmp/larder-deploy-deployments.png' })

      await deployments.locator('[data-testid^="deploy-rollback-"]').click()
      await expect(page.locator('[data-testid="deploy-notice"]').innerText()).resolves.toMatch(
        /version 1 is live again \(one write\)/,
      )
      await deployments.locator('tr', { hasText: 'rollback' }).filter({ hasText: 'live' }).waitFor()
      const { items } = await serve.call<{ items: { action: string; version: number; live: boolean }[] }>(
        'export.deployments',
        {},
      )
      expect(items.map((item) => [item.action, item.version, item.live])).toEqual([
        ['rollback', 1, true],
        ['deploy', 2, false],
        ['deploy', 1, false],
      ])
    })
  }, 240_000)
})
