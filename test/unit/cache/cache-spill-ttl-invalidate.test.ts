/**
 * What must never come back from the disk: an entry past its TTL, an entry of an invalidated
 * model, anything from before a clear(), and an older value that a newer set replaced. Each
 * test first shows the entries really are on disk (has() or a disk hit), so a disk tier that
 * silently wrote nothing could not pass it.
 * Real time (TTL 250 ms, then a sleep of 400): the cache and LMDB read the clock themselves. The
 * TTL leaves room for a loaded machine between the sets and the first check (each check that
 * an entry is still fresh runs within it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';
import { tempDir } from '../../support/temp.js';

const TTL = 250;
const WAIT = 400;
const DIMS = 16;
const MEMORY = 8;
const N = 60;

describe('cache spill tier: TTL on disk', () => {
  const open = useCaches();

  it('entries past their TTL are never returned from disk', async () => {
    const cache = await open({ maxEntries: MEMORY, ttlMs: TTL, spill: { path: tempDir() } });
    for (let i = 0; i < N; i++) cache.set(textFor(i), vectorFor(i, 1, DIMS));
    await cache.flush();
    const onDisk = cache.stats().spill!.entries;
    expect(onDisk).toBeGreaterThanOrEqual(N - MEMORY);
    expect(cache.has(textFor(0))).toBe(true); // evicted first: it is on disk, and still fresh

    await sleep(WAIT);
    const s1 = cache.stats();
    for (let i = 0; i < N; i++) {
      expect(cache.get(textFor(i))).toBeUndefined();
      expect(cache.has(textFor(i))).toBe(false);
    }
    expect(cache.getMany([textFor(0), textFor(N - 1)])).toEqual([undefined, undefined]);
    const s2 = cache.stats();
    expect(s2.spill!.hits).toBe(s1.spill!.hits);
    expect(s2.hits).toBe(s1.hits);
    expect(s2.misses - s1.misses).toBe(N + 2);
  });

  it('a per-entry ttlMs applies on disk; entries without one stay', async () => {
    const cache = await open({ maxEntries: MEMORY, spill: { path: tempDir() } });
    for (let i = 0; i < N; i++)
      cache.set(textFor(i), vectorFor(i, 1, DIMS), i % 2 === 0 ? { ttlMs: TTL } : undefined);
    await cache.flush();
    await sleep(WAIT);
    for (let i = 0; i < N; i++) {
      if (i % 2 === 0) expect(cache.get(textFor(i))).toBeUndefined();
      else expectVector(cache.get(textFor(i)), vectorFor(i, 1, DIMS));
    }
  });

  it('persisted entries past their TTL do not come back after a restart', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    for (let i = 0; i < 20; i++)
      first.set(textFor(i), vectorFor(i, 1, DIMS), i < 10 ? { ttlMs: TTL } : undefined);
    await first.close();
    const second = await open({ spill: { path, persist: true } });
    expect(second.has(textFor(0))).toBe(true); // still fresh: on disk
    await sleep(WAIT);
    for (let i = 0; i < 10; i++) expect(second.get(textFor(i))).toBeUndefined();
    for (let i = 10; i < 20; i++) expectVector(second.get(textFor(i)), vectorFor(i, 1, DIMS));
  });

  it('a promoted entry keeps its expiry: it expires in memory as it would have on disk', async () => {
    const cache = await open({ maxEntries: MEMORY, spill: { path: tempDir() } });
    for (let i = 0; i < N; i++) cache.set(textFor(i), vectorFor(i, 1, DIMS), { ttlMs: TTL * 4 });
    await cache.flush();
    expectVector(cache.get(textFor(0)), vectorFor(0, 1, DIMS)); // from disk, now in memory
    await sleep(TTL * 4 + WAIT);
    expect(cache.get(textFor(0))).toBeUndefined();
  });

  it('an older value on disk does not come back when the newer value set over it expires', async () => {
    const cache = await open({ maxEntries: MEMORY, spill: { path: tempDir() } });
    cache.set('k', vectorFor(1, 1, DIMS)); // no TTL
    for (let i = 0; i < N; i++) cache.set(textFor(i), vectorFor(i, 1, DIMS)); // pushes 'k' to disk
    await cache.flush();
    expect(cache.has('k')).toBe(true);
    cache.set('k', vectorFor(1, 2, DIMS), { ttlMs: TTL }); // replaces version 1
    expectVector(cache.get('k'), vectorFor(1, 2, DIMS));
    await sleep(WAIT);
    // Version 2 expired. Version 1 was replaced, so it must not be served either.
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('cache spill tier: invalidateModel and clear on disk', () => {
  const open = useCaches();

  it('invalidateModel: the model misses in memory and on disk, other models are untouched', async () => {
    const cache = await open({ maxEntries: MEMORY, spill: { path: tempDir() } });
    for (let i = 0; i < N; i++) {
      cache.set(textFor(i), vectorFor(i, 1, DIMS), { model: 'a' });
      cache.set(textFor(i), vectorFor(i, 2, 4), { model: 'b' });
    }
    await cache.flush();
    expect(cache.stats().spill!.entries).toBeGreaterThanOrEqual(2 * N - MEMORY);
    expect(cache.has(textFor(0), { model: 'a' })).toBe(true); // on disk before the invalidation

    cache.invalidateModel('a');
    const s1 = cache.stats();
    for (let i = 0; i < N; i++) {
      expect(cache.get(textFor(i), { model: 'a' })).toBeUndefined();
      expect(cache.has(textFor(i), { model: 'a' })).toBe(false);
    }
    expect(cache.getMany([textFor(0), textFor(1)], { model: 'a' })).toEqual([undefined, undefined]);
    expect(cache.stats().spill!.hits).toBe(s1.spill!.hits);
    for (let i = 0; i < N; i++) expectVector(cache.get(textFor(i), { model: 'b' }), vectorFor(i, 2, 4));

    // Still gone once the background sweep has had its chance.
    await cache.flush();
    await sleep(20);
    for (let i = 0; i < N; i++) expect(cache.get(textFor(i), { model: 'a' })).toBeUndefined();
  });

  it('a set after invalidateModel works, in memory and through the disk', async () => {
    const cache = await open({ maxEntries: MEMORY, spill: { path: tempDir() } });
    for (let i = 0; i < N; i++) cache.set(textFor(i), vectorFor(i, 1, DIMS), { model: 'a' });
    await cache.flush();
    cache.invalidateModel('a');
    for (let i = 0; i < N; i++) cache.set(textFor(i), vectorFor(i, 3, DIMS), { model: 'a' });
    await cache.flush();
    for (let i = 0; i < N; i++) expectVector(cache.get(textFor(i), { model: 'a' }), vectorFor(i, 3, DIMS));
    // Most of those came from disk: the new generation is written and read there.
    expect(cache.stats().spill!.hits).toBeGreaterThanOrEqual(N - MEMORY);
  });

  it('invalidateModel reaches persisted entries: a restart does not bring them back', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    for (let i = 0; i < 20; i++) {
      first.set(textFor(i), vectorFor(i, 1, DIMS), { model: 'a' });
      first.set(textFor(i), vectorFor(i, 2, DIMS), { model: 'b' });
    }
    await first.close();
    // A model this process never saw in memory: the invalidation is on disk only.
    const second = await open({ spill: { path, persist: true } });
    second.invalidateModel('a');
    for (let i = 0; i < 20; i++) expect(second.get(textFor(i), { model: 'a' })).toBeUndefined();
    await second.close();
    const third = await open({ spill: { path, persist: true } });
    for (let i = 0; i < 20; i++) {
      expect(third.get(textFor(i), { model: 'a' })).toBeUndefined();
      expectVector(third.get(textFor(i), { model: 'b' }), vectorFor(i, 2, DIMS));
    }
  });

  it('clear(): nothing comes back from disk, now or after a restart; new sets work', async () => {
    const path = tempDir();
    const cache = await open({ maxEntries: MEMORY, spill: { path, persist: true } });
    for (let i = 0; i < N; i++) {
      cache.set(textFor(i), vectorFor(i, 1, DIMS), { model: 'a' });
      cache.set(textFor(i), vectorFor(i, 2, DIMS), { model: 'b' });
    }
    await cache.flush();
    expect(cache.stats().spill!.entries).toBe(2 * N);
    expect(cache.has(textFor(0), { model: 'b' })).toBe(true);

    cache.clear();
    expect(cache.stats().entries).toBe(0);
    for (let i = 0; i < N; i++) {
      expect(cache.get(textFor(i), { model: 'a' })).toBeUndefined();
      expect(cache.has(textFor(i), { model: 'b' })).toBe(false);
    }
    expect(cache.stats().spill!.hits).toBe(0);

    cache.set(textFor(0), vectorFor(0, 5, DIMS), { model: 'a' });
    expectVector(cache.get(textFor(0), { model: 'a' }), vectorFor(0, 5, DIMS));
    await cache.close();

    const reopened = await open({ spill: { path, persist: true } });
    expectVector(reopened.get(textFor(0), { model: 'a' }), vectorFor(0, 5, DIMS));
    for (let i = 1; i < N; i++) {
      expect(reopened.get(textFor(i), { model: 'a' })).toBeUndefined();
      expect(reopened.get(textFor(i), { model: 'b' })).toBeUndefined();
    }
  });
});
