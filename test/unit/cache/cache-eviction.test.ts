/**
 * Eviction: maxEntries and maxBytes are hard bounds; every entry pushed out is counted; what
 * stays is always the right vector; and the policy keeps read entries over never-read ones.
 */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache eviction', () => {
  const open = useCaches();

  it('never holds more than maxEntries; each push-out counts as an eviction', async () => {
    const cache = await open({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) {
      cache.set(textFor(i), vectorFor(i, 1, 16));
      expect(cache.stats().entries).toBeLessThanOrEqual(100);
    }
    const s = cache.stats();
    expect(s.entries).toBe(100);
    expect(s.evictions).toBe(900);
    expect(s.maxEntries).toBe(100);
    let live = 0;
    for (let i = 0; i < 1000; i++) {
      const v = cache.get(textFor(i));
      if (v !== undefined) {
        live++;
        expectVector(v, vectorFor(i, 1, 16));
      }
    }
    expect(live).toBe(100);
  });

  it('the entry just set is readable even when the cache is full', async () => {
    const cache = await open({ maxEntries: 10 });
    for (let i = 0; i < 200; i++) {
      cache.set(textFor(i), vectorFor(i, 1, 16));
      expectVector(cache.get(textFor(i)), vectorFor(i, 1, 16));
    }
  });

  it('overwriting a held text does not evict anything', async () => {
    const cache = await open({ maxEntries: 10 });
    for (let i = 0; i < 10; i++) cache.set(textFor(i), vectorFor(i, 1, 16));
    for (let v = 2; v < 20; v++) cache.set(textFor(3), vectorFor(3, v, 16));
    const s = cache.stats();
    expect(s.evictions).toBe(0);
    expect(s.entries).toBe(10);
    for (let i = 0; i < 10; i++) expectVector(cache.get(textFor(i)), vectorFor(i, i === 3 ? 19 : 1, 16));
  });

  it('memoryBytes never exceeds maxBytes while 768-d vectors overflow it', async () => {
    const maxBytes = 2 * 1024 * 1024;
    const cache = await open({ maxBytes });
    const n = 3000; // ~9 MB of vectors into a 2 MiB cache
    for (let i = 0; i < n; i++) {
      cache.set(textFor(i), vectorFor(i, 1, 768));
      if (i % 50 === 0) expect(cache.stats().memoryBytes).toBeLessThanOrEqual(maxBytes);
    }
    const s = cache.stats();
    expect(s.memoryBytes).toBeLessThanOrEqual(maxBytes);
    expect(s.maxBytes).toBe(maxBytes);
    expect(s.evictions).toBeGreaterThan(0);
    expect(s.entries + s.evictions).toBe(n);
    // The bound is used, not merely respected: at least a quarter of it holds vectors.
    expect(s.entries * 768 * 4).toBeGreaterThan(maxBytes / 4);
    let live = 0;
    for (let i = 0; i < n; i++) {
      const v = cache.get(textFor(i));
      if (v !== undefined) {
        live++;
        expectVector(v, vectorFor(i, 1, 768));
      }
    }
    expect(live).toBe(s.entries);
  });

  it('models of different dimensions share maxBytes and each can still store', async () => {
    const maxBytes = 2 * 1024 * 1024;
    const cache = await open({ maxBytes });
    for (let i = 0; i < 3000; i++) {
      const model = i % 3 === 0 ? 'small' : i % 3 === 1 ? 'base' : 'large';
      const dims = model === 'small' ? 64 : model === 'base' ? 768 : 1536;
      cache.set(textFor(i), vectorFor(i, 1, dims), { model });
      expectVector(cache.get(textFor(i), { model }), vectorFor(i, 1, dims));
      if (i % 100 === 0) expect(cache.stats().memoryBytes).toBeLessThanOrEqual(maxBytes);
    }
    const s = cache.stats();
    expect(s.memoryBytes).toBeLessThanOrEqual(maxBytes);
    expect(s.entries + s.evictions).toBe(3000);
  });

  it('entries read after insertion survive a scan of new keys better than never-read ones', async () => {
    const cache = await open({ maxEntries: 200 });
    for (let i = 0; i < 200; i++) cache.set(textFor(i), vectorFor(i, 1, 16));
    // Even keys are hot (read three times), odd keys never read.
    for (let r = 0; r < 3; r++) for (let i = 0; i < 200; i += 2) cache.get(textFor(i));
    // A scan of 80 new keys: room must come from somewhere.
    for (let i = 1000; i < 1080; i++) cache.set(textFor(i), vectorFor(i, 1, 16));
    let hot = 0;
    let cold = 0;
    for (let i = 0; i < 200; i++) {
      if (!cache.has(textFor(i))) continue;
      if (i % 2 === 0) hot++;
      else cold++;
    }
    expect(hot + cold).toBe(120);
    // CLOCK/SIEVE or anything better than FIFO evicts the never-read half first.
    expect(hot).toBeGreaterThanOrEqual(90);
    expect(hot).toBeGreaterThan(cold);
  });

  it('an entry read just before a sweep outlives entries inserted with it and never read', async () => {
    const cache = await open({ maxEntries: 50 });
    for (let i = 0; i < 50; i++) cache.set(textFor(i), vectorFor(i, 1, 16));
    // Keep key 0 (the oldest) hot through many rounds of new keys.
    for (let round = 0; round < 20; round++) {
      expect(cache.get(textFor(0)), `key 0 evicted in round ${round}`).toBeDefined();
      for (let j = 0; j < 10; j++) cache.set(textFor(10_000 + round * 10 + j), vectorFor(round, j, 16));
    }
    expectVector(cache.get(textFor(0)), vectorFor(0, 1, 16));
  });
});
