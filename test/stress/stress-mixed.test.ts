/**
 * Four worker threads attach to one cache and run mixed set/get/delete on overlapping keys for
 * a few seconds, with a cache small enough that eviction runs all the time. Every hit is
 * checked whole (vectors encode their key and version): zero torn reads, zero foreign reads.
 * The shared counters must add up to what the workers did.
 *
 * Two shapes: one model bounded by maxEntries; and three models of different dimensions
 * bounded only by maxBytes, so pages are committed while other threads sweep and models take
 * pages from each other.
 *
 * Workers load the built library (dist/): `npm test` builds first; locally run `npm run build`.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache, type CacheOptions } from '../../src/index.js';
import { classify, textFor } from '../support/data.mjs';

interface Counts {
  gets: number;
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  deleted: number;
  torn: number;
  foreign: number;
  length: number;
  errors: number;
}
interface Model {
  name: string;
  dims: number;
}

const WORKERS = 4;
const KEYS = 160;
const DURATION_MS = 2500;

function runWorker(workerData: object): Promise<{ counts: Counts; firstBad: unknown[] }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./fixtures/mixed-worker.mjs', import.meta.url), { workerData });
    let result: { counts: Counts; firstBad: unknown[] } | undefined;
    w.on('message', (m: { type: string; counts: Counts; firstBad: unknown[] }) => {
      if (m.type === 'done') result = m;
    });
    w.on('error', reject);
    w.on('exit', (code) =>
      result !== undefined
        ? resolve(result)
        : reject(new Error(`worker exited with ${code} before reporting`)),
    );
  });
}

describe('stress: 4 workers, mixed set/get/delete on overlapping keys', () => {
  let cache: EmbeddingCache | undefined;
  afterEach(async () => {
    await cache?.close();
    cache = undefined;
  });

  async function hammer(name: string, options: CacheOptions, models: Model[]): Promise<void> {
    cache = await EmbeddingCache.open(options);
    const texts = Array.from({ length: KEYS }, (_, i) => textFor(i, 200));
    const before = cache.stats();

    const results = await Promise.all(
      Array.from({ length: WORKERS }, (_, id) =>
        runWorker({ handle: cache!.handle, id, keys: KEYS, models, durationMs: DURATION_MS, texts }),
      ),
    );

    const total: Counts = {
      gets: 0,
      hits: 0,
      misses: 0,
      sets: 0,
      deletes: 0,
      deleted: 0,
      torn: 0,
      foreign: 0,
      length: 0,
      errors: 0,
    };
    for (const r of results) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += r.counts[k];
    const after = cache.stats();
    console.log(`stress-mixed ${name} totals`, JSON.stringify(total), 'stats', JSON.stringify(after));

    expect(
      results.flatMap((r) => r.firstBad),
      'bad reads or errors seen by the workers',
    ).toEqual([]);
    expect(total.errors).toBe(0);
    expect(total.torn).toBe(0);
    expect(total.foreign).toBe(0);
    expect(total.length).toBe(0);
    // The run did real work on every path.
    expect(total.hits).toBeGreaterThan(0);
    expect(total.misses).toBeGreaterThan(0);
    expect(total.deleted).toBeGreaterThan(0);
    expect(after.evictions).toBeGreaterThan(0);

    // Counters of every thread are summed.
    expect(after.hits - before.hits).toBe(total.hits);
    expect(after.misses - before.misses).toBe(total.misses);
    expect(after.hits + after.misses - before.hits - before.misses).toBe(total.gets);
    expect(after.sets - before.sets).toBe(total.sets);
    expect(after.deletes - before.deletes).toBe(total.deleted);
    if (options.maxEntries !== undefined) expect(after.entries).toBeLessThanOrEqual(options.maxEntries);
    expect(after.memoryBytes).toBeLessThanOrEqual(after.maxBytes);

    // Quiescent now: every key is a miss or its own whole vector, and get agrees with has.
    let live = 0;
    for (let k = 0; k < KEYS; k++) {
      const m = models[k % models.length]!;
      const v = cache.get(texts[k]!, { model: m.name });
      expect(cache.has(texts[k]!, { model: m.name })).toBe(v !== undefined);
      if (v !== undefined) {
        live++;
        expect(classify(v, k, m.dims), `key ${k}`).toBe('ok');
      }
    }
    const problems = (cache as unknown as { checkInvariants?: () => string[] }).checkInvariants?.() ?? [];
    expect(problems, 'internal invariants after the run').toEqual([]);
    expect(live, 'keys that hit vs stats().entries').toBe(cache.stats().entries);
    if (options.maxEntries !== undefined)
      expect(live, 'keys that hit vs maxEntries').toBeLessThanOrEqual(options.maxEntries);
  }

  it('one model, maxEntries 64 (160 keys): no torn or foreign reads, counters add up', async () => {
    await hammer('maxEntries', { maxEntries: 64 }, [{ name: 'default', dims: 384 }]);
  }, 60_000);

  it('three models of different dimensions under maxBytes: the same holds', async () => {
    // 160 keys of 12-48 KB vectors (~4.6 MB) into a 3 MiB cache: about ten 256 KiB pages shared
    // by three dimensions, so sets evict and classes compete for pages.
    await hammer('maxBytes', { maxBytes: 3 * 1024 * 1024 }, [
      { name: 'small', dims: 3000 },
      { name: 'base', dims: 6000 },
      { name: 'large', dims: 12000 },
    ]);
  }, 60_000);
});
