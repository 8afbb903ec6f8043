/**
 * e2e harness: every spec gets the real, built `larder serve` on a fresh temporary workspace and a real Chromium
 * (the system one, driven by playwright-core; nothing is downloaded). Specs wait on data-app-state="ready" and
 * select by data-testid; they never sleep.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { chromium, type Browser, type Page } from 'playwright-core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

export const CHROMIUM_PATH = process.env.LARDER_CHROMIUM ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

export interface ServeHandle {
  url: string
  loginUrl: string
  token: string
  home: string
  process: ChildProcess
  output(): string
  /** Calls the API as a script would, with the bearer token. */
  call<T = unknown>(method: string, input?: unknown): Promise<T>
  stop(): Promise<number | null>
}

export interface ServeOptions {
  /** Reuse a workspace (e.g. to test a restart); default: a fresh temporary one. */
  home?: string
  /** Megabytes of scratch rows written into the database first, so backups take long enough to watch. */
  prefillMegabytes?: number
}

export function freshHome(): string {
  return mkdtempSync(join(tmpdir(), 'larder-e2e-'))
}

function prefill(home: string, megabytes: number): void {
  // Migrate through the real CLI first would cost a process start; the backend migrates on open anyway, and a
  // table of its own does not interfere with migrations.
  const db = new Database(join(home, 'larder.db'))
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE IF NOT EXISTS test_filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO test_filler (blob) VALUES (randomblob(65536))')
  db.transaction(() => {
    for (let i = 0; i < megabytes * 16; i++) insert.run()
  })()
  db.close()
}

export async function startServe(options: ServeOptions = {}): Promise<ServeHandle> {
  if (!existsSync(join(root, 'out', 'renderer', 'index.html'))) {
    throw new Error('The console is not built: run `npm run build` before the e2e suite (npm run test:e2e does).')
  }
  const home = options.home ?? freshHome()
  if (options.prefillMegabytes) prefill(home, options.prefillMegabytes)
  const child = spawn(process.execPath, [join(root, 'bin', 'larder.js'), 'serve', '--home', home, '--port', '0'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`larder serve did not start in time:\n${output}`)), 30_000)
    const check = (): void => {
      const found = /Open the console: (http:\/\/[^/\s]+)\/\?token=(\S+)/.exec(output)
      if (found) {
        clearTimeout(timer)
        resolve(found)
      }
    }
    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`larder serve exited (${code}):\n${output}`))
    })
  })
  const url = match[1]!
  const token = decodeURIComponent(match[2]!)
  return {
    url,
    token,
    loginUrl: `${url}/?token=${encodeURIComponent(token)}`,
    home,
    process: child,
    output: () => output,
    async call<T>(method: string, input: unknown = {}): Promise<T> {
      const response = await fetch(`${url}/api/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(input),
      })
      const body = (await response.json()) as { ok: boolean; result?: T; error?: { message: string } }
      if (!body.ok) throw new Error(`${method} failed: ${body.error?.message}`)
      return body.result as T
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT')
      const code = await exited
      if (!options.home) rmSync(home, { recursive: true, force: true })
      return code
    },
  }
}

export interface ConsoleHandle {
  browser: Browser
  page: Page
  /** Console errors and CSP violations seen by the page. */
  problems: string[]
  close(): Promise<void>
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}

/** Opens the console through the login link and waits until the app says it is ready. */
export async function openConsole(loginUrl: string, options: { waitForReady?: boolean } = {}): Promise<ConsoleHandle> {
  const browser = await launchBrowser()
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text())
  })
  page.on('pageerror', (error) => problems.push(error.message))
  await page.goto(loginUrl)
  if (options.waitForReady ?? true) await page.locator('[data-app-state="ready"]').first().waitFor({ timeout: 30_000 })
  return { browser, page, problems, close: () => browser.close() }
}
