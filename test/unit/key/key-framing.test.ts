/**
 * Keys are (model, chunkId, text) with unambiguous framing: every distinct triple is its own
 * entry, whatever the strings contain.
 */
import { describe, expect, it } from 'vitest';
import { EmbeddingCacheError } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache keys', () => {
  const open = useCaches();

  it('model defaults to "default"', async () => {
    const cache = await open();
    cache.set('t', vectorFor(1, 1, 8));
    expectVector(cache.get('t', { model: 'default' }), vectorFor(1, 1, 8));
    cache.set('u', vectorFor(2, 1, 8), { model: 'default' });
    expectVector(cache.get('u'), vectorFor(2, 1, 8));
  });

  it('the same text under two models is two entries', async () => {
    const cache = await open();
    cache.set('t', vectorFor(1, 1, 8), { model: 'a' });
    cache.set('t', vectorFor(2, 1, 8), { model: 'b' });
    expectVector(cache.get('t', { model: 'a' }), vectorFor(1, 1, 8));
    expectVector(cache.get('t', { model: 'b' }), vectorFor(2, 1, 8));
    expect(cache.get('t')).toBeUndefined();
    expect(cache.stats().entries).toBe(2);
  });

  it('the same text with and without a chunkId, and under two chunkIds, is separate entries', async () => {
    const cache = await open();
    cache.set('t', vectorFor(1, 1, 8));
    cache.set('t', vectorFor(2, 1, 8), { chunkId: 'doc1#0' });
    cache.set('t', vectorFor(3, 1, 8), { chunkId: 'doc1#1' });
    cache.set('t', vectorFor(4, 1, 8), { chunkId: '' });
    expectVector(cache.get('t'), vectorFor(1, 1, 8));
    expectVector(cache.get('t', { chunkId: 'doc1#0' }), vectorFor(2, 1, 8));
    expectVector(cache.get('t', { chunkId: 'doc1#1' }), vectorFor(3, 1, 8));
    expectVector(cache.get('t', { chunkId: '' }), vectorFor(4, 1, 8));
    expect(cache.stats().entries).toBe(4);
  });

  it("framing: ('ab','c') and ('a','bc') as (model, text) are different entries", async () => {
    const cache = await open();
    cache.set('c', vectorFor(1, 1, 8), { model: 'ab' });
    expect(cache.get('bc', { model: 'a' })).toBeUndefined();
    cache.set('bc', vectorFor(2, 1, 8), { model: 'a' });
    expectVector(cache.get('c', { model: 'ab' }), vectorFor(1, 1, 8));
    expectVector(cache.get('bc', { model: 'a' }), vectorFor(2, 1, 8));
  });

  it("framing: ('ab','c') and ('a','bc') as (chunkId, text) are different entries", async () => {
    const cache = await open();
    cache.set('c', vectorFor(1, 1, 8), { chunkId: 'ab' });
    expect(cache.get('bc', { chunkId: 'a' })).toBeUndefined();
    cache.set('bc', vectorFor(2, 1, 8), { chunkId: 'a' });
    expectVector(cache.get('c', { chunkId: 'ab' }), vectorFor(1, 1, 8));
    expectVector(cache.get('bc', { chunkId: 'a' }), vectorFor(2, 1, 8));
  });

  it('framing: model and chunkId do not run into each other', async () => {
    const cache = await open();
    cache.set('t', vectorFor(1, 1, 8), { model: 'm1', chunkId: 'x' });
    expect(cache.get('t', { model: 'm', chunkId: '1x' })).toBeUndefined();
    expect(cache.get('xt', { model: 'm1' })).toBeUndefined();
    expect(cache.get('t', { model: 'm1', chunkId: 'x\u0000' })).toBeUndefined();
  });

  it('strings that differ only in NUL bytes or Unicode normalization are different keys', async () => {
    const cache = await open();
    const texts = ['a', 'a\u0000', '\u0000a', 'caf\u00e9', 'cafe\u0301'];
    texts.forEach((t, i) => cache.set(t, vectorFor(i, 1, 4)));
    texts.forEach((t, i) => expectVector(cache.get(t), vectorFor(i, 1, 4)));
  });

  it("texts with different lone surrogates never answer with each other's vector", async () => {
    // Chunkers that split on UTF-16 code units can cut a surrogate pair in half. Such strings
    // are distinct texts: the cache must either keep them apart or reject them as invalid
    // text, but never serve one's vector for the other (a UTF-8 encoder maps both to U+FFFD).
    const cache = await open();
    const a = 'chunk ending in \uD83D';
    const b = 'chunk ending in \uD83C';
    const c = 'chunk ending in \uFFFD';
    let rejected = false;
    try {
      cache.set(a, vectorFor(1, 1, 4));
    } catch (e) {
      expect(e).toBeInstanceOf(EmbeddingCacheError);
      expect((e as EmbeddingCacheError).code).toBe('ERR_INVALID_TEXT');
      rejected = true;
    }
    if (rejected) return;
    const gb = safeGet(() => cache.get(b));
    const gc = safeGet(() => cache.get(c));
    expect(gb, 'get(b) answered with the vector of a').toBeUndefined();
    expect(gc, 'get("…\\uFFFD") answered with the vector of a lone surrogate text').toBeUndefined();
    expectVector(cache.get(a), vectorFor(1, 1, 4));
  });
});

function safeGet(fn: () => Float32Array | undefined): Float32Array | undefined {
  try {
    return fn();
  } catch (e) {
    expect((e as EmbeddingCacheError).code).toBe('ERR_INVALID_TEXT');
    return undefined;
  }
}
