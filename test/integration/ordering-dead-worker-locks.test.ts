/**
 * Ordering: a worker that dies holding every stripe lock does not stall the next writer.
 *
 * A worker calls clear() in a loop — clear() takes all 1,024 stripe locks — and is terminated
 * ~50 ms in, wherever it is: most likely holding many locks. Five such workers, one after the
 * other. Then, with lockTimeoutMs 50, the main thread's next writes must go through at once
 * instead of waiting out the timeout once per dead lock (1,024 × 50 ms ≈ 50 s): the next set()
 * and a batch of sets over many stripes each within 3 s, and a clear() (which needs every lock,
 * so it meets every dead one) within 3 s. The structure must be whole afterwards.
 *
 * A bound this loose is a correctness bound (a stall), not a benchmark. While the stall is
 * there each timed call blocks this thread for up to ~50 s, hence the long test timeout: the
 * test then fails on the bound, not on the timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { nextMessage, useWorkers } from '../support/workers.js';

const fixture = new URL('./fixtures/ordering-clear-loop.mjs', import.meta.url);
const CLEARS = 0;
const DIMS = 8;
const KILLS = 5;
const RUN_BEFORE_KILL_MS = 50;
const BOUND_MS = 3000;
const LATER_SETS = 64;

describe('ordering: locks of a dead worker', () => {
  const open = useCaches();
  const start = useWorkers();

  it('workers killed inside clear(): the next set(), more sets and a clear() complete in well under 5 s; invariants hold', async () => {
    const cache = await open({ lockTimeoutMs: 50 });
    for (let k = 0; k < 200; k++) cache.set(textFor(k), vectorFor(k, 1, DIMS));
    const ctl = new Int32Array(new SharedArrayBuffer(4));

    for (let kill = 0; kill < KILLS; kill++) {
      const worker = start(fixture, { workerData: { handle: cache.handle, ctl: ctl.buffer } });
      await nextMessage(worker, 'ready');
      // The scenario itself: the worker runs its clear() loop for a while and dies wherever it is.
      await sleep(RUN_BEFORE_KILL_MS);
      await worker.terminate();
    }
    expect(Atomics.load(ctl, CLEARS), 'the workers did run clear()').toBeGreaterThan(0);

    let t = performance.now();
    cache.set(textFor(0), vectorFor(0, 2, DIMS));
    const firstSetMs = performance.now() - t;

    t = performance.now();
    for (let k = 1; k <= LATER_SETS; k++) cache.set(textFor(k), vectorFor(k, 2, DIMS));
    const laterSetsMs = performance.now() - t;

    t = performance.now();
    cache.clear();
    const clearMs = performance.now() - t;

    const timings = `first set ${firstSetMs.toFixed(0)} ms, ${LATER_SETS} sets ${laterSetsMs.toFixed(0)} ms, clear ${clearMs.toFixed(0)} ms`;
    expect(firstSetMs, timings).toBeLessThan(BOUND_MS);
    expect(laterSetsMs, timings).toBeLessThan(BOUND_MS);
    expect(clearMs, timings).toBeLessThan(BOUND_MS);
    expect(cache.checkInvariants()).toEqual([]);

    // And the cache works normally.
    cache.set(textFor(1), vectorFor(1, 3, DIMS));
    expect(Array.from(cache.get(textFor(1))!)).toEqual(Array.from(vectorFor(1, 3, DIMS)));
    expect(cache.checkInvariants()).toEqual([]);
  }, 180_000);
});
