// Electronegativity (Doyensec's Electron security checker) over the main process and the preload, offline: fails on
// any HIGH finding and prints the rest. Part of `npm test`. It tries to fetch translations and Electron's release list
// first; offline both fail quickly and it goes on with what it ships.
import { createRequire } from 'node:module'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const run = require('@doyensec/electronegativity/dist/runner.js')
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const electronVersion = JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')).version

const guard = setTimeout(() => {
  console.error('electronegativity did not finish within 180 s.')
  process.exit(2)
}, 180_000)
guard.unref()

// One scan over both folders together: its global checks (navigation limits, CSP, permission handler) look at the
// whole app, so scanning the preload alone would miss what main sets up.
const app = mkdtempSync(join(tmpdir(), 'larder-electronegativity-'))
for (const folder of ['main', 'preload']) cpSync(join(root, 'src', folder), join(app, folder), { recursive: true })
let high = 0
try {
  const folder = 'src/main + src/preload'
  const result = await run(
    {
      input: app,
      output: undefined,
      isSarif: false,
      customScan: [],
      excludeFromScan: [],
      isRelative: true,
      electronVersionOverride: electronVersion,
      parserPlugins: [],
    },
    false,
  )
  const hard = result.errors.filter((error) => !error.tolerable)
  if (hard.length > 0) {
    console.error(`${folder}: electronegativity could not parse ${hard.map((error) => error.file).join(', ')}`)
    process.exit(2)
  }
  console.log(
    `${folder}: ${result.atomicChecks + result.globalChecks} checks, ${result.issues.length} findings (Electron ${electronVersion})`,
  )
  for (const issue of result.issues) {
    const severity = issue.severity.name
    if (severity === 'HIGH') high++
    console.log(
      `  ${severity.padEnd(13)} ${issue.confidence.name.padEnd(9)} ${issue.id} ${issue.file}:${issue.location.line} ${issue.description}`,
    )
  }
} finally {
  rmSync(app, { recursive: true, force: true })
}
if (high > 0) {
  console.error(`${high} HIGH finding(s): fix them (or, if one is a false positive, say why in src/main/security.ts).`)
  process.exit(1)
}
console.log('No HIGH findings.')
process.exit(0)
