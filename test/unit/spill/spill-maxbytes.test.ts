import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { key, vector } from '../../support/data.mjs';
import { expectBitExact } from '../../support/expect.js';
import { enqueueRange, openTier } from '../../support/spill.js';
import { tempDir } from '../../support/temp.js';

// A 768-d record takes one 4 KiB overflow page, plus a few shared B-tree pages for all of them.
const PAGE = 4096;

describe('spill tier maxBytes', () => {
  it('keeps the file under maxBytes by deleting the oldest-written records first', async () => {
    const maxBytes = 64 * PAGE;
    const tier = openTier(tempDir(), { maxBytes });
    for (let i = 0; i < 200; i += 20) {
      enqueueRange(tier, i, i + 20);
      await tier.flush(); // batches at different times: a clear age order
    }
    const { bytes, entries } = tier.stats();
    expect(bytes).toBeLessThanOrEqual(maxBytes);
    expect(entries).toBeGreaterThan(20);
    expect(entries).toBeLessThan(64);

    // What is left is exactly the newest `entries` records, whole.
    const present = Array.from({ length: 200 }, (_, i) => tier.get(key(i), 'm', Date.now()) !== undefined);
    const firstKept = present.indexOf(true);
    expect(firstKept).toBe(200 - entries);
    expect(present.slice(firstKept).every(Boolean)).toBe(true);
    for (let i = firstKept; i < 200; i += 7)
      expectBitExact(tier.get(key(i), 'm', Date.now())?.vector, vector(i));
    expect(tier.verify()).toEqual({
      records: entries,
      tombstones: 0,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
  });

  it('a record written again moves to the young end', async () => {
    const tier = openTier(tempDir(), { maxBytes: 40 * PAGE });
    enqueueRange(tier, 0, 30);
    await tier.flush();
    tier.enqueue({ key: key(0), model: 'm', vector: vector(0), createdMs: 1, expiresMs: 0 }); // promoted, then spilled again
    await tier.flush();
    enqueueRange(tier, 30, 45);
    await tier.flush();
    expect(tier.stats().bytes).toBeLessThanOrEqual(40 * PAGE);
    expect(tier.get(key(1), 'm', Date.now())).toBeUndefined(); // the oldest went
    expectBitExact(tier.get(key(0), 'm', Date.now())?.vector, vector(0)); // the rewritten one stayed
    expect(tier.verify().staleIndex).toBe(0);
  });

  it('deletes expired records before any live one', async () => {
    const maxBytes = 72 * PAGE;
    const tier = openTier(tempDir(), { maxBytes });
    enqueueRange(tier, 0, 30); // oldest, never expire
    await tier.flush();
    const expires = Date.now() + 150;
    enqueueRange(tier, 100, 130, { expiresMs: expires }); // newer, but soon expired
    await tier.flush();
    while (Date.now() <= expires) await sleep(20);
    enqueueRange(tier, 200, 230); // pushes the file over maxBytes
    await tier.flush();

    expect(tier.stats().bytes).toBeLessThanOrEqual(maxBytes);
    for (let i = 0; i < 30; i++) expectBitExact(tier.get(key(i), 'm', Date.now())?.vector, vector(i));
    for (let i = 200; i < 230; i++) expectBitExact(tier.get(key(i), 'm', Date.now())?.vector, vector(i));
    expect(tier.verify()).toEqual({
      records: 60,
      tombstones: 0,
      corrupt: 0,
      unreachable: 0,
      missingAge: 0,
      staleIndex: 0,
    });
  });
});
