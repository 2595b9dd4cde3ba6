/**
 * Aborting a pool task mid-batch: Piscina terminates the worker running it, wherever it is —
 * possibly inside a store write, holding a stripe lock. Afterwards the other threads must be
 * able to write every key (a dead writer's lock is taken over: lockTimeoutMs 200), the store's
 * invariants must hold, every hit must be a whole vector of its own key, and the pool must go
 * on working with fresh workers.
 *
 * No timing assertion: the abort lands wherever it lands; each round checks the same things.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { type CachePool, createCachePool } from '../../src/threads/pool.js';
import { textFor, vectorFor } from '../support/data.mjs';

const DIMS = 1536;
const TEXTS = 3000;
const ROUNDS = 6;

/** 'ok' when v is exactly vectorFor(key, version) for the version it carries. */
function classify(v: Float32Array, key: number): string {
  if (v.length !== DIMS) return 'length';
  if (v[0] !== key) return 'foreign';
  const want = vectorFor(key, v[1]!, DIMS);
  for (let i = 0; i < DIMS; i++) if (v[i] !== want[i]) return 'torn';
  return 'ok';
}

describe('stress: aborting a pool task mid-batch', () => {
  let pool: CachePool | undefined;
  let cache: EmbeddingCache | undefined;
  afterEach(async () => {
    await pool?.destroy();
    await cache?.close();
  });

  it('terminates its worker and leaves the cache consistent for everyone else', async () => {
    cache = await EmbeddingCache.open({ lockTimeoutMs: 200, maxBytes: 128 * 1024 * 1024 });
    pool = createCachePool(cache, { threads: 2 });
    const texts = Array.from({ length: TEXTS }, (_, i) => textFor(i, 100));
    let aborted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const version = round + 1;
      const vectors = texts.map((_, i) => vectorFor(i, version, DIMS));
      await pool.getMany(texts.slice(0, 1)); // workers up and attached
      const before = new Set(pool.threadIds());
      const setsBefore = cache.stats().sets;
      const ac = new AbortController();
      const task = pool.setMany(texts, vectors, undefined, { signal: ac.signal });
      task.catch(() => {}); // observed below
      // Abort once the workers are writing, a little later each round.
      const deadline = Date.now() + 20_000;
      while (cache.stats().sets === setsBefore && Date.now() < deadline) await sleep(0);
      if (round > 0) await sleep(round - 1);
      ac.abort();
      const outcome = await task.then(
        () => 'finished',
        (e: Error) => e.name,
      );
      if (outcome === 'AbortError') aborted++;
      else expect(outcome).toBe('finished'); // the batch may have completed before the abort

      if (outcome === 'AbortError') {
        // The aborted task's worker is gone (Piscina replaces it with a fresh one).
        await pool.getMany(texts.slice(0, 1));
        const after = pool.threadIds();
        expect(after.some((id) => !before.has(id))).toBe(true);
      }
      // Every key of the batch writable from here. The dead writer held (at most) the stripe lock
      // of one of these keys, so this takes it over and repairs what it was writing.
      for (let i = 0; i < TEXTS; i++) cache.set(texts[i]!, vectorFor(i, 1000 + round, DIMS));
      expect(cache.checkInvariants(), `round ${round}`).toEqual([]);
      const got = cache.getMany(texts);
      const bad = got.map((v, i) => (v === undefined ? 'ok' : classify(v, i))).filter((c) => c !== 'ok');
      expect(bad, `round ${round}`).toEqual([]);
      for (let i = 0; i < TEXTS; i++) expect(got[i]![1]).toBe(1000 + round);
      // The pool works on with its new workers, and sees what this thread wrote.
      const viaPool = await pool.getMany(texts.slice(0, 600));
      viaPool.forEach((v, i) => {
        if (got[i] === undefined) expect(v).toBeUndefined();
        else expect(Array.from(v!)).toEqual(Array.from(got[i]!));
      });
    }
    console.log(
      `pool-abort: ${aborted} of ${ROUNDS} batches aborted mid-way, lock take-overs ${cache.stats().lockTakeovers}`,
    );
    expect(aborted).toBeGreaterThan(0);
  }, 120_000);
});
