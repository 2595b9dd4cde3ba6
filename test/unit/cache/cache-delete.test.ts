/** delete(): removes one entry, reports whether it was there, touches nothing else. */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache delete', () => {
  const open = useCaches();

  it('removes the entry and returns true; a second delete returns false', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8));
    expect(cache.delete('a')).toBe(true);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.has('a')).toBe(false);
    expect(cache.delete('a')).toBe(false);
    expect(cache.stats().entries).toBe(0);
  });

  it('returns false for a text never set, including under an unknown model', async () => {
    const cache = await open();
    expect(cache.delete('nothing')).toBe(false);
    expect(cache.delete('nothing', { model: 'never-seen' })).toBe(false);
  });

  it('removes only the given (model, chunkId, text)', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8));
    cache.set('a', vectorFor(2, 1, 8), { model: 'm' });
    cache.set('a', vectorFor(3, 1, 8), { chunkId: 'c' });
    cache.set('b', vectorFor(4, 1, 8));
    expect(cache.delete('a')).toBe(true);
    expect(cache.get('a')).toBeUndefined();
    expectVector(cache.get('a', { model: 'm' }), vectorFor(2, 1, 8));
    expectVector(cache.get('a', { chunkId: 'c' }), vectorFor(3, 1, 8));
    expectVector(cache.get('b'), vectorFor(4, 1, 8));
    expect(cache.stats().entries).toBe(3);
  });

  it('a deleted text can be set again', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8));
    cache.delete('a');
    cache.set('a', vectorFor(1, 2, 8));
    expectVector(cache.get('a'), vectorFor(1, 2, 8));
    expect(cache.stats().entries).toBe(1);
  });

  it('counts deletes that removed an entry', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 8));
    cache.set('b', vectorFor(2, 1, 8));
    cache.delete('a');
    cache.delete('b');
    cache.delete('c');
    const s = cache.stats();
    expect(s.deletes).toBe(2);
    expect(s.entries).toBe(0);
  });
});
