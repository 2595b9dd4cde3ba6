/**
 * Free slots: a slot freed by delete goes on its class's free stack, and the next sets take it
 * from there before they bump a fresh slot or commit a new page; the stack (a lock-free list
 * through the entries' free words, tagged head) stays whole over many push/pop cycles.
 *
 * Vectors of 4,096 floats: a 256 KiB page holds 15 entries, so a page fills after a few sets.
 */
import { describe, expect, it } from 'vitest';
import { pageLayout, STATE_FREE } from '../../../src/memory/layout.js';
import { rng, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';
import {
  addModel,
  bumpOf,
  createStore,
  entryOfKey,
  freeSlotCount,
  freeStack,
  keyOf,
  pagesUsed,
} from '../../support/store.js';

const DIMS = 4096;
const SLOTS = pageLayout(DIMS).slots;

describe('memory: free slots', () => {
  it('pages of this size hold a handful of entries (the premise of the tests below)', () => {
    expect(SLOTS).toBe(15);
  });

  it('sets after deletes on a full page reuse the freed slots: no new page, memoryBytes unchanged', () => {
    const store = createStore();
    const m = addModel(store, 'm', DIMS);
    for (let i = 0; i < SLOTS; i++) store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, 1, DIMS), 0);
    expect(pagesUsed(store)).toBe(1);
    expect(bumpOf(store, 0, DIMS)).toBe(SLOTS);
    const bytes = store.memoryBytes();

    const deleted = [2, 5, 6, 11, 14];
    const freedIds = deleted.map((i) => entryOfKey(store, m.cls, DIMS, keyOf(i)));
    for (const i of deleted) expect(store.delete(keyOf(i), 0, m.id, 0)).toBe(true);
    expect(freeStack(store, m.cls, DIMS).ids.sort()).toEqual([...freedIds].sort());

    const fresh = deleted.map((_, j) => 100 + j);
    for (const i of fresh) store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, 1, DIMS), 0);
    expect(store.memoryBytes(), 'a page was committed although freed slots were there').toBe(bytes);
    expect(pagesUsed(store)).toBe(1);
    const newIds = fresh.map((i) => entryOfKey(store, m.cls, DIMS, keyOf(i)));
    expect(newIds.sort()).toEqual([...freedIds].sort());
    expect(freeStack(store, m.cls, DIMS).ids).toEqual([]);

    // One more set has no free slot left: now a page is committed.
    store.set(keyOf(200), 0, m.id, m.cls, vectorFor(200, 1, DIMS), 0);
    expect(pagesUsed(store)).toBe(2);
    expect(store.memoryBytes()).toBeGreaterThan(bytes);

    for (let i = 0; i < SLOTS; i++) {
      const v = store.get(keyOf(i), 0, m.id, 0);
      if (deleted.includes(i)) expect(v).toBeUndefined();
      else expectVector(v, vectorFor(i, 1, DIMS));
    }
    for (const i of [...fresh, 200]) expectVector(store.get(keyOf(i), 0, m.id, 0), vectorFor(i, 1, DIMS));
    expect(store.checkInvariants()).toEqual([]);
  });

  it('on a page with fresh slots left, freed slots still go first (the bump pointer stays put)', () => {
    const store = createStore();
    const m = addModel(store, 'm', DIMS);
    for (let i = 0; i < 4; i++) store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, 1, DIMS), 0);
    const freed = entryOfKey(store, m.cls, DIMS, keyOf(1));
    store.delete(keyOf(1), 0, m.id, 0);
    store.set(keyOf(9), 0, m.id, m.cls, vectorFor(9, 1, DIMS), 0);
    expect(entryOfKey(store, m.cls, DIMS, keyOf(9))).toBe(freed);
    expect(bumpOf(store, 0, DIMS)).toBe(4);
    expect(store.checkInvariants()).toEqual([]);
  });

  it('the last slot freed is the first reused (a stack)', () => {
    const store = createStore();
    const m = addModel(store, 'm', DIMS);
    for (let i = 0; i < 6; i++) store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, 1, DIMS), 0);
    const ids = [4, 1, 3].map((i) => entryOfKey(store, m.cls, DIMS, keyOf(i)));
    for (const i of [4, 1, 3]) store.delete(keyOf(i), 0, m.id, 0);
    expect(freeStack(store, m.cls, DIMS).ids).toEqual([...ids].reverse());
    for (const [j, expected] of [...ids].reverse().entries()) {
      store.set(keyOf(50 + j), 0, m.id, m.cls, vectorFor(50 + j, 1, DIMS), 0);
      expect(entryOfKey(store, m.cls, DIMS, keyOf(50 + j))).toBe(expected);
    }
  });

  it('survives thousands of push/pop cycles: stack whole, every freed slot on it, memory bounded by the peak', () => {
    const store = createStore();
    const m = addModel(store, 'm', DIMS);
    const KEYS = 60;
    const r = rng(7);
    const live = new Map<number, number>(); // key -> version
    let peak = 0;
    let version = 0;
    for (let step = 0; step < 3000; step++) {
      const i = Math.floor(r() * KEYS);
      // Sets win two to one while few keys are live, deletes while many are: the live count
      // swings across several pages' worth, so slots go on and off the stack all the time.
      const setBias = live.size < KEYS / 4 ? 0.8 : live.size > (3 * KEYS) / 4 ? 0.2 : 0.5;
      if (r() < setBias) {
        version++;
        store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, version, DIMS), 0);
        live.set(i, version);
      } else {
        expect(store.delete(keyOf(i), 0, m.id, 0)).toBe(live.has(i));
        live.delete(i);
      }
      peak = Math.max(peak, live.size);

      if (step % 10 === 0 || step > 2990) {
        const where = `step ${step}`;
        expect(store.checkInvariants(), where).toEqual([]);
        const stack = freeStack(store, m.cls, DIMS);
        expect(
          stack.states.every((s) => s === STATE_FREE),
          `${where}: a slot on the free stack is not free`,
        ).toBe(true);
        // Every slot ever handed out is live or on the stack: none leaked, none listed twice.
        expect(stack.ids.length, `${where}: free slots missing from the stack`).toBe(
          freeSlotCount(store, m.cls, DIMS),
        );
        expect(store.entries(), where).toBe(live.size);
      }
    }
    // Pages for the peak of live entries, not for the 3,000 writes.
    expect(peak).toBeGreaterThan(2 * SLOTS);
    expect(pagesUsed(store)).toBe(Math.ceil(peak / SLOTS));
    for (let i = 0; i < KEYS; i++) {
      const v = store.get(keyOf(i), 0, m.id, 0);
      if (live.has(i)) expectVector(v, vectorFor(i, live.get(i)!, DIMS));
      else expect(v).toBeUndefined();
    }
  });
});
