/**
 * The remote tier from worker threads: pool workers attach with the cache's remote settings and
 * connect on their own; what they write reaches Redis by the time their task resolves (they
 * flush after each task), and a generation bump learned by the opening thread moves the keys
 * every thread builds (the fleet generation lives in shared memory).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CachePool, createCachePool } from '../../src/threads/pool.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { type RedisServer, startRedis } from '../support/redis.js';

const DIMS = 64;

function sameBytes(a: Float32Array | undefined, b: Float32Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe('remote tier: pool workers', { timeout: 60_000 }, () => {
  let redis: RedisServer;
  const open = useCaches();
  let pool: CachePool | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    await pool?.destroy();
    pool = undefined;
    await redis.cli('FLUSHALL');
  });

  it("a pool task's writes are in Redis when the task resolves", async () => {
    const a = await open({ maxBytes: 16 * 1024 ** 2, remote: { url: redis.url } });
    pool = createCachePool(a, { threads: 2 });
    const texts = Array.from({ length: 1000 }, (_, i) => textFor(i, 120));
    const vectors = texts.map((_, i) => vectorFor(i, 5, DIMS));
    await pool.setMany(texts, vectors);
    // No flush on any instance: another machine finds every vector at once.
    const b = await open({ maxBytes: 16 * 1024 ** 2, remote: { url: redis.url } });
    const got = await b.fetchMany(texts);
    expect(got.every((v, i) => sameBytes(v, vectors[i]!))).toBe(true);
    expect(b.stats().remote!.hits).toBe(1000);
    expect(a.stats().remote!.writes).toBeGreaterThanOrEqual(1000);
  });

  it("a bump learned by the opening thread moves every worker's keys", async () => {
    const a = await open({ maxBytes: 16 * 1024 ** 2, remote: { url: redis.url } });
    const b = await open({ maxBytes: 16 * 1024 ** 2, remote: { url: redis.url } });
    pool = createCachePool(a, { threads: 2 });
    const texts = Array.from({ length: 300 }, (_, i) => textFor(i, 80));
    const old = texts.map((_, i) => vectorFor(i, 1, DIMS));
    await pool.setMany(texts, old, { model: 'm' });
    expect((await b.fetchMany(texts, { model: 'm' })).every((v, i) => sameBytes(v, old[i]!))).toBe(true);

    b.invalidateModel('m');
    await b.flush();
    // A learns the bump (pub/sub, or the periodic read) and drops the model from its memory.
    expect(await until(() => a.get(texts[0]!, { model: 'm' }) === undefined, 1500)).toBe(true);
    // Workers now write under the new generation: B (which moved first) reads the new vectors.
    const fresh = texts.map((_, i) => vectorFor(i, 2, DIMS));
    await pool.setMany(texts, fresh, { model: 'm' });
    const c = await open({ maxBytes: 16 * 1024 ** 2, remote: { url: redis.url } });
    const got = await c.fetchMany(texts, { model: 'm' });
    expect(got.every((v, i) => sameBytes(v, fresh[i]!))).toBe(true);
  });
});
