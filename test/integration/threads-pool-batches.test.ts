/**
 * The pool runs getMany / setMany / hashKeys in worker threads attached to the same cache: its
 * answers equal the in-thread ones, for batches that fit one task and batches cut into several.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CachePool, createCachePool } from '../../src/threads/pool.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';

const DIMS = 64;

describe('pool: batched getMany / setMany / hashKeys', () => {
  const open = useCaches();
  let pool: CachePool | undefined;
  afterEach(async () => {
    await pool?.destroy();
    pool = undefined;
  });

  it('equals the in-thread results', async () => {
    const cache = await open();
    pool = createCachePool(cache, { threads: 2 });
    expect(pool.threads).toBe(2);
    // 700 texts: more than one task's worth (cut in two tasks).
    const texts = Array.from({ length: 700 }, (_, i) => textFor(i, 200 + (i % 50) * 20));

    // setMany through the pool: the main thread sees every entry.
    const stored = texts.slice(0, 500);
    await pool.setMany(
      stored,
      stored.map((_, i) => vectorFor(i, 3, DIMS)),
    );
    for (let i = 0; i < 500; i += 37)
      expect(Array.from(cache.get(texts[i]!)!)).toEqual(Array.from(vectorFor(i, 3, DIMS)));
    expect(cache.stats().entries).toBe(500);

    // getMany through the pool: same hits and misses, same vectors, in order.
    const fromPool = await pool.getMany(texts);
    const inThread = cache.getMany(texts);
    expect(fromPool).toHaveLength(texts.length);
    for (let i = 0; i < texts.length; i++) {
      if (inThread[i] === undefined) {
        expect(fromPool[i], `text ${i}`).toBeUndefined();
      } else {
        expect(fromPool[i]).toBeInstanceOf(Float32Array);
        expect(Array.from(fromPool[i]!), `text ${i}`).toEqual(Array.from(inThread[i]!));
      }
    }
    expect(fromPool.filter((v) => v !== undefined)).toHaveLength(500);

    // Set in this thread, read in the pool, per model.
    cache.set('only here', vectorFor(9, 9, 4), { model: 'm2' });
    const both = await pool.getMany(['only here', 'only here'], { model: 'm2' });
    expect(both).toHaveLength(2);
    for (const v of both) expect(Array.from(v!)).toEqual(Array.from(vectorFor(9, 9, 4)));
    expect(await pool.getMany(['only here'])).toEqual([undefined]);

    // hashKeys: 4 words per text, equal to the in-thread key.
    const keys = await pool.hashKeys(texts, { model: 'm2', chunkId: 'c' });
    expect(keys).toBeInstanceOf(Int32Array);
    expect(keys.length).toBe(texts.length * 4);
    const mine = new Int32Array(texts.length * 4);
    for (let i = 0; i < texts.length; i++)
      cache.keyWords(texts[i]!, { model: 'm2', chunkId: 'c' }, mine, i * 4);
    expect(Array.from(keys)).toEqual(Array.from(mine));
    expect(
      new Set(Array.from({ length: texts.length }, (_, i) => keys.subarray(i * 4, i * 4 + 4).join())).size,
    ).toBe(texts.length);
  });

  it('keeps error codes across the thread boundary and validates its arguments', async () => {
    const cache = await open();
    pool = createCachePool(cache, { threads: 1 });
    await expect(
      pool.setMany(
        ['a', 'b'],
        [
          [1, 2],
          [1, NaN],
        ],
      ),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_VECTOR' });
    expect(cache.has('a')).toBe(false); // validated before anything was stored
    await expect(pool.setMany(['a'], [[1], [2]])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(pool.getMany('a' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(pool.getMany(['a', 3 as never])).rejects.toMatchObject({ code: 'ERR_INVALID_TEXT' });
    expect(() => createCachePool(cache, { threads: 0 })).toThrow(RangeError);
    expect(await pool.getMany([])).toEqual([]);
    expect((await pool.hashKeys([])).length).toBe(0);
  });
});
