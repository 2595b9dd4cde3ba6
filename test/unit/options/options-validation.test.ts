/** Bad options throw at open: RangeError or TypeError naming the option (not EmbeddingCacheError). */
import { describe, expect, it } from 'vitest';
import { EmbeddingCache, EmbeddingCacheError } from '../../../src/index.js';

async function openError(options: unknown): Promise<Error> {
  try {
    const c = await EmbeddingCache.open(options as never);
    await c.close();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`EmbeddingCache.open(${String(JSON.stringify(options))}) did not throw`);
}

const BAD: [string, Record<string, unknown>][] = [
  ['maxEntries', { maxEntries: -1 }],
  ['maxEntries', { maxEntries: 0 }],
  ['maxEntries', { maxEntries: NaN }],
  ['maxEntries', { maxEntries: 1.5 }],
  ['maxEntries', { maxEntries: Infinity }],
  ['maxEntries', { maxEntries: '100' }],
  ['maxBytes', { maxBytes: 1000 }],
  ['maxBytes', { maxBytes: 64 * 1024 }],
  ['maxBytes', { maxBytes: 0 }],
  ['maxBytes', { maxBytes: -1 }],
  ['maxBytes', { maxBytes: NaN }],
  ['maxBytes', { maxBytes: '512MB' }],
  ['maxBytes', { maxBytes: null }],
  ['ttlMs', { ttlMs: -1 }],
  ['ttlMs', { ttlMs: NaN }],
  ['ttlMs', { ttlMs: '1000' }],
  ['keyHash', { keyHash: 'md5' }],
  ['keyHash', { keyHash: 'SHA256' }],
  ['keyHash', { keyHash: 1 }],
  ['lockTimeoutMs', { lockTimeoutMs: -1 }],
  ['lockTimeoutMs', { lockTimeoutMs: NaN }],
];

describe('options validation', () => {
  it.each(BAD)('rejects bad %s: %o', async (name, options) => {
    const err = await openError(options);
    expect(err instanceof RangeError || err instanceof TypeError, `${err.name}: ${err.message}`).toBe(true);
    expect(err).not.toBeInstanceOf(EmbeddingCacheError);
    expect(err.message).toContain(name);
    expect(err.message.length).toBeGreaterThan(name.length + 20);
  });

  it.each([[42], ['maxEntries=10'], [[{ maxEntries: 10 }]]])(
    'rejects options that are not an object: %o',
    async (options) => {
      const err = await openError(options);
      expect(err).toBeInstanceOf(TypeError);
    },
  );

  it('accepts no options, {} and every valid setting', async () => {
    for (const options of [
      undefined,
      {},
      { maxEntries: 1 },
      { maxEntries: 1_000_000 },
      { maxBytes: 8 * 1024 * 1024 },
      { ttlMs: 0 },
      { ttlMs: 1500 },
      { keyHash: 'xxhash' as const },
      { keyHash: 'sha256' as const },
      { lockTimeoutMs: 200 },
      {
        maxEntries: 10,
        maxBytes: 4 * 1024 * 1024,
        ttlMs: 60_000,
        keyHash: 'sha256' as const,
        lockTimeoutMs: 500,
      },
    ]) {
      const cache = await EmbeddingCache.open(options);
      cache.set('a', [1, 2, 3]);
      expect(Array.from(cache.get('a') ?? [])).toEqual([1, 2, 3]);
      const s = cache.stats();
      if (options?.maxBytes !== undefined) expect(s.maxBytes).toBe(options.maxBytes);
      if (options?.maxEntries !== undefined) expect(s.maxEntries).toBe(options.maxEntries);
      await cache.close();
    }
  });
});
