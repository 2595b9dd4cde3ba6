/**
 * CAR as the memory tier lays it out (src/memory/car.ts): no lists that entries move between,
 * but a fixed array of slots, a T2 bit per slot, and one CLOCK hand per list that walks the whole
 * array and passes over the other list's slots; a new entry takes the slot of the victim just
 * evicted. The adaptation and the ghost lists (exact here, as Maps in eviction order) are CAR's.
 *
 * Kept beside car.ts (the paper's two circular lists) so the simulator can show what the layout
 * costs against the paper's CAR, and so the memory tier's tests can check the shared-memory
 * policy against a simple model of itself, access by access (test/unit/memory).
 */
import type { Policy } from './policy.js';

export function carSlots(capacity: number): Policy {
  const c = capacity;
  const keys = new Int32Array(Math.max(1, c));
  const ref = new Uint8Array(Math.max(1, c));
  const inT2 = new Uint8Array(Math.max(1, c));
  const slotOf = new Map<number, number>();
  const b1 = new Map<number, true>();
  const b2 = new Map<number, true>();
  let n1 = 0;
  let n2 = 0;
  let p = 0;
  let used = 0;
  const hands = [0, 0];

  const first = (m: Map<number, true>): number => m.keys().next().value!;

  /** Moves the hand of the list CAR picks until a slot of that list with a clear bit comes. */
  function replace(): number {
    for (;;) {
      const list = n1 >= Math.max(1, p) ? 0 : 1;
      const s = hands[list]!;
      hands[list] = (s + 1) % c;
      if (inT2[s] !== list) continue; // the other hand's
      if (ref[s] === 1) {
        ref[s] = 0;
        if (list === 0) {
          inT2[s] = 1;
          n1--;
          n2++;
        }
        continue;
      }
      const k = keys[s]!;
      slotOf.delete(k);
      if (list === 0) {
        n1--;
        b1.set(k, true);
      } else {
        n2--;
        b2.set(k, true);
      }
      return s;
    }
  }

  return {
    name: 'CAR/slots',
    access(x: number): boolean {
      const at = slotOf.get(x);
      if (at !== undefined) {
        ref[at] = 1;
        return true;
      }
      if (c <= 0) return false;
      const inB1 = b1.has(x);
      const inB2 = b2.has(x);
      let s: number;
      if (used < c) s = used++;
      else {
        s = replace();
        if (!inB1 && !inB2) {
          if (n1 + b1.size >= c) b1.delete(first(b1));
          else if (n1 + n2 + b1.size + b2.size >= 2 * c) b2.delete(first(b2));
        }
      }
      keys[s] = x;
      ref[s] = 0;
      slotOf.set(x, s);
      if (inB1) {
        p = Math.min(p + Math.max(1, b2.size / b1.size), c);
        b1.delete(x);
      } else if (inB2) {
        p = Math.max(p - Math.max(1, b1.size / b2.size), 0);
        b2.delete(x);
      }
      inT2[s] = inB1 || inB2 ? 1 : 0;
      if (inT2[s] === 1) n2++;
      else n1++;
      return false;
    },
  };
}
