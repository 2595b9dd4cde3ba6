import { describe, expect, it } from 'vitest';
import { MODEL_REFRESH_MS } from '../../../src/spill/tier.js';
import { key, vector } from '../../support/data.mjs';
import { expectBitExact } from '../../support/expect.js';
import { enqueueRange, openTier } from '../../support/spill.js';
import { tempDir } from '../../support/temp.js';

describe('spill tier invalidateModel', () => {
  it('makes every record of the model unreachable at once and sweeps them later', async () => {
    const tier = openTier(tempDir());
    enqueueRange(tier, 0, 300, { model: 'a', dims: 8 });
    enqueueRange(tier, 0, 10, { model: 'b', dims: 8 });
    await tier.flush();

    tier.invalidateModel('a');
    // O(1): nothing was deleted by the call itself; the 300 records are merely out of reach.
    expect(tier.verify()).toMatchObject({ records: 310, unreachable: 300, corrupt: 0 });
    for (let i = 0; i < 300; i += 37) expect(tier.get(key(i), 'a', Date.now())).toBeUndefined();
    for (let i = 0; i < 10; i++) expectBitExact(tier.get(key(i), 'b', Date.now())?.vector, vector(i, 8));

    // New records of the model live under the new generation.
    tier.enqueue({ key: key(1), model: 'a', vector: vector(1001, 8), createdMs: 1, expiresMs: 0 });
    await tier.flush(); // the background sweep has run by now
    expectBitExact(tier.get(key(1), 'a', Date.now())?.vector, vector(1001, 8));
    expect(tier.verify()).toEqual({
      records: 11,
      tombstones: 0,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
  });

  it('is persisted: a reopened file does not serve the old records, and sweeps them', async () => {
    const path = tempDir();
    const first = openTier(path);
    enqueueRange(first, 0, 40, { model: 'a', dims: 4 });
    await first.flush();
    first.invalidateModel('a');
    await first.close();

    const second = openTier(path);
    expect(second.get(key(5), 'a', Date.now())).toBeUndefined();
    await second.flush();
    expect(second.verify().records).toBe(0);
  });

  it('old-generation writes still queued when the model is invalidated are swept too', async () => {
    const tier = openTier(tempDir());
    enqueueRange(tier, 0, 50, { model: 'a', dims: 4 }); // not flushed
    tier.invalidateModel('a');
    expect(tier.get(key(3), 'a', Date.now())).toBeUndefined();
    await tier.flush();
    expect(tier.verify()).toMatchObject({ records: 0, unreachable: 0 });
  });

  it('frees the model dims', () => {
    const tier = openTier(tempDir());
    tier.checkDims('a', 768);
    expect(() => tier.checkDims('a', 3)).toThrow(expect.objectContaining({ code: 'ERR_DIMENSION_MISMATCH' }));
    tier.invalidateModel('a');
    expect(() => tier.checkDims('a', 3)).not.toThrow();
  });

  it('another instance on the same path (another thread) sees it when its memory generation moves', async () => {
    const path = tempDir();
    const writer = openTier(path);
    const reader = openTier(path);
    enqueueRange(writer, 0, 10, { model: 'a', dims: 4 });
    await writer.flush();
    const now = Date.now();
    expectBitExact(reader.get(key(4), 'a', now, 1)?.vector, vector(4, 4));

    // The cache's order: disk generation first, then the memory generation readers look at.
    writer.invalidateModel('a');
    expect(reader.get(key(4), 'a', now, 2)).toBeUndefined();

    // Without a hint, an instance re-reads the generation after MODEL_REFRESH_MS.
    const other = openTier(path);
    enqueueRange(writer, 0, 10, { model: 'a', dims: 4 });
    await writer.flush();
    expectBitExact(other.get(key(4), 'a', now)?.vector, vector(4, 4));
    writer.invalidateModel('a');
    expect(other.get(key(4), 'a', now + MODEL_REFRESH_MS)).toBeUndefined();
  });

  it('a model never written is a no-op', async () => {
    const tier = openTier(tempDir());
    tier.invalidateModel('nothing-here');
    await tier.flush();
    expect(tier.stats()).toMatchObject({ entries: 0, errors: 0 });
  });

  it('clear makes every model unreachable at once and sweeps the file', async () => {
    const path = tempDir();
    const tier = openTier(path);
    enqueueRange(tier, 0, 50, { model: 'a', dims: 4 });
    enqueueRange(tier, 0, 50, { model: 'b', dims: 8 });
    await tier.flush();
    expect(tier.clear()).toBe(true);
    expect(tier.verify()).toMatchObject({ records: 100, unreachable: 100 }); // nothing deleted by the call
    expect(tier.get(key(1), 'a', Date.now())).toBeUndefined();
    expect(tier.get(key(1), 'b', Date.now())).toBeUndefined();
    expect(() => tier.checkDims('a', 3)).not.toThrow(); // dims freed too
    tier.enqueue({ key: key(1), model: 'b', vector: vector(1, 5), createdMs: 1, expiresMs: 0 });
    await tier.flush();
    expect(tier.verify()).toEqual({
      records: 1,
      tombstones: 0,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
    await tier.close();
    const again = openTier(path);
    expect(again.get(key(2), 'a', Date.now())).toBeUndefined();
    expectBitExact(again.get(key(1), 'b', Date.now())?.vector, vector(1, 5));
  });
});
