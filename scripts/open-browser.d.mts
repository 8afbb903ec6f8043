export interface OpenerOptions {
  platform?: NodeJS.Platform
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

export function openerFor(
  url: string,
  options?: OpenerOptions,
): { command: string; args: string[]; reason?: undefined } | { command?: undefined; reason: string }

export function openBrowser(url: string, options?: OpenerOptions): Promise<{ opened: boolean; reason?: string }>
