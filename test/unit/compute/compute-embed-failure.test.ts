/**
 * When embed() fails — throws, returns the wrong number of vectors, or returns bad vectors —
 * getOrCompute rejects with ERR_EMBED_FAILED (the cause attached), stores nothing for the failed
 * texts, releases its single-flight claims, and a retry with a working model succeeds.
 */
import { describe, expect, it } from 'vitest';
import { getOrCompute } from '../../../src/index.js';
import type { EmbeddingCache } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor } from '../../support/data.mjs';
import { expectCacheErrorAsync, expectVector } from '../../support/expect.js';

const texts = [textFor(1), textFor(2), textFor(1), textFor(3)];
const good = async (m: string[]) => m.map((t) => [t.length, 1, 2, 3]);

async function expectFailedThenRetry(
  cache: EmbeddingCache,
  bad: (m: string[]) => unknown,
  causeCheck: (cause: unknown) => void,
): Promise<void> {
  const before = cache.stats().entries;
  const err = await expectCacheErrorAsync(() => getOrCompute(cache, texts, bad as never), 'ERR_EMBED_FAILED');
  causeCheck(err.cause);
  expect(cache.stats().entries).toBe(before);
  for (const t of texts) expect(cache.has(t)).toBe(false);
  // Every claim was released: nothing left for a waiter to wait on.
  expect(cache.claims.activeClaims()).toBe(0);
  expect(cache.claims.checkInvariants()).toEqual([]);
  const out = await getOrCompute(cache, texts, good);
  texts.forEach((t, i) => expectVector(out[i], [t.length, 1, 2, 3]));
  expect(cache.stats().entries).toBe(before + 3);
}

describe('getOrCompute: embed failures', () => {
  const open = useCaches();

  it('embed throws: the error is the cause', async () => {
    const cache = await open();
    const boom = new Error('model server unavailable');
    await expectFailedThenRetry(
      cache,
      () => Promise.reject(boom),
      (c) => expect(c).toBe(boom),
    );
  });

  it('embed throws synchronously', async () => {
    const cache = await open();
    await expectFailedThenRetry(
      cache,
      () => {
        throw new TypeError('bad request');
      },
      (c) => expect(c).toBeInstanceOf(TypeError),
    );
  });

  it('embed returns too few or too many vectors, or not an array', async () => {
    for (const bad of [
      (m: string[]) => m.slice(1).map(() => [1, 2, 3, 4]),
      (m: string[]) => [...m, 'x'].map(() => [1, 2, 3, 4]),
      () => null,
      () => 7,
    ]) {
      const cache = await open();
      await expectFailedThenRetry(cache, bad, (c) => expect(c).toBeInstanceOf(Error));
    }
  });

  it('embed returns NaN, Infinity, a non-number, an empty vector, or mixed dimensions', async () => {
    const bads: ((m: string[]) => unknown)[] = [
      (m) => m.map((_, i) => (i === 1 ? [1, NaN, 2, 3] : [1, 2, 3, 4])),
      (m) => m.map(() => new Float32Array([1, Infinity, 0, 0])),
      (m) => m.map(() => [1, '2', 3, 4]),
      (m) => m.map(() => []),
      (m) => m.map((_, i) => (i === 0 ? [1, 2, 3, 4] : [1, 2, 3])),
      (m) => m.map(() => 'not a vector'),
    ];
    for (const bad of bads) {
      const cache = await open();
      await expectFailedThenRetry(cache, bad, (c) => expect(c).toMatchObject({ code: 'ERR_INVALID_VECTOR' }));
    }
  });

  it('vectors of another dimension than the model already has are refused, nothing stored', async () => {
    const cache = await open();
    cache.set('seed', [1, 2, 3, 4]);
    await expectFailedThenRetry(
      cache,
      (m) => m.map(() => [1, 2]),
      (c) => expect(c).toMatchObject({ code: 'ERR_DIMENSION_MISMATCH' }),
    );
  });

  it('a failing later batch keeps the batches before it and stores nothing of its own', async () => {
    const cache = await open();
    let calls = 0;
    const flaky = async (m: string[]) => {
      if (++calls === 2) throw new Error('second batch fails');
      return m.map((t) => [t.length, 0]);
    };
    const many = Array.from({ length: 6 }, (_, i) => textFor(100 + i));
    await expectCacheErrorAsync(() => getOrCompute(cache, many, flaky, { batchSize: 3 }), 'ERR_EMBED_FAILED');
    expect(many.map((t) => cache.has(t))).toEqual([true, true, true, false, false, false]);
    expect(cache.claims.activeClaims()).toBe(0);
    const out = await getOrCompute(cache, many, flaky, { batchSize: 3 });
    expect(calls).toBe(3); // only the failed batch was embedded again
    many.forEach((t, i) => expectVector(out[i], [t.length, 0]));
  });

  it('a waiter on a failed computation computes the text itself', async () => {
    const cache = await open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const failing = getOrCompute(cache, [textFor(7)], async () => {
      await gate;
      throw new Error('fails while another call waits');
    });
    let waiterCalls = 0;
    const waiter = getOrCompute(cache, [textFor(7)], async (m) => {
      waiterCalls++;
      return m.map(() => [7, 7]);
    });
    await new Promise((r) => setTimeout(r, 20)); // the waiter is now waiting on the claim
    expect(waiterCalls).toBe(0);
    release();
    await expect(failing).rejects.toMatchObject({ code: 'ERR_EMBED_FAILED' });
    const [v] = await waiter;
    expectVector(v, [7, 7]);
    expect(waiterCalls).toBe(1);
  });
});
