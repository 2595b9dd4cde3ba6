/**
 * The single-flight table on its own: claim / held / release, a claim taken over when its
 * lease runs out, a claim lock whose holder died mid-claim (taken over, its reserved slot
 * freed), and a full table, where getOrCompute waits for room and, past waitTimeoutMs, computes
 * without single-flight instead of failing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { getOrCompute } from '../../../src/index.js';
import { INFLIGHT_BYTES } from '../../../src/cache.js';
import {
  BUSY,
  CLAIM_LOCKS,
  CLAIMED,
  FULL,
  HELD,
  InflightTable,
  LOCKS_BASE,
  S_STATE,
  SLOT_WORDS,
  SLOTS_BASE,
} from '../../../src/compute/inflight.js';
import { L_INTENT, L_OWNER, LOCK_WORDS } from '../../../src/memory/layout.js';
import { useCaches } from '../../support/caches.js';

function key(i: number): Int32Array {
  return Int32Array.of(Math.imul(i, 0x9e3779b1), i, ~i, i * 7);
}

describe('single-flight table', () => {
  const open = useCaches();

  it('claims once, reports the holder to others, releases, and checks generations', () => {
    const buf = InflightTable.create(INFLIGHT_BYTES);
    const a = new InflightTable(buf, 1, 1000);
    const b = new InflightTable(buf, 2, 1000);
    const out = new Int32Array(2);
    const held = new Int32Array(2);
    expect(a.claim(key(1), 0, 5000, out, 0)).toBe(CLAIMED);
    expect(b.claim(key(1), 0, 5000, held, 0)).toBe(HELD);
    expect(Array.from(held)).toEqual(Array.from(out));
    expect(a.claim(key(1), 0, 5000, held, 0)).toBe(HELD); // the same instance does not re-enter its own claim
    expect(b.claim(key(2), 0, 5000, new Int32Array(2), 0)).toBe(CLAIMED);
    expect(a.activeClaims()).toBe(2);
    expect(a.checkInvariants()).toEqual([]);
    expect(b.release(out[0]!, out[1]!)).toBe(true); // any thread may end a claim it knows
    expect(a.release(out[0]!, out[1]!)).toBe(false); // not twice
    const again = new Int32Array(2);
    expect(b.claim(key(1), 0, 5000, again, 0)).toBe(CLAIMED);
    expect(again[1]).not.toBe(out[1]); // a new generation: stale handles cannot touch it
    expect(a.release(out[0]!, out[1]!)).toBe(false);
    expect(a.counters().claims).toBe(3);
  });

  it('a waiter takes a claim over once its lease has run out, or at its own deadline', async () => {
    const buf = InflightTable.create(INFLIGHT_BYTES);
    const dead = new InflightTable(buf, 1, 1000);
    const waiter = new InflightTable(buf, 2, 1000);
    const c = new Int32Array(2);
    expect(dead.claim(key(5), 0, 30, c, 0)).toBe(CLAIMED);
    const taken = await waiter.wait(c[0]!, c[1]!, Date.now() + 60_000, 5000);
    expect(taken).toBeGreaterThan(0); // lease (30 ms) expired long before the waiter's own deadline
    expect(dead.release(c[0]!, c[1]!)).toBe(false); // the old owner's late release is refused
    expect(waiter.release(c[0]!, taken)).toBe(true);

    expect(dead.claim(key(6), 0, 60_000, c, 0)).toBe(CLAIMED);
    const forced = await waiter.wait(c[0]!, c[1]!, Date.now() + 20, 5000);
    expect(forced).toBeGreaterThan(0);
    expect(waiter.counters().takeovers).toBe(2);

    // A release wakes the waiter with 0: read the cache.
    expect(dead.claim(key(7), 0, 60_000, c, 0)).toBe(CLAIMED);
    const woken = waiter.wait(c[0]!, c[1]!, Date.now() + 60_000, 5000);
    await sleep(5);
    dead.release(c[0]!, c[1]!);
    expect(await woken).toBe(0);
  });

  it('takes over a claim lock whose holder died mid-claim and frees the slot it had reserved', async () => {
    const buf = InflightTable.create(INFLIGHT_BYTES);
    const m = new Int32Array(buf);
    const t = new InflightTable(buf, 7, 20);
    const k = key(11);
    const home = (k[0]! >>> 0) % t.slots;
    const lock = home % CLAIM_LOCKS;
    // A holder (token 99) reserved the key's home slot and died before publishing it.
    m[LOCKS_BASE + lock * LOCK_WORDS + L_OWNER] = 99;
    m[LOCKS_BASE + lock * LOCK_WORDS + L_INTENT] = home;
    m[SLOTS_BASE + home * SLOT_WORDS + S_STATE] = -(lock + 1);
    expect(t.checkInvariants().length).toBe(2);
    const out = new Int32Array(2);
    expect(t.claim(k, 0, 5000, out, 0)).toBe(BUSY);
    let r = BUSY;
    for (let i = 0; i < 200 && r === BUSY; i++) {
      await sleep(5);
      r = t.claim(k, 0, 5000, out, 0);
    }
    expect(r).toBe(CLAIMED);
    expect(out[0]).toBe(home); // the reserved slot was freed and reused
    expect(t.counters().lockTakeovers).toBe(1);
    t.release(out[0]!, out[1]!);
    expect(t.checkInvariants()).toEqual([]);
  });

  it('a table full of live claims: getOrCompute waits up to waitTimeoutMs, then computes without single-flight', async () => {
    const cache = await open();
    // Another instance holds live claims on every slot it can get.
    const hog = new InflightTable(cache.handle.inflight, 123456, 1000);
    const out = new Int32Array(2);
    let full = 0;
    for (let i = 0; i < 4 * hog.slots && full < 2000; i++)
      if (hog.claim(key(1000 + i), 0, 60_000, out, 0) === FULL) full++;
    expect(hog.activeClaims()).toBe(hog.slots);
    let calls = 0;
    const texts = Array.from({ length: 40 }, (_, i) => `full table text ${i}`);
    const started = Date.now();
    const vs = await getOrCompute(
      cache,
      texts,
      (mis) => {
        calls += mis.length;
        return mis.map((s) => [s.length, 2]);
      },
      { waitTimeoutMs: 150 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(140); // it waited for room first
    expect(calls).toBe(40);
    vs.forEach((v, i) => expect(Array.from(v)).toEqual([texts[i]!.length, 2]));
    expect(hog.counters().full).toBeGreaterThan(full);
    expect(hog.activeClaims()).toBe(hog.slots); // the hog's claims untouched, none of ours left
  });
});
