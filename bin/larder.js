#!/usr/bin/env node
// The `larder` command: runs the built CLI (npm run build writes out/main/cli.js).
import { existsSync } from 'node:fs'

const cli = new URL('../out/main/cli.js', import.meta.url)
if (!existsSync(cli)) {
  console.error('larder is not built yet: run `npm run build` in the Larder folder first.')
  process.exit(1)
}
await import(cli.href)
