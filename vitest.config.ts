import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real codex processes are heavy (~150 MB, ~0.5 s CPU each); two cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
