/**
 * Where llama.cpp's shared libraries are: the prebuilt binaries node-llama-cpp ships in its per-platform packages
 * (`@node-llama-cpp/<platform>-<arch>[-<gpu>]`, each exporting `getBinsDir()`), found the way node-llama-cpp finds
 * them, so the trainer uses exactly the llama.cpp build the rest of Larder runs. Nothing is compiled or downloaded.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

export interface LlamaLibraries {
  /** The folder holding the libraries (and the ggml backends llama.cpp loads from it). */
  dir: string
  /** The package it came from, e.g. @node-llama-cpp/linux-x64. */
  packageName: string
  gpu: string | false
  ggmlBase: string
  ggml: string
  llama: string
}

export class LibrariesUnavailableError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LibrariesUnavailableError'
  }
}

interface Candidate {
  packageName: string
  gpu: string | false
}

/** The packages to try, best first: GPU builds (when asked for) before the CPU build, as node-llama-cpp orders them. */
export function candidatePackages(platform = process.platform, arch = process.arch, gpu = true): Candidate[] {
  const prefix = '@node-llama-cpp/'
  const list: Candidate[] = []
  const add = (name: string, kind: string | false): void => {
    if (gpu || kind === false || kind === 'metal') list.push({ packageName: prefix + name, gpu: kind })
  }
  if (platform === 'linux' && arch === 'x64') {
    add('linux-x64-cuda', 'cuda')
    add('linux-x64-vulkan', 'vulkan')
    add('linux-x64', false)
  } else if (platform === 'linux' && arch === 'arm64') add('linux-arm64', false)
  else if (platform === 'linux' && arch === 'arm') add('linux-armv7l', false)
  else if (platform === 'linux' && arch === 'riscv64') add('linux-riscv64', false)
  else if (platform === 'win32' && arch === 'x64') {
    add('win-x64-cuda', 'cuda')
    add('win-x64-vulkan', 'vulkan')
    add('win-x64', false)
  } else if (platform === 'win32' && arch === 'arm64') add('win-arm64', false)
  else if (platform === 'darwin' && arch === 'arm64') add('mac-arm64-metal', 'metal')
  else if (platform === 'darwin' && arch === 'x64') add('mac-x64', false)
  return list
}

const LIBRARY_PATTERNS = {
  ggmlBase: /^(lib)?ggml-base(\.v[\d.]+)?\.(so|dylib|dll)$/,
  ggml: /^(lib)?ggml(\.v[\d.]+)?\.(so|dylib|dll)$/,
  llama: /^(lib)?llama(\.v[\d.]+)?\.(so|dylib|dll)$/,
}

/** Finds the three libraries in a bins folder (which holds one sub-folder per build). */
export function librariesIn(binsDir: string): Omit<LlamaLibraries, 'packageName' | 'gpu'> | undefined {
  const folders = [binsDir, ...subfolders(binsDir)]
  for (const dir of folders) {
    const files = existsSync(dir) ? readdirSync(dir) : []
    const find = (pattern: RegExp): string | undefined => files.find((file) => pattern.test(file))
    const ggmlBase = find(LIBRARY_PATTERNS.ggmlBase)
    const ggml = find(LIBRARY_PATTERNS.ggml)
    const llama = find(LIBRARY_PATTERNS.llama)
    if (ggmlBase && ggml && llama) {
      return { dir, ggmlBase: join(dir, ggmlBase), ggml: join(dir, ggml), llama: join(dir, llama) }
    }
  }
  return undefined
}

function subfolders(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isDirectory())
}

/** The folder of an installed package (its `exports` may hide package.json, so walk up from its entry point). */
export function packageRoot(require: NodeJS.Require, name: string): string | undefined {
  let entry: string
  try {
    entry = require.resolve(name)
  } catch {
    return undefined
  }
  let dir = dirname(entry)
  for (let depth = 0; depth < 5; depth++) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name)
      return dir
    dir = dirname(dir)
  }
  return undefined
}

function nodeLlamaCppVersion(require: NodeJS.Require): string | undefined {
  const root = packageRoot(require, 'node-llama-cpp')
  if (!root) return undefined
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version
}

/**
 * The llama.cpp libraries to train with. `gpu: false` takes the CPU build; otherwise GPU builds come first where
 * their package is installed (whether the GPU backend then loads is llama.cpp's call). `LARDER_LLAMA_BINS` names a
 * folder explicitly (for a custom llama.cpp build of the same version).
 */
export function findLlamaLibraries(options: { gpu?: boolean } = {}): LlamaLibraries[] {
  const explicit = process.env.LARDER_LLAMA_BINS
  if (explicit) {
    const found = librariesIn(explicit)
    if (!found) throw new LibrariesUnavailableError(`LARDER_LLAMA_BINS=${explicit} holds no llama/ggml libraries.`)
    return [{ ...found, packageName: explicit, gpu: false }]
  }
  const require = createRequire(import.meta.url)
  const version = nodeLlamaCppVersion(require)
  const candidates = candidatePackages(process.platform, process.arch, options.gpu ?? false)
  const found: LlamaLibraries[] = []
  for (const candidate of candidates) {
    const root = packageRoot(require, candidate.packageName)
    if (!root) continue
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }
    if (version && manifest.version !== version) continue
    const libraries = librariesIn(join(root, 'bins'))
    if (libraries) found.push({ ...libraries, packageName: candidate.packageName, gpu: candidate.gpu })
  }
  if (found.length === 0) {
    throw new LibrariesUnavailableError(
      candidates.length === 0
        ? `The built-in trainer has no llama.cpp build for ${process.platform}-${process.arch}. Use an external trainer on this machine.`
        : `node-llama-cpp's prebuilt llama.cpp for ${process.platform}-${process.arch} is not installed (looked for ${candidates
            .map((candidate) => candidate.packageName)
            .join(', ')}). Reinstall Larder, or run \`npm install\` in a checkout.`,
    )
  }
  return found
}
