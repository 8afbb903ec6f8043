/** Where the workspace lives: --home, else LARDER_HOME, else the OS user-data folder the desktop app also uses. */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

export const APP_NAME = 'Larder'

/** Mirrors Electron's app.getPath('userData') for productName "Larder", so desktop and CLI share one workspace. */
export function defaultHome(platform: NodeJS.Platform = process.platform, env = process.env): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), APP_NAME)
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', APP_NAME)
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), APP_NAME)
}

export function resolveHome(explicit?: string, env = process.env): string {
  if (explicit && explicit.length > 0) return resolve(explicit)
  if (env.LARDER_HOME && env.LARDER_HOME.length > 0) return resolve(env.LARDER_HOME)
  return defaultHome(process.platform, env)
}

export interface WorkspacePaths {
  home: string
  database: string
  backups: string
  models: string
  exports: string
}

export function workspacePaths(home: string): WorkspacePaths {
  return {
    home,
    database: join(home, 'larder.db'),
    backups: join(home, 'backups'),
    models: join(home, 'models'),
    exports: join(home, 'exports'),
  }
}
