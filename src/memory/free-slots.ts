/**
 * Free slots: where a slot goes when its entry leaves, and where allocation looks first.
 *
 * A lock-free stack per class (Treiber), linked through the entries' `free` words, with a tag in
 * the head against ABA (layout.ts, C_FREE_HEAD). It is a hint: a slot popped by a thread that
 * then dies is found again by the sweep (its state is FREE), and every claim is a CAS
 * FREE → -token, so a stale or damaged stack can only make a pop come back empty-handed, never
 * hand out a live entry.
 *
 * Freeing a slot is one function, freeSlot(), whoever frees it (delete, reclaim, eviction of
 * another class's entry, repair, fsck): its seq moves on to a new even value (a reader mid-copy
 * retries), its state becomes FREE, its count is given back and it goes on its class's stack.
 */
import {
  C_FREE_HEAD,
  classAt,
  H_PAGES_USED,
  H_STALE,
  M_LIVE,
  modelAt,
  NONE,
  pageBase,
  type PageLayout,
  pageOf,
  PG_CLASS,
  slotOf,
  STATE_FREE,
  STATE_LIVE,
} from './layout.js';
import type { Arena } from './arena.js';
import type { ReplacementPolicy } from './policy.js';

export class FreeSlots {
  private readonly ctl: Int32Array;
  private readonly ctl64: BigUint64Array;

  constructor(
    private readonly arena: Arena,
    private readonly policy: ReplacementPolicy,
  ) {
    this.ctl = arena.ctl;
    this.ctl64 = arena.ctl64;
  }

  /** Index of class cls's stack head in the 64-bit view. */
  private freeHead(cls: number): number {
    return (classAt(cls) + C_FREE_HEAD) >>> 1;
  }

  pushFree(cls: number, e: number): void {
    const h = this.freeHead(cls);
    const p = pageOf(e),
      s = slotOf(e);
    const mem = this.arena.mem(p),
      base = pageBase(p);
    const L = this.arena.layoutOfPage(mem, base);
    if (L === undefined) return;
    for (;;) {
      const old = Atomics.load(this.ctl64, h);
      mem[base + L.free + s] = Number(BigInt.asIntN(32, old));
      const next = ((((old >> 32n) + 1n) & 0xffffffffn) << 32n) | BigInt(e >>> 0);
      if (Atomics.compareExchange(this.ctl64, h, old, next) === old) return;
    }
  }

  /** A free slot of class cls claimed for the caller (state -token), or NONE. */
  popFree(cls: number, L: PageLayout): number {
    const h = this.freeHead(cls);
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    for (let tries = 0; tries < 64; tries++) {
      const old = Atomics.load(this.ctl64, h);
      const e = Number(BigInt.asIntN(32, old));
      if (e === NONE) return NONE;
      const p = pageOf(e),
        s = slotOf(e);
      let next = NONE;
      const valid = p < pagesUsed;
      const mem = valid ? this.arena.mem(p) : undefined,
        base = pageBase(p);
      if (mem !== undefined && mem[base + PG_CLASS] === cls + 1 && s < L.slots)
        next = mem[base + L.free + s]!;
      const nv = ((((old >> 32n) + 1n) & 0xffffffffn) << 32n) | BigInt(next >>> 0);
      if (Atomics.compareExchange(this.ctl64, h, old, nv) !== old) continue;
      // Popped: it is ours only if it is still a free slot of this class.
      if (mem === undefined || mem[base + PG_CLASS] !== cls + 1 || s >= L.slots) continue;
      if (Atomics.compareExchange(mem, base + L.state + s, STATE_FREE, -this.arena.token) === STATE_FREE)
        return e;
    }
    return NONE;
  }

  /** Empties class cls's stack (its slots stay FREE: the sweep still finds them). */
  resetFree(cls: number): void {
    Atomics.store(this.ctl64, this.freeHead(cls), 0xffffffffn);
  }

  /**
   * Frees slot s (entry e) of the page at mem[base…]: seq to a new even value, state FREE, its
   * count given back, pushed on its class's stack. The entry is unlinked and no longer counted
   * as live (see release()). Caller holds the entry's stripe lock.
   */
  freeSlot(e: number, mem: Int32Array, base: number, L: PageLayout, s: number): void {
    const seqAt = base + L.seq + s;
    Atomics.store(mem, seqAt, (Atomics.load(mem, seqAt) | 1) + 1); // even, and moved: a reader mid-copy retries
    Atomics.store(mem, base + L.state + s, STATE_FREE);
    this.arena.unreserve();
    this.pushFree(mem[base + PG_CLASS]! - 1, e);
  }

  /** Frees an unlinked entry, taking it out of the live counts first if it was live. Caller holds its stripe lock. */
  release(e: number, mem: Int32Array, base: number, L: PageLayout, s: number): void {
    if (mem[base + L.state + s] === STATE_LIVE) this.uncount(mem, base, L, s);
    this.freeSlot(e, mem, base, L, s);
  }

  /**
   * Takes a live entry out of its model's (or the stale) count, and out of the replacement
   * policy's lists: as a ghost if the sweep `evicted` it (it was current), else forgotten.
   */
  uncount(mem: Int32Array, base: number, L: PageLayout, s: number, evicted = false): void {
    if (this.arena.ofCurrentGen(mem, base, L, s))
      Atomics.sub(this.ctl, modelAt(mem[base + L.model + s]!) + M_LIVE, 1);
    else Atomics.sub(this.ctl, H_STALE, 1);
    this.policy.leave(mem, base, s, base + L.key + 4 * s, evicted);
  }
}
