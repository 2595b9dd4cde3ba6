/**
 * One instance per machine keeps the fleet view current (the re-read of the generations and the
 * pub/sub subscription). When it closes, another attached instance takes over, so the threads
 * that go on still learn invalidations made elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { vectorFor } from '../support/data.mjs';
import { type RedisServer, startRedis } from '../support/redis.js';

const DIMS = 8;

async function until(cond: () => boolean, ms: number): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > ms) return Infinity;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

describe(
  'remote tier: the fleet view outlives the instance that opened the cache',
  { timeout: 60_000 },
  () => {
    const open = useCaches();
    let server: RedisServer;
    beforeAll(async () => {
      server = await startRedis();
    });
    afterAll(async () => {
      await server.stop();
    });

    it('an attached instance takes over after the opener closes and still learns a bump', async () => {
      const remote = { url: server.url, prefix: 'lead' };
      const a = await open({ maxBytes: 8 * 1024 ** 2, remote });
      const attached = await EmbeddingCache.attach(a.handle);
      try {
        a.set('t', vectorFor(1, 0, DIMS), { model: 'm' });
        await a.close(); // the leader goes; the memory stays with `attached`
        expect(attached.get('t', { model: 'm' })).toBeInstanceOf(Float32Array);

        const b = await open({ maxBytes: 8 * 1024 ** 2, remote });
        b.invalidateModel('m');
        await b.flush();
        // Takeover after the leader's beat is 3 s old, then at most one re-read period.
        const ms = await until(() => attached.get('t', { model: 'm' }) === undefined, 8000);
        expect(ms).toBeLessThan(8000);
      } finally {
        await attached.close();
      }
    });
  },
);
