/**
 * Belady's optimal offline policy (OPT / MIN), the variant with bypass: on a miss with the cache
 * full, the resident key whose next use is furthest in the future is evicted — unless the missed
 * key's own next use is further still (or it is never used again), in which case it is not
 * admitted at all. With bypass allowed this is optimal: no policy with `capacity` entries that sees
 * the same trace gets more hits. (Demand paging, where every miss must be admitted, can do worse:
 * the textbook 20-access example has 9 misses under OPT without bypass, 8 with it.)
 *
 * Positions stand in for keys: next[i] is the position of the next access to trace[i] (or n + i
 * if there is none, so that every position is distinct). A resident key is represented by the
 * position of its next use, kept in a max-heap; `live[q]` says q is the next use of a resident key.
 * So the access at position i is a hit exactly when live[i] is set. Entries of the heap that stop
 * being live (hit positions) are left in place and skipped if they ever reach the top — they
 * never do while a live entry remains, since they lie in the past. O(log n) per access.
 */
import type { Policy } from './policy.js';

/** next[i]: position of the next access to trace[i] after i, or trace.length + i if none. */
export function nextUses(trace: Int32Array): Int32Array {
  const n = trace.length;
  const next = new Int32Array(n);
  const seen = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    const k = trace[i]!;
    const j = seen.get(k);
    next[i] = j === undefined ? n + i : j;
    seen.set(k, i);
  }
  return next;
}

/** OPT over `trace`: its accesses must come in the trace's order. `next` may be passed if already computed. */
export function belady(capacity: number, trace: Int32Array, next: Int32Array = nextUses(trace)): Policy {
  const n = trace.length;
  const live = new Uint8Array(2 * n);
  const heap = new Int32Array(n + 1); // at most one push per access
  let heapSize = 0;
  let resident = 0;
  let i = 0;

  function push(q: number): void {
    let at = heapSize++;
    while (at > 0) {
      const up = (at - 1) >> 1;
      if (heap[up]! >= q) break;
      heap[at] = heap[up]!;
      at = up;
    }
    heap[at] = q;
  }

  function popTop(): void {
    const last = heap[--heapSize]!;
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= heapSize) break;
      if (child + 1 < heapSize && heap[child + 1]! > heap[child]!) child++;
      if (heap[child]! <= last) break;
      heap[at] = heap[child]!;
      at = child;
    }
    heap[at] = last;
  }

  /** The furthest next use among resident keys (stale entries on top are dropped). */
  function furthest(): number {
    while (live[heap[0]!] === 0) popTop();
    return heap[0]!;
  }

  return {
    name: 'OPT',
    access(key: number): boolean {
      if (i >= n || trace[i] !== key) throw new Error(`belady: access ${i} is not the trace's (${key})`);
      const q = next[i]!;
      if (live[i] === 1) {
        live[i] = 0;
        live[q] = 1;
        push(q);
        i++;
        return true;
      }
      if (resident < capacity) {
        resident++;
        live[q] = 1;
        push(q);
      } else if (capacity > 0) {
        const top = furthest();
        if (q < top) {
          popTop();
          live[top] = 0;
          live[q] = 1;
          push(q);
        } // else bypass: the missed key is needed later than every resident one
      }
      i++;
      return false;
    },
  };
}
