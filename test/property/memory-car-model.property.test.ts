/**
 * The memory tier's CAR (src/memory/car.ts over ghosts.ts, driven by the sweep in eviction.ts)
 * against a simple model of itself: scripts/simulate/car-slots.ts, CAR over an array of slots
 * with one hand per list and exact ghost lists (Maps). On random traces through a SharedStore
 * with maxEntries = c (one page, so slots are handed out in the model's order), every access must
 * hit or miss as in the model, and the shared state must stay whole: |T1| and |T2| equal to the
 * linked entries by their T2 bit, p within [0, c], each ghost count equal to its ring
 * (checkInvariants).
 *
 * Then the same with deletes and clears mixed in (the model cannot follow those): only the
 * invariants are checked.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { carSlots } from '../../scripts/simulate/car-slots.js';
import { B1, B2 } from '../../src/memory/ghosts.js';
import { GH_HEAD, GH_WORDS, H_GHOSTS } from '../../src/memory/layout.js';
import { addModel, createStore } from '../support/store.js';

const DIMS = 4;
const VEC = new Float32Array(DIMS);

/** A 128-bit key of trace key x: words spread like a hash's (the ghost sets and fingerprint use words 1-3). */
function keyFor(x: number): Int32Array {
  const mix = (v: number, s: number): number => {
    let h = Math.imul(v ^ s, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    return h ^ (h >>> 13);
  };
  return Int32Array.of(mix(x, 1), mix(x, 2), mix(x, 3), mix(x, 4));
}

describe('property: the memory tier CAR against its model', () => {
  it('hits and misses access by access as the model does; the state stays whole', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 48 }),
        fc.integer({ min: 2, max: 5 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 1500, size: 'max' }),
        (c, spread, raw) => {
          const trace = raw.map((r) => r % (c * spread));
          const store = createStore({ maxEntries: c });
          const m = addModel(store, 'm', DIMS);
          const model = carSlots(c);
          for (const [i, x] of trace.entries()) {
            const k = keyFor(x);
            const hit = store.has(k, 0, m.id, 0);
            if (!hit) store.set(k, 0, m.id, m.cls, VEC, 0);
            const expected = model.access(x);
            if (hit !== expected) {
              expect.fail(
                `access ${i} (key ${x}, c ${c}): store ${hit ? 'hit' : 'missed'}, model ${expected ? 'hit' : 'missed'}`,
              );
            }
          }
          expect(store.checkInvariants(true)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('deletes, clears and two models mixed in: the policy state stays whole', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 32 }),
        fc.array(fc.tuple(fc.nat(99), fc.nat(200)), { minLength: 1, maxLength: 800 }),
        (c, ops) => {
          const store = createStore({ maxEntries: c });
          const models = [addModel(store, 'a', DIMS), addModel(store, 'b', 2 * DIMS)];
          const vecs = [VEC, new Float32Array(2 * DIMS)];
          for (const [op, x] of ops) {
            const mi = x % 2;
            const m = models[mi]!;
            const k = keyFor(x);
            if (op < 70) {
              if (!store.has(k, 0, m.id, 0)) store.set(k, 0, m.id, m.cls, vecs[mi]!, 0);
            } else if (op < 90) store.delete(k, 0, m.id, 0);
            else if (op < 98) store.invalidate(m.id);
            else store.clear();
          }
          expect(store.checkInvariants(true)).toEqual([]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a scan through a full cache writes no ghost; keys that come back still find theirs', () => {
    // CAR's scan case: T1 holds all c entries, B1 is empty, so the oldest ghost of B1 that an
    // insert drops is the one its own eviction just made. The policy holds both back and does
    // neither (car.ts, `owed`): the ghost rings' heads stay where they were.
    const c = 32;
    const store = createStore({ maxEntries: c });
    const m = addModel(store, 'm', DIMS);
    const ctl = new Int32Array(store.parts.control);
    const heads = () => [B1, B2].map((l) => Atomics.load(ctl, H_GHOSTS + GH_WORDS * l + GH_HEAD));
    const model = carSlots(c);
    const access = (x: number, i: number): boolean => {
      const k = keyFor(x);
      const hit = store.has(k, 0, m.id, 0);
      if (!hit) store.set(k, 0, m.id, m.cls, VEC, 0);
      expect(hit, `access ${i} (key ${x})`).toBe(model.access(x));
      return hit;
    };
    let i = 0;
    for (let x = 0; x < c; x++) access(x, i++);
    const before = heads();
    for (let x = c; x < 20 * c; x++) access(x, i++);
    expect(heads()).toEqual(before);
    expect(store.checkInvariants(true)).toEqual([]);
    // Then keys seen twice (into T2) and a scan again: T1 is short of c, B1 keeps ghosts, and
    // scan keys that come back hit them, exactly as the model's CAR does.
    for (let x = 0; x < c / 2; x++) (access(x, i++), access(x, i++));
    for (let x = 5000; x < 5000 + 4 * c; x++) {
      access(x, i++);
      if (x % 3 === 0) access(x - 8, i++);
    }
    expect(heads()[0]).not.toBe(before[0]);
    expect(store.checkInvariants(true)).toEqual([]);
  });
});
