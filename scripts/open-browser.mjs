// Opens a URL in the operator's default browser, where there is one: `open` (macOS), `start` (Windows), `xdg-open`
// (Linux and the BSDs, only with a display: without one xdg-open may start a text browser in this terminal). Never
// throws and never waits for the browser: the result says what happened, in words for the terminal.
import { spawn } from 'node:child_process'

/** The command that opens `url` on this platform, or why there is none. */
export function openerFor(url, { platform = process.platform, env = process.env } = {}) {
  if (platform === 'darwin') return { command: 'open', args: [url] }
  if (platform === 'win32') return { command: 'cmd', args: ['/d', '/s', '/c', 'start', '""', url] }
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return { reason: 'no graphical display here (DISPLAY is not set)' }
  return { command: 'xdg-open', args: [url] }
}

/**
 * Starts the opener and reports within `timeoutMs` whether it started and did not fail at once. Resolves
 * `{opened: true}` or `{opened: false, reason}`.
 */
export function openBrowser(url, options = {}) {
  const opener = openerFor(url, options)
  if (!opener.command) return Promise.resolve({ opened: false, reason: opener.reason })
  return new Promise((resolve) => {
    let settled = false
    const settle = (result) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    let child
    try {
      child = spawn(opener.command, opener.args, {
        detached: true,
        stdio: 'ignore',
        windowsVerbatimArguments: options.platform === 'win32' || process.platform === 'win32',
        env: options.env ?? process.env,
      })
    } catch (error) {
      settle({ opened: false, reason: `${opener.command} could not be started (${error.message})` })
      return
    }
    // An opener that has not failed after this long has handed the URL to a browser (or is still doing so).
    const timer = setTimeout(() => settle({ opened: true }), options.timeoutMs ?? 3000)
    child.on('error', (error) =>
      settle({
        opened: false,
        reason:
          error.code === 'ENOENT'
            ? `${opener.command} is not installed`
            : `${opener.command} failed (${error.message})`,
      }),
    )
    child.on('exit', (code) =>
      settle(code === 0 ? { opened: true } : { opened: false, reason: `${opener.command} exited with code ${code}` }),
    )
    child.unref()
  })
}
