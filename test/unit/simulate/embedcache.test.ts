/** The real cache as a simulator policy: it hits what it holds and never beats OPT. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { belady } from '../../../scripts/simulate/belady.js';
import { embedcache } from '../../../scripts/simulate/embedcache.js';
import { replay } from '../../../scripts/simulate/policy.js';

describe('simulate: embedcache adapter', () => {
  it('hits a key set before, misses a new one', async () => {
    const p = await embedcache(64);
    try {
      expect([1, 2, 1, 2, 3].map((k) => p.access(k))).toEqual([false, false, true, true, false]);
    } finally {
      await p.close();
    }
  });

  it('never gets more hits than OPT at the same size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 16, max: 64 }),
        fc.array(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 2000, size: 'max' }),
        async (capacity, keys) => {
          const trace = Int32Array.from(keys);
          const p = await embedcache(capacity);
          try {
            expect(replay(p, trace)).toBeLessThanOrEqual(replay(belady(capacity, trace), trace));
          } finally {
            await p.close();
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
