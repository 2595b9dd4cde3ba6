/**
 * CAR — Clock with Adaptive Replacement (S. Bansal and D. S. Modha, FAST'04) — in shared memory.
 *
 * Why CAR: it keeps ARC's hit ratio (a recency list T1 and a frequency list T2 whose split adapts
 * through the ghost lists B1 and B2) while a hit only sets a reference bit, as in CLOCK: no list
 * move, no lock, no write once the bit is set. Measured with `npm run simulate` against LRU, ARC
 * and the optimum (README, Design: eviction). W-TinyLFU was tried first and fell more than
 * 0.5 pt below ARC on 26 of 65 runs.
 *
 * How it maps onto the store. Entries do not move: T1 and T2 are sets of slots, told apart by a
 * bit per slot (layout.ts, PG_T2), and each list's CLOCK is a hand of its own that walks the
 * class's slots in place and passes over the other list's entries (eviction.ts). A new entry takes
 * the slot of the victim the hand just left, so it sits right behind that hand and gets a whole
 * revolution, as at the tail of CAR's clock. (One hand for both lists, skipping the other list's
 * entries, falls far behind ARC: −10 pt on OLTP; two hands stay within 0.5 pt of CAR on 64 of 65
 * runs in a JS model of this layout.)
 *
 *   T1 hand: bit 0 → evict (key → B1)   bit 1 → clear it, move to T2 (T2 bit set)
 *   T2 hand: bit 0 → evict (key → B2)   bit 1 → clear it
 *   insert:  key in B1 → p += max(1, |B2|/|B1|), into T2;   in B2 → p −= max(1, |B1|/|B2|), into T2
 *            else trim the directory (|T1|+|B1| ≥ c: B1's oldest; total ≥ 2c: B2's) and into T1
 *   target:  T1 while |T1| ≥ max(1, p), else T2
 *
 * Shared state: p (a Float64 in the header), |T1| and |T2| per dimension class (class records;
 * the policy's counts are their sums), the ghost directory (ghosts.ts). c is maxEntries, or the
 * entries memory holds when maxBytes binds first. Every word is written with relaxed Atomics or
 * plainly, under the writer's stripe lock only: writers of different stripes race, and a thread
 * terminated mid-update leaves a count off by one or a ghost lost. So every read is clamped (p to
 * [0, c], counts to [0, c]) and nothing here can index out of range or loop: at worst the split
 * between T1 and T2 is a little off until fsck (after any lock take-over) recounts.
 *
 * Several classes share maxEntries (and pages move between them): CAR runs over all entries, and
 * a class's sweep takes its victim from the list CAR picks unless the class has no entry in it.
 */
import { B1, B2, GhostDirectory } from './ghosts.js';
import {
  C_T1,
  C_T2,
  CLASS_WORDS,
  classAt,
  H_CAR_P,
  H_CLASS_COUNT,
  HEADER_WORDS,
  MAX_CLASSES,
  PG_CLASS,
  PG_T2,
  refWord,
} from './layout.js';
import { ANY_LIST, EVICT, KEEP, type ReplacementPolicy, SKIP, T1, T2 } from './policy.js';

export class CarPolicy implements ReplacementPolicy {
  readonly ghosts: GhostDirectory;
  private readonly f64: Float64Array;
  /** The largest c: maxEntries, and never more than the directory remembers. */
  private readonly cMax: number;
  // The sweep's snapshot (beginSweep): global and class counts, kept current by visit().
  private n1 = 0;
  private n2 = 0;
  private c1 = 0;
  private c2 = 0;
  private cls = 0;
  /** The list target() answers: picked at beginSweep, again when visit() moves an entry. */
  private list = T1;
  /**
   * Whether n1 and n2 are this sweep's snapshot, kept current by visit() and by the eviction the
   * sweep ended in (leave): admit() right after it then reads no count again. Cleared by admit
   * and by every other step.
   */
  private fresh = false;
  /**
   * What the last eviction still owes, held back until the admit that follows it: `owed` is the
   * class count word to decrement (or -1: nothing owed), owedT2 its list, owedK1/K2 the key to
   * push as a ghost. An evicted entry leaves its list and becomes a ghost (leave), and the admit
   * that follows in the same set fills the same slot. Two pairs of writes in between usually
   * cancel out: the count goes down and up again (the new entry joins the same list of the same
   * class), and in a scan, where T1 holds c entries, CAR drops the oldest ghost of B1 right after
   * pushing it — the same ghost when B1 was empty. Then neither write is made: about ten atomic
   * operations and two table lines per evicting set. Any other next step pays what is owed first.
   * Meanwhile the shared count is one high and the ghost missing to other threads, which CAR
   * takes as it takes any stale count or lost ghost; this thread's own decisions count both, so
   * they stay exact (the model test checks them access by access).
   */
  private owed = -1;
  private owedT2 = false;
  private owedK1 = 0;
  private owedK2 = 0;

  constructor(
    private readonly ctl: Int32Array,
    buckets: number,
    maxEntries: number,
  ) {
    this.ghosts = new GhostDirectory(ctl, buckets);
    this.f64 = new Float64Array(ctl.buffer, 0, HEADER_WORDS / 2);
    this.cMax = Math.max(1, Math.min(maxEntries, this.ghosts.capacity));
  }

  /**
   * |T1| and |T2|: the sums over classes, into n1 and n2; class `cls`'s own (if ≥ 0) into c1 and
   * c2. One pass over the class records, each count clamped into [0, c]. Counts are hints,
   * read plainly: an Atomics.load is a builtin call in Node 20 (about 6 ns against under 1), and
   * a stale count only shifts CAR's split a little.
   */
  private counts(cls: number): void {
    const ctl = this.ctl;
    const max = this.cMax;
    const classes = Math.min(MAX_CLASSES, ctl[H_CLASS_COUNT]!);
    let n1 = 0;
    let n2 = 0;
    for (let c = 0, at = classAt(0); c < classes; c++, at += CLASS_WORDS) {
      const a = ctl[at + C_T1]!;
      const b = ctl[at + C_T2]!;
      const t1 = a < 0 ? 0 : Math.min(a, max);
      const t2 = b < 0 ? 0 : Math.min(b, max);
      n1 += t1;
      n2 += t2;
      if (c === cls) {
        this.c1 = t1;
        this.c2 = t2;
      }
    }
    if (this.owed >= 0) {
      if (this.owedT2) n2--;
      else n1--;
    }
    this.n1 = Math.min(Math.max(0, n1), max);
    this.n2 = Math.min(Math.max(0, n2), max);
  }

  /** p, clamped into [0, c] (a torn or stale value is only a hint). */
  private p(c: number): number {
    const p = this.f64[H_CAR_P / 2]!;
    return p >= 0 ? Math.min(p, c) : 0;
  }

  /**
   * c: maxEntries; when maxBytes binds first, the entries memory holds (|T1| + |T2| + 1, the one
   * being inserted included).
   */
  private capacity(): number {
    return Math.max(1, Math.min(this.cMax, this.n1 + this.n2 + 1));
  }

  beginSweep(cls: number): void {
    this.c1 = 0;
    this.c2 = 0;
    this.counts(cls);
    this.fresh = true;
    this.cls = cls;
    this.list = this.pick();
  }

  target(): number {
    return this.list;
  }

  /** CAR's replace(): T1 while |T1| ≥ max(1, p), else T2; the other if the class has none there. */
  private pick(): number {
    let l = this.n1 >= Math.max(1, this.p(this.capacity())) ? T1 : T2;
    if (l === T1 && this.c1 === 0) l = T2;
    else if (l === T2 && this.c2 === 0) l = T1;
    return l;
  }

  visit(mem: Int32Array, base: number, s: number, list: number): number {
    const w = base + refWord(s);
    const bit = 1 << (s & 31);
    const inT2 = (mem[w + PG_T2]! & bit) !== 0;
    if (list !== ANY_LIST && inT2 !== (list === T2)) return SKIP;
    if ((mem[w]! & bit) === 0) return EVICT;
    Atomics.and(mem, w, ~bit);
    // Referenced while in T1: seen twice, it moves to T2. Only the thread whose Atomics.or turns
    // the bit on moves the counts (two sweeps can pass one entry at once).
    if (!inT2 && (Atomics.or(mem, w + PG_T2, bit) & bit) === 0) {
      const cw = classAt(mem[base + PG_CLASS]! - 1);
      Atomics.sub(this.ctl, cw + C_T1, 1);
      Atomics.add(this.ctl, cw + C_T2, 1);
      this.n1--;
      this.n2++;
      if (mem[base + PG_CLASS] === this.cls + 1) {
        this.c1--;
        this.c2++;
      }
      this.list = this.pick();
    }
    return KEEP;
  }

  admit(mem: Int32Array, base: number, s: number, k: Int32Array, ko: number): void {
    const w = base + refWord(s);
    const bit = 1 << (s & 31);
    if ((mem[w]! & bit) !== 0) Atomics.and(mem, w, ~bit); // new entries start unreferenced
    if (!(this.fresh && this.owed >= 0)) this.counts(-1);
    this.fresh = false;
    const ghosts = this.ghosts;
    const owed = this.owed < 0 ? -1 : this.owedT2 ? B2 : B1;
    let b1 = ghosts.size(B1);
    let b2 = ghosts.size(B2);
    // (Never the owed ghost: its key was resident, this one was not.)
    const hit = b1 + b2 === 0 ? -1 : ghosts.take(k[ko + 1]!, k[ko + 2]!);
    if (owed === B1) b1++;
    else if (owed === B2) b2++;
    const c = this.capacity();
    let trim = -1;
    if (hit === B1) {
      // T1 was too small: a key it evicted came back.
      this.f64[H_CAR_P / 2] = Math.min(this.p(c) + Math.max(1, b2 / Math.max(1, b1)), c);
    } else if (hit === B2) {
      this.f64[H_CAR_P / 2] = Math.max(this.p(c) - Math.max(1, b1 / Math.max(1, b2)), 0);
    } else if (this.n1 + b1 >= c) {
      trim = B1;
    } else if (this.n1 + this.n2 + b1 + b2 >= 2 * c) {
      trim = B2;
    }
    const toT2 = hit >= 0;
    if (toT2) Atomics.or(mem, w + PG_T2, bit);
    else if ((mem[w + PG_T2]! & bit) !== 0) Atomics.and(mem, w + PG_T2, ~bit);
    let cw = classAt(mem[base + PG_CLASS]! - 1) + (toT2 ? C_T2 : C_T1);
    if (owed >= 0 && trim === owed && ghosts.isEmpty(owed)) {
      // The owed ghost would be the list's only one, and the trim would drop it: neither is done.
      trim = -1;
      if (cw === this.owed) cw = -1;
      else Atomics.sub(this.ctl, this.owed, 1);
      this.owed = -1;
    } else if (cw === this.owed) {
      this.owed = -1; // the victim's count passes to the new entry
      ghosts.push(owed, this.owedK1, this.owedK2);
      cw = -1;
    } else this.settle();
    if (trim >= 0) ghosts.trim(trim);
    if (cw >= 0) Atomics.add(this.ctl, cw, 1);
  }

  leave(mem: Int32Array, base: number, s: number, ki: number, evicted: boolean): void {
    const w = base + refWord(s);
    const bit = 1 << (s & 31);
    const inT2 = (mem[w + PG_T2]! & bit) !== 0 && (Atomics.and(mem, w + PG_T2, ~bit) & bit) !== 0;
    if ((mem[w]! & bit) !== 0) Atomics.and(mem, w, ~bit);
    const cw = classAt(mem[base + PG_CLASS]! - 1) + (inT2 ? C_T2 : C_T1);
    this.settle();
    if (evicted) {
      if (this.fresh) {
        if (inT2) this.n2 = Math.max(0, this.n2 - 1);
        else this.n1 = Math.max(0, this.n1 - 1);
      }
      this.owed = cw;
      this.owedT2 = inT2;
      this.owedK1 = mem[ki + 1]!;
      this.owedK2 = mem[ki + 2]!;
    } else {
      this.fresh = false;
      Atomics.sub(this.ctl, cw, 1);
    }
  }

  /** Pays what the last eviction owes (see `owed`): its count's decrement and its ghost. */
  private settle(): void {
    if (this.owed < 0) return;
    Atomics.sub(this.ctl, this.owed, 1);
    this.owed = -1;
    this.ghosts.push(this.owedT2 ? B2 : B1, this.owedK1, this.owedK2);
  }

  reset(): void {
    this.owed = -1;
    this.fresh = false;
    this.f64[H_CAR_P / 2] = 0;
    for (let c = 0; c < MAX_CLASSES; c++) {
      Atomics.store(this.ctl, classAt(c) + C_T1, 0);
      Atomics.store(this.ctl, classAt(c) + C_T2, 0);
    }
    this.ghosts.reset();
  }

  recount(t1: Int32Array, t2: Int32Array): void {
    this.owed = -1;
    this.fresh = false;
    for (let c = 0; c < MAX_CLASSES; c++) {
      Atomics.store(this.ctl, classAt(c) + C_T1, t1[c]!);
      Atomics.store(this.ctl, classAt(c) + C_T2, t2[c]!);
    }
    const p = this.f64[H_CAR_P / 2]!;
    if (!(p >= 0 && p <= this.cMax)) this.f64[H_CAR_P / 2] = 0;
    this.ghosts.recount();
  }

  check(t1: Int32Array, t2: Int32Array, exact: boolean): string[] {
    this.settle();
    const problems: string[] = [];
    for (let c = 0; exact && c < MAX_CLASSES; c++) {
      const n1 = Atomics.load(this.ctl, classAt(c) + C_T1);
      const n2 = Atomics.load(this.ctl, classAt(c) + C_T2);
      if (n1 !== t1[c] || n2 !== t2[c])
        problems.push(`class ${c}: |T1| ${n1}, |T2| ${n2}; linked ${t1[c]} in T1, ${t2[c]} in T2`);
    }
    const p = this.f64[H_CAR_P / 2]!;
    if (!(p >= 0 && p <= this.cMax)) problems.push(`p ${p} outside [0, ${this.cMax}]`);
    for (const l of [B1, B2]) {
      const n = this.ghosts.size(l);
      const listed = this.ghosts.list(l).length;
      if (n < 0 || n > this.ghosts.capacity || listed > this.ghosts.capacity || (exact && n !== listed))
        problems.push(`ghost list ${l}: count ${n}, ${listed} in its ring`);
    }
    return problems;
  }

  inT2(mem: Int32Array, base: number, s: number): boolean {
    return (mem[base + refWord(s) + PG_T2]! & (1 << (s & 31))) !== 0;
  }
}
