import { defineConfig } from 'vitest/config';

// `npm run test:scale`: correctness at scale (10k and 100k entries of 768-d), run on release tags
// and by .ci/run. No timing assertions: a slow machine must not fail these, a wrong answer must.
// One file at a time: each holds a few hundred MB of shared memory, and the box has 2 cores.
export default defineConfig({
  test: {
    include: ['test/scale/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
