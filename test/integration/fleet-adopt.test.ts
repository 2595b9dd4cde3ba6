/**
 * A machine that reads a batch from the fleet's Redis keeps what it read: "A Redis hit is stored
 * in memory (and on disk, with persist) under the same guards as a promotion from disk"
 * (README, Fleet; cache.fetchMany). Two caches opened separately in this process are two
 * machines; one real redis-server (test/support/redis.ts).
 *
 * The guards refuse a copy while a disk write of the key's memory bucket is pending. With
 * persist, the batch's own adoptions queue disk writes, so a later key of the same batch that
 * shares a bucket with an earlier one must not be refused for that: it has no write pending.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheOptions } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { tempDir } from '../support/temp.js';

const N = 1000;
const DIMS = 16;
const texts = Array.from({ length: N }, (_, i) => textFor(i));
const vectors = texts.map((_, i) => vectorFor(i, 1, DIMS));

describe('fetchMany keeps every Redis hit of a batch locally', () => {
  let redis: RedisServer | undefined;
  const open = useCaches();

  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  async function readBatch(tiers: Pick<CacheOptions, 'spill'>): Promise<{ notKept: number[] }> {
    redis = await startRedis();
    const remote = { url: redis.url, prefix: 'fleet-adopt', timeoutMs: 5000 };
    const a = await open({ maxBytes: 16 * 1024 * 1024, remote });
    a.setMany(texts, vectors);
    await a.flush();
    const b = await open({ maxBytes: 16 * 1024 * 1024, remote, ...tiers });
    const got = await b.fetchMany(texts);
    for (let i = 0; i < N; i++) expectBitExact(got[i], vectors[i]!);
    expect(b.stats().remote).toMatchObject({ hits: N, misses: 0 });
    await b.flush();
    const notKept = texts.flatMap((t, i) => (b.has(t) ? [] : [i]));
    if (tiers.spill !== undefined) {
      expect(b.stats().spill!.entries, 'Redis hits written to disk (persist)').toBe(N - notKept.length);
    }
    return { notKept };
  }

  it('without a spill tier: every hit of 1,000 is in memory afterwards', { timeout: 60_000 }, async () => {
    const { notKept } = await readBatch({});
    expect(notKept).toEqual([]);
  });

  it(
    'with a spill tier (persist): every hit of 1,000 is in memory and on disk afterwards',
    { timeout: 60_000 },
    async () => {
      const { notKept } = await readBatch({ spill: { path: tempDir(), persist: true } });
      expect(notKept, 'texts fetchMany returned from Redis but stored in no tier').toEqual([]);
    },
  );
});
