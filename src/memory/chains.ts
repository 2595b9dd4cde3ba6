/**
 * The hash index's chains: bucket → first entry id → next → … (the links live in the entries,
 * layout.ts). The edits writers make while they hold the chain's stripe lock: find a key, unlink
 * an entry, relink. Readers walk the same chains without a lock (store.ts, probe), which is why
 * every link store here is an Atomics.store: a reader sees the old link or the new one, never a
 * torn word, and a walk that wanders off ends as a miss.
 */
import type { Arena } from './arena.js';
import { BUCKETS, NONE, pageBase, pageOf, slotOf } from './layout.js';
import type { Chains } from './types.js';

/** Longest chain a writer walks before it gives up (a cycle left by a dead writer, say). */
const MAX_WRITER_STEPS = 256 * 64;

export class IndexChains implements Chains {
  constructor(
    private readonly arena: Arena,
    private readonly ctl: Int32Array,
  ) {}

  /** Entry of key k in bucket b's chain, or NONE. Caller holds the bucket's stripe lock. */
  find(b: number, k: Int32Array, ko: number): number {
    const k0 = k[ko]!,
      k1 = k[ko + 1]!,
      k2 = k[ko + 2]!,
      k3 = k[ko + 3]!;
    let e = this.ctl[BUCKETS + b]!; // plain: every writer of this chain holds our lock
    for (let steps = 0; e !== NONE && steps < MAX_WRITER_STEPS; steps++) {
      const p = pageOf(e),
        s = slotOf(e);
      const mem = this.arena.mem(p),
        base = pageBase(p);
      const L = this.arena.layoutOfPage(mem, base)!;
      const ki = base + L.key + 4 * s;
      if (mem[ki] === k0 && mem[ki + 1] === k1 && mem[ki + 2] === k2 && mem[ki + 3] === k3) return e;
      e = mem[base + L.next + s]!;
    }
    return NONE;
  }

  /** Removes e from bucket b's chain if it is there. Caller holds b's stripe lock. */
  unlink(e: number, b: number): boolean {
    let prev = NONE;
    let cur = Atomics.load(this.ctl, BUCKETS + b);
    for (let steps = 0; cur !== NONE && steps < MAX_WRITER_STEPS; steps++) {
      const p = pageOf(cur),
        s = slotOf(cur);
      const mem = this.arena.mem(p),
        base = pageBase(p);
      const next = mem[base + this.arena.layoutOfPage(mem, base)!.next + s]!;
      if (cur === e) {
        if (prev === NONE) Atomics.store(this.ctl, BUCKETS + b, next);
        else this.setNext(prev, next);
        return true;
      }
      prev = cur;
      cur = next;
    }
    return false;
  }

  /** Points e's chain link at `next`. Caller holds e's stripe lock (or every lock). */
  setNext(e: number, next: number): void {
    const p = pageOf(e),
      s = slotOf(e);
    const mem = this.arena.mem(p),
      base = pageBase(p);
    Atomics.store(mem, base + this.arena.layoutOfPage(mem, base)!.next + s, next);
  }
}
