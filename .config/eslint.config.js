// Lint keeps the import direction: services may use packages, packages never reach into a service.
import js from '@eslint/js'
import { fileURLToPath } from 'node:url'
import tseslint from 'typescript-eslint'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))

// This file lives in .config/ to keep the top level to its agreed layout; basePath points each block at the repo root.
export default tseslint.config(
  { ignores: ['**/node_modules/**', 'coverage/**'] },
  // Generated from schemas/ by packages/schemas/scripts/generate-types.ts, not in git.
  { ignores: ['packages/schemas/src/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', Buffer: 'readonly', fetch: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // The dashboard runs in the browser, as a classic script.
    files: ['services/*/public/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', window: 'readonly', location: 'readonly', sessionStorage: 'readonly', localStorage: 'readonly', URLSearchParams: 'readonly', Node: 'readonly', Blob: 'readonly', FormData: 'readonly' },
    },
  },
  {
    files: ['packages/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/services/**', '@opsreview/*-service'], message: 'packages/* must not import a service.' },
        { group: ['**/test/**', '@opsreview/test-*'], message: 'packages/* must not import test suites.' },
      ] }],
    },
  },
  {
    files: ['packages/**/src/**'],
    ignores: ['packages/testing/**', 'packages/config/**', '**/*.test.ts'],
    rules: {
      // Only a service's config module reads the environment.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read the environment in a service config module only.' }],
    },
  },
).map((block) => ({ ...block, basePath: repoRoot }))
