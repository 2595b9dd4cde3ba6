/**
 * Ordering: invalidateModel() and clear() are final against promotions from disk in flight.
 *
 * A spill tier (persist) under a memory tier of 8 entries holds 200 keys of model 'm', so almost
 * every get misses memory, reads the disk and promotes the entry back into memory. A worker gets
 * those keys in a tight loop while the main thread, in rounds synchronized with it, drops them
 * (invalidateModel('m'), or clear()). Once the drop has returned and the worker has stopped,
 * with no set since, every key must be a miss: a get that read the disk before the drop must
 * not put its (now dropped) vector back into memory, or anywhere else.
 *
 * Each round: the main thread stores and flushes the 200 keys (new vectors), starts the worker,
 * lets it do a varying number of gets (so the drop lands at varying points of a promotion),
 * drops, stops the worker and waits until it has acknowledged (no get in flight), then reads
 * every key. Any vector returned is counted; the count must be 0.
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';
import { nextMessage, signal, spinUntil, useWorkers, waitFlag } from '../support/workers.js';

const fixture = new URL('./fixtures/ordering-promoter.mjs', import.meta.url);
const GO = 0;
const STOP = 1;
const ACK = 2;
const GETS = 3;
const HITS = 4;

const KEYS = 200;
const DIMS = 8;
const ROUNDS = 40;
const MODEL = 'm';

describe('ordering: a drop is final against promotions from disk in flight', () => {
  const open = useCaches();
  const start = useWorkers();

  async function run(drop: (cache: EmbeddingCache) => void): Promise<void> {
    const path = tempDir();
    const cache = await open({ maxEntries: 8, spill: { path, persist: true } });
    const texts = Array.from({ length: KEYS }, (_, k) => textFor(k));
    const ctl = new Int32Array(new SharedArrayBuffer(5 * 4));
    const worker = start(fixture, {
      workerData: { handle: cache.handle, texts, model: MODEL, ctl: ctl.buffer },
    });
    await nextMessage(worker, 'ready');

    let resurrected = 0;
    const firstBad: { round: number; key: number; head: number[] }[] = [];
    let onDiskBefore = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      cache.setMany(
        texts,
        texts.map((_, k) => vectorFor(k, round, DIMS)),
        { model: MODEL },
      );
      await cache.flush();
      if (round === 1) onDiskBefore = cache.stats().spill!.entries;
      Atomics.store(ctl, GETS, 0);
      signal(ctl, GO, round);
      // Drop after 1 to 150 gets of the worker: a different point of its loop each round.
      spinUntil(ctl, GETS, 1 + ((round * 37) % 150), `round ${round}: worker gets`);
      drop(cache);
      signal(ctl, STOP, round);
      await waitFlag(ctl, ACK, round, `round ${round}: worker stopped`);

      // No set since the drop, and no get in flight: every key must be a miss.
      for (let k = 0; k < KEYS; k++) {
        const v = cache.get(texts[k]!, { model: MODEL });
        if (v === undefined) continue;
        resurrected++;
        if (firstBad.length < 5) firstBad.push({ round, key: k, head: Array.from(v.subarray(0, 2)) });
      }
    }
    signal(ctl, GO, -1);
    await nextMessage(worker, 'closed');

    // Preconditions: the keys were on disk, and the worker's gets did promote from it.
    expect(onDiskBefore).toBe(KEYS);
    expect(Atomics.load(ctl, HITS)).toBeGreaterThan(0);
    expect(cache.stats().spill!.hits).toBeGreaterThan(0);
    expect(
      resurrected,
      `vectors returned after the drop over ${ROUNDS} rounds; first (head = [key, round]): ${JSON.stringify(firstBad)}`,
    ).toBe(0);
  }

  it(`invalidateModel('${MODEL}') while a worker promotes its entries: every key is a miss afterwards`, async () => {
    await run((cache) => cache.invalidateModel(MODEL));
  });

  it('clear() while a worker promotes entries: every key is a miss afterwards', async () => {
    await run((cache) => cache.clear());
  });
});
