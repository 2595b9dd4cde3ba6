/**
 * attach(handle): another instance over the same shared memory. Same thread here (the stress
 * tests do it from worker threads): what one instance writes the other reads, and counters are
 * shared.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { EmbeddingCache, type CacheHandle } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache attach', () => {
  const open = useCaches();

  it('an attached instance sees the same entries, both ways', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 32), { model: 'm', chunkId: 'c' });
    const other = await EmbeddingCache.attach(cache.handle);
    try {
      expectVector(other.get('a', { model: 'm', chunkId: 'c' }), vectorFor(1, 1, 32));
      other.set('b', vectorFor(2, 1, 32), { model: 'm' });
      expectVector(cache.get('b', { model: 'm' }), vectorFor(2, 1, 32));
      expect(other.delete('a', { model: 'm', chunkId: 'c' })).toBe(true);
      expect(cache.has('a', { model: 'm', chunkId: 'c' })).toBe(false);
      cache.invalidateModel('m');
      expect(other.get('b', { model: 'm' })).toBeUndefined();
      other.set('z', vectorFor(3, 1, 8));
      cache.clear();
      expect(other.has('z')).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('the handle survives structuredClone() and a MessagePort, and still shares memory', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 16));
    const cloned = structuredClone(cache.handle);
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(cache.handle);
    const posted = receiveMessageOnPort(port2)?.message as CacheHandle;
    port1.close();
    for (const handle of [cloned, posted]) {
      const other = await EmbeddingCache.attach(handle);
      try {
        expectVector(other.get('a'), vectorFor(1, 1, 16));
        other.set(`from-${handle === cloned ? 'clone' : 'port'}`, vectorFor(2, 1, 16));
      } finally {
        await other.close();
      }
    }
    expectVector(cache.get('from-clone'), vectorFor(2, 1, 16));
    expectVector(cache.get('from-port'), vectorFor(2, 1, 16));
  });

  it('counters count the operations of every attached instance', async () => {
    const cache = await open();
    const other = await EmbeddingCache.attach(cache.handle);
    try {
      cache.set('a', vectorFor(1, 1, 4));
      other.set('b', vectorFor(2, 1, 4));
      other.get('a');
      cache.get('b');
      other.get('nope');
      for (const s of [cache.stats(), other.stats()]) {
        expect(s.sets).toBe(2);
        expect(s.hits).toBe(2);
        expect(s.misses).toBe(1);
        expect(s.entries).toBe(2);
      }
    } finally {
      await other.close();
    }
  });

  it('closing an attached instance leaves the original working, and the reverse', async () => {
    const cache = await open({ maxEntries: 100 });
    for (let i = 0; i < 10; i++) cache.set(textFor(i), vectorFor(i, 1, 8));
    const other = await EmbeddingCache.attach(cache.handle);
    await other.close();
    expectVector(cache.get(textFor(3)), vectorFor(3, 1, 8));
    const third = await EmbeddingCache.attach(cache.handle);
    await cache.close();
    expectVector(third.get(textFor(4)), vectorFor(4, 1, 8));
    third.set('late', vectorFor(99, 1, 8));
    expectVector(third.get('late'), vectorFor(99, 1, 8));
    expect(third.stats().maxEntries).toBe(100);
    await third.close();
  });

  it('an attached instance keeps the options: maxEntries and ttl', async () => {
    const cache = await open({ maxEntries: 20 });
    const other = await EmbeddingCache.attach(cache.handle);
    try {
      for (let i = 0; i < 100; i++) other.set(textFor(i), vectorFor(i, 1, 8));
      expect(cache.stats().entries).toBe(20);
      expect(other.stats().entries).toBe(20);
      expect(other.stats().maxEntries).toBe(20);
    } finally {
      await other.close();
    }
  });
});
