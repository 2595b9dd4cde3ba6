/** get/set round trip and copy semantics: the cache owns its copy, the caller owns theirs. */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';
import { arrayFor, textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

describe('cache get/set', () => {
  const open = useCaches();

  it('returns what was set, as a Float32Array', async () => {
    const cache = await open();
    const v = vectorFor(1, 1, 768);
    cache.set(textFor(1), v);
    expectVector(cache.get(textFor(1)), v);
    expect(cache.has(textFor(1))).toBe(true);
  });

  it('misses a text that was never set', async () => {
    const cache = await open();
    cache.set(textFor(1), vectorFor(1, 1, 8));
    expect(cache.get(textFor(2))).toBeUndefined();
    expect(cache.has(textFor(2))).toBe(false);
  });

  it('a later set of the same text replaces the vector', async () => {
    const cache = await open();
    cache.set('t', vectorFor(1, 1, 16));
    cache.set('t', vectorFor(1, 2, 16));
    expectVector(cache.get('t'), vectorFor(1, 2, 16));
    expect(cache.stats().entries).toBe(1);
  });

  it('mutating the returned array does not change the cache', async () => {
    const cache = await open();
    cache.set('t', vectorFor(3, 1, 32));
    const a = cache.get('t')!;
    a.fill(-1);
    expectVector(cache.get('t'), vectorFor(3, 1, 32));
  });

  it('each get returns its own array: writing one result does not change another', async () => {
    const cache = await open();
    cache.set('t', vectorFor(3, 1, 32));
    const a = cache.get('t')!;
    const b = cache.get('t')!;
    expect(a).not.toBe(b);
    expect(a.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(a.length).toBe(32);
    a.fill(-1);
    expectVector(b, vectorFor(3, 1, 32));
  });

  it("transferring a result's buffer to another thread does not break later gets", async () => {
    // A caller owns what get() returns; postMessage(v, [v.buffer]) is the usual way to hand a
    // Float32Array to a worker without a copy. Whatever the cache does with result memory,
    // that must not make the next get() throw.
    const cache = await open();
    cache.set('t', vectorFor(3, 1, 32));
    const { port1, port2 } = new MessageChannel();
    try {
      for (let i = 0; i < 3; i++) {
        const v = cache.get('t')!;
        const mine = v.slice();
        port1.postMessage(v, [v.buffer as ArrayBuffer]);
        const got = receiveMessageOnPort(port2)?.message as Float32Array;
        expectVector(got, mine);
        expectVector(cache.get('t'), vectorFor(3, 1, 32));
        expect(cache.getMany(['t', 't']).every((x) => x !== undefined && x[0] === 3)).toBe(true);
      }
    } finally {
      port1.close();
    }
  });

  it('mutating the input array after set does not change the cache', async () => {
    const cache = await open();
    const v = vectorFor(4, 1, 32);
    cache.set('t', v);
    v.fill(7);
    expectVector(cache.get('t'), vectorFor(4, 1, 32));

    const arr = arrayFor(5, 1, 32);
    cache.set('u', arr);
    arr.fill(9);
    expectVector(cache.get('u'), vectorFor(5, 1, 32));
  });

  it('accepts plain number arrays and other ArrayLike<number>, rounding to float32', async () => {
    const cache = await open();
    cache.set('plain', [0.1, 0.2, 0.3]);
    expectVector(cache.get('plain'), [Math.fround(0.1), Math.fround(0.2), Math.fround(0.3)]);
    cache.set('f64', new Float64Array([1.5, -2.5, 3]));
    expectVector(cache.get('f64'), [1.5, -2.5, 3]);
    const arrayLike: ArrayLike<number> = { length: 3, 0: 4, 1: 5, 2: 6 };
    cache.set('arraylike', arrayLike);
    expectVector(cache.get('arraylike'), [4, 5, 6]);
  });

  it('a subarray view is stored from its own offset, not from the start of its buffer', async () => {
    const cache = await open();
    const big = vectorFor(6, 1, 64);
    cache.set('view', big.subarray(10, 26));
    expectVector(cache.get('view'), big.slice(10, 26));
  });

  it('the empty string and long, non-ASCII texts are ordinary keys', async () => {
    const cache = await open();
    const long = textFor(7, 100_000);
    cache.set('', vectorFor(1, 1, 4));
    cache.set(' ', vectorFor(2, 1, 4));
    cache.set(long, vectorFor(3, 1, 4));
    cache.set('naïve café 日本語 🙂', vectorFor(4, 1, 4));
    expectVector(cache.get(''), vectorFor(1, 1, 4));
    expectVector(cache.get(' '), vectorFor(2, 1, 4));
    expectVector(cache.get(long), vectorFor(3, 1, 4));
    expectVector(cache.get('naïve café 日本語 🙂'), vectorFor(4, 1, 4));
    expect(cache.get(long.slice(0, -1))).toBeUndefined();
  });

  it('keeps special float values that are finite: -0, subnormals, float32 max', async () => {
    const cache = await open();
    const v = new Float32Array([-0, 1e-45, 3.4028234663852886e38, -3.4028234663852886e38]);
    cache.set('edge', v);
    const got = cache.get('edge')!;
    expect(Object.is(got[0], -0)).toBe(true);
    expectVector(got, v);
  });
});
