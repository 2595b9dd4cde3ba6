/**
 * getOrCompute answers in input order, embeds each unique miss once (duplicates inside one call
 * included), cuts the misses into embed() calls of at most batchSize texts, and leaves the
 * all-hit path to the cache alone.
 */
import { describe, expect, it } from 'vitest';
import { getOrCompute } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { textFor, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';

const DIMS = 8;

/** A deterministic model: the vector of text i is vectorFor(i, 7); records each call. */
function model() {
  const calls: string[][] = [];
  const embed = async (missing: string[]) => {
    calls.push([...missing]);
    return missing.map((t) => vectorFor(Number(t.split('#')[1]!.split(':')[0]), 7, DIMS));
  };
  return { calls, embed };
}

describe('getOrCompute: order, duplicates, batches', () => {
  const open = useCaches();

  it('returns one vector per input in input order, hits and misses mixed', async () => {
    const cache = await open();
    for (const i of [1, 3, 5]) cache.set(textFor(i), vectorFor(i, 7, DIMS));
    const { calls, embed } = model();
    const order = [5, 0, 1, 4, 3, 2];
    const out = await getOrCompute(
      cache,
      order.map((i) => textFor(i)),
      embed,
    );
    expect(out).toHaveLength(order.length);
    order.forEach((i, p) => expectVector(out[p], vectorFor(i, 7, DIMS)));
    expect(calls).toEqual([[textFor(0), textFor(4), textFor(2)]]);
    // The misses are stored: a second call is all hits and calls nothing.
    const again = await getOrCompute(
      cache,
      order.map((i) => textFor(i)),
      embed,
    );
    order.forEach((i, p) => expectVector(again[p], vectorFor(i, 7, DIMS)));
    expect(calls).toHaveLength(1);
  });

  it('embeds a text repeated inside one call once, and gives every position its own array', async () => {
    const cache = await open();
    const { calls, embed } = model();
    const texts = [textFor(9), textFor(8), textFor(9), textFor(9), textFor(8)];
    const out = await getOrCompute(cache, texts, embed);
    expect(calls).toEqual([[textFor(9), textFor(8)]]);
    expectVector(out[0], vectorFor(9, 7, DIMS));
    expectVector(out[2], vectorFor(9, 7, DIMS));
    expectVector(out[4], vectorFor(8, 7, DIMS));
    expect(out[0]).not.toBe(out[2]);
    out[0]![0] = -1;
    expect(out[2]![0]).toBe(9);
    expect(cache.get(textFor(9))![0]).toBe(9);
  });

  it('calls embed with at most batchSize texts, covering each unique miss exactly once', async () => {
    const cache = await open();
    const { calls, embed } = model();
    const texts = Array.from({ length: 23 }, (_, i) => textFor(i % 17)); // 17 unique
    const out = await getOrCompute(cache, texts, embed, { batchSize: 5 });
    expect(calls.map((c) => c.length)).toEqual([5, 5, 5, 2]);
    expect(new Set(calls.flat()).size).toBe(17);
    expect(calls.flat()).toHaveLength(17);
    texts.forEach((_, p) => expectVector(out[p], vectorFor(p % 17, 7, DIMS)));
  });

  it('keys by model and chunk id, and applies ttl to what it stores', async () => {
    const cache = await open();
    const { calls, embed } = model();
    await getOrCompute(cache, [textFor(1)], embed, { model: 'a' });
    await getOrCompute(cache, [textFor(1)], embed, { model: 'b' });
    await getOrCompute(cache, [textFor(1)], embed, { model: 'a', chunkId: 'doc-1' });
    await getOrCompute(cache, [textFor(1)], embed, { model: 'a' });
    expect(calls).toHaveLength(3);
    expect(cache.has(textFor(1), { model: 'b' })).toBe(true);
    expect(cache.has(textFor(1))).toBe(false);
    await getOrCompute(cache, [textFor(2)], embed, { model: 'c', ttlMs: 1 });
    await new Promise((r) => setTimeout(r, 5));
    expect(cache.has(textFor(2), { model: 'c' })).toBe(false);
  });

  it('answers an all-hit batch from the cache without calling embed, and an empty batch with []', async () => {
    const cache = await open();
    const texts = Array.from({ length: 50 }, (_, i) => textFor(i));
    cache.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 7, DIMS)),
    );
    const embed = () => {
      throw new Error('must not be called');
    };
    const out = await getOrCompute(cache, texts, embed);
    texts.forEach((_, i) => expectVector(out[i], vectorFor(i, 7, DIMS)));
    expect(await getOrCompute(cache, [], embed)).toEqual([]);
  });

  it('accepts a synchronous embed returning plain arrays', async () => {
    const cache = await open();
    const out = await getOrCompute(cache, ['x', 'y'], (m) => m.map((t) => [t.length, 1, 2]));
    expectVector(out[0], [1, 1, 2]);
    expectVector(out[1], [1, 1, 2]);
  });

  it('validates its arguments with errors that say what to pass', async () => {
    const cache = await open();
    const embed = async (m: string[]) => m.map(() => [1]);
    await expect(getOrCompute(cache, 'abc' as never, embed)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    await expect(getOrCompute(cache, ['a'], 42 as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    await expect(getOrCompute(cache, ['a', 7 as never], embed)).rejects.toMatchObject({
      code: 'ERR_INVALID_TEXT',
      message: expect.stringContaining('texts[1]'),
    });
    for (const batchSize of [0, -1, 1.5, '4']) {
      await expect(getOrCompute(cache, ['a'], embed, { batchSize: batchSize as never })).rejects.toThrow(
        /batchSize/,
      );
    }
    await expect(getOrCompute(cache, ['a'], embed, { waitTimeoutMs: -5 })).rejects.toBeInstanceOf(RangeError);
  });
});
