import { defineConfig } from 'vitest/config'

// End-to-end specs: the built `larder serve` in a real process, driven through system Chromium by playwright-core.
export default defineConfig({
  test: {
    include: ['e2e/**/*.spec.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
