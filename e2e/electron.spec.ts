/**
 * The desktop app through Playwright's Electron driver: the window opens with the sandboxed, context-isolated
 * renderer, the preload exposes only the contract, and calls reach the backend utility process over its
 * MessagePort. Runs only where Electron's binary and its better-sqlite3 build exist (not in CI here, which cannot
 * download Electron); it says why when skipped.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { _electron as electron } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { freshHome } from './harness'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function electronBinary(): string | undefined {
  try {
    const path = require('electron') as string
    return existsSync(path) ? path : undefined
  } catch {
    return undefined
  }
}

const binary = electronBinary()
const nativeBuild = existsSync(join(root, '.electron-native', 'better_sqlite3.node'))
const skipReason = !binary
  ? "Electron's binary is not installed (its download needs internet access)"
  : !nativeBuild
    ? 'better-sqlite3 has no Electron build yet (run `npm start` or `node scripts/electron-native.mjs` once)'
    : undefined
if (skipReason) console.warn(`[e2e] Skipping the Electron spec: ${skipReason}.`)

describe.skipIf(skipReason !== undefined)('desktop app (Electron)', () => {
  it('opens a secure window whose preload exposes only the contract and reaches the backend', async () => {
    const app = await electron.launch({
      executablePath: binary!,
      args: [root, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
      env: { ...process.env, LARDER_HOME: freshHome() },
    })
    try {
      const page = await app.firstWindow()
      await page.locator('[data-app-state="ready"]').first().waitFor({ timeout: 30_000 })
      const exposed = await page.evaluate(() => ({
        require: typeof (globalThis as { require?: unknown }).require,
        process: typeof (globalThis as { process?: unknown }).process,
        methods: Object.keys(window.larder?.methods ?? {}).sort(),
      }))
      expect(exposed.require).toBe('undefined')
      expect(exposed.process).toBe('undefined')
      expect(exposed.methods).toContain('jobs.list')
      const info = await page.evaluate(() => window.larder!.methods['system.info']({}))
      expect(info.schemaVersion).toBeGreaterThan(0)
      // Only the contract crosses the bridge: no ipcRenderer, no node.
      expect(await page.evaluate(() => Object.keys(window.larder ?? {}).sort())).toEqual(['methods', 'on', 'transport'])
    } finally {
      await app.close()
    }
  })
})
