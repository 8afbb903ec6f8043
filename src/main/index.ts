/**
 * Electron main: one window, the security policy, and the backend utility process. Thin on purpose; everything
 * else lives in the backend (src/backend) and the renderer (src/renderer).
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { app, BrowserWindow, ipcMain } from 'electron'
import { BackendSupervisor, type BackendStatus } from './backend-supervisor'
import { applySecurityPolicy } from './security'

const here = dirname(fileURLToPath(import.meta.url))
const rendererIndex = join(here, '../renderer/index.html')
const devServerUrl = process.env.ELECTRON_RENDERER_URL

function isAppUrl(url: string): boolean {
  if (devServerUrl && url.startsWith(devServerUrl)) return true
  return url.split('#')[0] === pathToFileURL(rendererIndex).href
}

/** better-sqlite3 must be built for Electron's ABI; npm start and packaging put that build here. */
function sqliteBindingForElectron(): string | undefined {
  const candidates = app.isPackaged
    ? [join(process.resourcesPath, 'native', 'better_sqlite3.node')]
    : [join(app.getAppPath(), '.electron-native', 'better_sqlite3.node')]
  return candidates.find((candidate) => existsSync(candidate))
}

applySecurityPolicy(isAppUrl)

const home = process.env.LARDER_HOME ?? app.getPath('userData')
let mainWindow: BrowserWindow | undefined

function broadcast(status: BackendStatus): void {
  mainWindow?.webContents.send('larder:backend-status', status)
}

/** The window icon (Linux and Windows title bars, the task bar in development); packaged apps also embed it. */
function windowIcon(): string | undefined {
  const path = app.isPackaged
    ? join(process.resourcesPath, 'icon.png')
    : join(app.getAppPath(), 'resources', 'icon.png')
  return existsSync(path) ? path : undefined
}

const binding = sqliteBindingForElectron()
const supervisor = new BackendSupervisor({
  entry: join(here, 'backend.js'),
  env: {
    ...process.env,
    LARDER_HOME: home,
    ...(binding ? { LARDER_SQLITE_BINDING: binding } : {}),
  },
  onStatus: broadcast,
})

function createWindow(): void {
  const window = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'Larder',
    ...(windowIcon() ? { icon: windowIcon()! } : {}),
    autoHideMenuBar: true,
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
    },
  })
  mainWindow = window
  window.once('ready-to-show', () => window.show())
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = undefined
  })
  if (devServerUrl) void window.loadURL(devServerUrl)
  else void window.loadFile(rendererIndex)
}

// Only our own top-level page may ask for a backend port.
ipcMain.on('larder:request-port', (event) => {
  if (event.senderFrame?.parent !== null || !isAppUrl(event.senderFrame?.url ?? '')) return
  supervisor.connect(event.sender)
})

app.setName('Larder')
app.whenReady().then(
  () => {
    supervisor.start()
    createWindow()
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow()
    })
  },
  (error: unknown) => {
    console.error('Larder failed to start:', error)
    app.exit(1)
  },
)

let quitting = false
app.on('before-quit', (event) => {
  if (quitting) return
  quitting = true
  event.preventDefault()
  void supervisor.stop().finally(() => app.quit())
})

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})
