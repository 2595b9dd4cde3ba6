/**
 * Workers terminated mid-write must not hang the others or leave a corrupt entry served as a
 * hit. Each round starts a writer that stores 1536-d vectors (6 KB copies) as fast as it can and
 * terminates it 0-20 ms into its loop, while a long-lived worker and the main thread keep doing
 * get/set on the same keys. After every termination: the long-lived worker's op count grows,
 * the main thread can set every key (a dead writer's lock is taken over: lockTimeoutMs 200),
 * and every hit is a whole vector of its own key.
 *
 * No timing assertion: progress is awaited with a generous deadline (a hang fails the test,
 * slowness does not).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { classify, rng, textFor, vectorFor } from '../support/data.mjs';

const KEYS = 24;
const DIMS = 1536;
const ROUNDS = 20;
const PROGRESS_DEADLINE_MS = 15_000;

function waitFor(w: Worker, type: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type === type) {
        w.off('message', onMessage);
        resolve(m);
      }
    };
    w.on('message', onMessage);
    w.once('error', reject);
  });
}

async function waitForProgress(ctl: Int32Array, slot: number, from: number, what: string): Promise<void> {
  const deadline = Date.now() + PROGRESS_DEADLINE_MS;
  while (Atomics.load(ctl, slot) <= from) {
    if (Date.now() > deadline)
      throw new Error(
        `${what}: no progress for ${PROGRESS_DEADLINE_MS} ms (a dead writer's lock was never taken over?)`,
      );
    await sleep(5);
  }
}

describe('stress: workers terminated mid-write', () => {
  const workers: Worker[] = [];
  let cache: EmbeddingCache | undefined;
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
    await cache?.close();
  });

  it('the other threads keep going and every hit stays a valid vector', async () => {
    // Room for 16 of the 24 keys: the writers evict too.
    cache = await EmbeddingCache.open({ maxEntries: 16, lockTimeoutMs: 200 });
    const texts = Array.from({ length: KEYS }, (_, i) => textFor(i, 300));
    const control = new SharedArrayBuffer(16);
    const ctl = new Int32Array(control);
    const base = { handle: cache.handle, keys: KEYS, dims: DIMS, texts };

    const survivor = new Worker(new URL('./fixtures/long-lived-worker.mjs', import.meta.url), {
      workerData: { ...base, id: 0, control },
    });
    workers.push(survivor);
    const survivorDone = waitFor(survivor, 'done');
    await waitFor(survivor, 'ready');

    const random = rng(42);
    let mainBad = 0;
    let mainHits = 0;
    let mainVersion = 0;
    const checkAll = (where: string) => {
      for (let k = 0; k < KEYS; k++) {
        const v = cache!.get(texts[k]!);
        if (v === undefined) continue;
        mainHits++;
        const c = classify(v, k, DIMS);
        if (c !== 'ok') {
          mainBad++;
          expect.soft(c, `${where}: key ${k} head ${Array.from(v.subarray(0, 3))}`).toBe('ok');
        }
      }
    };

    for (let round = 0; round < ROUNDS; round++) {
      const writer = new Worker(new URL('./fixtures/doomed-writer.mjs', import.meta.url), {
        workerData: { ...base, id: round },
      });
      workers.push(writer);
      await waitFor(writer, 'ready');

      // Main thread works on the same keys while the writer runs, for a random 0-20 ms.
      const until = Date.now() + Math.floor(random() * 21);
      do {
        const k = Math.floor(random() * KEYS);
        if (random() < 0.5) {
          const v = cache.get(texts[k]!);
          if (v !== undefined && classify(v, k, DIMS) !== 'ok') mainBad++;
        } else {
          mainVersion = (mainVersion + 1) % (1 << 20);
          cache.set(texts[k]!, vectorFor(k, mainVersion * 16 + 14, DIMS));
        }
      } while (Date.now() < until);

      await writer.terminate();
      workers.splice(workers.indexOf(writer), 1);

      // The survivor must move on after the kill ...
      await waitForProgress(ctl, 1, Atomics.load(ctl, 1), `round ${round}: long-lived worker`);
      // ... and the main thread must be able to write every key (taking over any lock the
      // dead writer held) and read back only whole vectors.
      for (let k = 0; k < KEYS; k++) {
        mainVersion = (mainVersion + 1) % (1 << 20);
        cache.set(texts[k]!, vectorFor(k, mainVersion * 16 + 14, DIMS));
      }
      checkAll(`round ${round}`);
    }

    Atomics.store(ctl, 0, 1);
    const done = (await survivorDone) as {
      counts: { ops: number; hits: number; torn: number; foreign: number; length: number; errors: number };
      firstBad: unknown[];
    };
    const s = cache.stats();
    console.log(
      'stress-terminate survivor',
      JSON.stringify(done.counts),
      'main hits',
      mainHits,
      'stats',
      JSON.stringify(s),
    );

    expect(done.firstBad).toEqual([]);
    expect(done.counts.errors).toBe(0);
    expect(done.counts.torn + done.counts.foreign + done.counts.length).toBe(0);
    expect(done.counts.hits).toBeGreaterThan(0);
    expect(mainBad).toBe(0);
    expect(mainHits).toBeGreaterThan(0);
    expect(s.entries).toBeLessThanOrEqual(16);
    expect(s.memoryBytes).toBeLessThanOrEqual(s.maxBytes);

    // After all the kills the cache still works normally.
    for (let k = 0; k < KEYS; k++) cache.set(texts[k]!, vectorFor(k, 1, DIMS));
    for (let k = 0; k < KEYS; k++) {
      const v = cache.get(texts[k]!);
      if (v !== undefined) expect(classify(v, k, DIMS), `key ${k} after the run`).toBe('ok');
    }
    const last = cache.get(texts[KEYS - 1]!);
    expect(last).toBeDefined();
    expect(Array.from(last!)).toEqual(Array.from(vectorFor(KEYS - 1, 1, DIMS) as Float32Array));
  }, 120_000);
});
