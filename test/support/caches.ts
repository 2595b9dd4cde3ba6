/** Caches opened by a test file and closed for it. */
import { afterAll, afterEach } from 'vitest';
import { EmbeddingCache, type CacheOptions } from '../../src/index.js';

/**
 * Returns an `open(options)` whose caches are all closed after each test, or with 'all' after
 * the last test of the suite it is called in (for suites whose tests share one large cache).
 * close() of an already closed cache is tolerated: some tests close on purpose.
 */
export function useCaches(
  closeAfter: 'each' | 'all' = 'each',
): (options?: CacheOptions) => Promise<EmbeddingCache> {
  const opened: EmbeddingCache[] = [];
  (closeAfter === 'each' ? afterEach : afterAll)(async () => {
    for (const c of opened.splice(0)) {
      try {
        await c.close();
      } catch {
        // already closed by the test
      }
    }
  });
  return async (options?: CacheOptions) => {
    const c = await EmbeddingCache.open(options);
    opened.push(c);
    return c;
  };
}
