/** getMany/setMany: batch forms of get/set that keep the caller's order. */
import { describe, expect, it } from 'vitest';
import { EmbeddingCacheError } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache getMany/setMany', () => {
  const open = useCaches();

  it('setMany stores each vector under its text; getMany answers in input order', async () => {
    const cache = await open();
    const texts = [0, 1, 2, 3, 4].map((i) => textFor(i));
    cache.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 1, 16)),
    );
    const order = [4, 0, 3, 1, 2];
    const got = cache.getMany(order.map((i) => textFor(i)));
    expect(got).toHaveLength(5);
    order.forEach((k, i) => expectVector(got[i], vectorFor(k, 1, 16)));
  });

  it('getMany puts undefined at the misses and keeps duplicates', async () => {
    const cache = await open();
    cache.setMany(['a', 'c'], [vectorFor(1, 1, 4), vectorFor(3, 1, 4)]);
    const got = cache.getMany(['a', 'b', 'c', 'a', 'z']);
    expect(got).toHaveLength(5);
    expectVector(got[0], vectorFor(1, 1, 4));
    expect(got[1]).toBeUndefined();
    expectVector(got[2], vectorFor(3, 1, 4));
    expectVector(got[3], vectorFor(1, 1, 4));
    expect(got[4]).toBeUndefined();
    expect(got[0]).not.toBe(got[3]);
  });

  it('setMany and getMany honour model and chunkId', async () => {
    const cache = await open();
    cache.setMany(['a', 'b'], [vectorFor(1, 1, 4), vectorFor(2, 1, 4)], { model: 'm', chunkId: 'c' });
    expect(cache.getMany(['a', 'b'])).toEqual([undefined, undefined]);
    expect(cache.getMany(['a', 'b'], { model: 'm' })).toEqual([undefined, undefined]);
    const got = cache.getMany(['a', 'b'], { model: 'm', chunkId: 'c' });
    expectVector(got[0], vectorFor(1, 1, 4));
    expectVector(got[1], vectorFor(2, 1, 4));
  });

  it('setMany with a repeated text keeps the last vector', async () => {
    const cache = await open();
    cache.setMany(['a', 'a'], [vectorFor(1, 1, 4), vectorFor(1, 2, 4)]);
    expectVector(cache.get('a'), vectorFor(1, 2, 4));
    expect(cache.stats().entries).toBe(1);
  });

  it('empty batches are fine', async () => {
    const cache = await open();
    cache.setMany([], []);
    expect(cache.getMany([])).toEqual([]);
    expect(cache.stats().entries).toBe(0);
  });

  it('a length mismatch throws and stores nothing', async () => {
    const cache = await open();
    let thrown: unknown;
    try {
      cache.setMany(['a', 'b', 'c'], [vectorFor(1, 1, 4), vectorFor(2, 1, 4)]);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(EmbeddingCacheError);
    expect((thrown as Error).message).toMatch(/3/);
    expect((thrown as Error).message).toMatch(/2/);
    expect(cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined]);
    expect(cache.stats().entries).toBe(0);
  });

  it('a bad vector anywhere in the batch throws before anything is stored', async () => {
    const cache = await open();
    expect(() =>
      cache.setMany(['a', 'b', 'c'], [vectorFor(1, 1, 4), vectorFor(2, 1, 4), [1, NaN, 3, 4]]),
    ).toThrow(EmbeddingCacheError);
    expect(cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined]);
    expect(cache.stats().sets).toBe(0);
  });

  it('getMany and setMany count like the single-key forms', async () => {
    const cache = await open();
    cache.setMany(['a', 'b'], [vectorFor(1, 1, 4), vectorFor(2, 1, 4)]);
    cache.getMany(['a', 'x', 'b', 'y', 'z']);
    const s = cache.stats();
    expect(s.sets).toBe(2);
    expect(s.hits).toBe(2);
    expect(s.misses).toBe(3);
  });
});
