/**
 * The cache with a spill tier under threads: the main thread opens it with memory for a few
 * dozen entries over a key space of 1500, so most reads go to disk; three workers attach
 * through the handle (each opens its own LMDB handle on the same path) and run mixed get /
 * getMany / set on overlapping keys for ~2 s. Vectors are derived from (key, version), so
 * every hit is checked whole: a torn vector, another key's vector or a wrong length fails.
 * At the end every key any worker set must still be readable (from memory or disk) and whole:
 * an evicted entry may never be lost. Workers load the built module (`npm test` builds first).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { classify, textFor } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';

const workerFile = fileURLToPath(new URL('./fixtures/cache-spill-thread-worker.mjs', import.meta.url));
const built = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));

const KEYS = 1500;
const DIMS = 64;
const WORKERS = 3;
const DURATION_MS = 2000;

interface Counts {
  gets: number;
  hits: number;
  misses: number;
  sets: number;
  torn: number;
  foreign: number;
  length: number;
  errors: number;
}
interface Done {
  type: 'done';
  counts: Counts;
  firstBad: unknown[];
}

const running: Worker[] = [];
const caches: EmbeddingCache[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.terminate()));
  for (const c of caches.splice(0)) await c.close();
});

function message<T>(t: Worker, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }): void => {
      if (m.type === type) {
        t.off('message', onMessage);
        resolve(m as T);
      }
    };
    t.on('message', onMessage);
    t.once('error', reject);
    t.once('exit', (code) => reject(new Error(`worker exited (${code}) before '${type}'`)));
  });
}

describe('cache spill tier shared by threads', () => {
  it('mixed reads and writes through memory and disk: every read whole, nothing lost', async () => {
    if (!existsSync(built))
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does).`);
    const path = tempDir();
    const cache = await EmbeddingCache.open({ maxEntries: 48, spill: { path } });
    caches.push(cache);
    const texts = Array.from({ length: KEYS }, (_, k) => textFor(k));
    const written = new SharedArrayBuffer(KEYS * 4);

    const threads = Array.from(
      { length: WORKERS },
      (_, id) =>
        new Worker(workerFile, {
          workerData: {
            handle: cache.handle,
            id,
            keys: KEYS,
            dims: DIMS,
            durationMs: DURATION_MS,
            texts,
            written,
          },
        }),
    );
    running.push(...threads);
    const done = Promise.all(threads.map((t) => message<Done>(t, 'done')));
    const results = await done;

    let hits = 0;
    let sets = 0;
    for (const { counts, firstBad } of results) {
      expect(firstBad).toEqual([]);
      expect(counts).toMatchObject({ torn: 0, foreign: 0, length: 0, errors: 0 });
      expect(counts.gets).toBeGreaterThan(0);
      hits += counts.hits;
      sets += counts.sets;
    }
    expect(sets).toBeGreaterThan(KEYS); // the key space was covered, many keys more than once
    expect(hits).toBeGreaterThan(0);

    // Every worker closed (and so flushed) its spill handle. Every key set must read back whole.
    await cache.flush();
    const marks = new Int32Array(written);
    let marked = 0;
    let bad = 0;
    for (let k = 0; k < KEYS; k++) {
      const v = cache.get(texts[k]!);
      if (marks[k] === 1) {
        marked++;
        if (v === undefined || classify(v, k, DIMS) !== 'ok') bad++;
      } else if (v !== undefined) {
        bad++; // never set by anyone: must not exist
      }
    }
    expect(marked).toBeGreaterThan(KEYS * 0.9);
    expect(bad).toBe(0);

    const s = cache.stats();
    expect(s.spill!.errors).toBe(0);
    // Memory held at most 48 of 1500 keys: most hits came from disk.
    expect(s.spill!.hits).toBeGreaterThan(s.hits / 2);
    expect(s.entries).toBeLessThanOrEqual(48);
    expect(cache.checkInvariants()).toEqual([]);
  });
});
