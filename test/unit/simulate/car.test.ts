/**
 * The simulator's CAR (Bansal & Modha, FAST'04): a hand-checked trace through the CLOCK moves and
 * both ghost-list adaptations, the paper's size invariants on random traces, and, against a
 * naive model (arrays, the paper's steps written out one by one), the same hit on every access.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { belady } from '../../../scripts/simulate/belady.js';
import { car } from '../../../scripts/simulate/car.js';
import { replay } from '../../../scripts/simulate/policy.js';

/** CAR with arrays: T1/T2 as [key, ref] queues (index 0 = the hand), B1/B2 as LRU → MRU arrays. */
function naiveCar(c: number): (x: number) => boolean {
  const t1: [number, number][] = [];
  const t2: [number, number][] = [];
  let b1: number[] = [];
  let b2: number[] = [];
  let p = 0;
  const replace = (): void => {
    for (;;) {
      if (t1.length >= Math.max(1, p)) {
        const [k, r] = t1.shift()!;
        if (r === 0) return void b1.push(k);
        t2.push([k, 0]);
      } else {
        const [k, r] = t2.shift()!;
        if (r === 0) return void b2.push(k);
        t2.push([k, 0]);
      }
    }
  };
  return (x) => {
    for (const list of [t1, t2]) {
      const e = list.find(([k]) => k === x);
      if (e !== undefined) {
        e[1] = 1;
        return true;
      }
    }
    const inB1 = b1.includes(x);
    const inB2 = b2.includes(x);
    if (t1.length + t2.length === c) {
      replace();
      if (!inB1 && !inB2) {
        if (t1.length + b1.length === c) b1 = b1.slice(1);
        else if (t1.length + t2.length + b1.length + b2.length === 2 * c) b2 = b2.slice(1);
      }
    }
    if (inB1) {
      p = Math.min(p + Math.max(1, b2.length / b1.length), c);
      b1 = b1.filter((k) => k !== x);
      t2.push([x, 0]);
    } else if (inB2) {
      p = Math.max(p - Math.max(1, b1.length / b2.length), 0);
      b2 = b2.filter((k) => k !== x);
      t2.push([x, 0]);
    } else {
      t1.push([x, 0]);
    }
    return false;
  };
}

describe('simulate: CAR', () => {
  it('hand-checked, c = 2: a referenced page survives the hand, ghost hits move p', () => {
    const a = car(2);
    const steps = [1, 2, 1, 3, 2, 4].map((k) => {
      const hit = a.access(k);
      const s = a.sizes();
      return [hit, s.t1, s.t2, s.b1, s.b2, s.p];
    });
    expect(steps).toEqual([
      [false, 1, 0, 0, 0, 0], // 1: T1 [1]
      [false, 2, 0, 0, 0, 0], // 2: T1 [1 2]
      [true, 2, 0, 0, 0, 0], // 1: hit, only its bit is set
      [false, 1, 1, 1, 0, 0], // 3: the hand moves 1 (bit set) to T2, takes 2 → B1; T1 [3]
      [false, 0, 2, 1, 0, 1], // 2: the hand takes 3 → B1; 2 was in B1: p → 1, 2 joins T2 [1 2]
      [false, 1, 1, 1, 1, 1], // 4: |T1| < p: T2's hand takes 1 → B2; T1 [4]
    ]);
  });

  it('keeps the paper invariants: |T1|+|T2| ≤ c, |T1|+|B1| ≤ c, total ≤ 2c, 0 ≤ p ≤ c', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 600, size: 'max' }),
        (c, keys) => {
          const a = car(c);
          for (const k of keys) {
            a.access(k);
            const s = a.sizes();
            expect(s.t1 + s.t2).toBeLessThanOrEqual(c);
            expect(s.t1 + s.b1).toBeLessThanOrEqual(c);
            expect(s.t1 + s.t2 + s.b1 + s.b2).toBeLessThanOrEqual(2 * c);
            expect(s.p).toBeGreaterThanOrEqual(0);
            expect(s.p).toBeLessThanOrEqual(c);
          }
        },
      ),
    );
  });

  it('hits exactly where the naive model does, access by access; never above OPT', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 400, size: 'max' }),
        (c, keys) => {
          const a = car(c);
          const model = naiveCar(c);
          for (const k of keys) expect(a.access(k)).toBe(model(k));
          const trace = Int32Array.from(keys);
          expect(replay(car(c), trace)).toBeLessThanOrEqual(replay(belady(c, trace), trace));
        },
      ),
    );
  });
});
