/**
 * The single-flight table: which keys some thread is embedding right now, shared by every
 * thread attached to a cache (the `handle.inflight` SharedArrayBuffer). getOrCompute claims a
 * key before it pays the model for it; a second caller (same thread or another) that finds the
 * key claimed waits for the release and then reads the cache instead of embedding it again.
 *
 *   words  [0, 16)        counters (claims, waits, take-overs, table-full fallbacks), and
 *                         the claim locks' dead-token ring
 *          [16, 1040)     64 claim locks, one cache line each (memory/lock.ts records:
 *                         owner token, stamp, intent = the slot being reserved)
 *          [1040, …)      slots × 9 words:
 *                         ┌───────┬─────┬────────────────┬───────┬──────────┬─────────┐
 *                         │ state │ gen │ key (4 words)  │ owner │ deadline │ waiters │
 *                         └───────┴─────┴────────────────┴───────┴──────────┴─────────┘
 *   state:  0 free · -(lock + 1) reserved by the holder of claim lock `lock` · g > 0 claimed,
 *           g = the claim's generation (unique per slot, so a stale waiter or a late release
 *           can never mistake a later claim for the one it saw).
 *
 * Placement. A key's home slot is its first word modulo the slot count; it lives somewhere in
 * the PROBE_WINDOW slots from there (bounded probing, no tombstones: a released slot is simply
 * free). Claiming must be atomic per key — two threads that both scan the window, both find the
 * key absent and both take a free slot would both embed it — so every claim of a key runs under
 * the claim lock of its home (home mod CLAIM_LOCKS). The lock is held for one window scan and a
 * few stores, never across an await; release, renewal and take-over need no lock (each is one
 * CAS on the slot's state). Keys with other homes may race for the same free slot; the CAS
 * free → reserved decides, and the key is written before the state turns positive, so a
 * scanner that sees a claimed state (and the same state again after reading the key) has read
 * that claim's key.
 *
 * A computer can die (a terminated worker) at any instruction, so nothing waits for ever:
 * - A claim carries a deadline (a lease, renewed by the owner before each embed batch). A
 *   waiter whose own wait timed out, or that sees the lease expired, takes the claim over:
 *   it CASes the deadline (that elects one taker) and then the state to the next generation, so
 *   the old owner's release or renewal fails harmlessly and the new owner computes.
 * - The claim locks are the store's lock records (memory/lock.ts), taken without blocking
 *   (tryAcquireOrTakeOver): one whose (owner, stamp) has not changed for lockTimeoutMs is taken
 *   over; its intent names the one slot the dead holder may have left reserved, and the taker
 *   frees it.
 * - If the window is full (every slot claimed by a live claim) the caller computes without
 *   single-flight: the table may cost an extra embedding, never an error or a hang.
 *
 * Deadlines are milliseconds of Date.now() truncated to int32 and compared by wrapping
 * difference, which is exact for leases under 24 days.
 *
 * Waiting must not block the main thread: waiters sleep with Atomics.waitAsync on the slot's
 * state (a release notifies it when the waiters word is non-zero) raced with a setTimeout, which
 * both bounds the wait (a missed notification costs at most POLL_MS) and keeps Node's event
 * loop alive — a pending waitAsync alone does not. Where waitAsync is missing, the timer polls.
 *
 * Caveat: as with the store's locks, a live owner paused past its lease loses its claim; the
 * taker then embeds the same text again and both store the same vector (a wasted model call,
 * not a wrong answer).
 */

import { LockTable } from '../memory/lock.js';
import { LOCK_WORDS } from '../memory/layout.js';

// ── layout (int32 words) ─────────────────────────────────────────────────────────────────────
/** Counters, one line. */
const I_CLAIMS = 0;
const I_WAITS = 1;
const I_TAKEOVERS = 2;
const I_FULL = 3;
const I_LOCK_TAKEOVERS = 4;
/** The claim locks' dead-token ring (memory/lock.ts): a cursor, then DEAD_SLOTS tokens. */
const I_DEAD_RING = 6;
const HEADER_WORDS = 16;

/** Claim locks: striped by home slot so claims of unrelated keys rarely meet. */
export const CLAIM_LOCKS = 64;
export const LOCKS_BASE = HEADER_WORDS;

/** Slot record: 9 words (state, gen, 4 key words, owner, deadline, waiters). */
export const SLOT_WORDS = 9;
export const S_STATE = 0;
const S_GEN = 1;
const S_KEY = 2;
const S_OWNER = 6;
const S_DEADLINE = 7;
const S_WAITERS = 8;
export const SLOTS_BASE = LOCKS_BASE + CLAIM_LOCKS * LOCK_WORDS;

/** Slots probed from a key's home: bounds the cost of a claim and of a lookup of a held key. */
export const PROBE_WINDOW = 32;
/** Generations wrap below 2^30 and stay positive. */
const GEN_LIMIT = 2 ** 30;
/** Tries of a busy claim lock before the claim reports BUSY (the holder needs well under a µs). */
const LOCK_SPINS = 64;
/** Longest sleep of a waiter between two looks at the slot. */
export const POLL_MS = 50;

// ── claim results ────────────────────────────────────────────────────────────────────────────
/** The caller holds the claim: out[0] = slot, out[1] = claim state. */
export const CLAIMED = 1;
/** Another claim holds the key: out[0] = slot, out[1] = its state; wait() for it. */
export const HELD = 2;
/** No free slot in the key's window: compute without single-flight. */
export const FULL = 3;
/** The key's claim lock is busy (or its holder died and the lock is not yet stale): retry shortly. */
export const BUSY = 4;

export interface InflightCounters {
  claims: number;
  waits: number;
  takeovers: number;
  full: number;
  lockTakeovers: number;
}

/** The state of a slot reserved (not yet published) by the holder of claim lock `lock`. */
function reservedBy(lock: number): number {
  return -(lock + 1);
}

function now32(): number {
  return Date.now() | 0;
}

/** ms left until deadline `d` (negative when past), by wrapping int32 difference. */
function msUntil(d: number): number {
  return (d - now32()) | 0;
}

const waitAsync: typeof Atomics.waitAsync | undefined = (Atomics as { waitAsync?: typeof Atomics.waitAsync })
  .waitAsync;

export class InflightTable {
  readonly slots: number;
  private readonly i32: Int32Array;
  private readonly locks: LockTable;

  /** A new, empty table of `bytes` bytes to share between threads (cache.handle.inflight). */
  static create(bytes: number): SharedArrayBuffer {
    const buffer = new SharedArrayBuffer(bytes);
    LockTable.init(new Int32Array(buffer), LOCKS_BASE, CLAIM_LOCKS);
    return buffer;
  }

  constructor(
    buffer: SharedArrayBuffer,
    /** This instance's owner token (non-zero, unique per attached cache instance). */
    token: number,
    /** How long a claim lock may stay unchanged before its holder is presumed dead. */
    lockTimeoutMs: number,
  ) {
    this.i32 = new Int32Array(buffer);
    this.slots = Math.floor((this.i32.length - SLOTS_BASE) / SLOT_WORDS);
    if (this.slots < PROBE_WINDOW) {
      throw new RangeError(
        `the single-flight buffer (${buffer.byteLength} bytes) is too small: it needs room for at least ${PROBE_WINDOW} slots.`,
      );
    }
    if (token === 0) throw new RangeError('owner token must be non-zero');
    const m = this.i32;
    this.locks = new LockTable(
      m,
      LOCKS_BASE,
      I_DEAD_RING,
      token,
      lockTimeoutMs,
      // The dead holder may have reserved one slot and never published it: free it.
      (_dead, slot) => {
        if (slot >= 0 && slot < this.slots)
          Atomics.compareExchange(m, this.base(slot) + S_STATE, reservedBy(slot % CLAIM_LOCKS), 0);
      },
      () => Atomics.add(m, I_LOCK_TAKEOVERS, 1),
    );
    this.token = token;
  }

  private readonly token: number;

  private base(slot: number): number {
    return SLOTS_BASE + slot * SLOT_WORDS;
  }

  /**
   * Claims the 128-bit key at keys[at..at+4) for `leaseMs`. Returns CLAIMED, HELD, FULL or BUSY;
   * for CLAIMED and HELD, out[outAt] is the slot and out[outAt + 1] the claim's state (pass both
   * to release(), renew() or wait()).
   */
  claim(keys: Int32Array, at: number, leaseMs: number, out: Int32Array, outAt: number): number {
    const home = (keys[at]! >>> 0) % this.slots;
    const lock = home % CLAIM_LOCKS;
    if (!this.locks.tryAcquireOrTakeOver(lock, LOCK_SPINS)) return BUSY;
    try {
      return this.claimLocked(keys, at, home, lock, leaseMs, out, outAt);
    } finally {
      this.locks.clearIntent(lock);
      this.locks.release(lock);
    }
  }

  private claimLocked(
    keys: Int32Array,
    at: number,
    home: number,
    lock: number,
    leaseMs: number,
    out: Int32Array,
    outAt: number,
  ): number {
    const m = this.i32;
    const k0 = keys[at]!,
      k1 = keys[at + 1]!,
      k2 = keys[at + 2]!,
      k3 = keys[at + 3]!;
    let free = -1;
    let stale = -1;
    for (let j = 0, s = home; j < PROBE_WINDOW; j++, s = s + 1 === this.slots ? 0 : s + 1) {
      const b = this.base(s);
      const st = Atomics.load(m, b + S_STATE);
      if (st > 0) {
        if (
          m[b + S_KEY] === k0 &&
          m[b + S_KEY + 1] === k1 &&
          m[b + S_KEY + 2] === k2 &&
          m[b + S_KEY + 3] === k3 &&
          Atomics.load(m, b + S_STATE) === st
        ) {
          out[outAt] = s;
          out[outAt + 1] = st;
          return HELD;
        }
        if (stale < 0 && msUntil(Atomics.load(m, b + S_DEADLINE)) < 0) stale = s;
      } else if (st === 0 && free < 0) {
        free = s;
      }
    }
    const reserved = reservedBy(lock);
    // A free slot; the CAS can lose to a claimer of another home, then look further.
    for (let j = 0, s = home; j < PROBE_WINDOW && free >= 0; j++, s = s + 1 === this.slots ? 0 : s + 1) {
      if (Atomics.load(m, this.base(s) + S_STATE) !== 0) continue;
      this.locks.setIntent(lock, s);
      if (Atomics.compareExchange(m, this.base(s) + S_STATE, 0, reserved) === 0)
        return this.publish(s, keys, at, leaseMs, out, outAt);
    }
    // No free slot: reuse a claim whose lease ran out (its owner is dead or far too slow).
    if (stale >= 0) {
      const b = this.base(stale);
      const st = Atomics.load(m, b + S_STATE);
      const d = Atomics.load(m, b + S_DEADLINE);
      if (
        st > 0 &&
        msUntil(d) < 0 &&
        Atomics.compareExchange(m, b + S_DEADLINE, d, (now32() + leaseMs) | 0) === d
      ) {
        this.locks.setIntent(lock, stale);
        if (Atomics.compareExchange(m, b + S_STATE, st, reserved) === st) {
          Atomics.add(m, I_TAKEOVERS, 1);
          this.wake(b);
          return this.publish(stale, keys, at, leaseMs, out, outAt);
        }
      }
    }
    Atomics.add(m, I_FULL, 1);
    return FULL;
  }

  /** Fills a slot this thread reserved and makes the claim visible. */
  private publish(
    s: number,
    keys: Int32Array,
    at: number,
    leaseMs: number,
    out: Int32Array,
    outAt: number,
  ): number {
    const m = this.i32;
    const b = this.base(s);
    const gen = (Atomics.load(m, b + S_GEN) % GEN_LIMIT) + 1;
    m[b + S_KEY] = keys[at]!;
    m[b + S_KEY + 1] = keys[at + 1]!;
    m[b + S_KEY + 2] = keys[at + 2]!;
    m[b + S_KEY + 3] = keys[at + 3]!;
    Atomics.store(m, b + S_OWNER, this.token);
    Atomics.store(m, b + S_DEADLINE, (now32() + leaseMs) | 0);
    Atomics.store(m, b + S_GEN, gen);
    Atomics.store(m, b + S_STATE, gen); // the key and deadline above are visible to whoever sees this
    Atomics.add(m, I_CLAIMS, 1);
    out[outAt] = s;
    out[outAt + 1] = gen;
    return CLAIMED;
  }

  /** Ends claim `state` on `slot` and wakes its waiters. False if it had been taken over. */
  release(slot: number, state: number): boolean {
    const b = this.base(slot);
    const ok = Atomics.compareExchange(this.i32, b + S_STATE, state, 0) === state;
    if (ok) this.wake(b);
    return ok;
  }

  /** Extends the lease of claim `state` on `slot`; false if the claim is no longer ours. */
  renew(slot: number, state: number, leaseMs: number): boolean {
    const b = this.base(slot);
    if (Atomics.load(this.i32, b + S_STATE) !== state) return false;
    Atomics.store(this.i32, b + S_DEADLINE, (now32() + leaseMs) | 0);
    return Atomics.load(this.i32, b + S_STATE) === state;
  }

  /**
   * Takes claim `state` on `slot` over: only once its lease ran out, or at once with `force`.
   * Returns the new claim state (this thread now owns it), or 0 if the claim changed meanwhile
   * or another waiter took it first.
   */
  takeOver(slot: number, state: number, leaseMs: number, force: boolean): number {
    const m = this.i32;
    const b = this.base(slot);
    const d = Atomics.load(m, b + S_DEADLINE);
    if (Atomics.load(m, b + S_STATE) !== state) return 0;
    if (!force && msUntil(d) >= 0) return 0;
    let nd = (now32() + leaseMs) | 0;
    if (nd === d) nd = (nd + 1) | 0;
    if (Atomics.compareExchange(m, b + S_DEADLINE, d, nd) !== d) return 0; // another taker won
    const next = (state % GEN_LIMIT) + 1;
    if (Atomics.compareExchange(m, b + S_STATE, state, next) !== state) return 0; // released meanwhile
    Atomics.store(m, b + S_GEN, next);
    Atomics.store(m, b + S_OWNER, this.token);
    Atomics.add(m, I_TAKEOVERS, 1);
    this.wake(b);
    return next;
  }

  /**
   * Waits, without blocking the thread, until claim `state` on `slot` ends. Resolves 0 when it
   * ended (read the cache: a hit if the owner succeeded), or a new claim state when this thread
   * took the claim over — because the lease ran out, or because `until` (a Date.now() time)
   * passed — and must now compute the key itself.
   */
  async wait(slot: number, state: number, until: number, leaseMs: number): Promise<number> {
    const m = this.i32;
    const b = this.base(slot);
    Atomics.add(m, I_WAITS, 1);
    for (;;) {
      if (Atomics.load(m, b + S_STATE) !== state) return 0;
      const left = until - Date.now();
      const taken = this.takeOver(slot, state, leaseMs, left <= 0);
      if (taken > 0) return taken;
      const lease = msUntil(Atomics.load(m, b + S_DEADLINE));
      await this.sleepOn(b + S_STATE, state, Math.max(1, Math.min(POLL_MS, left, lease + 1)));
    }
  }

  private sleepOn(index: number, value: number, ms: number): Promise<void> {
    const m = this.i32;
    const w = index - S_STATE + S_WAITERS;
    Atomics.add(m, w, 1);
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        Atomics.sub(m, w, 1);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      if (waitAsync !== undefined) {
        const r = waitAsync(m, index, value, ms);
        if (r.async) void r.value.then(finish);
        else finish();
      }
    });
  }

  private wake(slotBase: number): void {
    if (Atomics.load(this.i32, slotBase + S_WAITERS) > 0) Atomics.notify(this.i32, slotBase + S_STATE);
  }

  // ── inspection (tests, demo) ───────────────────────────────────────────────────────────────

  counters(): InflightCounters {
    const m = this.i32;
    return {
      claims: Atomics.load(m, I_CLAIMS),
      waits: Atomics.load(m, I_WAITS),
      takeovers: Atomics.load(m, I_TAKEOVERS),
      full: Atomics.load(m, I_FULL),
      lockTakeovers: Atomics.load(m, I_LOCK_TAKEOVERS),
    };
  }

  /** Claims currently held (reserved ones included). */
  activeClaims(): number {
    let n = 0;
    for (let s = 0; s < this.slots; s++) if (Atomics.load(this.i32, this.base(s) + S_STATE) !== 0) n++;
    return n;
  }

  /**
   * Structural invariants while no claim is in progress: no key claimed twice, no slot left
   * reserved, no claim lock held. Empty when everything holds.
   */
  checkInvariants(): string[] {
    const m = this.i32;
    const out: string[] = [];
    const seen = new Map<string, number>();
    for (let s = 0; s < this.slots; s++) {
      const b = this.base(s);
      const st = Atomics.load(m, b + S_STATE);
      if (st < 0) out.push(`slot ${s} is still reserved by claim lock ${-st - 1}`);
      if (st <= 0) continue;
      if (st !== Atomics.load(m, b + S_GEN))
        out.push(`slot ${s}: state ${st} differs from its generation ${Atomics.load(m, b + S_GEN)}`);
      const key = `${m[b + S_KEY]},${m[b + S_KEY + 1]},${m[b + S_KEY + 2]},${m[b + S_KEY + 3]}`;
      const other = seen.get(key);
      if (other !== undefined) out.push(`key ${key} is claimed in slots ${other} and ${s}`);
      seen.set(key, s);
    }
    for (let l = 0; l < CLAIM_LOCKS; l++) {
      if (Atomics.load(m, LOCKS_BASE + l * LOCK_WORDS) !== 0) out.push(`claim lock ${l} is held`);
    }
    return out;
  }
}
