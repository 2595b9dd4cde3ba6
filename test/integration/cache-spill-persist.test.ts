/**
 * Warm restarts through the public API. With persist: true every set is written behind, so a
 * cache opened later on the same path serves every entry, bit for bit, under the same keys:
 * the key seed lives in the file and the new cache adopts it. Without persist only evicted
 * entries reach the disk. The file pins the key hash and each model's dimension; a cache that
 * disagrees is refused with an error that names the path.
 */
import { describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { textFor, vector } from '../support/data.mjs';
import { expectBitExact, expectCacheError, expectCacheErrorAsync } from '../support/expect.js';
import { tempDir } from '../support/temp.js';

const DIMS = 64;

describe('cache spill tier: persist and warm restart', () => {
  const open = useCaches();

  it('persist: true — a new cache on the same path serves every entry bit-exact', async () => {
    const path = tempDir();
    const n = 300;
    const first = await open({ spill: { path, persist: true } });
    for (let i = 0; i < n; i++) first.set(textFor(i), vector(i, DIMS));
    first.setMany([textFor(n), textFor(n + 1)], [vector(n, DIMS), vector(n + 1, DIMS)], { model: 'other' });
    await first.close();

    const second = await open({ spill: { path, persist: true } });
    expect(second.stats().entries).toBe(0); // memory starts empty: nothing was loaded eagerly
    expect(second.stats().spill!.entries).toBe(n + 2);
    for (let i = 0; i < n; i++) expectBitExact(second.get(textFor(i)), vector(i, DIMS));
    expectBitExact(second.get(textFor(n), { model: 'other' }), vector(n, DIMS));
    expectBitExact(second.get(textFor(n + 1), { model: 'other' }), vector(n + 1, DIMS));
    expect(second.get(textFor(n))).toBeUndefined(); // other model, same text
    const s = second.stats();
    expect(s.hits).toBe(n + 2);
    expect(s.spill!.hits).toBe(n + 2);
    expect(s.misses).toBe(1);
  });

  it('keys are stable across restarts with keyHash sha256 too (the seed comes from the file)', async () => {
    const path = tempDir();
    const first = await open({ keyHash: 'sha256', spill: { path, persist: true } });
    for (let i = 0; i < 20; i++) first.set(textFor(i), vector(i, DIMS), { chunkId: `c${i}` });
    await first.close();
    for (let round = 0; round < 2; round++) {
      const again = await open({ keyHash: 'sha256', spill: { path, persist: true } });
      for (let i = 0; i < 20; i++) {
        expectBitExact(again.get(textFor(i), { chunkId: `c${i}` }), vector(i, DIMS));
        expect(again.get(textFor(i), { chunkId: `c${i + 1}` })).toBeUndefined();
      }
      await again.close();
    }
  });

  it('a restarted cache keeps writing behind, and a third one sees both generations of writes', async () => {
    const path = tempDir();
    const a = await open({ maxEntries: 16, spill: { path, persist: true } });
    for (let i = 0; i < 100; i++) a.set(textFor(i), vector(i, DIMS));
    await a.close();
    const b = await open({ maxEntries: 16, spill: { path, persist: true } });
    for (let i = 100; i < 200; i++) b.set(textFor(i), vector(i, DIMS));
    b.set(textFor(0), vector(1000, DIMS)); // an overwrite of a persisted entry
    await b.close();
    const c = await open({ spill: { path, persist: true } });
    expectBitExact(c.get(textFor(0)), vector(1000, DIMS));
    for (let i = 1; i < 200; i++) expectBitExact(c.get(textFor(i)), vector(i, DIMS));
  });

  it('flush() resolves and makes every set so far durable; stats count the writes', async () => {
    const path = tempDir();
    const cache = await open({ spill: { path, persist: true } });
    for (let i = 0; i < 50; i++) cache.set(textFor(i), vector(i, DIMS));
    await expect(cache.flush()).resolves.toBeUndefined();
    const s = cache.stats();
    expect(s.spill).toMatchObject({ writes: 50, entries: 50, errors: 0 });
    expect(s.spill!.bytes).toBeGreaterThan(50 * DIMS * 4);
    // Flushing again with nothing queued resolves too, and writes nothing more.
    await cache.flush();
    expect(cache.stats().spill!.writes).toBe(50);
    // A cache without a spill tier has a flush() that resolves and no spill stats.
    const plain = await open();
    await expect(plain.flush()).resolves.toBeUndefined();
    expect(plain.stats().spill).toBeUndefined();
  });

  it('without persist only evicted entries reach the disk; entries still in memory at close are gone', async () => {
    // Observed behaviour: close() flushes what was already handed to the spill tier (the
    // evictions); it does not write the memory tier out. So a restart finds exactly the
    // evicted entries.
    const path = tempDir();
    const first = await open({ maxEntries: 10, spill: { path } });
    for (let i = 0; i < 40; i++) first.set(textFor(i), vector(i, DIMS));
    const evictions = first.stats().evictions;
    expect(evictions).toBeGreaterThanOrEqual(30);
    await first.close();

    const second = await open({ spill: { path } });
    expect(second.stats().spill!.entries).toBe(evictions);
    let found = 0;
    for (let i = 0; i < 40; i++) {
      const v = second.get(textFor(i));
      if (v !== undefined) {
        expectBitExact(v, vector(i, DIMS));
        found++;
      }
    }
    expect(found).toBe(evictions);
    expect(found).toBeLessThan(40);

    // Nothing evicted, nothing on disk.
    const other = tempDir();
    const big = await open({ spill: { path: other } });
    for (let i = 0; i < 40; i++) big.set(textFor(i), vector(i, DIMS));
    await big.close();
    const reopened = await open({ spill: { path: other } });
    expect(reopened.stats().spill!.entries).toBe(0);
    for (let i = 0; i < 40; i++) expect(reopened.get(textFor(i))).toBeUndefined();
  });

  it('reopening with another keyHash is refused with ERR_SPILL_FORMAT naming the path', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, DIMS));
    await first.close();
    const err = await expectCacheErrorAsync(
      () => EmbeddingCache.open({ keyHash: 'sha256', spill: { path } }),
      'ERR_SPILL_FORMAT',
    );
    expect(err.message).toContain(path);
    expect(err.message).toContain('sha256');
    // The refusal left the file usable by a matching cache.
    const again = await open({ spill: { path, persist: true } });
    expectBitExact(again.get('x'), vector(1, DIMS));
  });

  it("a model's dims are checked against the file after a restart", async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, 8), { model: 'm' });
    await first.close();

    const second = await open({ spill: { path, persist: true } });
    const err = expectCacheError(
      () => second.set('y', vector(2, 16), { model: 'm' }),
      'ERR_DIMENSION_MISMATCH',
    );
    expect(err.message).toContain(path);
    // Another model is free to use another size.
    second.set('y', vector(2, 16), { model: 'n' });
    expectBitExact(second.get('y', { model: 'n' }), vector(2, 16));
  });

  it('a refused set of the wrong size leaves the model usable at its file size', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, 8), { model: 'm' });
    await first.close();

    const second = await open({ spill: { path, persist: true } });
    expectCacheError(() => second.set('y', vector(2, 16), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
    // The refused vector must not have fixed the model's size in memory: the persisted entry
    // still reads back (a get never throws for it) and vectors of the file's size still store.
    expectBitExact(second.get('x', { model: 'm' }), vector(1, 8));
    second.set('z', vector(3, 8), { model: 'm' });
    expectBitExact(second.get('z', { model: 'm' }), vector(3, 8));
  });

  it('after a restart the first vector of a model read from disk fixes its size in memory', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, 8), { model: 'm' });
    await first.close();
    const second = await open({ spill: { path, persist: true } });
    expectBitExact(second.get('x', { model: 'm' }), vector(1, 8)); // promotes: memory learns 8
    expectCacheError(() => second.set('y', vector(2, 16), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
    second.set('y', vector(2, 8), { model: 'm' });
    expectBitExact(second.get('y', { model: 'm' }), vector(2, 8));
  });
});
