/**
 * Recovery from a writer that died holding a lock, and the structural check tests run.
 *
 * Why: Piscina terminates a worker on abort, and worker.terminate() can stop a writer between any
 * two instructions (lock.ts). The thread that takes over its lock calls repair() on the one entry
 * the dead writer recorded as its intent, before going on; that keeps every chain readable. What
 * the intent cannot name — a slot claimed and never linked, a count reserved and never used — is
 * fixed by fsck(), which the taking thread runs once it holds no lock (needsFsck); so is a page
 * a writer left mid-clear or mid-steal (its epoch odd, which would shut readers out). Until then the
 * counters may be off by one; memory safety and the maxEntries/maxBytes bounds never depend on it.
 */
import {
  BUCKETS,
  entryId,
  H_OCCUPIED,
  H_PAGES_USED,
  H_STALE,
  M_LIVE,
  MAX_CLASSES,
  MAX_MODELS,
  modelAt,
  NONE,
  pageBase,
  pageOf,
  PAGE_WORDS,
  PG_BUMP,
  PG_CLASS,
  PG_EPOCH,
  PG_REF,
  SLOT_BITS,
  slotOf,
  STATE_FREE,
  STATE_LIVE,
} from './layout.js';
import type { Arena } from './arena.js';
import type { FreeSlots } from './free-slots.js';
import type { Chains } from './types.js';
import type { ReplacementPolicy } from './policy.js';

/** fsck(): unfinished or misplaced entries skipped in a row before a chain is cut there. */
const MAX_SKIPS = 64;

export class Recovery {
  /** Set when this thread took over a dead writer's lock: run fsck() once no lock is held. */
  needsFsck = false;
  private readonly ctl: Int32Array;

  constructor(
    private readonly arena: Arena,
    private readonly free: FreeSlots,
    private readonly chains: Chains,
    private readonly bucketMask: number,
    private readonly policy: ReplacementPolicy,
  ) {
    this.ctl = arena.ctl;
  }

  /**
   * Repairs entry e after taking over the lock of a dead owner (token `dead`): an entry the
   * owner had claimed but not finished, or was rewriting (seq odd), is unlinked and freed.
   * A complete live entry is left as it is.
   */
  repair(dead: number, e: number): void {
    const p = pageOf(e),
      s = slotOf(e);
    if (p >= Atomics.load(this.ctl, H_PAGES_USED)) return;
    const mem = this.arena.mem(p),
      base = pageBase(p);
    const L = this.arena.layoutOfPage(mem, base);
    if (L === undefined || s >= L.slots) return;
    const st = Atomics.load(mem, base + L.state + s);
    const seq = Atomics.load(mem, base + L.seq + s);
    const b = mem[base + L.key + 4 * s]! & this.bucketMask;
    if (st === -dead) {
      // Claimed, perhaps linked: its key is whole if it was linked (keys are written first).
      this.chains.unlink(e, b);
      this.free.freeSlot(e, mem, base, L, s);
    } else if (st === STATE_LIVE && (seq & 1) !== 0) {
      // Rewritten in place and cut off mid-copy: the vector is torn, drop the entry.
      this.chains.unlink(e, b);
      this.free.release(e, mem, base, L, s);
    }
  }

  /**
   * Integrity pass after a take-over. A writer killed mid-operation can leave a slot claimed by a
   * dead token that no intent points at, or a count reserved and never used: repair() fixes the
   * one entry the lock names, this fixes the rest. Under every lock (so no write is in flight and
   * every claimed slot belongs to a dead thread) it walks the chains, frees every slot in use that
   * no chain reaches, and recounts occupied, live-per-model and stale from what is linked.
   * O(entries), and it only ever runs after a thread died holding a lock.
   */
  fsck(): void {
    this.needsFsck = false;
    const arena = this.arena;
    arena.acquireAll();
    try {
      const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
      // A page left with an odd epoch: its writer died inside clear() or a page steal, and every
      // reader of the page would retry for ever. Its entries may be half-erased: drop them all
      // (the chain walk below unlinks them, the sweep reuses their slots), then reopen the page.
      for (let p = 0; p < pagesUsed; p++) {
        const mem = arena.mem(p),
          base = pageBase(p);
        if ((Atomics.load(mem, base + PG_EPOCH) & 1) === 0) continue;
        mem.fill(0, base + PG_REF, base + PAGE_WORDS);
        Atomics.add(mem, base + PG_EPOCH, 1);
      }
      const linked = new Uint8Array((pagesUsed * (1 << SLOT_BITS)) >>> 3);
      const live = new Int32Array(MAX_MODELS);
      const t1 = new Int32Array(MAX_CLASSES);
      const t2 = new Int32Array(MAX_CLASSES);
      let occupied = 0;
      let stale = 0;
      for (let b = 0; b < arena.parts.buckets; b++) {
        let prev = NONE;
        let e = this.ctl[BUCKETS + b]!;
        // Entries skipped in a row: a half-erased page links entries to entry 0 (a zeroed link),
        // which can loop without ever reaching a linked entry; past MAX_SKIPS the chain is cut.
        let skipped = 0;
        while (e !== NONE) {
          const p = pageOf(e),
            s = slotOf(e);
          const mem = p < pagesUsed ? arena.mem(p) : undefined;
          const base = pageBase(p);
          const L = mem === undefined ? undefined : arena.layoutOfPage(mem, base);
          const bit = entryId(p, s);
          if (
            mem === undefined ||
            L === undefined ||
            s >= L.slots ||
            (linked[bit >>> 3]! & (1 << (bit & 7))) !== 0 ||
            skipped > MAX_SKIPS
          ) {
            // A link to nowhere (or a cycle): cut the chain here.
            if (prev === NONE) this.ctl[BUCKETS + b] = NONE;
            else this.chains.setNext(prev, NONE);
            break;
          }
          const next = mem[base + L.next + s]!;
          const ok =
            mem[base + L.state + s] === STATE_LIVE &&
            (mem[base + L.seq + s]! & 1) === 0 &&
            (mem[base + L.key + 4 * s]! & this.bucketMask) === b;
          if (!ok) {
            // Unfinished or misplaced: unlink; the page walk below frees it.
            if (prev === NONE) this.ctl[BUCKETS + b] = next;
            else this.chains.setNext(prev, next);
            e = next;
            skipped++;
            continue;
          }
          skipped = 0;
          linked[bit >>> 3]! |= 1 << (bit & 7);
          occupied++;
          if (arena.ofCurrentGen(mem, base, L, s)) live[mem[base + L.model + s]!]!++;
          else stale++;
          const cls = mem[base + PG_CLASS]! - 1;
          if (this.policy.inT2(mem, base, s)) t2[cls]!++;
          else t1[cls]!++;
          prev = e;
          e = next;
        }
      }
      for (let p = 0; p < pagesUsed; p++) {
        const mem = arena.mem(p),
          base = pageBase(p);
        const L = arena.layoutOfPage(mem, base);
        if (L === undefined) continue;
        const used = Math.min(L.slots, mem[base + PG_BUMP]!);
        for (let s = 0; s < used; s++) {
          const e = entryId(p, s);
          if ((linked[e >>> 3]! & (1 << (e & 7))) !== 0 || mem[base + L.state + s] === STATE_FREE) continue;
          // (freeSlot also gives back its count: the recount below overwrites H_OCCUPIED anyway.)
          this.free.freeSlot(e, mem, base, L, s);
        }
      }
      Atomics.store(this.ctl, H_OCCUPIED, occupied);
      Atomics.store(this.ctl, H_STALE, stale);
      for (let m = 0; m < MAX_MODELS; m++) Atomics.store(this.ctl, modelAt(m) + M_LIVE, live[m]!);
      this.policy.recount(t1, t2);
    } finally {
      arena.releaseAll();
    }
  }

  /**
   * For tests: checks structural invariants and returns a list of violations (empty = fine).
   * `exactPolicy`: the replacement policy's counts must match the linked entries (policy.ts, check).
   */
  checkInvariants(exactPolicy = false): string[] {
    const arena = this.arena;
    const problems: string[] = [];
    const occupied = Atomics.load(this.ctl, H_OCCUPIED);
    if (occupied > arena.maxEntries) problems.push(`occupied ${occupied} > maxEntries ${arena.maxEntries}`);
    if (arena.memoryBytes() > arena.maxBytes())
      problems.push(`memory ${arena.memoryBytes()} > bound ${arena.maxBytes()}`);
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    for (let p = 0; p < pagesUsed; p++) {
      if ((Atomics.load(arena.mem(p), pageBase(p) + PG_EPOCH) & 1) !== 0)
        problems.push(`page ${p}: odd epoch`);
    }
    let linked = 0;
    const t1 = new Int32Array(MAX_CLASSES);
    const t2 = new Int32Array(MAX_CLASSES);
    for (let b = 0; b < arena.parts.buckets; b++) {
      let e = this.ctl[BUCKETS + b]!;
      for (let steps = 0; e !== NONE; steps++) {
        if (steps > 1_000_000) {
          problems.push(`bucket ${b}: cycle`);
          break;
        }
        const p = pageOf(e),
          s = slotOf(e);
        const mem = arena.mem(p),
          base = pageBase(p);
        const L = arena.layoutOfPage(mem, base);
        if (L === undefined) {
          problems.push(`bucket ${b}: entry ${e} on an unassigned page`);
          break;
        }
        if ((mem[base + L.key + 4 * s]! & this.bucketMask) !== b)
          problems.push(`entry ${e} in wrong bucket ${b}`);
        if (mem[base + L.state + s] !== STATE_LIVE)
          problems.push(`entry ${e} linked but state ${mem[base + L.state + s]}`);
        if ((mem[base + L.seq + s]! & 1) !== 0) problems.push(`entry ${e} linked with odd seq`);
        if (this.policy.inT2(mem, base, s)) t2[mem[base + PG_CLASS]! - 1]!++;
        else t1[mem[base + PG_CLASS]! - 1]!++;
        linked++;
        e = mem[base + L.next + s]!;
      }
    }
    if (linked !== occupied) problems.push(`linked entries ${linked} != occupied ${occupied}`);
    problems.push(...this.policy.check(t1, t2, exactPolicy));
    return problems;
  }
}
