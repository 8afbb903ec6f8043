/**
 * The README's first command, `npm install && npm start`, ends in a working console on a machine without Electron's
 * binary: `scripts/start.mjs` builds, says why the desktop app did not start, serves the console (`larder serve`),
 * prints the login link and hands it to the default browser's opener (a stand-in `xdg-open` here that records the
 * URL it got; the real one would start a browser). Where Electron is installed, `--browser` takes the same path.
 */
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function electronInstalled(): boolean {
  try {
    require('electron')
    return true
  } catch {
    return false
  }
}

describe('npm start', () => {
  // A full electron-vite build plus a server start: minutes on a loaded two-core machine, not seconds.
  it(
    'builds, serves the console, prints its link and opens it in the default browser',
    { timeout: 600_000 },
    async () => {
      const home = mkdtempSync(join(tmpdir(), 'larder-start-'))
      const fakeBin = mkdtempSync(join(tmpdir(), 'larder-opener-'))
      const opened = join(fakeBin, 'opened.txt')
      writeFileSync(join(fakeBin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`)
      chmodSync(join(fakeBin, 'xdg-open'), 0o755)
      const withElectron = electronInstalled()
      const child = spawn(
        process.execPath,
        [join(root, 'scripts', 'start.mjs'), '--port', '0', ...(withElectron ? ['--browser'] : [])],
        {
          cwd: root,
          env: { ...process.env, LARDER_HOME: home, DISPLAY: ':99', PATH: `${fakeBin}:${process.env.PATH ?? ''}` },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let stdout = ''
      let stderr = ''
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
      try {
        await expect
          .poll(() => (child.exitCode !== null ? 'exited' : /Open the console: (\S+)/.exec(stdout)?.[1]), {
            timeout: 540_000,
            interval: 200,
          })
          .toMatch(/^http:/)
        const loginUrl = /Open the console: (\S+)/.exec(stdout)![1]!
        expect(stderr).toContain('The desktop app did not start: ')
        expect(stderr).toContain(
          withElectron ? 'you asked for the browser console' : "Electron's binary is not installed here",
        )
        // The printed link logs in (a session cookie, then the console's page).
        const login = await fetch(loginUrl, { redirect: 'manual' })
        expect(login.status).toBe(303)
        const cookie = login.headers.get('set-cookie')!.split(';')[0]!
        const page = await fetch(new URL('/', loginUrl), { headers: { cookie } })
        expect(page.status).toBe(200)
        expect(await page.text()).toContain('<div id="app"')
        const api = await fetch(new URL('/api/jobs.list', loginUrl), {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json', origin: new URL(loginUrl).origin },
          body: '{}',
        })
        expect(((await api.json()) as { ok: boolean }).ok).toBe(true)
        // The default browser's opener got the login link.
        await expect.poll(() => stderr, { timeout: 30_000 }).toContain('Opened the console in your default browser.')
        expect(readFileSync(opened, 'utf8')).toBe(loginUrl)
        // Ctrl-C (SIGINT to the script) stops the server cleanly and the script exits 0.
        child.kill('SIGINT')
        expect(await exited).toBe(0)
        expect(stdout).toContain('Stopped cleanly.')
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL')
        rmSync(home, { recursive: true, force: true })
        rmSync(fakeBin, { recursive: true, force: true })
      }
    },
  )
})
