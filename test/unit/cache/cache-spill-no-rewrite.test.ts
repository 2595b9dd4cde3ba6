/**
 * An entry promoted from the spill tier and evicted again unchanged is not written to disk a
 * second time (its disk copy is still there); one rewritten in memory is.
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { tempDir } from '../../support/temp.js';

const openCache = useCaches();
const open = (): Promise<EmbeddingCache> =>
  openCache({ maxEntries: 64, maxBytes: 8 * 1024 * 1024, spill: { path: tempDir() } });

const N = 400;
const vec = (i: number, version = 0) => new Float32Array(32).fill(i + version * 1000);

describe('spill: promoted entries are not written back', () => {
  it('a second pass over disk-resident keys writes nothing, and every read is exact', async () => {
    const cache = await open();
    for (let i = 0; i < N; i++) cache.set(`t${i}`, vec(i));
    for (let pass = 0; pass < 2; pass++) {
      await cache.flush();
      const before = cache.stats().spill!.writes;
      for (let i = 0; i < N; i++) expect(cache.get(`t${i}`)?.[0]).toBe(i);
      await cache.flush();
      const written = cache.stats().spill!.writes - before;
      // First pass: only the entries that had never left memory (at most maxEntries) are new on disk.
      if (pass === 0) expect(written).toBeLessThanOrEqual(64);
      else expect(written).toBe(0);
    }
  });

  it('an entry rewritten after its promotion is written again when evicted', async () => {
    const cache = await open();
    for (let i = 0; i < N; i++) cache.set(`t${i}`, vec(i));
    await cache.flush();
    expect(cache.get('t0')?.[0]).toBe(0); // promoted from disk
    cache.set('t0', vec(0, 1)); // rewritten in memory
    for (let i = N; i < N + 200; i++) cache.set(`t${i}`, vec(i)); // push t0 out again
    await cache.flush();
    expect(cache.get('t0')?.[0]).toBe(1000); // the new value came back from disk
  });
});
