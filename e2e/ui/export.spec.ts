import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withConsole } from './console-page'
import { TemplatesPage } from './templates-page'

const familyText = readFileSync(join(import.meta.dirname, '../../test/data/templates/order-shipped.json'), 'utf8')

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'larder-e2e-export-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('CDN export', () => {
  it('exports a bundle with progress and a summary, refuses a non-empty folder, and exports incrementally', async () => {
    await withConsole({}, async ({ serve, ui, console }) => {
      const page = new TemplatesPage(ui.page)
      // A published family and an approved cache entry, made through the API as a script would.
      const { family } = await serve.call<{ family: { id: number; segments: { key: string }[] } }>('templates.import', {
        text: familyText,
      })
      for (const segment of family.segments) {
        await serve.call('templates.variants.add', {
          familyId: family.id,
          segmentKey: segment.key,
          template: `Hi {{name}}, your {{product}} has shipped (${segment.key}).`,
        })
      }
      await serve.call('templates.variants.approve', { familyId: family.id, all: true })
      await serve.call('templates.publish', { familyId: family.id })
      const { namespace } = await serve.call<{ namespace: { id: number } }>('cache.namespaces.save', {
        name: 'support',
      })
      await serve.call('cache.entries.create', {
        namespaceId: namespace.id,
        request: { model: 'upstream', prompt: 'Where is my order?' },
        answer: 'It ships tomorrow.',
        state: 'approved',
      })

      await console.open('export')
      await page.exportRoot.waitFor()
      await ui.page.locator('[data-testid="export-plan"][data-families="1"][data-entries="1"]').waitFor()
      // One tenant in the workspace: it is chosen, and shown (a bundle carries one tenant's cache).
      await expect(page.testId('export-tenant').innerText()).resolves.toContain('default')
      await ui.page.screenshot({ path: '/tmp/hardening-export-tenant.png', fullPage: true })

      // A full export with a .tar.gz beside it.
      const bundle = join(dir, 'bundle')
      const tar = join(dir, 'bundle.tar.gz')
      await page.exportField('out-dir').fill(bundle)
      await page.exportField('tar').fill(tar)
      await page.testId('export-start').click()
      await page.exportResult('succeeded').waitFor()
      await ui.page.locator('[data-testid="export-progress"][data-status="succeeded"][data-progress="100"]').waitFor()
      await expect(page.testId('export-count-families').innerText()).resolves.toBe('1')
      await expect(page.testId('export-count-variants').innerText()).resolves.toBe('4')
      await expect(page.testId('export-count-entries').innerText()).resolves.toBe('1')
      const objects = Number(await page.exportResult().getAttribute('data-objects'))
      expect(objects).toBeGreaterThan(0)
      await expect(page.testId('export-worker-path').innerText()).resolves.toBe(join(bundle, 'public', 'worker.js'))
      // What the summary says is what is on disk.
      const manifestText = readFileSync(join(bundle, 'public', 'manifest.json'), 'utf8')
      const manifestHash = createHash('sha256').update(manifestText).digest('hex')
      await expect(page.testId('export-manifest-hash').innerText()).resolves.toBe(manifestHash)
      const manifest = JSON.parse(manifestText) as {
        objects: string[]
        counts: { objects: number }
        tenant: string | null
      }
      expect(manifest.objects).toHaveLength(objects)
      expect(manifest.tenant).toBe('default')
      expect(existsSync(join(bundle, 'public', 'worker.js'))).toBe(true)
      expect(existsSync(tar)).toBe(true)
      await page.testId('export-row-1').waitFor()

      // A folder that is not empty is refused before anything is written, with the backend's reason.
      const used = join(dir, 'used')
      mkdirSync(used)
      writeFileSync(join(used, 'keep.txt'), 'not ours')
      await page.exportField('out-dir').fill(used)
      await page.exportField('tar').fill('')
      await page.testId('export-start').click()
      await expect(page.testId('export-error').innerText()).resolves.toContain('is not empty')
      expect(readFileSync(join(used, 'keep.txt'), 'utf8')).toBe('not ours')

      // A manifest that is not one of ours is refused too.
      const stray = join(dir, 'stray.json')
      writeFileSync(stray, '{"hello": "world"}')
      await page.exportField('out-dir').fill(join(dir, 'bundle-x'))
      await page.exportField('since').fill(stray)
      await page.testId('export-start').click()
      await expect(page.testId('export-error').innerText()).resolves.toContain('is not a Larder CDN manifest')

      // Incremental since the last export: nothing changed, so nothing new is written.
      await page.testId('export-since-last').click()
      await expect(page.exportField('since').inputValue()).resolves.toBe(join(bundle, 'public', 'manifest.json'))
      await page.exportField('out-dir').fill(join(dir, 'bundle-2'))
      await page.testId('export-start').click()
      await ui.page
        .locator('[data-testid="export-result"][data-status="succeeded"][data-written="0"][data-deleted="0"]')
        .waitFor()
      const second = JSON.parse(readFileSync(join(dir, 'bundle-2', 'public', 'manifest.json'), 'utf8')) as {
        previousManifestHash: string
        incremental: boolean
      }
      expect(second).toMatchObject({ previousManifestHash: manifestHash, incremental: true })
      await page.testId('export-row-2').waitFor()

      expect(ui.problems.filter((problem) => !/status of (400|404|409)/.test(problem))).toEqual([])
    })
  })
})
