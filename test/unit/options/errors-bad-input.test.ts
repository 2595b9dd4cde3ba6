/**
 * Every bad input named in the issue gets an EmbeddingCacheError with a stable code and a
 * message that says what to do — never a crash, and never a stored or corrupted entry.
 */
import { describe, expect, it } from 'vitest';
import { EmbeddingCache, EmbeddingCacheError } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { vectorFor } from '../../support/data.mjs';
import { expectCacheError, expectCacheErrorAsync, expectVector } from '../../support/expect.js';

const BAD_TEXTS: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['a number', 42],
  ['an object', { text: 'a' }],
  ['a Buffer', Buffer.from('a')],
  ['an array', ['a']],
  ['a symbol', Symbol('a')],
  ['a bigint', 1n],
];

const BAD_VECTORS: [string, unknown][] = [
  ['undefined', undefined],
  ['null', null],
  ['a number', 1.5],
  ['a string', '0.1,0.2'],
  ['an object without length', { 0: 1 }],
  ['an array of strings', ['0.1', '0.2']],
  ['an array with a string', [0.1, '0.2', 0.3]],
  ['an array with null', [0.1, null, 0.3]],
  ['an array with undefined (a hole)', [0.1, , 0.3]],
  ['an empty array', []],
  ['an empty Float32Array', new Float32Array(0)],
  ['NaN', [0.1, NaN, 0.3]],
  ['Infinity', [0.1, Infinity, 0.3]],
  ['-Infinity', [0.1, -Infinity, 0.3]],
  ['a Float32Array with NaN', new Float32Array([1, 2, NaN])],
  ['a Float32Array with Infinity', new Float32Array([Infinity, 2, 3])],
  ['a Float64Array whose value overflows float32', new Float64Array([1, 1e300, 3])],
  ['an array with a value that overflows float32', [1, -1e39, 3]],
];

describe('errors: bad input', () => {
  const open = useCaches();

  it.each(BAD_TEXTS)('non-string text (%s) throws ERR_INVALID_TEXT from every method', async (_, bad) => {
    const cache = await open();
    cache.set('ok', vectorFor(1, 1, 4));
    const t = bad as string;
    for (const fn of [
      () => cache.set(t, vectorFor(2, 1, 4)),
      () => cache.get(t),
      () => cache.has(t),
      () => cache.delete(t),
      () => cache.getMany(['ok', t]),
      () => cache.setMany(['x', t], [vectorFor(3, 1, 4), vectorFor(4, 1, 4)]),
    ]) {
      const err = expectCacheError(fn, 'ERR_INVALID_TEXT');
      expect(err.message).toMatch(/string/i);
    }
    expect(cache.stats().entries).toBe(1);
    expect(cache.has('x')).toBe(false);
    expectVector(cache.get('ok'), vectorFor(1, 1, 4));
  });

  it.each(BAD_VECTORS)('bad vector (%s) throws ERR_INVALID_VECTOR from set and setMany', async (_, bad) => {
    const cache = await open();
    cache.set('ok', vectorFor(1, 1, 3));
    const v = bad as Float32Array;
    const err = expectCacheError(() => cache.set('ok', v), 'ERR_INVALID_VECTOR');
    expect(err.message).toMatch(/finite|number|empty|array/i);
    expectCacheError(() => cache.set('new', v), 'ERR_INVALID_VECTOR');
    expectCacheError(() => cache.setMany(['a', 'b'], [vectorFor(2, 1, 3), v]), 'ERR_INVALID_VECTOR');
    // Nothing stored, the old entry untouched.
    expectVector(cache.get('ok'), vectorFor(1, 1, 3));
    expect(cache.has('new')).toBe(false);
    expect(cache.has('a')).toBe(false);
    expect(cache.stats().entries).toBe(1);
    expect(cache.stats().sets).toBe(1);
  });

  it('a model name with a lone surrogate throws ERR_INVALID_ARGUMENT and registers nothing', async () => {
    const cache = await open();
    const err = expectCacheError(() => cache.set('a', [1, 2], { model: 'm\uD800x' }), 'ERR_INVALID_ARGUMENT');
    expect(err.message).toMatch(/well-formed/);
    expectCacheError(() => cache.get('a', { model: '\uDC00' }), 'ERR_INVALID_ARGUMENT');
    cache.set('a', [1, 2], { model: 'm\u{1F600}x' }); // a surrogate pair is fine
    expectVector(cache.get('a', { model: 'm\u{1F600}x' }), [1, 2]);
    expect(cache.stats().entries).toBe(1);
  });

  it("a bad first vector does not fix the model's dimension", async () => {
    const cache = await open();
    expectCacheError(() => cache.set('a', [1, NaN, 3, 4, 5], { model: 'm' }), 'ERR_INVALID_VECTOR');
    cache.set('a', [1, 2], { model: 'm' });
    expectVector(cache.get('a', { model: 'm' }), [1, 2]);
  });

  it('ArrayLike<number> inputs are accepted: plain arrays, typed arrays, array-likes', async () => {
    const cache = await open();
    cache.set('arr', [1, 2, 3]);
    cache.set('i32', new Int32Array([4, 5, 6]));
    cache.set('f64', new Float64Array([7, 8, 9]));
    cache.set('u8', new Uint8Array([10, 11, 12]));
    cache.set('like', { length: 3, 0: 13, 1: 14, 2: 15 } as ArrayLike<number>);
    expectVector(cache.get('arr'), [1, 2, 3]);
    expectVector(cache.get('i32'), [4, 5, 6]);
    expectVector(cache.get('f64'), [7, 8, 9]);
    expectVector(cache.get('u8'), [10, 11, 12]);
    expectVector(cache.get('like'), [13, 14, 15]);
  });

  it('a vector larger than maxBytes allows throws ERR_VECTOR_TOO_LARGE and stores nothing', async () => {
    const maxBytes = 1024 * 1024;
    const cache = await open({ maxBytes });
    const huge = new Float32Array(maxBytes / 4 + 1).fill(0.5);
    const err = expectCacheError(() => cache.set('huge', huge), 'ERR_VECTOR_TOO_LARGE');
    expect(err.message).toMatch(/maxBytes/);
    expectCacheError(() => cache.setMany(['huge'], [huge], { model: 'm' }), 'ERR_VECTOR_TOO_LARGE');
    expect(cache.has('huge')).toBe(false);
    expect(cache.stats().memoryBytes).toBeLessThanOrEqual(maxBytes);
    // The model's dimension was not fixed by the rejected vector.
    cache.set('small', vectorFor(1, 1, 8));
    expectVector(cache.get('small'), vectorFor(1, 1, 8));
  });

  it('every method throws ERR_CLOSED after close()', async () => {
    const cache = await open();
    cache.set('a', vectorFor(1, 1, 4));
    await cache.close();
    const calls: [string, () => unknown][] = [
      ['set', () => cache.set('a', vectorFor(1, 1, 4))],
      ['get', () => cache.get('a')],
      ['has', () => cache.has('a')],
      ['delete', () => cache.delete('a')],
      ['getMany', () => cache.getMany(['a'])],
      ['setMany', () => cache.setMany(['a'], [vectorFor(1, 1, 4)])],
      ['invalidateModel', () => cache.invalidateModel('default')],
      ['clear', () => cache.clear()],
      ['stats', () => cache.stats()],
      ['handle', () => cache.handle],
    ];
    for (const [name, fn] of calls) {
      const err = expectCacheError(fn, 'ERR_CLOSED');
      expect(err.message, name).toMatch(/clos/i);
    }
  });

  it.each([
    ['{}', {}],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'handle'],
    ['a number', 7],
    ['a SharedArrayBuffer', new SharedArrayBuffer(64)],
    ['a look-alike object', { tag: 'embedcache.handle', version: 1, parts: {}, options: {} }],
  ])('attach(%s) throws ERR_INVALID_HANDLE', async (_, bad) => {
    const err = await expectCacheErrorAsync(() => EmbeddingCache.attach(bad as never), 'ERR_INVALID_HANDLE');
    expect(err.message).toMatch(/handle/);
  });

  it('errors are EmbeddingCacheError instances with a name and a stack', async () => {
    const cache = await open();
    const err = expectCacheError(() => cache.set(1 as never, [1]), 'ERR_INVALID_TEXT');
    expect(err).toBeInstanceOf(EmbeddingCacheError);
    expect(err.name).toBe('EmbeddingCacheError');
    expect(err.stack).toBeTypeOf('string');
  });

  it('bad key options (non-string model or chunkId, negative ttlMs) throw and store nothing', async () => {
    const cache = await open();
    expect(() => cache.set('a', [1], { model: 42 as never })).toThrow(Error);
    expect(() => cache.set('a', [1], { chunkId: 42 as never })).toThrow(Error);
    expect(() => cache.set('a', [1], { ttlMs: -5 })).toThrow(Error);
    expect(() => cache.set('a', [1], { ttlMs: NaN })).toThrow(Error);
    expect(() => cache.get('a', { model: null as never })).toThrow(Error);
    expect(cache.stats().entries).toBe(0);
    expect(cache.stats().sets).toBe(0);
  });
});
