/**
 * StampClock (stamps.ts): the order stamps of one cache, a 64-bit word of stamp × 1024 in the
 * control buffer advanced with a compare-exchange. Stamps strictly increase across every clock
 * over the buffer (every thread), are exact multiples of 1/1024 ms, follow Date.now() when
 * drawn slowly, never go back when the wall clock does, and catch up with it again after a
 * burst that ran ahead.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { H_STAMP, HEADER_WORDS } from '../../../src/memory/layout.js';
import { StampClock } from '../../../src/memory/stamps.js';
import { rng } from '../../support/data.mjs';
import { nextMessage, signal, useWorkers, waitFlag } from '../../support/workers.js';

const fixture = new URL('./fixtures/stamps-worker.mjs', import.meta.url);

/** A control buffer's header (where the clock word lives). */
const newControl = () => new SharedArrayBuffer(HEADER_WORDS * 4);
const word = (control: SharedArrayBuffer) =>
  Atomics.load(new BigInt64Array(control, 0, HEADER_WORDS / 2), H_STAMP / 2);
const STEP = 1 / 1024;

/** Index of the first element of `xs` that is not above the one before it, or -1. */
function firstNotIncreasing(xs: ArrayLike<number>): number {
  for (let i = 1; i < xs.length; i++) if (!(xs[i]! > xs[i - 1]!)) return i;
  return -1;
}

describe('memory: order stamps', () => {
  const start = useWorkers();
  afterEach(() => {
    vi.useRealTimers();
  });

  it('strictly increase, in exact steps of 1/1024 ms, and the shared word holds the last one × 1024', () => {
    const control = newControl();
    const clock = new StampClock(control);
    const stamps = new Float64Array(200_000);
    for (let i = 0; i < stamps.length; i++) stamps[i] = clock.next();
    expect(firstNotIncreasing(stamps)).toBe(-1);
    let fractional = 0;
    for (const s of stamps) if (!Number.isInteger(s * 1024)) fractional++;
    expect(fractional, 'stamps that are not a multiple of 1/1024').toBe(0);
    expect(word(control)).toBe(BigInt(stamps[stamps.length - 1]! * 1024));
  });

  it('drawn slowly, each is the wall clock of its call (within a few ms)', async () => {
    const clock = new StampClock(newControl());
    for (let i = 0; i < 20; i++) {
      const before = Date.now();
      const s = clock.next();
      const after = Date.now();
      expect(s, `stamp ${i} behind the clock`).toBeGreaterThanOrEqual(before);
      expect(s - after, `stamp ${i} ahead of the clock`).toBeLessThan(3);
      await sleep(3);
    }
  });

  it('never goes back with the wall clock, runs ahead by 1/1024 ms a stamp in a burst, then follows it again', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = 1_700_000_000_000;
    vi.setSystemTime(t0);
    const clock = new StampClock(newControl());
    expect(clock.next()).toBe(t0);
    expect(clock.next()).toBe(t0 + STEP);
    vi.setSystemTime(t0 + 5);
    expect(clock.next()).toBe(t0 + 5);
    vi.setSystemTime(t0 + 2); // the wall clock steps back
    expect(clock.next()).toBe(t0 + 5 + STEP);
    // 2,048 more stamps within one (frozen) millisecond: 2 ms ahead of the wall clock.
    let s = 0;
    for (let i = 0; i < 2048; i++) s = clock.next();
    expect(s).toBe(t0 + 5 + 2049 * STEP);
    expect(s).toBeGreaterThan(t0 + 7);
    vi.setSystemTime(t0 + 10);
    expect(clock.next()).toBe(t0 + 10);
  });

  it('two clocks over one buffer (two threads) interleave without a duplicate, always increasing', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = 1_700_000_000_000;
    vi.setSystemTime(t0);
    const control = newControl();
    const clocks = [new StampClock(control), new StampClock(control)];
    const r = rng(3);
    const stamps = new Float64Array(100_000);
    for (let i = 0; i < stamps.length; i++) {
      if (i % 1000 === 0) vi.setSystemTime(t0 + Math.floor(i / 2000)); // the clock moves, slower than the stamps
      stamps[i] = clocks[r() < 0.5 ? 0 : 1]!.next();
    }
    expect(firstNotIncreasing(stamps)).toBe(-1);
    expect(new Set(stamps).size).toBe(stamps.length);
    // A clock attached later carries on from the shared word, not from its own start.
    expect(new StampClock(control).next()).toBe(stamps[stamps.length - 1]! + STEP);
  });

  it('two worker threads drawing 50,000 stamps each: no duplicates, each increasing', async () => {
    const COUNT = 50_000;
    const control = newControl();
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const outs = [0, 1].map(() => new SharedArrayBuffer(COUNT * 8));
    const workers = outs.map((out) =>
      start(fixture, { workerData: { control, out, ctl: ctl.buffer, count: COUNT } }),
    );
    const done = workers.map((w) => nextMessage(w, 'done'));
    await waitFlag(ctl, 0, 2, 'workers ready');
    signal(ctl, 1, 1);
    await Promise.all(done);

    const [a, b] = outs.map((o) => new Float64Array(o)) as [Float64Array, Float64Array];
    expect(firstNotIncreasing(a), 'worker 0: a stamp not above its previous one').toBe(-1);
    expect(firstNotIncreasing(b), 'worker 1: a stamp not above its previous one').toBe(-1);
    const all = new Float64Array(2 * COUNT);
    all.set(a);
    all.set(b, COUNT);
    all.sort();
    let duplicates = 0;
    for (let i = 1; i < all.length; i++) if (all[i] === all[i - 1]) duplicates++;
    expect(duplicates).toBe(0);
    expect(all[0]).toBeGreaterThan(0);
    // How much the two actually interleaved (informational: scheduling decides).
    let switches = 0;
    for (let i = 0, j = 0, last = -1; i < COUNT || j < COUNT;) {
      const from = j >= COUNT || (i < COUNT && a[i]! < b[j]!) ? 0 : 1;
      if (from === 0) i++;
      else j++;
      if (last !== -1 && from !== last) switches++;
      last = from;
    }
    console.log(`stamps: the two workers' sequences switched ${switches} times in the merged order`);
    expect(new StampClock(control).next()).toBeGreaterThan(all[all.length - 1]!);
  });
});
