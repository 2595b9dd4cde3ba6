/**
 * Striped write locks that survive the death of their holder.
 *
 * Why a lock at all: writers (set, delete, evict) relink bucket chains and recycle entries;
 * readers never lock (see store.ts). Locks are striped by bucket so writers to different
 * buckets never meet; there is no global lock on the hot path.
 *
 * Why take-over: Piscina terminates a worker on abort, and worker.terminate() stops JavaScript
 * between any two instructions, possibly while the worker holds a lock. A lock word therefore
 * records its owner's token, a stamp bumped on every acquisition, and the owner's *intent* (the
 * one entry it is writing). A waiter that sees the same owner and the same stamp for longer
 * than `lockTimeoutMs` concludes the owner is dead, swaps its own token in with a CAS (so exactly
 * one waiter wins) and repairs the intent entry before going on.
 *
 * Caveat: a live owner paused for longer than the timeout in the middle of a write would lose
 * its lock while still running. Every step the owner takes after acquiring is a CAS on the
 * entry's seq (which the repair changes), so its next step fails and it backs off; only a pause
 * inside a single step is unguarded, hence a default timeout (1 s) far above the microseconds a
 * lock is held.
 */
import { L_INTENT, L_OWNER, L_STAMP, L_WAITERS, LOCK_WORDS, NONE } from './layout.js';

/** Called by the thread that took a dead owner's lock, before it proceeds. */
export type RepairFn = (deadToken: number, intent: number) => void;

export class LockTable {
  private readonly spinLimit = 100;

  constructor(
    private readonly ctl: Int32Array,
    /** Word index of lock record 0. */
    private readonly base: number,
    private readonly token: number,
    private readonly timeoutMs: number,
    private readonly repair: RepairFn,
    private readonly onTakeover: () => void,
  ) {}

  private word(lock: number): number {
    return this.base + lock * LOCK_WORDS;
  }

  tryAcquire(lock: number): boolean {
    const w = this.word(lock);
    if (Atomics.compareExchange(this.ctl, w + L_OWNER, 0, this.token) !== 0) return false;
    // Plain write: only the owner writes the stamp, and a waiter only needs to see it move.
    this.ctl[w + L_STAMP]!++;
    return true;
  }

  acquire(lock: number): void {
    if (this.tryAcquire(lock)) return;
    const ctl = this.ctl;
    const w = this.word(lock);
    let seenOwner = 0;
    let seenStamp = 0;
    let since = 0;
    for (let spins = 0; ; spins++) {
      const owner = Atomics.compareExchange(ctl, w + L_OWNER, 0, this.token);
      if (owner === 0) {
        ctl[w + L_STAMP]!++;
        return;
      }
      if (spins < this.spinLimit) continue;
      const stamp = Atomics.load(ctl, w + L_STAMP);
      const now = performance.now();
      if (owner !== seenOwner || stamp !== seenStamp) {
        seenOwner = owner;
        seenStamp = stamp;
        since = now;
      } else if (now - since > this.timeoutMs) {
        if (Atomics.compareExchange(ctl, w + L_OWNER, owner, this.token) === owner) {
          Atomics.add(ctl, w + L_STAMP, 1);
          this.onTakeover();
          const intent = Atomics.load(ctl, w + L_INTENT);
          if (intent !== NONE) this.repair(owner, intent);
          this.clearIntent(lock);
          return;
        }
        continue;
      }
      // Sleep until the owner releases (it notifies when someone waits) or 1 ms passes.
      Atomics.add(ctl, w + L_WAITERS, 1);
      Atomics.wait(ctl, w + L_OWNER, owner, 1);
      Atomics.sub(ctl, w + L_WAITERS, 1);
    }
  }

  /** Returns false if the lock had been taken over (this thread was presumed dead). */
  release(lock: number): boolean {
    const w = this.word(lock);
    const ok = Atomics.compareExchange(this.ctl, w + L_OWNER, this.token, 0) === this.token;
    // A plain read: a waiter whose increment we miss sleeps out its 1 ms wait and retries.
    if (this.ctl[w + L_WAITERS]! > 0) Atomics.notify(this.ctl, w + L_OWNER, 1);
    return ok;
  }

  /**
   * Records the entry this owner is about to write, before any change to it. Plain stores: the
   * change that follows always starts with a compare-exchange (on the entry's seq or state),
   * which orders them before it, and the lock's owner word is the only other thing a taker reads.
   */
  setIntent(lock: number, entry: number): void {
    this.ctl[this.word(lock) + L_INTENT] = entry;
  }

  clearIntent(lock: number): void {
    this.ctl[this.word(lock) + L_INTENT] = NONE;
  }

  /** Initial state of every lock record (intent NONE); called once by the creating thread. */
  static init(ctl: Int32Array, base: number, count: number): void {
    for (let i = 0; i < count; i++) ctl[base + i * LOCK_WORDS + L_INTENT] = NONE;
  }
}
