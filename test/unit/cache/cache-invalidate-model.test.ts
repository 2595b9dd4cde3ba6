/** invalidateModel(): every entry of one model becomes a miss at once; nothing else changes. */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache invalidateModel', () => {
  const open = useCaches();

  it('entries of the model become misses; other models are untouched', async () => {
    const cache = await open();
    for (let i = 0; i < 50; i++) {
      cache.set(textFor(i), vectorFor(i, 1, 16), { model: 'old' });
      cache.set(textFor(i), vectorFor(i, 2, 32), { model: 'keep' });
      cache.set(textFor(i), vectorFor(i, 3, 16));
    }
    cache.invalidateModel('old');
    for (let i = 0; i < 50; i++) {
      expect(cache.get(textFor(i), { model: 'old' })).toBeUndefined();
      expect(cache.has(textFor(i), { model: 'old' })).toBe(false);
      expectVector(cache.get(textFor(i), { model: 'keep' }), vectorFor(i, 2, 32));
      expectVector(cache.get(textFor(i)), vectorFor(i, 3, 16));
    }
    expect(cache.stats().entries).toBe(100);
  });

  it('entries with chunk ids are invalidated too', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8), { model: 'm', chunkId: 'x' });
    cache.invalidateModel('m');
    expect(cache.get('a', { model: 'm', chunkId: 'x' })).toBeUndefined();
  });

  it('set after invalidate works, with the same dimension', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8), { model: 'm' });
    cache.set('b', vectorFor(2, 1, 8), { model: 'm' });
    cache.invalidateModel('m');
    cache.set('a', vectorFor(1, 2, 8), { model: 'm' });
    expectVector(cache.get('a', { model: 'm' }), vectorFor(1, 2, 8));
    expect(cache.get('b', { model: 'm' })).toBeUndefined();
    expect(cache.stats().entries).toBe(1);
  });

  it('invalidating twice, or a model never seen, is harmless', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8));
    cache.invalidateModel('never-seen');
    cache.invalidateModel('m');
    cache.invalidateModel('m');
    expectVector(cache.get('a'), vectorFor(1, 1, 8));
    expect(cache.stats().entries).toBe(1);
  });

  it('the default model can be invalidated by name', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8));
    cache.set('a', vectorFor(2, 1, 8), { model: 'other' });
    cache.invalidateModel('default');
    expect(cache.get('a')).toBeUndefined();
    expectVector(cache.get('a', { model: 'other' }), vectorFor(2, 1, 8));
  });

  it('stats.invalidations counts the dropped entries', async () => {
    const cache = await open();
    expect(cache.stats().invalidations).toBe(0);
    for (let i = 0; i < 3; i++) cache.set(textFor(i), vectorFor(i, 1, 8), { model: 'm' });
    cache.set('other', vectorFor(9, 1, 8));
    cache.invalidateModel('m');
    const s = cache.stats();
    expect(s.invalidations).toBe(3);
    expect(s.entries).toBe(1);
  });
});
