/**
 * Memory follows what the cache holds: room freed by delete, invalidateModel or clear is reused
 * before new memory is committed, so a churning workload with a small working set does not
 * creep up to maxBytes.
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { vectorFor } from '../../support/data.mjs';

const HELD = 64;
const DIMS = 384;
const CYCLES = 200;

describe('memory reuse', () => {
  const open = useCaches();

  for (const [name, drop] of [
    [
      'delete',
      (c: EmbeddingCache, cycle: number) => {
        for (let i = 0; i < HELD; i++) c.delete(`k${cycle}-${i}`);
      },
    ],
    ['invalidateModel', (c: EmbeddingCache) => c.invalidateModel('default')],
    ['clear', (c: EmbeddingCache) => c.clear()],
  ] as const) {
    it(`set/${name} churn of ${HELD} entries does not grow memory`, async () => {
      const cache = await open({ maxEntries: HELD });
      const v = vectorFor(1, 1, DIMS);
      const start = cache.stats().memoryBytes;
      let firstCycle = 0;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        for (let i = 0; i < HELD; i++) cache.set(`k${cycle}-${i}`, v);
        if (cycle === 0) firstCycle = cache.stats().memoryBytes - start;
        drop(cache, cycle);
      }
      const grown = cache.stats().memoryBytes - start;
      console.log(`${name} churn: first cycle +${firstCycle} B, after ${CYCLES} cycles +${grown} B`);
      expect(firstCycle).toBeGreaterThan(0);
      // At most HELD entries were ever live at once: memory for them, not for every key ever set.
      expect(grown).toBeLessThanOrEqual(4 * firstCycle);
    });
  }
});
