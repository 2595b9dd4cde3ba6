/**
 * Single-flight across threads: two worker threads and the main thread ask getOrCompute for
 * the same texts at the same moment (each in its own order, with repeats). Every embed call
 * counts its texts in shared memory: each unique text must reach a model exactly once, and
 * everyone must get the right vector. Then the claimer of some texts hangs for ever, or dies:
 * a waiter must go on after its own waitTimeoutMs and compute them itself.
 *
 * No timing assertion: a hang fails the test by its timeout, slowness does not.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { getOrCompute } from '../../src/index.js';
import { EmbeddingCache } from '../../src/index.js';
// @ts-expect-error plain-JS fixture shared with the workers, no type declarations
import { shuffled, textIndex, textOf, vectorOf } from './fixtures/single-flight-shared.mjs';

const ROUNDS = 6;
const PER_ROUND = 300;

function waitFor(w: Worker, type: string, pred: (m: any) => boolean = () => true): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type === type && pred(m)) {
        w.off('message', onMessage);
        resolve(m);
      }
    };
    w.on('message', onMessage);
    w.once('error', reject);
  });
}

describe('stress: single-flight across threads', () => {
  const workers: Worker[] = [];
  let cache: EmbeddingCache | undefined;
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
    await cache?.close();
  });

  it('each unique text is embedded exactly once across two workers and the main thread', async () => {
    cache = await EmbeddingCache.open();
    const control = new SharedArrayBuffer(4);
    const counts = new SharedArrayBuffer(4 * ROUNDS * PER_ROUND);
    const ctl = new Int32Array(control);
    const cnt = new Int32Array(counts);
    for (let id = 0; id < 2; id++) {
      const w = new Worker(new URL('./fixtures/single-flight-worker.mjs', import.meta.url), {
        workerData: {
          handle: cache.handle,
          id,
          rounds: ROUNDS,
          perRound: PER_ROUND,
          control,
          counts,
          batchSize: 16 + id * 16,
        },
      });
      workers.push(w);
    }
    await Promise.all(workers.map((w) => waitFor(w, 'ready')));

    const embed = async (missing: string[]) => {
      for (const t of missing) Atomics.add(cnt, textIndex(t, PER_ROUND), 1);
      await new Promise((r) => setTimeout(r, 2));
      return missing.map((t) => vectorOf(textIndex(t, PER_ROUND)));
    };
    let mainBad = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const done = workers.map((w) => waitFor(w, 'round', (m) => m.round === round));
      Atomics.store(ctl, 0, round + 1);
      Atomics.notify(ctl, 0);
      const texts: string[] = shuffled(round * 31 + 99, PER_ROUND).map((i: number) => textOf(round, i));
      // Two concurrent calls in this thread as well.
      const [a, b] = await Promise.all([
        getOrCompute(cache, texts, embed, { batchSize: 24 }),
        getOrCompute(cache, texts.slice().reverse(), embed, { batchSize: 40 }),
      ]);
      a.forEach((v, p) => {
        if (
          Array.from(v).join() !==
          Array.from(vectorOf(textIndex(texts[p]!, PER_ROUND)) as Float32Array).join()
        )
          mainBad++;
      });
      expect(b).toHaveLength(texts.length);
      const results = await Promise.all(done);
      for (const r of results) expect(r.bad).toBe(0);
    }
    expect(mainBad).toBe(0);
    const histogram = new Map<number, number>();
    for (let i = 0; i < cnt.length; i++) histogram.set(cnt[i]!, (histogram.get(cnt[i]!) ?? 0) + 1);
    // Every text embedded once: {1 → all}.
    expect(Object.fromEntries(histogram)).toEqual({ 1: ROUNDS * PER_ROUND });
    const table = cache.claims;
    expect(table.activeClaims()).toBe(0);
    expect(table.checkInvariants()).toEqual([]);
    expect(table.counters().waits).toBeGreaterThan(0); // the threads really met
    expect(cache.stats().entries).toBe(ROUNDS * PER_ROUND);
  }, 120_000);

  for (const fate of ['hangs for ever', 'is terminated'] as const) {
    it(`a waiter goes on after its timeout when the claimer ${fate}`, async () => {
      cache = await EmbeddingCache.open();
      const texts = Array.from({ length: 40 }, (_, i) => `claimed text ${i}`);
      const w = new Worker(new URL('./fixtures/claim-and-hang.mjs', import.meta.url), {
        workerData: { handle: cache.handle, texts },
      });
      workers.push(w);
      await waitFor(w, 'claimed');
      if (fate === 'is terminated') {
        await w.terminate();
        workers.splice(0);
      }
      const table = cache.claims;
      expect(table.activeClaims()).toBe(texts.length);

      const asked: string[] = [];
      const extra = 'a text nobody claimed';
      const out = await getOrCompute(
        cache,
        [extra, ...texts],
        async (m) => {
          asked.push(...m);
          return m.map((t) => [t.length, 1]);
        },
        { waitTimeoutMs: 150 },
      );
      // The free text first (not held up by the wait), then the taken-over ones.
      expect(asked[0]).toBe(extra);
      expect(asked.slice().sort()).toEqual([extra, ...texts].sort());
      out.forEach((v, i) => expect(Array.from(v)).toEqual([[extra, ...texts][i]!.length, 1]));
      for (const t of texts) expect(cache.has(t)).toBe(true);
      expect(table.counters().takeovers).toBeGreaterThanOrEqual(texts.length);
      // The waiter took the claims over and released them: the table is clean again.
      expect(table.activeClaims()).toBe(0);
      expect(table.checkInvariants()).toEqual([]);
    }, 60_000);
  }
});
