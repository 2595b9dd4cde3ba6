/** keyHash: 'sha256' behaves exactly like the default hash, across attached instances too. */
import { describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe("keyHash: 'sha256'", () => {
  const open = useCaches();

  it('round trips, misses and overwrites', async () => {
    const cache = await open({ keyHash: 'sha256' });
    for (let i = 0; i < 100; i++) cache.set(textFor(i, 1000), vectorFor(i, 1, 64));
    cache.set(textFor(5, 1000), vectorFor(5, 2, 64));
    for (let i = 0; i < 100; i++)
      expectVector(cache.get(textFor(i, 1000)), vectorFor(i, i === 5 ? 2 : 1, 64));
    expect(cache.get(textFor(100, 1000))).toBeUndefined();
    expect(cache.stats().entries).toBe(100);
  });

  it('keeps model, chunkId and text framed apart', async () => {
    const cache = await open({ keyHash: 'sha256' });
    cache.set('c', vectorFor(1, 1, 4), { model: 'ab' });
    cache.set('bc', vectorFor(2, 1, 4), { model: 'a' });
    cache.set('c', vectorFor(3, 1, 4), { chunkId: 'ab' });
    cache.set('bc', vectorFor(4, 1, 4), { chunkId: 'a' });
    cache.set('abc', vectorFor(5, 1, 4));
    expectVector(cache.get('c', { model: 'ab' }), vectorFor(1, 1, 4));
    expectVector(cache.get('bc', { model: 'a' }), vectorFor(2, 1, 4));
    expectVector(cache.get('c', { chunkId: 'ab' }), vectorFor(3, 1, 4));
    expectVector(cache.get('bc', { chunkId: 'a' }), vectorFor(4, 1, 4));
    expectVector(cache.get('abc'), vectorFor(5, 1, 4));
    expect(cache.stats().entries).toBe(5);
  });

  it('supports delete, invalidateModel, getMany/setMany and clear', async () => {
    const cache = await open({ keyHash: 'sha256' });
    cache.setMany(['a', 'b', 'c'], [vectorFor(1, 1, 4), vectorFor(2, 1, 4), vectorFor(3, 1, 4)], {
      model: 'm',
    });
    cache.set('a', vectorFor(9, 1, 8));
    expect(cache.delete('b', { model: 'm' })).toBe(true);
    const got = cache.getMany(['a', 'b', 'c'], { model: 'm' });
    expectVector(got[0], vectorFor(1, 1, 4));
    expect(got[1]).toBeUndefined();
    expectVector(got[2], vectorFor(3, 1, 4));
    cache.invalidateModel('m');
    expect(cache.getMany(['a', 'c'], { model: 'm' })).toEqual([undefined, undefined]);
    expectVector(cache.get('a'), vectorFor(9, 1, 8));
    cache.clear();
    expect(cache.get('a')).toBeUndefined();
  });

  it('an attached instance computes the same keys', async () => {
    const cache = await open({ keyHash: 'sha256' });
    cache.set('a', vectorFor(1, 1, 16), { chunkId: 'x' });
    const other = await EmbeddingCache.attach(structuredClone(cache.handle));
    try {
      expectVector(other.get('a', { chunkId: 'x' }), vectorFor(1, 1, 16));
      other.set('b', vectorFor(2, 1, 16));
      expectVector(cache.get('b'), vectorFor(2, 1, 16));
    } finally {
      await other.close();
    }
  });
});
