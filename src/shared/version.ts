/** Injected by the build (electron-vite `define`) and by vitest; falls back for plain type-checking. */
declare const __LARDER_VERSION__: string | undefined

export const APP_VERSION: string = typeof __LARDER_VERSION__ === 'string' ? __LARDER_VERSION__ : '0.0.0-dev'
