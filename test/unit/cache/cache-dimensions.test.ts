/** A model's dimension is fixed by its first vector; models of different dimensions coexist. */
import { describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectCacheError, expectVector } from '../../support/expect.js';

describe('cache dimensions', () => {
  const open = useCaches();

  it("a vector of another length than the model's first throws ERR_DIMENSION_MISMATCH", async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 384));
    const err = expectCacheError(() => cache.set('b', vectorFor(2, 1, 768)), 'ERR_DIMENSION_MISMATCH');
    expect(err.message).toMatch(/384/);
    expect(err.message).toMatch(/768/);
    expect(cache.get('b')).toBeUndefined();
    expectVector(cache.get('a'), vectorFor(1, 1, 384));
  });

  it('a mismatched overwrite leaves the old vector in place', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 16));
    expectCacheError(() => cache.set('a', vectorFor(1, 2, 15)), 'ERR_DIMENSION_MISMATCH');
    expectCacheError(() => cache.set('a', [1, 2, 3]), 'ERR_DIMENSION_MISMATCH');
    expectVector(cache.get('a'), vectorFor(1, 1, 16));
    expect(cache.stats().entries).toBe(1);
  });

  it('setMany with a mismatched vector throws and stores nothing', async () => {
    const cache = await open();
    cache.set('first', vectorFor(0, 1, 8));
    expectCacheError(
      () => cache.setMany(['a', 'b'], [vectorFor(1, 1, 8), vectorFor(2, 1, 9)]),
      'ERR_DIMENSION_MISMATCH',
    );
    expect(cache.getMany(['a', 'b'])).toEqual([undefined, undefined]);
    const cache2 = await open();
    expectCacheError(
      () => cache2.setMany(['a', 'b'], [vectorFor(1, 1, 8), vectorFor(2, 1, 9)]),
      'ERR_DIMENSION_MISMATCH',
    );
    expect(cache2.getMany(['a', 'b'])).toEqual([undefined, undefined]);
  });

  it('the first setMany fixes the dimension like the first set', async () => {
    const cache = await open();
    cache.setMany(['a', 'b'], [vectorFor(1, 1, 12), vectorFor(2, 1, 12)], { model: 'm' });
    expectCacheError(() => cache.set('c', vectorFor(3, 1, 13), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
  });

  it('several models of different dimensions live in one cache', async () => {
    const cache = await open();
    const models = [
      { model: 'tiny', dims: 3 },
      { model: 'mini', dims: 384 },
      { model: 'base', dims: 768 },
      { model: 'large', dims: 1536 },
      { model: 'xl', dims: 3072 },
    ];
    for (let i = 0; i < 200; i++) {
      for (const [m, { model, dims }] of models.entries())
        cache.set(textFor(i), vectorFor(i, m, dims), { model });
    }
    for (let i = 0; i < 200; i++) {
      for (const [m, { model, dims }] of models.entries())
        expectVector(cache.get(textFor(i), { model }), vectorFor(i, m, dims));
    }
    expect(cache.stats().entries).toBe(1000);
    expectCacheError(() => cache.set('x', vectorFor(0, 0, 768), { model: 'mini' }), 'ERR_DIMENSION_MISMATCH');
  });

  it('a dimension fixed in one instance holds in an attached one', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 32), { model: 'm' });
    const other = await EmbeddingCache.attach(cache.handle);
    try {
      expectCacheError(() => other.set('b', vectorFor(2, 1, 64), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
      other.set('c', vectorFor(3, 1, 64), { model: 'n' });
      expectCacheError(() => cache.set('d', vectorFor(4, 1, 32), { model: 'n' }), 'ERR_DIMENSION_MISMATCH');
    } finally {
      await other.close();
    }
  });
});
