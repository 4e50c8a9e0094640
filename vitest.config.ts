import { defineConfig } from 'vitest/config'

// One config, two projects: `unit` is the everyday suite (npm test) and runs on Node 20 and 24;
// `chaos` holds the slow real-time tests (crash, chaos, cluster cron), run once, on Node 24.
export default defineConfig({
  resolve: { conditions: ['afterwork-source'] },
  ssr: { resolve: { conditions: ['afterwork-source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['test/chaos/**', 'test/serial/**'],
          testTimeout: 20_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Tests that measure the event loop or CPU must not share the machine with other files.
        extends: true,
        test: {
          name: 'serial',
          include: ['test/serial/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          // After the unit project, not beside it: these measure the event loop.
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/**/index.ts', 'src/**/fixtures/**', 'src/adapters/behaviour/**'],
    },
  },
})
