import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'electron-vite'

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string }
const define = { __LARDER_VERSION__: JSON.stringify(version) }

export default defineConfig({
  main: {
    define,
    build: {
      // Node entries share one bundle folder: the Electron main process, the backend that main runs as a
      // utility process, the `larder` CLI (plain Node; bin/larder.js loads it), the model worker and the trainer worker.
      rolldownOptions: {
        input: {
          index: resolve('src/main/index.ts'),
          backend: resolve('src/backend/utility-entry.ts'),
          cli: resolve('src/cli/index.ts'),
          'model-worker': resolve('src/backend/models/worker/entry.ts'),
          'trainer-worker': resolve('src/backend/distill/worker/entry.ts'),
        },
      },
    },
  },
  preload: {
    define,
    build: {
      // Sandboxed preloads must be CommonJS and self-contained.
      externalizeDeps: false,
      rolldownOptions: {
        input: { index: resolve('src/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    define: {
      ...define,
      // vue-i18n: composition API only, no devtools hooks, so the unused code is dropped.
      __VUE_I18N_FULL_INSTALL__: 'true',
      __VUE_I18N_LEGACY_API__: 'false',
      __INTLIFY_PROD_DEVTOOLS__: 'false',
    },
    root: resolve('src/renderer'),
    resolve: { alias: { '@renderer': resolve('src/renderer/src') } },
    plugins: [vue()],
    build: {
      minify: true,
      rolldownOptions: { input: { index: resolve('src/renderer/index.html') } },
    },
  },
})
