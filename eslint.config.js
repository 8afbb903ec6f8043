// Lint rules, including the layer boundaries of docs/ARCHITECTURE.md: shared imports no platform code, the renderer
// never imports the backend (or node/electron), the backend never imports electron.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import vue from 'eslint-plugin-vue'
import globals from 'globals'
import tseslint from 'typescript-eslint'

import { builtinModules } from 'node:module'

// Bare built-in names ("fs", "http") are matched exactly, so a file called http-sse.ts is not mistaken for node:http.
const nodeBuiltins = ['node:*']
const native = ['better-sqlite3', 'node-llama-cpp', 'electron', 'sqlite-vec']

const restrict = (patterns, message, { builtins = false } = {}) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [{ group: patterns, message }],
      ...(builtins ? { paths: builtinModules.map((name) => ({ name, message })) } : {}),
    },
  ],
})

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', '.electron-native/**', 'coverage/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] } },
  },
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'vue/multi-word-component-names': 'off',
    },
  },
  {
    files: ['src/shared/**'],
    rules: restrict(
      [
        ...nodeBuiltins,
        ...native,
        'vue',
        'pinia',
        'naive-ui',
        '**/backend/**',
        '**/renderer/**',
        '**/main/**',
        '**/preload/**',
      ],
      'src/shared is the platform-free contract: it may import only zod and other shared modules.',
      { builtins: true },
    ),
  },
  {
    files: ['src/renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: restrict(
      [...nodeBuiltins, ...native, '**/backend/**', '**/main/**', '**/cli/**'],
      'The renderer talks to the backend only through the API client (src/renderer/src/api).',
      { builtins: true },
    ),
  },
  {
    files: ['src/backend/**', 'src/cli/**'],
    rules: restrict(
      ['electron', '**/renderer/**', '**/main/**', '**/preload/**'],
      'The backend and CLI run in plain Node too: never import electron or UI code.',
    ),
  },
  {
    files: ['src/main/**'],
    rules: restrict(
      ['**/backend/**', '**/renderer/**', '**/cli/**'],
      'Main spawns the backend by path; it does not import it.',
    ),
  },
  {
    files: ['src/preload/**'],
    rules: restrict([...nodeBuiltins, '**/backend/**', '**/renderer/**'], 'The preload exposes the contract only.', {
      builtins: true,
    }),
  },
  prettier,
)
