/** The CLI as a child process (`node --import tsx src/cli/index.ts …`) for tests that need a real process: signals,
 * exit codes, servers that keep running. Output is collected as it arrives. */
import { spawn } from 'node:child_process'

export function spawnCli(args: string[], options: { uid?: number; gid?: number } = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
  return { child, exit, output: () => ({ out, err }) }
}

/** Polls the collected output until `pattern` matches (or throws with what was printed). */
export async function waitForOutput(read: () => string, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const match = pattern.exec(read())
    if (match) return match
    if (Date.now() > deadline) throw new Error(`no ${pattern} in output: ${read()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
