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
 * One death, one timeout: a dead thread may hold many locks (clear() and a page steal hold all
 * 1,024 stripes). The first take-over writes the dead token into a small shared ring (DEAD_SLOTS
 * tokens); a waiter whose lock is held by a token in the ring takes it over at once instead of
 * waiting out the timeout again, so recovery costs about one lockTimeoutMs whatever the dead
 * thread held. An owner that was only slow finds out at its next release (the CAS fails) and
 * takes its token out of the ring before it goes on.
 *
 * Caveat: a live owner paused for longer than the timeout in the middle of a write would lose
 * its lock while still running. Every step the owner takes after acquiring is a CAS on the
 * entry's seq (which the repair changes), so its next step fails and it backs off; only a pause
 * inside a single step is unguarded, hence a default timeout (1 s) far above the microseconds a
 * lock is held.
 */
import { DEAD_SLOTS, L_INTENT, L_OWNER, L_STAMP, L_WAITERS, LOCK_WORDS, NONE } from './layout.js';

/** Called by the thread that took a dead owner's lock, before it proceeds. */
export type RepairFn = (deadToken: number, intent: number) => void;

export class LockTable {
  private readonly spinLimit = 100;
  /** tryAcquireOrTakeOver(): per busy lock, the owner and stamp this thread saw and since when. */
  private readonly seen = new Map<number, { owner: number; stamp: number; since: number }>();

  constructor(
    private readonly ctl: Int32Array,
    /** Word index of lock record 0. */
    private readonly base: number,
    /** Word index of the dead-token ring: a cursor, then DEAD_SLOTS tokens (all in ctl). */
    private readonly deadRing: number,
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
      if (this.isDead(owner) && this.takeOver(lock, owner)) return;
      const stamp = Atomics.load(ctl, w + L_STAMP);
      const now = performance.now();
      if (owner !== seenOwner || stamp !== seenStamp) {
        seenOwner = owner;
        seenStamp = stamp;
        since = now;
      } else if (now - since > this.timeoutMs) {
        if (this.takeOver(lock, owner)) return;
        continue;
      }
      // Sleep until the owner releases (it notifies when someone waits) or 1 ms passes.
      Atomics.add(ctl, w + L_WAITERS, 1);
      Atomics.wait(ctl, w + L_OWNER, owner, 1);
      Atomics.sub(ctl, w + L_WAITERS, 1);
    }
  }

  /**
   * acquire() for callers that must not block (async code): takes `lock` if it is free within
   * `spins` tries, or takes it over if its owner and stamp have not changed for timeoutMs across
   * calls; otherwise returns false at once and the caller retries later.
   */
  tryAcquireOrTakeOver(lock: number, spins: number): boolean {
    for (let i = 0; i < spins; i++) if (this.tryAcquire(lock)) return true;
    const w = this.word(lock);
    const owner = Atomics.load(this.ctl, w + L_OWNER);
    if (owner === 0) return false;
    if (this.isDead(owner)) return this.takeOver(lock, owner);
    const stamp = Atomics.load(this.ctl, w + L_STAMP);
    const now = performance.now();
    const seen = this.seen.get(lock);
    if (seen === undefined || seen.owner !== owner || seen.stamp !== stamp) {
      this.seen.set(lock, { owner, stamp, since: now });
      return false;
    }
    if (now - seen.since <= this.timeoutMs || !this.takeOver(lock, owner)) return false;
    this.seen.delete(lock);
    return true;
  }

  /** Swaps our token in for a dead owner's, then repairs its intent. False if another waiter won. */
  private takeOver(lock: number, owner: number): boolean {
    const w = this.word(lock);
    if (Atomics.compareExchange(this.ctl, w + L_OWNER, owner, this.token) !== owner) return false;
    Atomics.add(this.ctl, w + L_STAMP, 1);
    if (!this.isDead(owner)) this.markDead(owner);
    this.onTakeover();
    const intent = Atomics.load(this.ctl, w + L_INTENT);
    if (intent !== NONE) this.repair(owner, intent);
    this.clearIntent(lock);
    return true;
  }

  /** Returns false if the lock had been taken over (this thread was presumed dead). */
  release(lock: number): boolean {
    const w = this.word(lock);
    const ok = Atomics.compareExchange(this.ctl, w + L_OWNER, this.token, 0) === this.token;
    if (!ok) this.unmarkDead(); // we were only slow: our other locks are ours again
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

  /** Whether `token` is in the dead-token ring. Only on slow paths (a lock found busy). */
  private isDead(token: number): boolean {
    const r = this.deadRing + 1;
    for (let i = 0; i < DEAD_SLOTS; i++) if (Atomics.load(this.ctl, r + i) === token) return true;
    return false;
  }

  private markDead(token: number): void {
    const at = Atomics.add(this.ctl, this.deadRing, 1) % DEAD_SLOTS;
    Atomics.store(this.ctl, this.deadRing + 1 + at, token);
  }

  private unmarkDead(): void {
    const r = this.deadRing + 1;
    for (let i = 0; i < DEAD_SLOTS; i++) Atomics.compareExchange(this.ctl, r + i, this.token, 0);
  }

  /** Initial state of every lock record (intent NONE); called once by the creating thread. */
  static init(ctl: Int32Array, base: number, count: number): void {
    for (let i = 0; i < count; i++) ctl[base + i * LOCK_WORDS + L_INTENT] = NONE;
  }
}
