// `npm start`: the console, always. Builds the app, then opens the desktop console (Electron) where Electron's binary
// is installed; where it is not (no internet when `npm install` ran) or with `--browser`, it serves the same console
// (`larder serve`, the headless backend) and opens it in the default browser, saying why the desktop app did not
// start. Options after `--` go to `larder serve` in the browser case: `npm start -- --port 0 --home DIR`;
// `--no-open` prints the URL without opening a browser.
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openBrowser } from './open-browser.mjs'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const argv = process.argv.slice(2)
const forceBrowser = argv.includes('--browser')
const noOpen = argv.includes('--no-open') || process.env.LARDER_NO_BROWSER === '1'
const passThrough = argv.filter((arg) => arg !== '--browser' && arg !== '--no-open')

/** Electron's binary, or why the desktop app cannot start here. */
async function desktop() {
  if (forceBrowser) return { why: 'you asked for the browser console (--browser)' }
  let binary
  try {
    binary = require('electron')
  } catch {
    return {
      why: "Electron's binary is not installed here (its download failed or was skipped when `npm install` ran; `node node_modules/electron/install.js` retries the download)",
    }
  }
  try {
    const { ensureElectronSqlite } = await import('./electron-native.mjs')
    await ensureElectronSqlite()
  } catch (error) {
    return { why: `better-sqlite3 could not be built for Electron (${error.message})` }
  }
  return { binary }
}

function build() {
  console.error('Building Larder (electron-vite build)...')
  // electron-vite's package exports do not include its bin: resolve it next to its package.json.
  const cli = join(dirname(require.resolve('electron-vite/package.json')), 'bin', 'electron-vite.js')
  const result = spawnSync(process.execPath, [cli, 'build'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  if (result.status !== 0) {
    console.error('The build failed (see above); nothing was started.')
    process.exit(result.status ?? 1)
  }
}

/**
 * Runs `child` to its end: signals to this script stop it cleanly, and its exit code becomes ours. A child in this
 * script's process group gets a terminal's Ctrl-C directly, so SIGINT is forwarded only to one in its own group.
 */
function supervise(child, { ownGroup }) {
  const forward = (signal) => {
    if (child.exitCode === null) child.kill(signal)
  }
  process.on('SIGINT', () => (ownGroup ? forward('SIGINT') : undefined))
  process.on('SIGTERM', () => forward('SIGTERM'))
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 0)))
}

/** `larder serve`, its output passed through; the login link is opened in the default browser once printed. */
function serveInBrowser(why) {
  console.error(`The desktop app did not start: ${why}.`)
  console.error('Starting the same console in your browser instead (larder serve); it works the same way.')
  const child = spawn(process.execPath, [join(root, 'bin', 'larder.js'), 'serve', ...passThrough], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    // Its own process group: Ctrl-C reaches this script, which forwards exactly one signal.
    detached: process.platform !== 'win32',
  })
  let printed = ''
  let opening = false
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk)
    if (opening) return
    printed += chunk.toString()
    const url = /Open the console: (\S+)/.exec(printed)?.[1]
    if (!url) return
    opening = true
    if (noOpen) return
    void openBrowser(url).then((result) =>
      console.error(
        result.opened
          ? 'Opened the console in your default browser.'
          : `No browser was opened (${result.reason}): open the link above yourself.`,
      ),
    )
  })
  supervise(child, { ownGroup: process.platform !== 'win32' })
}

build()
const found = await desktop()
if (found.binary) {
  supervise(spawn(found.binary, ['.', ...passThrough], { cwd: root, stdio: 'inherit' }), { ownGroup: false })
} else {
  serveInBrowser(found.why)
}
