// `npm start`: the desktop console. Needs Electron's binary (downloaded by electron's install script); where it is
// missing (e.g. no internet at install time) we say so plainly and point to the browser console instead.
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

let electronBinary
try {
  electronBinary = require('electron')
} catch {
  console.error(
    "Larder's desktop app needs Electron's binary, which is not installed here (its download failed or was skipped); run `npm run serve` to use the console in your browser instead.",
  )
  process.exit(1)
}

const { ensureElectronSqlite } = await import('./electron-native.mjs')
try {
  await ensureElectronSqlite()
} catch (error) {
  console.error(
    `Could not build better-sqlite3 for Electron (${error.message}). Run \`npm run serve\` to use the console in your browser instead.`,
  )
  process.exit(1)
}

const build = spawnSync(process.execPath, [require.resolve('electron-vite/bin/electron-vite.js'), 'build'], {
  cwd: root,
  stdio: 'inherit',
})
if (build.status !== 0) process.exit(build.status ?? 1)

const child = spawn(electronBinary, ['.', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
child.on('exit', (code) => process.exit(code ?? 0))
