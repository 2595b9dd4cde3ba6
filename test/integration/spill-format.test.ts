import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FORMAT_VERSION } from '../../src/spill/format.js';
import { SpillTier } from '../../src/spill/tier.js';
import { key, SEED, vector } from '../support/data.mjs';
import { expectBitExact, expectCacheError } from '../support/expect.js';
import { enqueueRange, openTier } from '../support/spill.js';
import { tempDir } from '../support/temp.js';

/**
 * Rewrites the format version inside the file's format record, as a later embedcache writing
 * another format would leave it. The record is msgpack: "formatVersion" then a positive fixint.
 * Every copy is patched: LMDB copies pages on write, so freed pages may hold older copies.
 */
function patchFormatVersion(path: string, from: number, to: number): void {
  const file = join(path, 'data.mdb');
  const bytes = readFileSync(file);
  const marker = Buffer.concat([Buffer.from([0xa0 | 13]), Buffer.from('formatVersion'), Buffer.from([from])]);
  let patched = 0;
  for (let at = bytes.indexOf(marker); at >= 0; at = bytes.indexOf(marker, at + 1)) {
    bytes[at + marker.length - 1] = to;
    patched++;
  }
  expect(patched).toBeGreaterThan(0);
  writeFileSync(file, bytes);
}

describe('spill file meta record', () => {
  it('persists the key seed and returns the file seed on reopen', async () => {
    const path = tempDir();
    const first = openTier(path);
    expect(Array.from(first.seed)).toEqual(Array.from(SEED));
    enqueueRange(first, 0, 3);
    await first.close();

    const other = new Uint8Array(32).fill(0xaa);
    const second = openTier(path, { seed: other });
    expect(Array.from(second.seed)).toEqual(Array.from(SEED)); // the file's, not the one given
    expectBitExact(second.get(key(2), 'm', Date.now())?.vector, vector(2));
  });

  it('refuses a file written with another key hash, naming the path and both hashes', async () => {
    const path = tempDir();
    await openTier(path, { keyHash: 'sha256' }).close();
    const err = expectCacheError(
      () => SpillTier.open({ path, keyHash: 'xxhash', seed: SEED }),
      'ERR_SPILL_FORMAT',
    );
    expect(err.message).toContain(path);
    expect(err.message).toContain("'sha256'");
    expect(err.message).toContain("'xxhash'");
    // The refused open left the file as it was.
    expect(() => openTier(path, { keyHash: 'sha256' })).not.toThrow();
  });

  it('refuses a file of another format version, naming the path and both versions', async () => {
    const path = tempDir();
    const tier = openTier(path);
    enqueueRange(tier, 0, 2);
    await tier.close();
    patchFormatVersion(path, FORMAT_VERSION, 99);

    const err = expectCacheError(
      () => SpillTier.open({ path, keyHash: 'xxhash', seed: SEED }),
      'ERR_SPILL_FORMAT',
    );
    expect(err.message).toContain(path);
    expect(err.message).toContain('format version 99');
    expect(err.message).toContain(`format version ${FORMAT_VERSION}`);

    patchFormatVersion(path, 99, FORMAT_VERSION); // and back: the file was not damaged by the refusal
    expectBitExact(openTier(path).get(key(1), 'm', Date.now())?.vector, vector(1));
  });

  // Older formats computed other content keys: 1 hashed the text as UTF-8, 2 as UTF-16 code
  // units under two XXH64 seeds. Such a file is refused, not read with keys that never match.
  for (const older of [1, 2]) {
    it(`refuses a file of format ${older} (older content keys), naming both versions`, async () => {
      expect(FORMAT_VERSION).toBe(3);
      const path = tempDir();
      const tier = openTier(path);
      enqueueRange(tier, 0, 2);
      await tier.close();
      patchFormatVersion(path, FORMAT_VERSION, older);
      const err = expectCacheError(
        () => SpillTier.open({ path, keyHash: 'xxhash', seed: SEED }),
        'ERR_SPILL_FORMAT',
      );
      expect(err.message).toContain(
        `format version ${older} and this version of embedcache reads format version 3`,
      );
    });
  }

  it('two instances opening a new path at once agree on one seed', () => {
    const path = tempDir();
    const a = openTier(path, { seed: new Uint8Array(32).fill(1) });
    const b = openTier(path, { seed: new Uint8Array(32).fill(2) });
    expect(Array.from(b.seed)).toEqual(Array.from(a.seed));
  });
});
