// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Node 20 lacks these; Node 20 is a supported runtime (STYLE section 3).
const node20Bans = [
  { selector: "MemberExpression[object.name='Promise'][property.name='withResolvers']", message: 'Node 20 lacks Promise.withResolvers: use core/deferred.ts' },
  { selector: "MemberExpression[object.name='Array'][property.name='fromAsync']", message: 'Node 20 lacks Array.fromAsync' },
  { selector: "Identifier[name=/^(DisposableStack|AsyncDisposableStack|SuppressedError)$/]", message: 'Node 20 lacks DisposableStack, AsyncDisposableStack and SuppressedError' },
  { selector: "VariableDeclaration[kind='await using']", message: 'Node 20 has no native await using' },
  { selector: "VariableDeclaration[kind='using']", message: 'Node 20 has no native using' },
  { selector: "MemberExpression[object.name='AbortSignal'][property.name='any']", message: 'AbortSignal.any leaks on Node 20 (nodejs/node#55351): link signals by hand and remove the listener in finally' },
]

// Time goes through the injected Clock in core/ and queue/ (STYLE section 4).
const clockBans = [
  { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Use the injected clock.now()' },
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use new Date(clock.now())' },
  { selector: "CallExpression[callee.name=/^(setTimeout|setInterval)$/]", message: 'Use clock.sleep()' },
  { selector: "CallExpression[callee.object.name='performance'][callee.property.name='now']", message: 'Use clock.monotonic()' },
]

const frameworkAndDatabasePackages = ['hono', 'hono/*', '@hono/*', 'fastify', 'fastify-plugin', 'express', 'pg', 'pg-*', 'better-sqlite3', 'ioredis', 'undici', 'prom-client', 'pino']

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', 'bench/anchors/node_modules/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-empty-object-type': 'off',
      'no-restricted-syntax': ['error', ...node20Bans],
      'no-restricted-exports': ['error', { restrictDefaultExports: { direct: false } }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/**/*.test.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...node20Bans, { selector: 'ExportAllDeclaration', message: 'Export by name: no export * (STYLE section 3)' }],
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/queue/**/*.ts'],
    ignores: ['src/core/clock.ts', 'src/**/*.test.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...node20Bans, ...clockBans],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/queue/**', '**/drivers/**', '**/adapters/**', '**/service.js', '**/metrics.js', '**/testing/**'], message: 'core/ is the bottom layer: it imports nothing above it' },
          { group: frameworkAndDatabasePackages, message: 'core/ imports no framework, database or I/O package' },
        ],
      }],
    },
  },
  {
    files: ['src/queue/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/drivers/**', '**/adapters/**', '**/service.js', '**/testing/**'], message: 'queue/ imports only core/' },
          { group: frameworkAndDatabasePackages, message: 'queue/ imports no framework or database package' },
        ],
      }],
    },
  },
  {
    files: ['src/service.ts', 'src/metrics.ts', 'src/index.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['**/drivers/**', '**/adapters/**', '**/testing/**', 'hono', 'hono/*', '@hono/*', 'fastify', 'express', 'pg', 'better-sqlite3'], message: 'the Service knows no framework or driver' }],
      }],
    },
  },
  {
    // Tests build deliberately broken lifespans (no yield, throwing teardown).
    files: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': 'off', 'require-yield': 'off', 'no-unsafe-finally': 'off' },
  },
)
