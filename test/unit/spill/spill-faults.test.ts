import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { SpillTier } from '../../../src/spill/tier.js';
import { key, vector } from '../../support/data.mjs';
import { expectBitExact } from '../../support/expect.js';
import { enqueueRange, openTier } from '../../support/spill.js';
import { tempDir } from '../../support/temp.js';

/** Closes the LMDB environment under the tier, as a fatal I/O error would leave it. */
function breakUnder(tier: SpillTier): Promise<void> {
  return (tier as unknown as { root: { close(): Promise<void> } }).root.close();
}

describe('spill tier faults after open', () => {
  let warn: MockInstance<typeof console.warn>;
  beforeEach(() => {
    warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => {
    warn.mockRestore();
  });

  it('a failed write is counted and logged once, never thrown', async () => {
    const tier = openTier(tempDir());
    enqueueRange(tier, 0, 5);
    await tier.flush();
    await breakUnder(tier);

    expect(() => enqueueRange(tier, 5, 25)).not.toThrow();
    await expect(tier.flush()).resolves.toBeUndefined();
    expect(() => tier.delete(key(1), 'm')).not.toThrow();
    await tier.flush();
    expect(tier.get(key(1), 'm', Date.now())).toBeUndefined(); // a failed read is a miss
    expect(tier.invalidateModel('m')).toBe(false); // the disk could not take it
    expect(tier.get(key(2), 'm', Date.now())).toBeUndefined();
    expect(() => tier.checkDims('m', 768)).not.toThrow();
    const stats = tier.stats();
    expect(stats.errors).toBeGreaterThanOrEqual(23);
    expect(stats.writes).toBe(5);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('spill tier at');
    await expect(tier.close()).resolves.toBeUndefined();
  });

  it('a record queued for a failing disk does not disturb the records already there', async () => {
    const path = tempDir();
    const tier = openTier(path);
    enqueueRange(tier, 0, 10);
    await tier.flush();
    await breakUnder(tier);
    enqueueRange(tier, 10, 20);
    await tier.close();

    const again = openTier(path);
    for (let i = 0; i < 10; i++) expectBitExact(again.get(key(i), 'm', Date.now())?.vector, vector(i));
    expect(again.get(key(15), 'm', Date.now())).toBeUndefined();
    expect(again.verify()).toMatchObject({ records: 10, corrupt: 0 });
  });
});
