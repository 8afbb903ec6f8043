// The start script's browser opener: the right command per platform, and never a failure where no opener exists.
import { describe, expect, it } from 'vitest'
import { openBrowser, openerFor } from '../scripts/open-browser.mjs'

describe('openBrowser', () => {
  it('uses open, start or xdg-open, and xdg-open only with a display', () => {
    expect(openerFor('http://x/', { platform: 'darwin', env: {} })).toEqual({ command: 'open', args: ['http://x/'] })
    expect(openerFor('http://x/', { platform: 'win32', env: {} }).command).toBe('cmd')
    expect(openerFor('http://x/', { platform: 'linux', env: { DISPLAY: ':0' } }).command).toBe('xdg-open')
    expect(openerFor('http://x/', { platform: 'linux', env: {} }).reason).toMatch(/no graphical display/)
  })

  it('reports, without throwing, when there is no display or no opener installed', async () => {
    expect(await openBrowser('http://127.0.0.1:1/', { platform: 'linux', env: {} })).toEqual({
      opened: false,
      reason: expect.stringMatching(/DISPLAY is not set/),
    })
    // A display but an empty PATH: xdg-open cannot be found.
    const result = await openBrowser('http://127.0.0.1:1/', {
      platform: 'linux',
      env: { DISPLAY: ':0', PATH: '/nonexistent' },
    })
    expect(result.opened).toBe(false)
    expect(result.reason).toMatch(/xdg-open is not installed/)
  })
})
