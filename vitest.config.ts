import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: keep parallelism modest so timing-sensitive lease logic is not starved.
    maxWorkers: 2,
    setupFiles: ['test/support/setup.ts'],
    // The CLI and docs tests run the built binary: build dist/ once, before any file runs.
    globalSetup: ['test/cli/global-setup.ts'],
    reporters: ['default'],
  },
});
