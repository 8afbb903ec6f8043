// Builds better-sqlite3 for Electron's ABI into .electron-native/, leaving node_modules' copy (Node's ABI, used by
// the CLI and the tests) untouched, so `npm start` never breaks `npm test` or the reverse. Used by npm start and
// before packaging (electron-builder.yml ships .electron-native/better_sqlite3.node as resources/native/).
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const outDir = join(root, '.electron-native')
const output = join(outDir, 'better_sqlite3.node')
const stampFile = join(outDir, 'stamp.json')

export async function ensureElectronSqlite({ force = false } = {}) {
  const electronVersion = JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')).version
  const sqliteVersion = JSON.parse(readFileSync(require.resolve('better-sqlite3/package.json'), 'utf8')).version
  const stamp = `${electronVersion}/${sqliteVersion}/${process.platform}-${process.arch}`
  if (
    !force &&
    existsSync(output) &&
    existsSync(stampFile) &&
    JSON.parse(readFileSync(stampFile, 'utf8')).stamp === stamp
  ) {
    return output
  }
  const tree = join(outDir, 'build-tree')
  rmSync(tree, { recursive: true, force: true })
  const moduleDir = join(tree, 'node_modules', 'better-sqlite3')
  mkdirSync(dirname(moduleDir), { recursive: true })
  cpSync(dirname(require.resolve('better-sqlite3/package.json')), moduleDir, {
    recursive: true,
    filter: (source) => !source.includes(`${join('better-sqlite3', 'build')}`),
  })
  writeFileSync(
    join(tree, 'package.json'),
    JSON.stringify({
      name: 'larder-electron-native',
      private: true,
      dependencies: { 'better-sqlite3': sqliteVersion },
    }),
  )
  console.log(
    `Building better-sqlite3 ${sqliteVersion} for Electron ${electronVersion} (once; needs Electron's headers)...`,
  )
  const { rebuild } = await import('@electron/rebuild')
  await rebuild({ buildPath: tree, electronVersion, onlyModules: ['better-sqlite3'], force: true, mode: 'sequential' })
  cpSync(join(moduleDir, 'build', 'Release', 'better_sqlite3.node'), output)
  writeFileSync(stampFile, JSON.stringify({ stamp }))
  rmSync(tree, { recursive: true, force: true })
  return output
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureElectronSqlite({ force: process.argv.includes('--force') }).then(
    (file) => console.log(`Electron build of better-sqlite3: ${file}`),
    (error) => {
      console.error(`Could not build better-sqlite3 for Electron: ${error.message}`)
      process.exit(1)
    },
  )
}
