/**
 * Allocation: where a writer finds a slot for a new key, evicting one when it must.
 *
 * In order: a free slot of the class (free-slots.ts); a never-used slot, from the class's current
 * page or a new page while maxBytes allows (arena.ts); when memory is full, a cold page of another
 * class (arena.ts, stealPage — a page is worth more to a class that gets traffic than our own
 * coldest entry); then the sweep over the class's pages, which takes free, expired and
 * invalidated entries first and otherwise evicts the entry the replacement policy picks
 * (policy.ts, the interface; car.ts, CAR). At maxEntries the sweep looks for a victim whose count
 * passes to the caller, and failing that evicts from any class.
 *
 * The sweep has one hand per policy list (CAR: T1 and T2) per class, per thread. Each step asks
 * the policy which list to take from, moves that list's hand one slot and lets the policy judge
 * the entry there (skip another list's entry, give a referenced one a second chance, or evict).
 * A hand that has gone round its class twice without a victim gives way to the other; both
 * spent, the sweep gives up (NONE) as before, and the caller looks elsewhere.
 *
 * Why tryAcquire: a victim in another stripe is taken only if its lock is free right now. A
 * writer never blocks on a second lock while holding one, so writers cannot deadlock; a busy
 * stripe only sends the sweep on to the next candidate.
 *
 * An evicted entry that is current goes to the evict hook first (the spill tier), unless it came
 * from disk and was not rewritten since (ON_DISK): it is on disk already.
 */
import {
  arenaOf,
  C_PAGES,
  classAt,
  entryId,
  H_PAGES_USED,
  H_TTL_USED,
  NONE,
  ON_DISK,
  pageBase,
  type PageLayout,
  pageOf,
  PG_BUMP,
  PG_CLASS,
  SLOT_BITS,
  slotOf,
  ST_EVICTIONS,
  ST_EXPIRATIONS,
  STATE_FREE,
  STATE_LIVE,
  STRIPES,
} from './layout.js';
import { ANY_LIST, EVICT, type ReplacementPolicy, T1 } from './policy.js';
import type { Arena } from './arena.js';
import type { Counters } from './counters.js';
import type { FreeSlots } from './free-slots.js';
import type { LockTable } from './lock.js';
import type { Chains } from './types.js';

/** Receives an evicted live entry before its slot is reused; `vector` is only valid during the call. */
export type EvictHook = (key: Int32Array, modelId: number, vector: Float32Array, expiresAt: number) => void;

/** allocate(): no slot now, but a cold page of another class is worth taking (Arena.stealPage). */
const STEAL = -2;

export class Eviction {
  /** Called with each evicted live entry (the spill tier hooks in here). */
  evictHook: EvictHook | null = null;
  private readonly ctl: Int32Array;
  private readonly locks: LockTable;
  private readonly token: number;
  /** Sweep hands, per thread: per policy list per class, and one over all pages. */
  private readonly hands: [number[], number[]] = [[], []];
  private anyHand: number;
  private readonly keyScratch = new Int32Array(4);

  constructor(
    private readonly arena: Arena,
    private readonly free: FreeSlots,
    private readonly chains: Chains,
    private readonly counters: Counters,
    private readonly bucketMask: number,
    private readonly policy: ReplacementPolicy,
  ) {
    this.ctl = arena.ctl;
    this.locks = arena.locks;
    this.token = arena.token;
    this.anyHand = arena.startHand;
  }

  /**
   * A claimed entry of class cls for a new key; NONE if the class has no room, or a negative
   * STEAL if a page of another class should be moved over first. Caller holds `stripe`.
   */
  allocate(cls: number, L: PageLayout, stripe: number): number {
    const arena = this.arena;
    for (let round = 0; round < 4; round++) {
      if (arena.reserve()) {
        const reused = this.free.popFree(cls, L);
        if (reused !== NONE) return reused;
        const fresh = arena.freshSlot(cls, L);
        if (fresh !== NONE) return fresh;
        // Memory is full. A page of another class that went cold is worth more to us than
        // our own coldest entry.
        if (arena.coldForeignPage(cls)) {
          arena.unreserve();
          return STEAL;
        }
        const swept = this.sweep(cls, L, stripe, true);
        if (swept !== NONE) return swept;
        arena.unreserve();
        return NONE;
      }
      // At maxEntries: a victim of this class hands its count over.
      const victim = this.sweep(cls, L, stripe, false);
      if (victim !== NONE) return victim;
      // This class has nothing to give: evict from any class, then reserve again.
      if (!this.evictAny(stripe)) return NONE;
    }
    return NONE;
  }

  /**
   * The sweep over the pages of class cls. Returns an entry claimed for the caller, or NONE after
   * a bounded sweep. With `haveCount` the caller already reserved a count (a free slot is enough);
   * without, only a victim (whose count passes to the caller) or a free slot plus a new
   * reservation will do.
   */
  private sweep(cls: number, L: PageLayout, stripe: number, haveCount: boolean): number {
    const arena = this.arena;
    const policy = this.policy;
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    const classPages = Atomics.load(this.ctl, classAt(cls) + C_PAGES);
    if (classPages === 0 || pagesUsed === 0) return NONE;
    // Each hand goes round at most twice: the first pass gives every entry of its list its second
    // chance, the second finds one without. Past that the other hand goes on alone.
    const budget = 2 * classPages * L.slots + L.slots;
    let steps1 = 0;
    let steps2 = 0;
    policy.beginSweep(cls);
    const now = this.clock();
    let skippedPages = 0;
    while (skippedPages <= 2 * pagesUsed) {
      let list = policy.target();
      if ((list === T1 ? steps1 : steps2) >= budget) list = 1 - list;
      if ((list === T1 ? steps1 : steps2) >= budget) break;
      const hand = list === T1 ? this.hands[0] : this.hands[1];
      let pos = hand[cls] ?? 0;
      let p = pageOf(pos);
      let s = slotOf(pos);
      if (p >= pagesUsed) {
        p = 0;
        s = 0;
      }
      const mem = arena.mem(p),
        base = pageBase(p);
      const used = Math.min(L.slots, Atomics.load(mem, base + PG_BUMP));
      if (mem[base + PG_CLASS] !== cls + 1 || s >= used) {
        hand[cls] = ((p + 1) % pagesUsed) << SLOT_BITS;
        skippedPages++;
        continue;
      }
      skippedPages = 0;
      if (list === T1) steps1++;
      else steps2++;
      pos = s + 1 < used ? entryId(p, s) + 1 : ((p + 1) % pagesUsed) << SLOT_BITS;
      hand[cls] = pos;
      const e = entryId(p, s);
      const st = Atomics.load(mem, base + L.state + s);
      if (st === STATE_FREE) {
        if (!haveCount && !arena.reserve()) continue;
        if (Atomics.compareExchange(mem, base + L.state + s, STATE_FREE, -this.token) === STATE_FREE)
          return e;
        if (!haveCount) arena.unreserve();
        continue;
      }
      if (st !== STATE_LIVE) continue; // claimed by a writer right now
      const current = arena.isCurrent(mem, base, L, s, p, now);
      if (current && policy.visit(mem, base, s, list) !== EVICT) continue;
      if (this.evict(e, stripe, current, now)) {
        if (haveCount) arena.unreserve(); // the victim's count is ours now
        return e;
      }
    }
    return NONE;
  }

  /**
   * Takes live entry e out of its chain and claims it for the caller (state -token). `valid`
   * says whether it is a current, unexpired entry (spilled and counted as an eviction) rather
   * than expired or invalidated. Only if e's stripe lock is free now, or is ours.
   */
  private evict(e: number, ownStripe: number, valid: boolean, now: number): boolean {
    const p = pageOf(e),
      s = slotOf(e);
    const mem = this.arena.mem(p),
      base = pageBase(p);
    const L = this.arena.layoutOfPage(mem, base)!;
    const ki = base + L.key + 4 * s;
    const b = mem[ki]! & this.bucketMask;
    const t = b & (STRIPES - 1);
    if (t !== ownStripe && !this.locks.tryAcquire(t)) return false;
    try {
      // Re-check under the victim's lock: it may have changed since the sweep looked.
      if (Atomics.load(mem, base + L.state + s) !== STATE_LIVE) return false;
      if ((mem[ki]! & this.bucketMask) !== b) return false;
      const stillValid = this.arena.isCurrent(mem, base, L, s, p, now);
      if (stillValid && !valid) return false; // rewritten since the sweep looked: leave it
      this.locks.setIntent(t, e);
      if (stillValid) this.spillOut(arenaOf(p), mem, base, L, s);
      this.chains.unlink(e, b);
      this.free.uncount(mem, base, L, s, stillValid);
      Atomics.store(mem, base + L.state + s, -this.token);
      if (t !== ownStripe) this.locks.setIntent(ownStripe, e);
      if (stillValid) this.counters.add(ST_EVICTIONS);
      else if (this.arena.ofCurrentGen(mem, base, L, s)) this.counters.add(ST_EXPIRATIONS);
      return true;
    } finally {
      if (t !== ownStripe) {
        this.locks.clearIntent(t);
        this.locks.release(t);
      }
    }
  }

  /** Hands a live entry that is leaving memory to the evict hook (the spill tier), if any. */
  private spillOut(a: number, mem: Int32Array, base: number, L: PageLayout, s: number): void {
    // An entry promoted from disk and not rewritten since is on disk already: no second write.
    if (this.evictHook === null || mem[base + L.free + s] === ON_DISK) return;
    const ki = base + L.key + 4 * s;
    const v = base + L.vec + s * L.dims;
    this.keyScratch.set(mem.subarray(ki, ki + 4));
    this.evictHook(
      this.keyScratch,
      mem[base + L.model + s]!,
      this.arena.f32[a]!.subarray(v, v + L.dims),
      this.arena.f64[a]![(base >>> 1) + L.expiryF64 + s]!,
    );
  }

  /**
   * The time expiries are compared with: 0 until any entry has had a TTL (no entry can have
   * expired then, and the clock read costs more than a sweep step).
   */
  private clock(): number {
    return this.ctl[H_TTL_USED] === 0 ? 0 : Date.now();
  }

  /** Evicts one entry of any class to free a count; the slot becomes free in its class. */
  private evictAny(stripe: number): boolean {
    const arena = this.arena;
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    if (pagesUsed === 0) return false;
    const now = this.clock();
    let pos = this.anyHand;
    const budget = 2 * pagesUsed * 64 + 64;
    for (let steps = 0; steps < budget; steps++) {
      let p = pageOf(pos);
      let s = slotOf(pos);
      if (p >= pagesUsed) {
        p = 0;
        s = 0;
      }
      const mem = arena.mem(p),
        base = pageBase(p);
      const L = arena.layoutOfPage(mem, base);
      const used = L === undefined ? 0 : Math.min(L.slots, Atomics.load(mem, base + PG_BUMP));
      if (L === undefined || s >= used) {
        pos = ((p + 1) % pagesUsed) << SLOT_BITS;
        continue;
      }
      pos = s + 1 < used ? pos + 1 : ((p + 1) % pagesUsed) << SLOT_BITS;
      if (Atomics.load(mem, base + L.state + s) !== STATE_LIVE) continue;
      const current = arena.isCurrent(mem, base, L, s, p, now);
      if (current && this.policy.visit(mem, base, s, ANY_LIST) !== EVICT) continue;
      const e = entryId(p, s);
      if (this.evict(e, stripe, current, now)) {
        // The slot is claimed by us: give it back to its class as free.
        this.free.freeSlot(e, mem, base, L, s);
        this.anyHand = pos;
        return true;
      }
    }
    this.anyHand = pos;
    return false;
  }

  /** Reclaims an expired or invalidated entry found by a reader, if its stripe is free now. */
  reclaimIfStale(e: number, b: number, now: number): void {
    const t = b & (STRIPES - 1);
    if (!this.locks.tryAcquire(t)) return;
    try {
      const p = pageOf(e),
        s = slotOf(e);
      const mem = this.arena.mem(p),
        base = pageBase(p);
      const L = this.arena.layoutOfPage(mem, base);
      if (L === undefined || s >= L.slots) return;
      if (
        Atomics.load(mem, base + L.state + s) !== STATE_LIVE ||
        (mem[base + L.key + 4 * s]! & this.bucketMask) !== b
      )
        return;
      if (this.arena.isCurrent(mem, base, L, s, p, now)) return;
      const expired = this.arena.ofCurrentGen(mem, base, L, s);
      this.locks.setIntent(t, e);
      if (!this.chains.unlink(e, b)) return;
      this.free.release(e, mem, base, L, s);
      if (expired) this.counters.add(ST_EXPIRATIONS);
    } finally {
      this.locks.clearIntent(t);
      this.locks.release(t);
    }
  }

  /**
   * Takes every entry off page p (at mem[base…], class layout L) for Arena.stealPage(), which
   * holds every lock: live ones leave like evicted ones (spilled if current), claimed ones are
   * dropped; every count they held is given back.
   */
  emptyPage(p: number, mem: Int32Array, base: number, L: PageLayout, now: number): void {
    const used = Math.min(L.slots, mem[base + PG_BUMP]!);
    for (let s = 0; s < used; s++) {
      const st = mem[base + L.state + s]!;
      if (st === STATE_FREE) continue;
      if (st === STATE_LIVE) {
        const ki = base + L.key + 4 * s;
        const valid = this.arena.isCurrent(mem, base, L, s, p, now);
        if (valid) this.spillOut(arenaOf(p), mem, base, L, s);
        this.chains.unlink(entryId(p, s), mem[ki]! & this.bucketMask);
        this.free.uncount(mem, base, L, s);
        if (valid) this.counters.add(ST_EVICTIONS);
      }
      this.arena.unreserve();
    }
  }
}
