import { defineConfig } from 'vitest/config';

// `npm test`: unit, integration, property and stress tests. Scale tests (test/scale) have their
// own config (vitest.scale.config.ts) and run with `npm run test:scale`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/scale/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: stress tests start their own worker threads, so run files two at a time.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
