/**
 * The spill tier seen through the cache's public API: with memory far smaller than the working
 * set, evicted entries go to disk and every lookup path (get, getInto, getMany, has,
 * getOrCompute) still finds them there. A disk hit is a hit for stats().hits and is promoted
 * into memory, so the next lookup of that key is a memory hit (stats().spill.hits stays put).
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';
import { tempDir } from '../../support/temp.js';

const DIMS = 32;
const MEMORY = 32; // maxEntries
const N = 400;

describe('cache with a spill tier: eviction and promotion', () => {
  // Registered after the folder cleanup, so caches close before their folders go.
  const open = useCaches();

  async function filled(n = N): Promise<EmbeddingCache> {
    const cache = await open({ maxEntries: MEMORY, spill: { path: tempDir() } });
    for (let i = 0; i < n; i++) cache.set(textFor(i), vectorFor(i, 1, DIMS));
    await cache.flush();
    return cache;
  }

  it('evicted entries are written to disk and every get returns the exact vector', async () => {
    const cache = await filled();
    const before = cache.stats();
    expect(before.entries).toBeLessThanOrEqual(MEMORY);
    expect(before.evictions).toBeGreaterThanOrEqual(N - MEMORY);
    expect(before.spill).toBeDefined();
    // Each eviction of a live entry became one durable record.
    expect(before.spill!.writes).toBe(before.evictions);
    expect(before.spill!.entries).toBe(before.evictions);
    expect(before.spill!.errors).toBe(0);

    for (let i = 0; i < N; i++) expectVector(cache.get(textFor(i)), vectorFor(i, 1, DIMS));
    const after = cache.stats();
    // Disk hits count as hits; nothing was a miss.
    expect(after.hits - before.hits).toBe(N);
    expect(after.misses - before.misses).toBe(0);
    expect(after.hitRate).toBe(1);
    // At most MEMORY of the N keys could have been in memory: the rest came from disk.
    expect(after.spill!.hits - before.spill!.hits).toBeGreaterThanOrEqual(N - MEMORY);
    expect(after.spill!.misses).toBe(0);
    // Promotion is not a caller's set.
    expect(after.sets).toBe(before.sets);
    expect(cache.checkInvariants()).toEqual([]);
  });

  it('a key served from disk is promoted: the next get is a memory hit', async () => {
    const cache = await filled();
    let promoted = -1;
    for (let i = 0; i < N && promoted < 0; i++) {
      const spillHits = cache.stats().spill!.hits;
      expectVector(cache.get(textFor(i)), vectorFor(i, 1, DIMS));
      if (cache.stats().spill!.hits === spillHits + 1) promoted = i;
    }
    expect(promoted).toBeGreaterThanOrEqual(0);

    const s1 = cache.stats();
    expectVector(cache.get(textFor(promoted)), vectorFor(promoted, 1, DIMS));
    const s2 = cache.stats();
    expect(s2.hits).toBe(s1.hits + 1);
    expect(s2.spill!.hits).toBe(s1.spill!.hits);
    expect(s2.spill!.misses).toBe(s1.spill!.misses);
  });

  it('a key on neither tier is a miss for the cache and for the spill tier', async () => {
    const cache = await filled(100);
    const s1 = cache.stats();
    expect(cache.get('never stored')).toBeUndefined();
    expect(cache.get(textFor(1), { model: 'another-model' })).toBeUndefined();
    const s2 = cache.stats();
    expect(s2.misses).toBe(s1.misses + 2);
    expect(s2.spill!.misses).toBe(s1.spill!.misses + 2);
    expect(s2.hits).toBe(s1.hits);
  });

  it('has() sees entries that are only on disk, without promoting or counting them', async () => {
    const cache = await filled();
    const s1 = cache.stats();
    for (let i = 0; i < N; i++) expect(cache.has(textFor(i))).toBe(true);
    expect(cache.has('never stored')).toBe(false);
    const s2 = cache.stats();
    expect(s2.hits).toBe(s1.hits);
    expect(s2.misses).toBe(s1.misses);
    expect(s2.spill!.hits).toBe(s1.spill!.hits);
    expect(s2.evictions).toBe(s1.evictions); // nothing was promoted, so nothing was pushed out
  });

  it('getMany() returns disk entries in order, with undefined for true misses', async () => {
    const cache = await filled();
    const texts = [...Array.from({ length: N }, (_, i) => textFor(i)), 'missing-a', textFor(7), 'missing-b'];
    const s1 = cache.stats();
    const out = cache.getMany(texts);
    expect(out).toHaveLength(texts.length);
    for (let i = 0; i < N; i++) expectVector(out[i], vectorFor(i, 1, DIMS));
    expect(out[N]).toBeUndefined();
    expectVector(out[N + 1], vectorFor(7, 1, DIMS));
    expect(out[N + 2]).toBeUndefined();
    const s2 = cache.stats();
    expect(s2.hits - s1.hits).toBe(N + 1);
    expect(s2.misses - s1.misses).toBe(2);
    expect(s2.spill!.hits - s1.spill!.hits).toBeGreaterThanOrEqual(N - MEMORY);
  });

  it('getInto() copies a disk entry into the caller buffer at the offset', async () => {
    const cache = await filled();
    const out = new Float32Array(DIMS + 5).fill(-1);
    const spillHits = cache.stats().spill!.hits;
    expect(cache.getInto(textFor(0), out, { offset: 5 })).toBe(true); // the oldest: on disk
    expect(Array.from(out.subarray(0, 5))).toEqual([-1, -1, -1, -1, -1]);
    expect(Array.from(out.subarray(5))).toEqual(Array.from(vectorFor(0, 1, DIMS)));
    expect(cache.stats().spill!.hits).toBe(spillHits + 1);
    expect(cache.getInto('never stored', out)).toBe(false);
  });

  it('getOrCompute() takes disk entries from disk and embeds only the true misses', async () => {
    const cache = await filled();
    const fresh = Array.from({ length: 10 }, (_, j) => `fresh text ${j}`);
    const texts = [...Array.from({ length: N }, (_, i) => textFor(i)), ...fresh];
    const embedded: string[] = [];
    const embed = (missing: string[]): Float32Array[] => {
      embedded.push(...missing);
      return missing.map((t) => vectorFor(N + fresh.indexOf(t), 9, DIMS));
    };
    const s1 = cache.stats();
    const out = await cache.getOrCompute(texts, embed);
    expect(embedded.sort()).toEqual([...fresh].sort());
    expect(out).toHaveLength(texts.length);
    for (let i = 0; i < N; i++) expectVector(out[i], vectorFor(i, 1, DIMS));
    for (let j = 0; j < fresh.length; j++) expectVector(out[N + j], vectorFor(N + j, 9, DIMS));
    expect(cache.stats().spill!.hits - s1.spill!.hits).toBeGreaterThanOrEqual(N - MEMORY - fresh.length);

    // The computed ones were stored: a second call embeds nothing.
    embedded.length = 0;
    const again = await cache.getOrCompute(texts, embed);
    expect(embedded).toEqual([]);
    for (let j = 0; j < fresh.length; j++) expectVector(again[N + j], vectorFor(N + j, 9, DIMS));
  });

  it('an entry overwritten in memory is served with its new value, not the older copy on disk', async () => {
    const cache = await filled();
    // Key 0 was evicted long ago: its version 1 is on disk. Version 2 goes to memory.
    cache.set(textFor(0), vectorFor(0, 2, DIMS));
    expectVector(cache.get(textFor(0)), vectorFor(0, 2, DIMS));
    // Push it out again: the eviction writes version 2 over version 1.
    for (let i = N; i < N + 2 * MEMORY; i++) cache.set(textFor(i), vectorFor(i, 1, DIMS));
    await cache.flush();
    expectVector(cache.get(textFor(0)), vectorFor(0, 2, DIMS));
  });

  it('models and chunk ids stay apart on disk', async () => {
    const cache = await open({ maxEntries: 8, spill: { path: tempDir() } });
    for (let i = 0; i < 40; i++) {
      cache.set(textFor(i), vectorFor(i, 1, DIMS), { model: 'a' });
      cache.set(textFor(i), vectorFor(i, 2, 8), { model: 'b' });
      cache.set(textFor(i), vectorFor(i, 3, DIMS), { model: 'a', chunkId: 'c1' });
    }
    await cache.flush();
    expect(cache.stats().spill!.entries).toBeGreaterThanOrEqual(3 * 40 - 8);
    for (let i = 0; i < 40; i++) {
      expectVector(cache.get(textFor(i), { model: 'a' }), vectorFor(i, 1, DIMS));
      expectVector(cache.get(textFor(i), { model: 'b' }), vectorFor(i, 2, 8));
      expectVector(cache.get(textFor(i), { model: 'a', chunkId: 'c1' }), vectorFor(i, 3, DIMS));
      expect(cache.get(textFor(i), { model: 'a', chunkId: 'c2' })).toBeUndefined();
    }
  });

  it('delete() removes an entry from disk too', async () => {
    const cache = await filled();
    expect(cache.delete(textFor(0))).toBe(true); // on disk only
    expect(cache.delete(textFor(0))).toBe(false);
    expect(cache.has(textFor(0))).toBe(false);
    expect(cache.get(textFor(0))).toBeUndefined();
    await cache.flush();
    expect(cache.get(textFor(0))).toBeUndefined();
    expectVector(cache.get(textFor(1)), vectorFor(1, 1, DIMS));
  });
});
