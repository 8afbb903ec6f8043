/**
 * The desktop app's security policy: no navigation away from the console, no new windows, no permissions, no
 * webviews; external http(s) links open in the user's browser only after they confirm.
 */
import { app, BrowserWindow, dialog, session, shell, type WebContents } from 'electron'
import { CONTENT_SECURITY_POLICY } from '../shared/security'

export { CONTENT_SECURITY_POLICY }

export function isExternalHttpUrl(url: string): boolean {
  try {
    const parsed = new URL(url)
    return parsed.protocol === 'https:' || parsed.protocol === 'http:'
  } catch {
    return false
  }
}

async function confirmOpenExternal(contents: WebContents, url: string): Promise<void> {
  if (!isExternalHttpUrl(url)) return
  const owner = BrowserWindow.fromWebContents(contents)
  const options = {
    type: 'question' as const,
    buttons: ['Open in browser', 'Cancel'],
    defaultId: 1,
    cancelId: 1,
    message: 'Open this link in your web browser?',
    detail: url,
  }
  const { response } = owner ? await dialog.showMessageBox(owner, options) : await dialog.showMessageBox(options)
  if (response === 0) await shell.openExternal(url)
}

export function applySecurityPolicy(isAppUrl: (url: string) => boolean): void {
  app.enableSandbox()
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (event, url) => {
      if (isAppUrl(url)) return
      event.preventDefault()
      void confirmOpenExternal(contents, url)
    })
    contents.on('will-redirect', (event, url) => {
      if (!isAppUrl(url)) event.preventDefault()
    })
    contents.on('will-attach-webview', (event) => event.preventDefault())
    contents.setWindowOpenHandler(({ url }) => {
      void confirmOpenExternal(contents, url)
      return { action: 'deny' }
    })
  })
  app.whenReady().then(
    () => {
      session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
      session.defaultSession.setPermissionCheckHandler(() => false)
      session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
        callback({
          responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] },
        })
      })
    },
    () => undefined,
  )
}
