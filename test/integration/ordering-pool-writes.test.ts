/**
 * Ordering: writes made through the pool are durable once the pool is destroyed and the cache
 * flushed and closed.
 *
 * With persist: true, pool.setMany() stores 4,000 entries from the pool's worker threads; each
 * worker queues their write-behind on its own spill handle. pool.destroy() ends those threads:
 * it must not drop writes they queued but had not committed yet. After destroy, flush and
 * close, a new cache on the same path serves all 4,000, and the first cache's stats counted no
 * more than 4,000 disk writes (a put lands once, whoever commits it). Not exactly 4,000: a worker
 * ended after LMDB committed its batch but before the commit's callback ran never counts it, and
 * the flush that commits the batch again finds every record there already (seen on a loaded
 * machine: 3,580 counted, all 4,000 on disk).
 *
 * The pool runs dist/workers/cache-worker.js: build first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type CachePool, createCachePool } from '../../src/threads/pool.js';
import { useCaches } from '../support/caches.js';
import { vectorFor } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';
import { requireBuild } from '../support/workers.js';

const N = 4000;
const DIMS = 8;

describe('ordering: pool writes survive pool.destroy()', () => {
  const open = useCaches();
  let pool: CachePool | undefined;
  afterEach(async () => {
    await pool?.destroy();
    pool = undefined;
  });

  it(`pool.setMany of ${N} entries (persist), destroy, flush, close: a new cache on the path gets all ${N}`, async () => {
    requireBuild();
    const path = tempDir();
    const texts = Array.from({ length: N }, (_, i) => `pool text ${i}: ${'x'.repeat(i % 17)}`);
    const cache = await open({ spill: { path, persist: true } });
    pool = createCachePool(cache, { threads: 2 });
    await pool.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 1, DIMS)),
    );
    await pool.destroy();
    pool = undefined;
    await cache.flush();
    const writes = cache.stats().spill!.writes;
    await cache.close();

    const again = await open({ spill: { path, persist: true } });
    let hits = 0;
    let wrong = 0;
    for (let i = 0; i < N; i++) {
      const v = again.get(texts[i]!);
      if (v === undefined) continue;
      hits++;
      if (v[0] !== i || v[1] !== 1) wrong++;
    }
    expect(wrong).toBe(0);
    expect(hits, `entries served after the restart (spill writes counted before close: ${writes})`).toBe(N);
    expect(writes).toBeLessThanOrEqual(N);
  });
});
