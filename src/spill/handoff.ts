/**
 * The hand-off ring: every thread's disk-bound ops (records and tombstones) in one
 * SharedArrayBuffer, written to LMDB by whichever thread of the cache is free.
 *
 * Why: lmdb-js starts a write transaction from its caller's event loop, so a write queued by a
 * thread that then stays busy (embedding its next batch, a long synchronous turn) reached the
 * disk only when that thread turned again, and flush() elsewhere could not wait for it. Here a
 * thread posts its op into shared memory and returns; any attached instance — the poster on its
 * next turn, a timer of another thread, or flush() itself — claims a run of ops, commits them
 * (write-queue.ts decides each op by its order stamp, as before) and marks them done. flush()
 * on any instance waits until `done` passes what was `posted` when it was called.
 *
 * Layout: a header (int32 words below), then a byte ring of entries, each 8-aligned:
 *
 *   u32 len (whole entry) | u32 kind | i32 tag | u32 seq | u32 valueLen | u32 0 |
 *   f64 writtenMs | f64 expiresMs | 24-byte record key | value (record or tombstone bytes)
 *
 * An entry that would run past the end leaves a PAD entry and starts again at 0. The ring is
 * never filled completely, so head == tail means empty and used = (head - tail) mod size.
 *
 * Concurrency: one lock (memory/lock.ts, so a dead holder is taken over after lockTimeoutMs)
 * guards head, tail and the claim; it is held for a copy, never across an await. A producer
 * writes its entry whole, then moves head, then bumps posted: a producer killed before moving
 * head published nothing. One claim at a time: the claimer copies entries out under the lock,
 * commits them without it, and only then (lock again) moves tail and `done`, so ring bytes are
 * never reused before their ops are durable. A claimer that dies or stays busy for CLAIM_LEASE_MS
 * loses its claim to the next thread, which commits the same ops again: every op is conditional
 * on its stamp, so a second commit of the same op is superseded, never a second write.
 */
import { LockTable } from '../memory/lock.js';
import { DEAD_SLOTS, LOCK_WORDS } from '../memory/layout.js';
import { RECORD_KEY_BYTES } from './format.js';

/** Default size of a cache's hand-off ring: about 5,000 records of 768 floats. */
export const HANDOFF_BYTES = 16 * 1024 * 1024;
/** How long a claim may go without progress before another thread takes it over. */
export const CLAIM_LEASE_MS = 250;

// ── layout (int32 words of the header) ──────────────────────────────────────────────────────
const R_LOCK = 0; // one lock record, LOCK_WORDS words
const R_DEAD_RING = R_LOCK + LOCK_WORDS; // the lock's dead-token ring: a cursor, DEAD_SLOTS tokens
const R_HEAD = R_DEAD_RING + 1 + DEAD_SLOTS; // byte offset (in the data region) of the next entry
const R_TAIL = R_HEAD + 1; // byte offset of the oldest entry not yet done
const R_POSTED = R_TAIL + 1; // ops posted (wraps at 2^32; compare by difference)
const R_DONE = R_POSTED + 1; // ops done: committed, superseded or failed (flush waits on it)
const R_CLAIM = R_DONE + 1; // the claimer's token, 0: none
const R_CLAIM_SERIAL = R_CLAIM + 1; // bumped per claim, so a stale claimer knows it lost
const R_OVERFLOWS = R_CLAIM_SERIAL + 1; // posts refused because the ring was full
const R_TAKEOVERS = R_OVERFLOWS + 1; // claims taken from a dead or stalled claimer
/** Float64 index of the claim's last sign of progress (ms since the epoch). */
const F_CLAIM_BEAT = 24;
const HEADER_BYTES = 256;

// ── entries ─────────────────────────────────────────────────────────────────────────────────
const E_LEN = 0;
const E_KIND = 4;
const E_TAG = 8;
const E_SEQ = 12;
const E_VALUE_LEN = 16;
const E_WRITTEN = 24;
const E_EXPIRES = 32;
const E_KEY = 40;
const ENTRY_HEADER = E_KEY + RECORD_KEY_BYTES; // 64
const KIND_RECORD = 1;
const KIND_TOMBSTONE = 2;
const KIND_PAD = 3;

/** An op as it travels through the ring. */
export interface HandoffOp {
  recKey: Uint8Array;
  value: Uint8Array;
  tombstone: boolean;
  writtenMs: number;
  expiresMs: number;
  /** The caller's tag (the key's pending bucket), -1: none. */
  tag: number;
  /** Its position in post order. */
  seq: number;
}

/** A run of ops one thread has claimed; complete() it once they are durable. */
export interface HandoffClaim {
  readonly ops: HandoffOp[];
  readonly serial: number;
  readonly endPos: number;
  readonly endSeq: number;
}

const align8 = (n: number): number => (n + 7) & ~7;

/** Whether op number `seq` is done when `done` ops are (int32 counters that wrap). */
export function seqDone(done: number, seq: number): boolean {
  return ((done - seq - 1) | 0) >= 0;
}

export class HandoffRing {
  /** A new ring's buffer (all zero: empty, unlocked). */
  static create(bytes = HANDOFF_BYTES): SharedArrayBuffer {
    if (!Number.isInteger(bytes) || bytes < 64 * 1024 || bytes % 8 !== 0)
      throw new RangeError(`a hand-off ring needs a multiple of 8 bytes, at least 64 KiB; got ${bytes}`);
    const buffer = new SharedArrayBuffer(HEADER_BYTES + bytes);
    LockTable.init(new Int32Array(buffer, 0, HEADER_BYTES / 4), R_LOCK, 1);
    return buffer;
  }

  private readonly ctl: Int32Array;
  private readonly f64: Float64Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly size: number;
  private readonly lock: LockTable;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly token: number,
    lockTimeoutMs: number,
  ) {
    if (token === 0) throw new RangeError('owner token must be non-zero');
    this.ctl = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.f64 = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.size = buffer.byteLength - HEADER_BYTES;
    this.data = new Uint8Array(buffer, HEADER_BYTES, this.size);
    this.view = new DataView(buffer, HEADER_BYTES, this.size);
    // Nothing to repair after a dead holder: it published nothing it had not finished.
    this.lock = new LockTable(
      this.ctl,
      R_LOCK,
      R_DEAD_RING,
      token,
      lockTimeoutMs,
      () => undefined,
      () => undefined,
    );
  }

  get posted(): number {
    return Atomics.load(this.ctl, R_POSTED);
  }

  get done(): number {
    return Atomics.load(this.ctl, R_DONE);
  }

  /** Ops posted and not yet done. */
  get waiting(): number {
    return (this.posted - this.done) | 0;
  }

  /** Posts refused because the ring was full (they took the poster's own queue). */
  get overflows(): number {
    return Atomics.load(this.ctl, R_OVERFLOWS);
  }

  /** Claims taken over from a claimer that died or stalled. */
  get takeovers(): number {
    return Atomics.load(this.ctl, R_TAKEOVERS);
  }

  /**
   * Copies the op into the ring; returns its seq, or -1 if the ring has no room for it (the
   * caller keeps it in its own queue; counted in overflows).
   */
  post(
    recKey: Uint8Array,
    value: Uint8Array,
    tombstone: boolean,
    writtenMs: number,
    expiresMs: number,
    tag: number,
  ): number {
    const need = align8(ENTRY_HEADER + value.byteLength);
    const size = this.size;
    const ctl = this.ctl;
    this.lock.acquire(0);
    try {
      const head = ctl[R_HEAD]!;
      const tail = ctl[R_TAIL]!;
      const used = (head - tail + size) % size;
      const pad = head + need > size ? size - head : 0;
      // Keep 8 bytes free: a full ring would look empty (head == tail).
      if (used + pad + need > size - 8) {
        Atomics.add(ctl, R_OVERFLOWS, 1);
        return -1;
      }
      const view = this.view;
      if (pad > 0) {
        view.setUint32(head + E_LEN, pad, true);
        view.setUint32(head + E_KIND, KIND_PAD, true);
      }
      const at = pad > 0 ? 0 : head;
      const seq = ctl[R_POSTED]!;
      view.setUint32(at + E_LEN, need, true);
      view.setUint32(at + E_KIND, tombstone ? KIND_TOMBSTONE : KIND_RECORD, true);
      view.setInt32(at + E_TAG, tag, true);
      view.setUint32(at + E_SEQ, seq >>> 0, true);
      view.setUint32(at + E_VALUE_LEN, value.byteLength, true);
      view.setFloat64(at + E_WRITTEN, writtenMs, true);
      view.setFloat64(at + E_EXPIRES, expiresMs, true);
      this.data.set(recKey, at + E_KEY);
      this.data.set(value, at + ENTRY_HEADER);
      // Published in this order: a poster that dies before the head moves published nothing.
      Atomics.store(ctl, R_HEAD, (at + need) % size);
      Atomics.store(ctl, R_POSTED, (seq + 1) | 0);
      return seq;
    } finally {
      this.lock.release(0);
    }
  }

  /**
   * Claims up to `maxOps` of the oldest waiting ops (copies: the caller owns them). Null when
   * none wait, or another thread's claim is alive (it made progress within CLAIM_LEASE_MS). A
   * stale claim is taken over and its ops claimed again.
   */
  claim(maxOps: number, now = Date.now()): HandoffClaim | null {
    const ctl = this.ctl;
    if (Atomics.load(ctl, R_HEAD) === Atomics.load(ctl, R_TAIL)) return null;
    if (!this.lock.tryAcquireOrTakeOver(0, 16)) return null;
    try {
      const owner = ctl[R_CLAIM]!;
      if (owner !== 0) {
        if (owner === this.token || now - this.f64[F_CLAIM_BEAT]! < CLAIM_LEASE_MS) return null;
        Atomics.add(ctl, R_TAKEOVERS, 1);
      }
      const head = ctl[R_HEAD]!;
      let pos = ctl[R_TAIL]!;
      const ops: HandoffOp[] = [];
      let endSeq = ctl[R_DONE]!;
      const view = this.view;
      while (pos !== head && ops.length < maxOps) {
        const len = view.getUint32(pos + E_LEN, true);
        if (view.getUint32(pos + E_KIND, true) !== KIND_PAD) {
          const valueLen = view.getUint32(pos + E_VALUE_LEN, true);
          const seq = view.getUint32(pos + E_SEQ, true) | 0;
          ops.push({
            recKey: this.data.slice(pos + E_KEY, pos + ENTRY_HEADER),
            value: this.data.slice(pos + ENTRY_HEADER, pos + ENTRY_HEADER + valueLen),
            tombstone: view.getUint32(pos + E_KIND, true) === KIND_TOMBSTONE,
            writtenMs: view.getFloat64(pos + E_WRITTEN, true),
            expiresMs: view.getFloat64(pos + E_EXPIRES, true),
            tag: view.getInt32(pos + E_TAG, true),
            seq,
          });
          endSeq = (seq + 1) | 0;
        }
        pos = (pos + len) % this.size;
      }
      const serial = (ctl[R_CLAIM_SERIAL]! + 1) | 0;
      ctl[R_CLAIM_SERIAL] = serial;
      ctl[R_CLAIM] = this.token;
      this.f64[F_CLAIM_BEAT] = now;
      return { ops, serial, endPos: pos, endSeq };
    } finally {
      this.lock.release(0);
    }
  }

  /** Records progress on `claim`; false if another thread has taken it over. */
  renew(claim: HandoffClaim, now = Date.now()): boolean {
    if (!this.lock.tryAcquireOrTakeOver(0, 1000)) return this.owns(claim);
    try {
      if (!this.owns(claim)) return false;
      this.f64[F_CLAIM_BEAT] = now;
      return true;
    } finally {
      this.lock.release(0);
    }
  }

  /**
   * Ends `claim`: its ops are durable (or failed and counted). Frees their bytes and moves
   * `done`, waking flush() waiters. False, changing nothing, if the claim was taken over: the
   * taker owns those ops now (and settles them).
   */
  complete(claim: HandoffClaim): boolean {
    const ctl = this.ctl;
    this.lock.acquire(0);
    try {
      if (!this.owns(claim)) return false;
      ctl[R_CLAIM] = 0;
      Atomics.store(ctl, R_TAIL, claim.endPos);
      // A poster that died between moving head and bumping posted can leave done past posted.
      Atomics.store(ctl, R_DONE, claim.endSeq);
    } finally {
      this.lock.release(0);
    }
    Atomics.notify(ctl, R_DONE);
    return true;
  }

  private owns(claim: HandoffClaim): boolean {
    return this.ctl[R_CLAIM] === this.token && this.ctl[R_CLAIM_SERIAL] === claim.serial;
  }

  /**
   * Resolves once `done` moves from `seen` or `timeoutMs` passes, without blocking the thread.
   * A timer runs beside the wait: a pending Atomics.waitAsync alone does not keep Node's event
   * loop alive, and a worker whose last promise is this wait would exit.
   */
  async waitDone(seen: number, timeoutMs: number): Promise<void> {
    const r = Atomics.waitAsync(this.ctl, R_DONE, seen, timeoutMs);
    if (!r.async) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([r.value, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }
}
