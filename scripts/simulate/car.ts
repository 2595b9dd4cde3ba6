/**
 * CAR, as in S. Bansal and D. S. Modha, "CAR: Clock with Adaptive Replacement" (FAST'04): ARC's
 * adaptation (T1 for pages seen once recently, T2 for pages seen twice, ghost lists B1 and B2, a
 * target size p for T1) over two CLOCKs instead of two LRU lists. A hit only sets the page's
 * reference bit — no list moves, so no lock — which is what a shared-memory cache can afford on
 * its read path. Kept beside ARC so the simulator can show what a CLOCK-based ARC gives on the
 * traces before the memory tier adopts one.
 *
 * Each CLOCK is a Map used as a circular queue (first key = the hand): a page whose bit is set
 * when the hand reaches it goes to the tail of T2 with its bit cleared. Ghost lists are Maps in
 * insertion order (first key = LRU). An access costs O(1) amortized.
 */
import type { Policy } from './policy.js';

export interface CarSizes {
  t1: number;
  t2: number;
  b1: number;
  b2: number;
  /** The adaptive target size of T1, 0 ≤ p ≤ c. */
  p: number;
}

export interface CarPolicy extends Policy {
  sizes(): CarSizes;
}

export function car(capacity: number): CarPolicy {
  const c = capacity;
  /** Resident pages → reference bit. */
  const t1 = new Map<number, 0 | 1>();
  const t2 = new Map<number, 0 | 1>();
  const b1 = new Map<number, true>();
  const b2 = new Map<number, true>();
  let p = 0;

  const first = (m: Map<number, unknown>): number => m.keys().next().value as number;

  /** Moves the hands until a page with a clear bit leaves for its ghost list. */
  function replace(): void {
    for (;;) {
      if (t1.size >= Math.max(1, p)) {
        const k = first(t1);
        const ref = t1.get(k)!;
        t1.delete(k);
        if (ref === 0) {
          b1.set(k, true);
          return;
        }
        t2.set(k, 0);
      } else {
        const k = first(t2);
        const ref = t2.get(k)!;
        t2.delete(k);
        if (ref === 0) {
          b2.set(k, true);
          return;
        }
        t2.set(k, 0);
      }
    }
  }

  return {
    name: 'car',
    access(x: number): boolean {
      if (t1.has(x)) {
        t1.set(x, 1);
        return true;
      }
      if (t2.has(x)) {
        t2.set(x, 1);
        return true;
      }
      const inB1 = b1.has(x);
      const inB2 = b2.has(x);
      if (t1.size + t2.size === c) {
        replace();
        if (!inB1 && !inB2) {
          if (t1.size + b1.size === c) b1.delete(first(b1));
          else if (t1.size + t2.size + b1.size + b2.size === 2 * c) b2.delete(first(b2));
        }
      }
      if (inB1) {
        p = Math.min(p + Math.max(1, b2.size / b1.size), c);
        b1.delete(x);
        t2.set(x, 0);
      } else if (inB2) {
        p = Math.max(p - Math.max(1, b1.size / b2.size), 0);
        b2.delete(x);
        t2.set(x, 0);
      } else {
        t1.set(x, 0);
      }
      return false;
    },
    sizes: () => ({ t1: t1.size, t2: t2.size, b1: b1.size, b2: b2.size, p }),
  };
}
