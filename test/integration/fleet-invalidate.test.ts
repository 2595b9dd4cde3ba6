/**
 * invalidateModel() across a fleet: two caches opened separately in this process are two
 * machines (separate memory, separate spill tiers) sharing one real redis-server. A bump on one
 * makes the model a miss on the other within 1.5 s (pub/sub, with the periodic re-read of the
 * fleet's generations behind it); other models keep hitting. A machine that was closed during
 * the bump drops the model from its disk when it opens again (remote/generations.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { tempDir } from '../support/temp.js';

const N = 200;
const DIMS = 32;
const M = 'm';
const OTHER = 'other';
/**
 * remote.timeoutMs: a write batch that takes longer than this (a loaded test machine) is dropped
 * and counted as an error, by design; five seconds keeps the setup's writes from being lost.
 */
const TIMEOUT_MS = 5000;
const texts = Array.from({ length: N }, (_, i) => textFor(i));
const vm = (i: number): Float32Array => vectorFor(i, 1, DIMS);
const vo = (i: number): Float32Array => vectorFor(i, 2, DIMS);

/** Polls every `everyMs` until ok() or `limitMs` passed; returns the ms it took. */
async function pollUntil(ok: () => boolean, limitMs: number, everyMs = 20): Promise<number> {
  const start = Date.now();
  while (!ok() && Date.now() - start <= limitMs) await new Promise((r) => setTimeout(r, everyMs));
  return Date.now() - start;
}

function hitsOf(cache: EmbeddingCache, model: string): number {
  let n = 0;
  for (const t of texts) if (cache.get(t, { model }) !== undefined) n++;
  return n;
}

describe('fleet invalidateModel (two machines, one Redis)', () => {
  let redis: RedisServer | undefined;
  const open = useCaches();

  afterEach(async () => {
    await redis?.stop();
    redis = undefined;
  });

  /**
   * Machine A stores both models and waits until Redis has them; B reads them from Redis (all
   * bit-exact). Without a spill tier B's fetchMany keeps them in its memory; with one, B stores
   * them itself too (setMany, persist: memory and disk), so that both of its tiers hold them.
   */
  async function twoMachines(
    bOptions: { spillPath?: string } = {},
  ): Promise<[EmbeddingCache, EmbeddingCache]> {
    redis = await startRedis();
    const remote = { url: redis.url, prefix: 'fleet-inv', timeoutMs: TIMEOUT_MS };
    const a = await open({ maxBytes: 16 * 1024 * 1024, remote });
    const b = await open({
      maxBytes: 16 * 1024 * 1024,
      remote,
      ...(bOptions.spillPath !== undefined ? { spill: { path: bOptions.spillPath, persist: true } } : {}),
    });
    a.setMany(
      texts,
      texts.map((_, i) => vm(i)),
      { model: M },
    );
    a.setMany(
      texts,
      texts.map((_, i) => vo(i)),
      { model: OTHER },
    );
    await a.flush();
    const gotM = await b.fetchMany(texts, { model: M });
    const gotO = await b.fetchMany(texts, { model: OTHER });
    for (let i = 0; i < N; i++) {
      expectBitExact(gotM[i], vm(i));
      expectBitExact(gotO[i], vo(i));
    }
    if (bOptions.spillPath !== undefined) {
      b.setMany(
        texts,
        texts.map((_, i) => vm(i)),
        { model: M },
      );
      b.setMany(
        texts,
        texts.map((_, i) => vo(i)),
        { model: OTHER },
      );
      await b.flush();
    }
    // Precondition: B serves both models from its own tiers now.
    expect(hitsOf(b, M)).toBe(N);
    expect(hitsOf(b, OTHER)).toBe(N);
    return [a, b];
  }

  it(
    "invalidateModel('m') on one machine: the other misses 'm' within 1.5 s; other models still hit",
    { timeout: 90_000 },
    async () => {
      const [a, b] = await twoMachines();
      a.invalidateModel(M);
      expect(hitsOf(a, M)).toBe(0); // at once on the machine that invalidated
      const took = await pollUntil(() => hitsOf(b, M) === 0, 1500);
      expect(hitsOf(b, M), `B still served '${M}' ${took} ms after A's invalidateModel`).toBe(0);
      expect(took).toBeLessThanOrEqual(1500);
      // Not through Redis either: the old generation's values are not read any more.
      const again = await b.fetchMany(texts, { model: M });
      expect(again.filter((v) => v !== undefined)).toHaveLength(0);
      // The other model is untouched, on both machines.
      for (let i = 0; i < N; i++) {
        expectBitExact(b.get(texts[i]!, { model: OTHER }), vo(i));
        expectBitExact(a.get(texts[i]!, { model: OTHER }), vo(i));
      }
      // A third machine opened after the bump: 'm' misses, 'other' comes from Redis.
      const c = await open({
        maxBytes: 16 * 1024 * 1024,
        remote: { url: redis!.url, prefix: 'fleet-inv', timeoutMs: TIMEOUT_MS },
      });
      expect((await c.fetchMany(texts, { model: M })).filter((v) => v !== undefined)).toHaveLength(0);
      const fromRedis = await c.fetchMany(texts, { model: OTHER });
      for (let i = 0; i < N; i++) expectBitExact(fromRedis[i], vo(i));
      // New writes of the model after the bump are shared again.
      b.setMany(
        texts.slice(0, 10),
        texts.slice(0, 10).map((_, i) => vo(i)),
        { model: M },
      );
      await b.flush();
      const fresh = await a.fetchMany(texts.slice(0, 10), { model: M });
      for (let i = 0; i < 10; i++) expectBitExact(fresh[i], vo(i));
      console.log(`invalidateModel reached the other machine in ${took} ms`);
    },
  );

  it(
    "with a spill tier: the other machine's disk stops serving 'm' too, and a machine closed during the bump drops it when it opens",
    { timeout: 90_000 },
    async () => {
      const path = tempDir();
      const [a, b] = await twoMachines({ spillPath: path });
      expect(b.stats().spill!.entries).toBe(2 * N); // persist: both models are on B's disk

      // Live: B drops 'm' from memory and disk within 1.5 s.
      a.invalidateModel(M);
      const took = await pollUntil(() => hitsOf(b, M) === 0, 1500);
      expect(hitsOf(b, M), `B still served '${M}' ${took} ms after A's invalidateModel`).toBe(0);
      expect(took).toBeLessThanOrEqual(1500);
      for (let i = 0; i < N; i++) expectBitExact(b.get(texts[i]!, { model: OTHER }), vo(i));

      // B stores 'm' again (the new generation), then closes; A invalidates 'm' once more while B is down.
      b.setMany(
        texts,
        texts.map((_, i) => vm(i)),
        { model: M },
      );
      await b.close();
      a.invalidateModel(M);
      await a.flush();
      // B opens again on the same spill file: 'm' is a miss at once, 'other' is still served from disk.
      const b2 = await open({
        maxBytes: 16 * 1024 * 1024,
        remote: { url: redis!.url, prefix: 'fleet-inv', timeoutMs: TIMEOUT_MS },
        spill: { path, persist: true },
      });
      expect(hitsOf(b2, M), `B served '${M}' from its disk after a bump it missed`).toBe(0);
      for (let i = 0; i < N; i++) expectBitExact(b2.get(texts[i]!, { model: OTHER }), vo(i));
      expect(b2.stats().spill!.hits).toBeGreaterThanOrEqual(N);
      console.log(`invalidateModel reached the other machine (spill tier) in ${took} ms`);
    },
  );
});
