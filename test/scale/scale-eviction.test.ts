/**
 * 100k inserts of 768-d into caches that hold a fraction of them: bounded by maxEntries, and by
 * maxBytes alone. Whatever the policy keeps, every bound holds at every step, every push-out is
 * counted, a read returns the right vector or nothing, and the counters add up exactly.
 *
 * The spill tier (evicted entries kept in LMDB) is not wired into the cache yet, so this file
 * covers eviction from memory only; a spill run joins it when `spill` takes effect.
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { DIMS, mismatch, texts, vectors } from '../support/scale.js';

const N = 100_000;
const CHECK_EVERY = 5_000;

/** Inserts N entries, checking the bounds every CHECK_EVERY inserts. */
function insertAll(cache: EmbeddingCache, maxEntries: number, maxBytes: number): void {
  for (let i = 0; i < N; i++) {
    cache.set(texts.text(i), vectors.at(i));
    if ((i + 1) % CHECK_EVERY === 0) {
      const s = cache.stats();
      expect(s.entries).toBeLessThanOrEqual(maxEntries);
      expect(s.memoryBytes).toBeLessThanOrEqual(maxBytes);
      expect(s.entries + s.evictions).toBe(i + 1);
    }
  }
}

/** Reads every key once; returns how many hit, and the keys that came back wrong. */
function readAll(cache: EmbeddingCache): { hits: number; wrong: number[] } {
  let hits = 0;
  const wrong: number[] = [];
  for (let i = 0; i < N; i++) {
    const v = cache.get(texts.text(i));
    if (v === undefined) continue;
    hits++;
    if (mismatch(v, i) !== -1) wrong.push(i);
  }
  return { hits, wrong };
}

describe('100k inserts with eviction', () => {
  const open = useCaches('all');

  it('maxEntries 20k: holds exactly 20k, evicts the other 80k, and every hit is right', async () => {
    const maxEntries = 20_000;
    const maxBytes = 128 * 1024 * 1024;
    const cache = await open({ maxEntries, maxBytes });
    insertAll(cache, maxEntries, maxBytes);

    const afterInsert = cache.stats();
    expect(afterInsert.entries).toBe(maxEntries);
    expect(afterInsert.evictions).toBe(N - maxEntries);
    expect(afterInsert.sets).toBe(N);

    const { hits, wrong } = readAll(cache);
    expect(wrong).toEqual([]);
    // Every held entry is read exactly once and hits; every evicted one misses.
    expect(hits).toBe(maxEntries);
    const s = cache.stats();
    expect(s).toMatchObject({
      hits: maxEntries,
      misses: N - maxEntries,
      entries: maxEntries,
      sets: N,
      deletes: 0,
      expirations: 0,
      invalidations: 0,
    });
    expect(s.memoryBytes).toBeLessThanOrEqual(maxBytes);
    expect(cache.checkInvariants()).toEqual([]);
  });

  it('maxBytes 32 MiB alone: memory never passes the bound and the counters add up', async () => {
    const maxBytes = 32 * 1024 * 1024;
    const cache = await open({ maxBytes });
    insertAll(cache, Number.POSITIVE_INFINITY, maxBytes);

    const afterInsert = cache.stats();
    expect(afterInsert.memoryBytes).toBeLessThanOrEqual(maxBytes);
    // 100k vectors are 307 MB: most must have gone, and what is held must fit its bytes.
    expect(afterInsert.evictions).toBeGreaterThan(N / 2);
    expect(afterInsert.entries * DIMS * 4).toBeLessThanOrEqual(afterInsert.memoryBytes);
    expect(afterInsert.entries + afterInsert.evictions).toBe(N);

    const { hits, wrong } = readAll(cache);
    expect(wrong).toEqual([]);
    expect(hits).toBe(afterInsert.entries);
    const s = cache.stats();
    expect(s.hits + s.misses).toBe(N);
    expect(s.hits).toBe(afterInsert.entries);
    expect(cache.checkInvariants()).toEqual([]);
  });
});
