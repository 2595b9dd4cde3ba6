/**
 * TTL: an expired entry is a miss, counted in stats.expirations, and its room is reused first.
 * Real time, not fake timers: the cache may read the clock anywhere (and in other threads).
 * Short TTLs are only used where the test then waits well past them; entries that must still be
 * there use long TTLs, so a slow machine cannot make these tests flaky.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

const SHORT = 40;
const WAIT = 150;
const LONG = 10 * 60_000;

describe('cache TTL', () => {
  const open = useCaches();

  it('an entry past the default ttlMs is a miss, counted as an expiration', async () => {
    const cache = await open({ ttlMs: SHORT });
    for (let i = 0; i < 3; i++) cache.set(textFor(i), vectorFor(i, 1, 8));
    await sleep(WAIT);
    for (let i = 0; i < 3; i++) expect(cache.get(textFor(i))).toBeUndefined();
    const s = cache.stats();
    expect(s.expirations).toBe(3);
    expect(s.misses).toBe(3);
    expect(s.hits).toBe(0);
    expect(cache.has(textFor(0))).toBe(false);
    expect(cache.getMany([textFor(1), textFor(2)])).toEqual([undefined, undefined]);
  });

  it('a per-entry ttlMs overrides the default (0 = never expires)', async () => {
    const cache = await open({ ttlMs: SHORT });
    cache.set('forever', vectorFor(1, 1, 8), { ttlMs: 0 });
    cache.set('long', vectorFor(2, 1, 8), { ttlMs: LONG });
    cache.set('default', vectorFor(3, 1, 8));
    await sleep(WAIT);
    expectVector(cache.get('forever'), vectorFor(1, 1, 8));
    expectVector(cache.get('long'), vectorFor(2, 1, 8));
    expect(cache.get('default')).toBeUndefined();
  });

  it('with no default ttl, only entries given a ttlMs expire', async () => {
    const cache = await open();
    cache.set('short', vectorFor(1, 1, 8), { ttlMs: SHORT });
    cache.set('plain', vectorFor(2, 1, 8));
    cache.setMany(['many-a', 'many-b'], [vectorFor(3, 1, 8), vectorFor(4, 1, 8)], { ttlMs: SHORT });
    await sleep(WAIT);
    expect(cache.get('short')).toBeUndefined();
    expect(cache.getMany(['many-a', 'many-b'])).toEqual([undefined, undefined]);
    expectVector(cache.get('plain'), vectorFor(2, 1, 8));
    expect(cache.stats().expirations).toBe(3);
  });

  it('setting an expired text again makes it live with the new ttl', async () => {
    const cache = await open({ ttlMs: SHORT });
    cache.set('a', vectorFor(1, 1, 8));
    await sleep(WAIT);
    cache.set('a', vectorFor(1, 2, 8), { ttlMs: LONG });
    expectVector(cache.get('a'), vectorFor(1, 2, 8));
    expect(cache.stats().entries).toBe(1);
  });

  it('an expired entry cannot be deleted (it is already gone)', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8), { ttlMs: SHORT });
    await sleep(WAIT);
    expect(cache.delete('a')).toBe(false);
  });

  it('expired entries are reclaimed before live ones are evicted', async () => {
    const cache = await open({ maxEntries: 8 });
    for (let i = 0; i < 4; i++) cache.set(`short-${i}`, vectorFor(i, 1, 8), { ttlMs: SHORT });
    for (let i = 0; i < 4; i++) cache.set(`live-${i}`, vectorFor(i, 2, 8));
    await sleep(WAIT);
    for (let i = 0; i < 4; i++) cache.set(`new-${i}`, vectorFor(i, 3, 8));
    for (let i = 0; i < 4; i++) {
      expectVector(cache.get(`live-${i}`), vectorFor(i, 2, 8));
      expectVector(cache.get(`new-${i}`), vectorFor(i, 3, 8));
    }
    const s = cache.stats();
    expect(s.evictions).toBe(0);
    expect(s.expirations).toBe(4);
    expect(s.entries).toBe(8);
  });
});
