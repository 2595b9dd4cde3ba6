/** clear(): every entry of every model goes; counters and dimensions stay. */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache clear', () => {
  const open = useCaches();

  it('drops every entry of every model', async () => {
    const cache = await open();
    for (let i = 0; i < 100; i++) {
      cache.set(textFor(i), vectorFor(i, 1, 16));
      cache.set(textFor(i), vectorFor(i, 1, 24), { model: 'm', chunkId: String(i) });
    }
    expect(cache.stats().entries).toBe(200);
    cache.clear();
    expect(cache.stats().entries).toBe(0);
    for (let i = 0; i < 100; i++) {
      expect(cache.has(textFor(i))).toBe(false);
      expect(cache.get(textFor(i), { model: 'm', chunkId: String(i) })).toBeUndefined();
    }
  });

  it('the cache is usable after clear, up to its full capacity again', async () => {
    const cache = await open({ maxEntries: 64 });
    for (let i = 0; i < 64; i++) cache.set(textFor(i), vectorFor(i, 1, 16));
    cache.clear();
    for (let i = 0; i < 64; i++) cache.set(textFor(i), vectorFor(i, 2, 16));
    const s = cache.stats();
    expect(s.entries).toBe(64);
    expect(s.evictions).toBe(0);
    for (let i = 0; i < 64; i++) expectVector(cache.get(textFor(i)), vectorFor(i, 2, 16));
  });

  it('keeps counters counting', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 4));
    cache.get('a');
    cache.clear();
    cache.get('a');
    const s = cache.stats();
    expect(s.sets).toBe(1);
    expect(s.hits).toBe(1);
    expect(s.misses).toBe(1);
  });

  it('memoryBytes stays within maxBytes after clear and refill', async () => {
    const maxBytes = 4 * 1024 * 1024;
    const cache = await open({ maxBytes });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2000; i++) cache.set(textFor(i), vectorFor(i, round, 256));
      expect(cache.stats().memoryBytes).toBeLessThanOrEqual(maxBytes);
      cache.clear();
    }
    expect(cache.stats().memoryBytes).toBeLessThanOrEqual(maxBytes);
  });
});
