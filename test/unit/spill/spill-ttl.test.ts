import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { key, vector } from '../../support/data.mjs';
import { expectBitExact } from '../../support/expect.js';
import { enqueueRange, openTier } from '../../support/spill.js';
import { tempDir } from '../../support/temp.js';

describe('spill tier TTL on disk', () => {
  it('never returns an expired record, whatever the wall clock says', async () => {
    const tier = openTier(tempDir());
    const expires = Date.now() + 3_600_000;
    enqueueRange(tier, 0, 10, { expiresMs: expires });
    await tier.flush();
    expectBitExact(tier.get(key(3), 'm', expires - 1)?.vector, vector(3));
    expect(tier.get(key(3), 'm', expires)).toBeUndefined();
    expect(tier.peek(key(3), 'm', expires + 1)).toBeUndefined();
    expect(tier.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  it('deletes expired records from the file, and keeps the rest', async () => {
    const tier = openTier(tempDir());
    const expires = Date.now() + 150;
    enqueueRange(tier, 0, 20, { expiresMs: expires });
    enqueueRange(tier, 20, 30); // never expire
    await tier.flush();

    while (Date.now() <= expires) await sleep(20);
    expect(tier.get(key(0), 'm', Date.now())).toBeUndefined(); // also asks for a purge
    await tier.flush();
    expect(tier.stats().entries).toBe(10);
    expect(tier.verify()).toEqual({
      records: 10,
      tombstones: 0,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
    for (let i = 20; i < 30; i++) expectBitExact(tier.get(key(i), 'm', Date.now())?.vector, vector(i));
  });

  it('drops a record that is already expired when it is enqueued', async () => {
    const tier = openTier(tempDir());
    tier.enqueue({ key: key(1), model: 'm', vector: vector(1), createdMs: 1, expiresMs: Date.now() - 1 });
    await tier.flush();
    expect(tier.stats()).toMatchObject({ entries: 0, writes: 0, errors: 0 });
    expect(tier.get(key(1), 'm', Date.now())).toBeUndefined();
  });

  it('an expired record found by a reopened file is not returned and gets deleted', async () => {
    const path = tempDir();
    const first = openTier(path);
    const expires = Date.now() + 150;
    enqueueRange(first, 0, 5, { expiresMs: expires });
    await first.close();
    while (Date.now() <= expires) await sleep(20);

    const second = openTier(path);
    expect(second.get(key(2), 'm', Date.now())).toBeUndefined();
    await second.flush();
    expect(second.stats().entries).toBe(0);
  });
});
