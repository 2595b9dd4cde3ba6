import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SpillTier } from '../../../src/spill/tier.js';
import { SEED } from '../../support/data.mjs';
import { expectCacheError } from '../../support/expect.js';
import { enqueueRange, openTier } from '../../support/spill.js';
import { tempDir } from '../../support/temp.js';

function open(path: string): SpillTier {
  return SpillTier.open({ path, keyHash: 'xxhash', seed: SEED });
}

// Tests run as root, so permissions cannot make a folder unwritable; a regular file where a
// folder must be can.
describe('spill tier open faults', () => {
  it('a path under a regular file is ERR_SPILL_OPEN naming the path', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'plain-file'), 'not a folder');
    const path = join(dir, 'plain-file', 'spill');
    const err = expectCacheError(() => open(path), 'ERR_SPILL_OPEN');
    expect(err.message).toContain(path);
  });

  it('a path that is itself a regular file is ERR_SPILL_OPEN', () => {
    const path = join(tempDir(), 'spill.lmdb');
    writeFileSync(path, 'not a folder');
    expect(expectCacheError(() => open(path), 'ERR_SPILL_OPEN').message).toContain(path);
  });

  it('a data file that is not LMDB is ERR_SPILL_OPEN, not a crash', () => {
    for (const content of [Buffer.alloc(20_000, 7), Buffer.from('hello'), Buffer.alloc(8192)]) {
      const path = join(tempDir(), 'spill');
      mkdirSync(path);
      writeFileSync(join(path, 'data.mdb'), content);
      expect(expectCacheError(() => open(path), 'ERR_SPILL_OPEN').message).toContain(path);
    }
  });

  it('a truncated data file is ERR_SPILL_OPEN', async () => {
    const path = tempDir();
    const tier = openTier(path);
    enqueueRange(tier, 0, 200);
    await tier.close();
    truncateSync(join(path, 'data.mdb'), 3 * 4096);
    expect(expectCacheError(() => open(path), 'ERR_SPILL_OPEN').message).toContain('truncated');
  });

  it('a garbage lock file is rebuilt: LMDB keeps no state there', async () => {
    const path = tempDir();
    const tier = openTier(path);
    enqueueRange(tier, 0, 3);
    await tier.close();
    writeFileSync(join(path, 'lock.mdb'), Buffer.alloc(8192, 9));
    expect(openTier(path).stats().entries).toBe(3);
    expect(readFileSync(join(path, 'data.mdb')).length).toBeGreaterThan(0);
  });

  it('bad options are TypeError / RangeError naming the option', () => {
    const path = tempDir();
    expect(() => SpillTier.open({ path: '', keyHash: 'xxhash', seed: SEED })).toThrow(/spill\.path/);
    expect(() => SpillTier.open({ path, keyHash: 'xxhash', seed: SEED, maxBytes: 0 })).toThrow(RangeError);
    expect(() => SpillTier.open({ path, keyHash: 'md5' as 'xxhash', seed: SEED })).toThrow(/keyHash/);
    expect(() => SpillTier.open({ path, keyHash: 'xxhash', seed: new Uint8Array(8) })).toThrow(/32-byte/);
  });
});
