/**
 * Converts what an external trainer left at {out} when it is a folder rather than a GGUF: a Hugging Face model
 * (config.json + *.safetensors) with llama.cpp's convert_hf_to_gguf.py, a PEFT LoRA (adapter_config.json) with
 * convert_lora_to_gguf.py. The scripts and gguf-py come from the llama.cpp source bundled with node-llama-cpp
 * (llama/gitRelease.bundle), read with git into a cache folder once per llama.cpp commit; they run on the machine's
 * python3. When python3, git or the scripts' Python packages are missing, the error says which, and gives the exact
 * command to run by hand.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { packageRoot } from '../native/bins'
import { TrainerError } from '../trainer'

export type FolderKind = 'hf-model' | 'peft-lora'

/** What kind of folder a trainer wrote, or undefined when it is neither. */
export function folderKind(dir: string): FolderKind | undefined {
  const names = readdirSync(dir)
  if (names.includes('adapter_config.json')) return 'peft-lora'
  if (names.includes('config.json') && names.some((name) => name.endsWith('.safetensors'))) return 'hf-model'
  return undefined
}

const SCRIPT: Record<FolderKind, string> = {
  'hf-model': 'convert_hf_to_gguf.py',
  'peft-lora': 'convert_lora_to_gguf.py',
}
const REQUIREMENTS: Record<FolderKind, string> = {
  'hf-model': 'requirements/requirements-convert_hf_to_gguf.txt',
  'peft-lora': 'requirements/requirements-convert_lora_to_gguf.txt',
}
/** What the scripts import from the llama.cpp tree besides themselves. */
const TREE_PATHS = ['convert_hf_to_gguf.py', 'convert_lora_to_gguf.py', 'gguf-py', 'conversion', 'requirements']

const onPath = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0

function bundlePath(): string {
  const root = packageRoot(createRequire(import.meta.url), 'node-llama-cpp')
  return join(root ?? 'node_modules/node-llama-cpp', 'llama', 'gitRelease.bundle')
}

/** The scripts' folder for the bundled llama.cpp commit, read out of the bundle the first time. */
function extractScripts(cacheDir: string): string {
  const bundle = bundlePath()
  if (!existsSync(bundle)) throw new Error(`there is no llama.cpp source bundle at ${bundle}`)
  const heads = spawnSync('git', ['bundle', 'list-heads', bundle], { encoding: 'utf8' })
  const commit = /^([0-9a-f]{40})/m.exec(heads.stdout ?? '')?.[1]
  if (heads.status !== 0 || !commit) throw new Error(`git cannot read ${bundle}: ${(heads.stderr ?? '').trim()}`)
  const dir = join(cacheDir, `llama-convert-${commit.slice(0, 12)}`)
  if (existsSync(join(dir, SCRIPT['hf-model']))) return dir
  mkdirSync(cacheDir, { recursive: true })
  const scratch = `${dir}.partial`
  rmSync(scratch, { recursive: true, force: true })
  const steps: string[][] = [
    ['clone', '-q', '--no-checkout', bundle, scratch],
    ['-C', scratch, 'checkout', '-q', commit, '--', ...TREE_PATHS],
  ]
  for (const args of steps) {
    const result = spawnSync('git', args, { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`git ${args[0]} failed: ${(result.stderr ?? '').trim()}`)
  }
  rmSync(join(scratch, '.git'), { recursive: true, force: true })
  renameSync(scratch, dir)
  return dir
}

export interface ConvertRequest {
  kind: FolderKind
  folder: string
  /** The GGUF to write. */
  out: string
  /** Where the scripts are cached (one folder per llama.cpp commit). */
  cacheDir: string
  log: (line: string) => void
  signal: AbortSignal
}

function argsFor(request: ConvertRequest, scripts: string): string[] {
  const script = join(scripts, SCRIPT[request.kind])
  const common = ['--outfile', request.out, '--outtype', 'f16']
  if (request.kind === 'hf-model') return [script, request.folder, ...common]
  // The adapter's own record of its base, when that is a local Hugging Face folder (the script needs its config).
  const base = peftBase(request.folder)
  return [script, ...common, ...(base ? ['--base', base] : []), request.folder]
}

function peftBase(folder: string): string | undefined {
  try {
    const config = JSON.parse(readFileSync(join(folder, 'adapter_config.json'), 'utf8')) as {
      base_model_name_or_path?: unknown
    }
    const base = config.base_model_name_or_path
    return typeof base === 'string' && existsSync(join(base, 'config.json')) ? base : undefined
  } catch {
    return undefined
  }
}

const shellWord = (word: string): string => (/^[\w./:=@+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)

/** Converts the folder to a GGUF at `out`, streaming the script's output into the job's log. */
export async function convertFolder(request: ConvertRequest): Promise<void> {
  const what = request.kind === 'hf-model' ? 'a Hugging Face model folder' : 'a PEFT LoRA folder'
  const byHand = (scripts: string): string => `python3 ${argsFor(request, scripts).map(shellWord).join(' ')}`
  const manual = `llama.cpp's ${SCRIPT[request.kind]} (from https://github.com/ggml-org/llama.cpp)`
  if (!onPath('python3', ['--version'])) {
    throw new TrainerError(
      'unavailable',
      `The external trainer wrote ${what} to {out}; converting it needs python3, which is not on PATH. Install Python 3 and run ${manual} by hand: python3 ${SCRIPT[request.kind]} ${shellWord(request.folder)} --outfile ${shellWord(request.out)}`,
    )
  }
  if (!onPath('git', ['--version'])) {
    throw new TrainerError(
      'unavailable',
      `The external trainer wrote ${what} to {out}; reading llama.cpp's conversion scripts out of node-llama-cpp's source bundle needs git, which is not on PATH. Install git, or run ${manual} by hand: python3 ${SCRIPT[request.kind]} ${shellWord(request.folder)} --outfile ${shellWord(request.out)}`,
    )
  }
  let scripts: string
  try {
    scripts = extractScripts(request.cacheDir)
  } catch (error) {
    throw new TrainerError('unavailable', `Could not read llama.cpp's conversion scripts: ${(error as Error).message}`)
  }
  const args = argsFor(request, scripts)
  request.log(`Converting ${what} to GGUF: python3 ${args.map(shellWord).join(' ')}`)
  const { code, lastLine } = await runPython(args, request)
  if (request.signal.aborted)
    throw request.signal.reason instanceof Error ? request.signal.reason : new Error('Stopped.')
  if (code !== 0 || !existsSync(request.out) || !statSync(request.out).isFile()) {
    const missing = /ModuleNotFoundError|ImportError/.test(lastLine)
    throw new TrainerError(
      missing ? 'unavailable' : 'crashed',
      `${SCRIPT[request.kind]} failed (exit ${code}): ${lastLine || 'it printed nothing'}.` +
        (missing
          ? ` Its Python packages are missing: pip install -r ${shellWord(join(scripts, REQUIREMENTS[request.kind]))}, then run again, or convert by hand: ${byHand(scripts)}`
          : ` To convert by hand: ${byHand(scripts)}`),
    )
  }
}

function runPython(args: string[], request: ConvertRequest): Promise<{ code: number | null; lastLine: string }> {
  return new Promise((resolve) => {
    let lastLine = ''
    const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const onLine = (line: string): void => {
      if (!line.trim()) return
      lastLine = line.trim()
      request.log(line.slice(0, 2000))
    }
    createInterface({ input: child.stdout! }).on('line', onLine)
    createInterface({ input: child.stderr! }).on('line', onLine)
    const onAbort = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM')
      } catch {
        // gone already
      }
    }
    request.signal.addEventListener('abort', onAbort, { once: true })
    child.on('error', (error) => resolve({ code: -1, lastLine: error.message }))
    child.on('close', (code) => {
      request.signal.removeEventListener('abort', onAbort)
      resolve({ code, lastLine })
    })
  })
}
