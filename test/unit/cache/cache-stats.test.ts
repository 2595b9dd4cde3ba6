/** stats(): exact counters after a known sequence of operations. */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';

describe('cache stats', () => {
  const open = useCaches();

  it('starts at zero', async () => {
    const cache = await open({ maxEntries: 500, maxBytes: 8 * 1024 * 1024 });
    const s = cache.stats();
    expect(s).toMatchObject({
      entries: 0,
      hits: 0,
      misses: 0,
      hitRate: 0,
      sets: 0,
      evictions: 0,
      expirations: 0,
      invalidations: 0,
      deletes: 0,
      maxBytes: 8 * 1024 * 1024,
      maxEntries: 500,
    });
    expect(s.memoryBytes).toBeGreaterThanOrEqual(0);
    expect(s.memoryBytes).toBeLessThanOrEqual(8 * 1024 * 1024);
  });

  it('counts hits, misses, hitRate, sets, deletes and entries exactly', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8)); // sets 1
    cache.set('b', vectorFor(2, 1, 8)); // sets 2
    cache.set('a', vectorFor(1, 2, 8)); // sets 3 (overwrite)
    cache.set('a', vectorFor(1, 3, 8), { model: 'm' }); // sets 4
    cache.get('a'); // hit 1
    cache.get('b'); // hit 2
    cache.get('c'); // miss 1
    cache.get('a', { model: 'm' }); // hit 3
    cache.get('a', { model: 'never' }); // miss 2
    cache.getMany(['a', 'b', 'x', 'y']); // hits 5, misses 4
    cache.setMany(['p', 'q'], [vectorFor(3, 1, 8), vectorFor(4, 1, 8)]); // sets 6
    expect(cache.delete('b')).toBe(true); // deletes 1
    expect(cache.delete('b')).toBe(false);
    cache.get('b'); // miss 5
    const s = cache.stats();
    expect(s.sets).toBe(6);
    expect(s.hits).toBe(5);
    expect(s.misses).toBe(5);
    expect(s.hitRate).toBeCloseTo(0.5, 12);
    expect(s.deletes).toBe(1);
    expect(s.entries).toBe(4); // a, a@m, p, q
    expect(s.evictions).toBe(0);
    expect(s.expirations).toBe(0);
    expect(s.invalidations).toBe(0);
  });

  it('hitRate is hits / (hits + misses)', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 4));
    for (let i = 0; i < 3; i++) cache.get('a');
    cache.get('nope');
    const s = cache.stats();
    expect(s.hitRate).toBeCloseTo(0.75, 12);
  });

  it('memoryBytes grows with the entries held and stays within maxBytes', async () => {
    const maxBytes = 32 * 1024 * 1024;
    const cache = await open({ maxBytes });
    const before = cache.stats().memoryBytes;
    for (let i = 0; i < 2000; i++) cache.set(textFor(i), vectorFor(i, 1, 768));
    const after = cache.stats().memoryBytes;
    // 2000 × 3072 B of vectors must be accounted for.
    expect(after - before).toBeGreaterThanOrEqual(2000 * 768 * 4);
    expect(after - before).toBeLessThanOrEqual(2000 * 768 * 4 * 1.5);
    expect(after).toBeLessThanOrEqual(maxBytes);
  });

  it('stats() returns a snapshot, not a live view', async () => {
    const cache = await open();
    const s = cache.stats();
    cache.set('a', vectorFor(1, 1, 4));
    cache.get('a');
    expect(s.sets).toBe(0);
    expect(s.hits).toBe(0);
    expect(cache.stats().sets).toBe(1);
  });
});
