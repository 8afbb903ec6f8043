/** The bundle as one .tar.gz, reproducible: files in sorted order, one timestamp, no owner names or ids. */
import { readdirSync, renameSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { create } from 'tar'

function filesUnder(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? filesUnder(root, path) : [relative(root, path).split('\\').join('/')]
  })
}

/** Writes `tarPath.partial`, then renames it, so a failed pack never leaves a truncated archive behind. */
export async function writeTarball(folder: string, tarPath: string, mtime: Date): Promise<void> {
  const partial = `${tarPath}.partial`
  try {
    await create({ gzip: true, file: partial, cwd: folder, portable: true, mtime }, filesUnder(folder).sort())
    renameSync(partial, tarPath)
  } finally {
    rmSync(partial, { force: true })
  }
}
