/**
 * The ghost directory of CAR (car.ts): the keys last evicted from T1 (list B1) and from T2 (B2),
 * remembered by a 32-bit fingerprint of their 128-bit key (already a hash), in eviction order.
 *
 *   ring of B1 (buckets words)                 table (buckets / 4 sets × 8 ways × 2 words)
 *   ┌────┬────┬────┬────┬────┬────┐            ┌──────────────┬──────────────┬─── ─ ─
 *   │    │ f1 │ 0  │ f3 │ f4 │    │            │ fp │ seq<<1|l│ fp │ seq<<1|l│ ...   one line
 *   └────┴────┴────┴────┴────┴────┘            └──────────────┴──────────────┴─── ─ ─
 *          tail      (hole: a ghost hit)  head     set: key word 1 & mask
 *
 * A list is the ring cells of sequence numbers [tail, head), oldest first: an eviction takes
 * seq = head++ and writes the fingerprint into cell seq & mask; CAR's "drop the LRU ghost" moves
 * the tail past holes to the next fingerprint. The table finds a key's cell: a ghost is in list
 * l iff a way of its set holds its fingerprint with a tag whose seq is inside l's window and
 * whose ring cell still holds the same fingerprint. A ghost hit clears the cell (a hole) and the
 * way; `count` words keep the number of ghosts of each list (holes excluded), which is what
 * CAR's adaptation reads.
 *
 * Why no lock: every operation is a few independent word writes, with the sequence numbers
 * claimed by compare-exchange (head and tail), and every index masked into its array. Writers of different stripes may race, and a worker terminated in the middle of an
 * operation may leave a way written and its cell not (or the reverse), a count off by one, or a
 * cell overwritten by a ring that wrapped: all of these make a ghost wrong or lost, which only
 * costs CAR a little adaptation. None can make a loop run away (each is bounded) or an index
 * leave its array, so there is nothing to repair after a death and nothing to wait for.
 *
 * Caveat: a key whose set is full (eight live ghosts) takes the way of the oldest ghost there,
 * which the ring still counts until it ages out. With twice as many ways as buckets (≥ 1.25 ×
 * expected entries) and at most about c ghosts, a set holds 3.2 live ghosts on average at most,
 * and more than 8 in well under 1 % of sets.
 *
 * Why one set per key, of 8 ways in 64 bytes: every insert looks its key up and every eviction
 * pushes one, at two unrelated places in a table that the vectors streaming through the cache
 * have long pushed out of the CPU's caches. A set is 64 contiguous bytes, at a line boundary of
 * the buffer (one line, or two adjacent ones where the allocator does not align the buffer to a
 * line); two choices of 4-way sets (as before) were two unrelated lines, and one choice of 8 ways
 * keeps the hit ratios (`npm run simulate`: no run moved by more than 0.07 pt).
 */
import {
  GH_COUNT,
  GH_HEAD,
  GH_TAIL,
  GH_WORDS,
  GHOST_SLOT_WORDS,
  GHOST_WAYS,
  GHOST_WAYS_PER_BUCKET,
  ghostRingAt,
  ghostTableAt,
  H_GHOSTS,
} from './layout.js';

/** Sequence numbers are 31-bit (they sit in a tag beside the list bit). */
const SEQ_MASK = 0x7fffffff;
/** Tries a push makes to claim the head cell against other pushers before it gives up. */
const CLAIM_TRIES = 16;

export const B1 = 0;
export const B2 = 1;

/** The fingerprint of a key: its third word (the first picks the index bucket, the second the set), never 0. */
export function fingerprint(k2: number): number {
  return k2 === 0 ? 1 : k2;
}

export class GhostDirectory {
  /** Ring cells (and table sets × ways) − 1: a power of two minus one. */
  private readonly ringMask: number;
  private readonly setMask: number;
  private readonly table: number;
  /** Word index of B1's ring; B2's follows it (layout.ts, ghostRingAt). */
  private readonly rings: number;

  constructor(
    private readonly ctl: Int32Array,
    buckets: number,
  ) {
    this.ringMask = buckets - 1;
    this.setMask = (GHOST_WAYS_PER_BUCKET * buckets) / GHOST_WAYS - 1;
    this.table = ghostTableAt(buckets);
    this.rings = ghostRingAt(buckets, 0);
  }

  /** Ghosts a list can hold (its ring's cells). */
  get capacity(): number {
    return this.ringMask + 1;
  }

  /** Ghosts in list l (holes excluded), clamped into [0, the list's window]. */
  size(l: number): number {
    const w = H_GHOSTS + GH_WORDS * l;
    // Plain reads (a hint, clamped): see CarPolicy.classCount.
    const n = this.ctl[w + GH_COUNT]!;
    const span = (this.ctl[w + GH_HEAD]! - this.ctl[w + GH_TAIL]!) & SEQ_MASK;
    return n < 0 ? 0 : Math.min(n, span, this.capacity);
  }

  /** Whether list l's window is empty: no ghost and no hole (a trim would find nothing to pass). */
  isEmpty(l: number): boolean {
    const w = H_GHOSTS + GH_WORDS * l;
    return ((this.ctl[w + GH_HEAD]! - this.ctl[w + GH_TAIL]!) & SEQ_MASK) === 0;
  }

  /**
   * Whether a way's tag (seq << 1 | list) lies inside its list's window [tail, head), clamped to
   * the ring: outside it, the ghost was trimmed (or the tag is garbage) and the way is free.
   */
  private inWindow(tag: number): boolean {
    const w = H_GHOSTS + GH_WORDS * (tag & 1);
    const tail = this.ctl[w + GH_TAIL]!;
    const span = (this.ctl[w + GH_HEAD]! - tail) & SEQ_MASK;
    return (((tag >>> 1) - tail) & SEQ_MASK) < Math.min(span, this.capacity);
  }

  /** Whether way word `at` (of the table) holds a ghost of list l with fingerprint fp. */
  private live(at: number, fp: number): number {
    const ctl = this.ctl;
    if (ctl[at] !== fp) return -1;
    const tag = ctl[at + 1]!;
    if (!this.inWindow(tag)) return -1;
    const l = tag & 1;
    return ctl[this.rings + l * this.capacity + ((tag >>> 1) & this.ringMask)] === fp ? l : -1;
  }

  /** Word index of the set that key word k1 picks. */
  private setAt(k1: number): number {
    return this.table + (k1 & this.setMask) * GHOST_WAYS * GHOST_SLOT_WORDS;
  }

  /**
   * Looks key (k1, k2) up; if it is a ghost, takes it out of its list and returns the list
   * (B1 or B2), else -1.
   */
  take(k1: number, k2: number): number {
    const ctl = this.ctl;
    const fp = fingerprint(k2);
    const set = this.setAt(k1);
    for (let way = 0; way < GHOST_WAYS; way++) {
      const at = set + way * GHOST_SLOT_WORDS;
      const l = this.live(at, fp);
      if (l < 0) continue;
      const seq = ctl[at + 1]! >>> 1;
      ctl[at] = 0;
      // Only the thread that clears the cell counts the ghost out (two takers of one key race here).
      const cell = this.rings + l * this.capacity + (seq & this.ringMask);
      if (Atomics.compareExchange(ctl, cell, fp, 0) === fp) this.uncount(l);
      return l;
    }
    return -1;
  }

  /** Remembers key (k1, k2), just evicted, as the newest ghost of list l. */
  push(l: number, k1: number, k2: number): void {
    const ctl = this.ctl;
    const fp = fingerprint(k2);
    const w = H_GHOSTS + GH_WORDS * l;
    // The ring is full: the oldest ghost goes (CAR never gets here; races and deaths might). A
    // window wider than the ring (a tail past the head, left by a death or garbage) is cut back
    // to the ring first, so a damaged list heals within one push.
    const head = ctl[w + GH_HEAD]!;
    const tail = ctl[w + GH_TAIL]!;
    const span = (head - tail) & SEQ_MASK;
    if (span > this.capacity)
      Atomics.compareExchange(ctl, w + GH_TAIL, tail, (head - this.capacity) & SEQ_MASK);
    if (span >= this.capacity) this.trim(l);
    // The cell is written before the head moves over it (a compare-exchange), so a trim that
    // catches up with the head never passes a cell still to be written: the count stays the
    // ring's. A pusher that loses the race writes again one cell on; after CLAIM_TRIES it gives
    // the ghost up. (head wraps as an int32; every use masks it to 31 bits.)
    let seq = -1;
    for (let tries = 0; tries < CLAIM_TRIES; tries++) {
      const h = ctl[w + GH_HEAD]!; // plain: the compare-exchange below checks it
      Atomics.store(ctl, this.rings + l * this.capacity + (h & this.ringMask), fp);
      if (Atomics.compareExchange(ctl, w + GH_HEAD, h, (h + 1) & SEQ_MASK) === h) {
        seq = h & SEQ_MASK;
        break;
      }
    }
    if (seq < 0) return;
    Atomics.add(ctl, w + GH_COUNT, 1);
    // A way of the key's set: the first free or dead one, else the one with the oldest ghost.
    const set = this.setAt(k1);
    let pick = -1;
    let oldest = -1;
    for (let way = 0; way < GHOST_WAYS; way++) {
      const at = set + way * GHOST_SLOT_WORDS;
      if (ctl[at] === 0) {
        pick = at;
        break;
      }
      // A way whose sequence number left its list's window holds a trimmed ghost: free. (Its ring
      // cell is not read: one more random line per way, and a cell emptied by a take has its way
      // emptied too.)
      const tag = ctl[at + 1]!;
      if (!this.inWindow(tag)) {
        pick = at;
        break;
      }
      const age = (ctl[H_GHOSTS + GH_WORDS * (tag & 1) + GH_HEAD]! - (tag >>> 1)) & SEQ_MASK;
      if (age > oldest) {
        oldest = age;
        pick = at;
      }
    }
    ctl[pick] = 0; // a reader never pairs the new tag with the old fingerprint
    ctl[pick + 1] = (seq << 1) | l;
    ctl[pick] = fp;
  }

  /**
   * Drops the oldest ghost of list l (CAR's "discard the LRU page of B1/B2"), stepping over the
   * holes ghost hits left at the tail. All of them: a trim that gave up after a fixed number of
   * holes left the list one ghost too long, and CAR then admitted a key to T2 that the paper's
   * CAR admits to T1 (found by the model property test, about 1 run in 1,500). Each hole is passed
   * once, so the cost is O(1) amortized; the ring's size bounds one call.
   */
  trim(l: number): void {
    const ctl = this.ctl;
    const w = H_GHOSTS + GH_WORDS * l;
    for (let steps = 0; steps < this.capacity; steps++) {
      const tail = ctl[w + GH_TAIL]!; // plain: the compare-exchange below checks it
      if (((ctl[w + GH_HEAD]! - tail) & SEQ_MASK) === 0) return;
      if (Atomics.compareExchange(ctl, w + GH_TAIL, tail, (tail + 1) & SEQ_MASK) !== tail) continue;
      const cell = this.rings + l * this.capacity + (tail & this.ringMask);
      const fp = Atomics.exchange(ctl, cell, 0);
      if (fp !== 0) {
        this.uncount(l);
        return;
      }
    }
  }

  private uncount(l: number): void {
    const at = H_GHOSTS + GH_WORDS * l + GH_COUNT;
    if (Atomics.sub(this.ctl, at, 1) <= 0) Atomics.store(this.ctl, at, 0); // never below 0
  }

  /** Sets each list's count to the ghosts its ring holds (fsck: a death can leave it off by one). */
  recount(): void {
    for (let l = 0; l < 2; l++)
      Atomics.store(this.ctl, H_GHOSTS + GH_WORDS * l + GH_COUNT, this.list(l).length);
  }

  /**
   * Forgets every ghost (clear(); the caller holds every stripe lock). O(1): each list's tail
   * moves up to its head, so every way's sequence number falls outside the window, and every
   * cell is written again before the head passes it.
   */
  reset(): void {
    const ctl = this.ctl;
    for (let l = 0; l < 2; l++) {
      const w = H_GHOSTS + GH_WORDS * l;
      Atomics.store(ctl, w + GH_TAIL, Atomics.load(ctl, w + GH_HEAD) & SEQ_MASK);
      Atomics.store(ctl, w + GH_COUNT, 0);
    }
  }

  /** For tests: the fingerprints of list l, oldest first (holes skipped). */
  list(l: number): number[] {
    const w = H_GHOSTS + GH_WORDS * l;
    const out: number[] = [];
    const tail = this.ctl[w + GH_TAIL]!;
    const span = Math.min((this.ctl[w + GH_HEAD]! - tail) & SEQ_MASK, this.capacity);
    for (let i = 0; i < span; i++) {
      const fp = this.ctl[this.rings + l * this.capacity + ((tail + i) & this.ringMask)]!;
      if (fp !== 0) out.push(fp);
    }
    return out;
  }
}
