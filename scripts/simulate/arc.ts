/**
 * ARC, as in N. Megiddo and D. S. Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache"
 * (FAST'03), Fig. 4: a cache of c pages split into T1 (seen once recently) and T2 (seen at least
 * twice), with ghost lists B1 and B2 remembering the keys last evicted from each, and a target
 * size p for T1 that a hit in B1 raises and a hit in B2 lowers. p is real-valued, as in the paper
 * (the adaptation steps |B2|/|B1| and |B1|/|B2| are fractions).
 *
 * Each list is a Map used as an ordered set (insertion order = recency, first key = LRU), so an
 * access costs O(1) amortized.
 */
import type { Policy } from './policy.js';

export interface ArcSizes {
  t1: number;
  t2: number;
  b1: number;
  b2: number;
  /** The adaptive target size of T1, 0 ≤ p ≤ c. */
  p: number;
}

export interface ArcPolicy extends Policy {
  sizes(): ArcSizes;
}

export function arc(capacity: number): ArcPolicy {
  const c = capacity;
  const t1 = new Map<number, true>();
  const t2 = new Map<number, true>();
  const b1 = new Map<number, true>();
  const b2 = new Map<number, true>();
  let p = 0;

  /** Moves the LRU key of `from` to the MRU end of `to`. */
  function demote(from: Map<number, true>, to: Map<number, true>): void {
    const k = from.keys().next().value!;
    from.delete(k);
    to.set(k, true);
  }

  /** REPLACE(x, p): evicts the LRU page of T1 (into B1) or of T2 (into B2). */
  function replace(inB2: boolean): void {
    const n1 = t1.size;
    if (n1 >= 1 && ((inB2 && n1 === p) || n1 > p)) demote(t1, b1);
    else if (t2.size > 0) demote(t2, b2);
    else demote(t1, b1); // unreachable while |T1| + |T2| = c (checked by the property tests)
  }

  return {
    name: 'ARC',
    sizes: () => ({ t1: t1.size, t2: t2.size, b1: b1.size, b2: b2.size, p }),
    access(x: number): boolean {
      // Case I: a hit in T1 or T2 moves x to the MRU end of T2.
      if (t1.delete(x) || t2.delete(x)) {
        t2.set(x, true);
        return true;
      }
      if (c <= 0) return false;
      // Case II: a ghost hit in B1 — T1 was too small: raise p.
      if (b1.has(x)) {
        p = Math.min(c, p + (b1.size >= b2.size ? 1 : b2.size / b1.size));
        replace(false);
        b1.delete(x);
        t2.set(x, true);
        return false;
      }
      // Case III: a ghost hit in B2 — T2 was too small: lower p.
      if (b2.has(x)) {
        p = Math.max(0, p - (b2.size >= b1.size ? 1 : b1.size / b2.size));
        replace(true);
        b2.delete(x);
        t2.set(x, true);
        return false;
      }
      // Case IV: a miss everywhere.
      const l1 = t1.size + b1.size;
      if (l1 === c) {
        // A: L1 = T1 ∪ B1 holds c pages.
        if (t1.size < c) {
          b1.delete(b1.keys().next().value!);
          replace(false);
        } else {
          t1.delete(t1.keys().next().value!); // B1 is empty: drop T1's LRU page outright
        }
      } else {
        // B: L1 holds fewer than c pages.
        const total = l1 + t2.size + b2.size;
        if (total >= c) {
          if (total === 2 * c) b2.delete(b2.keys().next().value!);
          replace(false);
        }
      }
      t1.set(x, true);
      return false;
    },
  };
}
