import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // A guard against hangs, not a timing goal: a loaded 2-core machine runs the subprocess tests slowly.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    pool: 'forks',
    // A fresh process per test file cost more CPU than the tests themselves
    // (npm test 61 s against 36 s). Shared modules are safe here: nothing in
    // src keeps per-test state, and each file cleans up after itself
    // (servers in afterAll, homes through setup.ts).
    isolate: false,
    maxWorkers: 3,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
