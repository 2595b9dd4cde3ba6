/**
 * LockTable (lock.ts) over a bare Int32Array: the striped write locks that survive their
 * holder's death. Exclusion between tokens; take-over once the owner word and the stamp have
 * not moved for timeoutMs, with the dead owner's intent handed to the repair callback; the
 * dead-token ring, which makes a dead token's other locks free at once; and an owner that was
 * only slow, whose failed release takes its token back out of the ring.
 *
 * A dead owner is simulated by writing its token into a lock's owner word (and its intent into
 * the intent word): exactly what a thread terminated while holding the lock leaves behind.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LockTable } from '../../../src/memory/lock.js';
import {
  DEAD_SLOTS,
  L_INTENT,
  L_OWNER,
  L_STAMP,
  LINE_WORDS,
  LOCK_WORDS,
  NONE,
} from '../../../src/memory/layout.js';

const RING = 0; // the ring: a cursor, then DEAD_SLOTS tokens
const BASE = LINE_WORDS; // lock records from here
const COUNT = 12;

interface Table {
  locks: LockTable;
  token: number;
  repairs: [dead: number, intent: number][];
  takeovers: number;
}

function setup(): { ctl: Int32Array; table: (token: number, timeoutMs: number) => Table } {
  const ctl = new Int32Array(new SharedArrayBuffer((BASE + COUNT * LOCK_WORDS) * 4));
  LockTable.init(ctl, BASE, COUNT);
  const table = (token: number, timeoutMs: number): Table => {
    const t: Table = { locks: undefined as unknown as LockTable, token, repairs: [], takeovers: 0 };
    t.locks = new LockTable(
      ctl,
      BASE,
      RING,
      token,
      timeoutMs,
      (dead, intent) => t.repairs.push([dead, intent]),
      () => t.takeovers++,
    );
    return t;
  };
  return { ctl, table };
}

const at = (lock: number, field: number) => BASE + lock * LOCK_WORDS + field;

/** Leaves lock `lock` as a thread with `token` that died holding it (writing `intent`) would. */
function holdDead(ctl: Int32Array, lock: number, token: number, intent = NONE): void {
  ctl[at(lock, L_OWNER)] = token;
  ctl[at(lock, L_STAMP)]!++;
  ctl[at(lock, L_INTENT)] = intent;
}

function ring(ctl: Int32Array): number[] {
  return Array.from(ctl.subarray(RING + 1, RING + 1 + DEAD_SLOTS)).filter((t) => t !== 0);
}

function timed(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

describe('memory: lock table', () => {
  it('init sets every intent to none; tryAcquire takes a free lock and release frees it', () => {
    const { ctl, table } = setup();
    for (let l = 0; l < COUNT; l++) expect(ctl[at(l, L_INTENT)]).toBe(NONE);
    const a = table(1, 1000);
    expect(a.locks.tryAcquire(3)).toBe(true);
    expect(ctl[at(3, L_OWNER)]).toBe(1);
    expect(ctl[at(3, L_STAMP)]).toBe(1);
    a.locks.setIntent(3, 42);
    expect(ctl[at(3, L_INTENT)]).toBe(42);
    a.locks.clearIntent(3);
    expect(ctl[at(3, L_INTENT)]).toBe(NONE);
    expect(a.locks.release(3)).toBe(true);
    expect(ctl[at(3, L_OWNER)]).toBe(0);
    // Every acquisition moves the stamp (what waiters watch for).
    a.locks.acquire(3);
    expect(ctl[at(3, L_STAMP)]).toBe(2);
    a.locks.release(3);
    // Other locks are untouched.
    expect(ctl[at(2, L_OWNER)]).toBe(0);
    expect(ctl[at(4, L_OWNER)]).toBe(0);
  });

  it('a second token cannot take a held lock, until it is released', () => {
    const { ctl, table } = setup();
    const a = table(1, 1000);
    const b = table(2, 1000);
    expect(a.locks.tryAcquire(0)).toBe(true);
    expect(b.locks.tryAcquire(0)).toBe(false);
    expect(b.locks.tryAcquireOrTakeOver(0, 100)).toBe(false);
    expect(ctl[at(0, L_OWNER)]).toBe(1);
    expect(b.locks.tryAcquire(1), 'another lock is free').toBe(true);
    expect(a.locks.release(0)).toBe(true);
    expect(b.locks.tryAcquireOrTakeOver(0, 1)).toBe(true);
    expect(ctl[at(0, L_OWNER)]).toBe(2);
    expect(b.takeovers).toBe(0);
  });

  it('acquire() takes over a lock whose owner and stamp stay unchanged past timeoutMs, and repairs its intent', () => {
    const { ctl, table } = setup();
    const TIMEOUT = 100;
    const b = table(2, TIMEOUT);
    holdDead(ctl, 0, 77, 1234);
    const stamp = ctl[at(0, L_STAMP)]!;
    const ms = timed(() => b.locks.acquire(0));
    expect(ms, 'taken over before the timeout').toBeGreaterThanOrEqual(TIMEOUT);
    expect(ms).toBeLessThan(TIMEOUT + 5000);
    expect(ctl[at(0, L_OWNER)]).toBe(2);
    expect(ctl[at(0, L_STAMP)]).not.toBe(stamp);
    expect(b.repairs).toEqual([[77, 1234]]);
    expect(b.takeovers).toBe(1);
    expect(ctl[at(0, L_INTENT)], 'the intent is cleared once repaired').toBe(NONE);
    expect(ring(ctl)).toEqual([77]);
    expect(b.locks.release(0)).toBe(true);
  });

  it('a take-over with no intent recorded calls no repair', () => {
    const { ctl, table } = setup();
    const b = table(2, 30);
    holdDead(ctl, 5, 77);
    b.locks.acquire(5);
    expect(ctl[at(5, L_OWNER)]).toBe(2);
    expect(b.repairs).toEqual([]);
    expect(b.takeovers).toBe(1);
  });

  it('tryAcquireOrTakeOver(): no take-over while the stamp moves; one once owner and stamp stay put past timeoutMs', async () => {
    const { ctl, table } = setup();
    const TIMEOUT = 50;
    const b = table(2, TIMEOUT);
    holdDead(ctl, 0, 77, 9);
    expect(b.locks.tryAcquireOrTakeOver(0, 5)).toBe(false); // first sighting
    await sleep(2 * TIMEOUT);
    ctl[at(0, L_STAMP)]!++; // the owner is alive: it released and took the lock again
    expect(b.locks.tryAcquireOrTakeOver(0, 5), 'taken from an owner whose stamp moved').toBe(false);
    expect(ctl[at(0, L_OWNER)]).toBe(77);
    await sleep(2 * TIMEOUT);
    expect(b.locks.tryAcquireOrTakeOver(0, 5)).toBe(true);
    expect(ctl[at(0, L_OWNER)]).toBe(2);
    expect(b.repairs).toEqual([[77, 9]]);
  });

  it('dead-token ring: once one lock of a dead token is taken over, its other locks are taken at once', () => {
    const { ctl, table } = setup();
    const TIMEOUT = 500;
    const b = table(2, TIMEOUT);
    const c = table(3, TIMEOUT);
    for (const l of [0, 1, 2, 3]) holdDead(ctl, l, 77, 100 + l);

    const first = timed(() => b.locks.acquire(0));
    expect(first).toBeGreaterThanOrEqual(TIMEOUT);
    expect(ring(ctl)).toEqual([77]);

    // Another waiter, another lock of the same dead token: no second timeout.
    const second = timed(() => c.locks.acquire(1));
    console.log(`dead-token ring: first take-over ${first.toFixed(0)} ms, second ${second.toFixed(1)} ms`);
    expect(second, 'the second lock of a dead token waited out the timeout again').toBeLessThan(100);
    expect(ctl[at(1, L_OWNER)]).toBe(3);
    expect(c.repairs).toEqual([[77, 101]]);
    // The non-blocking form too, on its first call.
    expect(c.locks.tryAcquireOrTakeOver(2, 1)).toBe(true);
    expect(b.locks.tryAcquireOrTakeOver(3, 1)).toBe(true);
    expect(c.repairs).toEqual([
      [77, 101],
      [77, 102],
    ]);
    expect(b.repairs).toEqual([
      [77, 100],
      [77, 103],
    ]);
    expect(b.takeovers + c.takeovers).toBe(4);
    expect(ring(ctl), 'a dead token is remembered once').toEqual([77]);
  });

  it('an owner that was only slow: its failed release takes its token out of the ring, so its other locks wait out the timeout again', () => {
    const { ctl, table } = setup();
    const TIMEOUT = 200;
    const a = table(5, TIMEOUT); // the slow owner
    const b = table(2, TIMEOUT);
    for (const l of [0, 1, 2]) expect(a.locks.tryAcquire(l)).toBe(true);

    // a pauses past the timeout: b takes lock 0 over and presumes a dead.
    expect(timed(() => b.locks.acquire(0))).toBeGreaterThanOrEqual(TIMEOUT);
    expect(ring(ctl)).toEqual([5]);
    expect(b.locks.tryAcquireOrTakeOver(1, 1), 'while presumed dead, its locks go at once').toBe(true);

    // a resumes: its releases of the locks it lost fail, and it is no longer presumed dead.
    expect(a.locks.release(0)).toBe(false);
    expect(ring(ctl)).toEqual([]);
    expect(a.locks.release(1)).toBe(false);
    expect(ctl[at(0, L_OWNER)]).toBe(2);
    expect(ctl[at(1, L_OWNER)]).toBe(2);

    // Its remaining lock is its own again: not taken at once.
    expect(b.locks.tryAcquireOrTakeOver(2, 1)).toBe(false);
    expect(ctl[at(2, L_OWNER)]).toBe(5);
    expect(a.locks.release(2)).toBe(true);

    // And a lock it takes later is not taken over before the timeout either.
    expect(a.locks.tryAcquire(3)).toBe(true);
    expect(timed(() => b.locks.acquire(3))).toBeGreaterThanOrEqual(TIMEOUT);
  });

  it(`the ring remembers the last ${DEAD_SLOTS} dead tokens`, async () => {
    const { ctl, table } = setup();
    const TIMEOUT = 20;
    const b = table(2, TIMEOUT);
    // DEAD_SLOTS + 1 dead tokens, 100, 101, ..., holding locks 0, 1, ..., taken over one after the other.
    const dead = Array.from({ length: DEAD_SLOTS + 1 }, (_, i) => 100 + i);
    expect(dead.length + 2).toBeLessThanOrEqual(COUNT);
    for (const [l, token] of dead.entries()) holdDead(ctl, l, token);
    for (const l of dead.keys()) {
      expect(b.locks.tryAcquireOrTakeOver(l, 1)).toBe(false);
      await sleep(2 * TIMEOUT);
      expect(b.locks.tryAcquireOrTakeOver(l, 1)).toBe(true);
    }
    expect(ring(ctl).sort()).toEqual(dead.slice(1));
    // The oldest token fell out of the ring: another lock of it waits again; one of the newest goes at once.
    holdDead(ctl, COUNT - 1, dead[0]!);
    expect(b.locks.tryAcquireOrTakeOver(COUNT - 1, 1)).toBe(false);
    holdDead(ctl, COUNT - 2, dead[DEAD_SLOTS]!);
    expect(b.locks.tryAcquireOrTakeOver(COUNT - 2, 1)).toBe(true);
  });
});
