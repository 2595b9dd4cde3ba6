import { describe, expect, it } from 'vitest';
import { key, vector } from '../../support/data.mjs';
import { expectBitExact } from '../../support/expect.js';
import { enqueueRange, openTier } from '../../support/spill.js';
import { tempDir } from '../../support/temp.js';

describe('spill tier round trip', () => {
  it('returns every enqueued vector bit-exact, before and after the write commits', async () => {
    const tier = openTier(tempDir());
    const created = Date.now() - 5000;
    const expires = Date.now() + 3_600_000;
    for (let i = 0; i < 50; i++)
      tier.enqueue({
        key: key(i),
        model: 'm',
        vector: vector(i),
        createdMs: created,
        expiresMs: i % 2 === 0 ? 0 : expires,
      });

    // Not committed yet: the instance still finds its own queued writes.
    expectBitExact(tier.get(key(7), 'm', Date.now())?.vector, vector(7));

    await tier.flush();
    expect(tier.stats().writes).toBe(50);
    expect(tier.stats().entries).toBe(50);
    for (let i = 0; i < 50; i++) {
      const hit = tier.get(key(i), 'm', Date.now());
      expectBitExact(hit?.vector, vector(i));
      expect(hit?.createdMs).toBe(created);
      expect(hit?.expiresMs).toBe(i % 2 === 0 ? 0 : expires);
    }
    expect(tier.get(key(50), 'm', Date.now())).toBeUndefined();
    expect(tier.get(key(1), 'other-model', Date.now())).toBeUndefined();
    expect(tier.verify()).toEqual({
      records: 50,
      tombstones: 0,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
  });

  it('survives close and reopen', async () => {
    const path = tempDir();
    const first = openTier(path);
    enqueueRange(first, 0, 20);
    enqueueRange(first, 0, 5, { model: 'small', dims: 3 });
    await first.close();

    const second = openTier(path);
    for (let i = 0; i < 20; i++) expectBitExact(second.get(key(i), 'm', Date.now())?.vector, vector(i));
    for (let i = 0; i < 5; i++) expectBitExact(second.get(key(i), 'small', Date.now())?.vector, vector(i, 3));
    expect(second.stats()).toMatchObject({ entries: 25, hits: 25, misses: 0, errors: 0, writes: 0 });
  });

  it('copies the vector at enqueue and hands out copies the caller owns', async () => {
    const tier = openTier(tempDir());
    const source = vector(1);
    tier.enqueue({ key: key(1), model: 'm', vector: source, createdMs: 1, expiresMs: 0 });
    source.fill(0); // the caller reuses its buffer at once
    await tier.flush();

    const a = tier.get(key(1), 'm', Date.now());
    expectBitExact(a?.vector, vector(1));
    a!.vector.fill(-1);
    expectBitExact(tier.get(key(1), 'm', Date.now())?.vector, vector(1));
    expect(a!.vector.buffer.byteLength).toBe(768 * 4); // its own buffer, not a slice of something shared
  });

  it('peek returns the same floats in a reused buffer, untouched by other calls until the next peek', async () => {
    const tier = openTier(tempDir());
    enqueueRange(tier, 0, 3);
    await tier.flush();
    const view = tier.peek(key(2), 'm', Date.now());
    expectBitExact(view?.vector, vector(2));
    // A promotion evicts, and the victim is enqueued: that must not disturb the view.
    tier.enqueue({ key: key(7), model: 'm', vector: vector(7), createdMs: 1, expiresMs: 0 });
    tier.get(key(1), 'm', Date.now());
    await tier.flush();
    expectBitExact(view?.vector, vector(2));
    const again = tier.peek(key(0), 'm', Date.now());
    expect(again).toBe(view);
    expectBitExact(again?.vector, vector(0));
    expect(tier.peek(key(9), 'm', Date.now())).toBeUndefined();
  });

  it('takes keys and vectors that are views into shared memory', async () => {
    const tier = openTier(tempDir());
    const slab = new Float32Array(new SharedArrayBuffer(4 * (768 * 3 + 1)), 4, 768 * 3); // odd offsets on purpose
    slab.set(vector(5), 768);
    const keys = new Uint8Array(new SharedArrayBuffer(64), 7, 32);
    keys.set(key(5), 16);
    tier.enqueue({
      key: keys.subarray(16, 32),
      model: 'm',
      vector: slab.subarray(768, 1536),
      createdMs: 1,
      expiresMs: 0,
    });
    slab.fill(0);
    keys.fill(0);
    await tier.flush();
    expectBitExact(tier.get(key(5), 'm', Date.now())?.vector, vector(5));
  });

  it('a later write of a key replaces the earlier one, and delete removes it in order', async () => {
    const tier = openTier(tempDir());
    tier.enqueue({ key: key(1), model: 'm', vector: vector(100), createdMs: 1, expiresMs: 0 });
    await tier.flush();
    tier.enqueue({ key: key(1), model: 'm', vector: vector(200), createdMs: 2, expiresMs: 0 });
    tier.enqueue({ key: key(2), model: 'm', vector: vector(2), createdMs: 2, expiresMs: 0 });
    tier.delete(key(2), 'm'); // queued after the write: the record must not come back
    expectBitExact(tier.get(key(1), 'm', Date.now())?.vector, vector(200));
    expect(tier.get(key(2), 'm', Date.now())).toBeUndefined();
    await tier.flush();
    expectBitExact(tier.get(key(1), 'm', Date.now())?.vector, vector(200));
    expect(tier.get(key(2), 'm', Date.now())).toBeUndefined();
    // The replaced copy left no index entry behind; the delete left its tombstone.
    expect(tier.verify()).toEqual({
      records: 1,
      tombstones: 1,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
  });

  it('counts hits and misses of this instance', async () => {
    const tier = openTier(tempDir());
    enqueueRange(tier, 0, 4);
    await tier.flush();
    tier.get(key(0), 'm', Date.now());
    tier.get(key(1), 'm', Date.now());
    tier.get(key(9), 'm', Date.now());
    tier.get(key(0), 'unknown', Date.now());
    expect(tier.stats()).toMatchObject({ hits: 2, misses: 2, writes: 4, errors: 0 });
    expect(tier.stats().bytes).toBeGreaterThanOrEqual(4 * 4096);
  });

  it('fixes a model dims on disk: another count is ERR_DIMENSION_MISMATCH, and a record with it is not written', async () => {
    const path = tempDir();
    const tier = openTier(path);
    tier.checkDims('m', 768);
    enqueueRange(tier, 0, 2);
    await tier.flush();
    await tier.close();

    const again = openTier(path);
    expect(() => again.checkDims('m', 768)).not.toThrow();
    expect(() => again.checkDims('m', 512)).toThrow(
      expect.objectContaining({ code: 'ERR_DIMENSION_MISMATCH' }),
    );
    const warn = console.warn;
    console.warn = () => undefined;
    try {
      again.enqueue({ key: key(5), model: 'm', vector: vector(5, 512), createdMs: 1, expiresMs: 0 }); // never throws
    } finally {
      console.warn = warn;
    }
    await again.flush();
    expect(again.stats().errors).toBe(1);
    expect(again.get(key(5), 'm', Date.now())).toBeUndefined();
  });
});
