/**
 * The memory tier's replacement policy, as the rest of the store sees it: a small interface that
 * eviction.ts (the sweep), free-slots.ts (entries leaving), store.ts (new entries, clear) and
 * recovery.ts (recount) call, so that the policy is one module (car.ts) and another can take its
 * place. scripts/simulate.ts measures the one in use (the embedcache column) beside LRU, ARC,
 * CAR as a JS model and the optimum.
 *
 * The read path never calls through the interface: a hit only sets the slot's reference bit
 * (markReferenced, below, inlined by the store's probe), with no lock and no write once the bit
 * is set, so a hot entry read by many threads costs shared reads, not a cache-line write per read.
 *
 * Per-slot state lives in the page header (layout.ts, refWord): reference bits that readers set,
 * and bits the policy owns (PG_T2: membership of T2) in the word beside them, at a fixed place
 * whatever the page's class.
 */
import { refWord } from './layout.js';

/** The two lists a policy may keep resident entries in (CAR: T1 seen once recently, T2 seen twice). */
export const T1 = 0;
export const T2 = 1;
/** visit() on any entry, whatever its list (evicting from any class). */
export const ANY_LIST = -1;

/** What the sweep does with a current live entry it passes (visit()). */
export const KEEP = 0;
export const EVICT = 1;
/** Not of the list this hand hunts: left as it is. */
export const SKIP = 2;

export interface ReplacementPolicy {
  /**
   * Starts a sweep of class cls (a writer needs a slot): the policy takes a snapshot of the
   * counts that target() compares.
   */
  beginSweep(cls: number): void;
  /** Which list the sweep takes its next victim from (T1 or T2); each has a hand of its own. */
  target(): number;
  /**
   * The sweep passes the current live entry in slot s of the page at mem[base…] while hunting
   * in `list` (or ANY_LIST): KEEP (a second chance; the policy updated its state), EVICT, or SKIP.
   * Caller holds a stripe lock (not necessarily the entry's: a victim is re-checked under its own).
   */
  visit(mem: Int32Array, base: number, s: number, list: number): number;
  /**
   * A new entry of key k[ko…] is being written into slot s (before it is published); its class is
   * the page's. Caller holds the key's stripe lock.
   */
  admit(mem: Int32Array, base: number, s: number, k: Int32Array, ko: number): void;
  /**
   * A live entry leaves: `evicted` by the sweep (its key, at mem[ki…], becomes a ghost) or
   * removed (delete, expiry, invalidation, page steal). Caller holds its stripe lock.
   */
  leave(mem: Int32Array, base: number, s: number, ki: number, evicted: boolean): void;
  /** clear(): no entry left, nothing remembered. Caller holds every stripe lock. */
  reset(): void;
  /** fsck(): the counts recounted from the linked entries (t1[c], t2[c] per class). */
  recount(t1: Int32Array, t2: Int32Array): void;
  /**
   * For tests (checkInvariants): the problems with the policy's state, given the linked entries
   * of each class in T1 and T2 (t1[c], t2[c]). Always: values in range. With `exact`, the counts
   * too — exact after single-threaded use or fsck; writers of different stripes that race (a
   * sweep promoting an entry another thread is removing, a ghost push stalled between two words)
   * can leave one off, which the policy tolerates by clamping.
   */
  check(t1: Int32Array, t2: Int32Array, exact: boolean): string[];
  /** Whether slot s's entry is in T2 (for recount). */
  inT2(mem: Int32Array, base: number, s: number): boolean;
}

/** A hit: sets the slot's reference bit unless it is set. No lock, no write when already set. */
export function markReferenced(page: Int32Array, base: number, slot: number): void {
  const w = base + refWord(slot);
  const bit = 1 << (slot & 31);
  if ((page[w]! & bit) === 0) Atomics.or(page, w, bit);
}
