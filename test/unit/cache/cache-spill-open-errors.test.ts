/**
 * EmbeddingCache.open() with a spill tier that cannot be used: a path that cannot become a
 * folder or holds a file that is not LMDB rejects with ERR_SPILL_OPEN naming the path (the
 * caller must hear about it at open, not find an empty cache later); malformed spill options
 * throw TypeError or RangeError naming the option, before anything touches the disk.
 * (These run as root in CI, so permission bits cannot make a folder unwritable: a regular file
 * in the way does.)
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EmbeddingCache, type CacheOptions } from '../../../src/index.js';
import { useCaches } from '../../support/caches.js';
import { expectCacheErrorAsync } from '../../support/expect.js';
import { tempDir } from '../../support/temp.js';

describe('cache spill tier: open failures', () => {
  const open = useCaches();

  it('a spill.path under a regular file rejects with ERR_SPILL_OPEN naming the path', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'plain-file'), 'not a folder');
    const path = join(base, 'plain-file', 'spill');
    const err = await expectCacheErrorAsync(() => EmbeddingCache.open({ spill: { path } }), 'ERR_SPILL_OPEN');
    expect(err.message).toContain(path);
  });

  it('a spill.path that is a regular file rejects with ERR_SPILL_OPEN naming the path', async () => {
    const path = join(tempDir(), 'plain-file');
    writeFileSync(path, 'not a folder');
    const err = await expectCacheErrorAsync(() => EmbeddingCache.open({ spill: { path } }), 'ERR_SPILL_OPEN');
    expect(err.message).toContain(path);
  });

  it('a folder whose data.mdb is not LMDB rejects with ERR_SPILL_OPEN and is left as it was', async () => {
    const path = join(tempDir(), 'damaged');
    mkdirSync(path);
    const garbage = Buffer.alloc(16 * 1024, 0x5a);
    writeFileSync(join(path, 'data.mdb'), garbage);
    const err = await expectCacheErrorAsync(() => EmbeddingCache.open({ spill: { path } }), 'ERR_SPILL_OPEN');
    expect(err.message).toContain(path);
    expect(readdirSync(path)).toEqual(['data.mdb']);
  });

  it('a failed open leaves no cache behind: the same path opens fine once it is fixed', async () => {
    const base = tempDir();
    const path = join(base, 'spill');
    writeFileSync(path, 'in the way');
    await expectCacheErrorAsync(() => EmbeddingCache.open({ spill: { path } }), 'ERR_SPILL_OPEN');
    rmSync(path);
    const cache = await open({ spill: { path } });
    cache.set('x', [1, 2, 3]);
    expect(Array.from(cache.get('x')!)).toEqual([1, 2, 3]);
    expect(cache.stats().spill).toMatchObject({ errors: 0 });
  });

  it('a new folder is created (with parents) for a spill.path that does not exist', async () => {
    const path = join(tempDir(), 'a', 'b', 'c');
    const cache = await open({ spill: { path } });
    expect(existsSync(join(path, 'data.mdb'))).toBe(true);
    expect(cache.stats().spill).toMatchObject({ entries: 0, writes: 0, hits: 0, misses: 0, errors: 0 });
  });
});

describe('cache spill tier: bad options', () => {
  const cases: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ['spill: null', null, TypeError, /options\.spill/],
    ['spill: a string', './cache-dir', TypeError, /options\.spill/],
    ['spill: an empty object', {}, TypeError, /options\.spill\.path/],
    ['an empty path', { path: '' }, TypeError, /options\.spill\.path/],
    ['a numeric path', { path: 5 }, TypeError, /options\.spill\.path/],
    ['maxBytes 0', { path: 'unused', maxBytes: 0 }, RangeError, /options\.spill\.maxBytes/],
    ['maxBytes -1', { path: 'unused', maxBytes: -1 }, RangeError, /options\.spill\.maxBytes/],
    ['maxBytes 1.5', { path: 'unused', maxBytes: 1.5 }, RangeError, /options\.spill\.maxBytes/],
    ['maxBytes Infinity', { path: 'unused', maxBytes: Infinity }, RangeError, /options\.spill\.maxBytes/],
    ['maxBytes as a string', { path: 'unused', maxBytes: '1024' }, TypeError, /options\.spill\.maxBytes/],
    ['persist as a string', { path: 'unused', persist: 'yes' }, TypeError, /options\.spill\.persist/],
  ];
  for (const [name, spill, type, mentions] of cases) {
    it(`${name} throws ${type.name} naming the option, and creates nothing`, async () => {
      const base = tempDir();
      const withPath =
        typeof spill === 'object' &&
        spill !== null &&
        'path' in spill &&
        (spill as { path: unknown }).path === 'unused'
          ? { ...spill, path: join(base, 'unused') }
          : spill;
      let thrown: unknown;
      try {
        await EmbeddingCache.open({ spill: withPath } as CacheOptions);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(type);
      expect((thrown as Error).message).toMatch(mentions);
      expect(readdirSync(base)).toEqual([]);
    });
  }
});
