/**
 * The write-behind queue: records and deletes on their way to LMDB, and the per-instance map
 * that lets this instance's gets see them before they commit. Apart from tier.ts because it is
 * the only part with its own timing (drains per event-loop turn and per tick, batches settling
 * later).
 *
 * Writes. `write` encodes the record at once (so the caller may reuse its vector; buffers come
 * from 1 MiB slabs, see RecordArena). In a cache, the op is then posted to the cache's hand-off
 * ring (handoff.ts), which every thread shares and any free thread drains: a thread that stays
 * busy after a set no longer holds its write back, and flush() on any instance waits for every
 * thread's posts. A standalone tier, or a post that finds the ring full, uses this instance's
 * own queue instead, drained on its next turn. Either way ops reach lmdb-js as batches of up to
 * BATCH_MAX: one LMDB transaction each, committed and fsynced on lmdb-js's write thread, never a
 * synchronous put per entry (batch.ts). Until its op commits a record also sits in a small
 * per-instance map, so a get right after an eviction still finds it (other threads see it once
 * it commits).
 *
 * Order. Ops reach LMDB in no particular order across threads (and processes): a set queued by
 * a busy thread may land after a later delete or set of the same key. Each op therefore carries
 * its order stamp (the record's writtenMs and LMDB version; see memory/stamps.ts), a delete
 * writes a tombstone rather than removing the record, and batch.ts lets a put land only over an
 * older copy. Per key, the op stamped last wins on disk, whatever order the queues drain in.
 *
 * Every failure of a batch reaches the promise `batch` returns (tier.ts opens lmdb-js with
 * eventTurnBatching and overlappingSync off for that), where it is counted; a resolved promise
 * means the data is on disk.
 */
import { commitBatch, latestPerKey, type Op, silenceCommitError } from './batch.js';
import {
  RecordArena,
  encodeRecord,
  encodeTombstone,
  keyString,
  recordExpiresMs,
  recordKey,
} from './format.js';
import { type HandoffClaim, type HandoffRing, seqDone } from './handoff.js';
import type { Fail, Lifecycle, SpillDbs, SpillRecord } from './types.js';

export { silenceCommitError } from './batch.js';

/** Records per write transaction when the queue fills before the next event-loop turn. */
const BATCH_MAX = 1024;
/** Queued-but-uncommitted records a get can still see; past it the oldest are forgotten (a miss, not an error). */
const PENDING_MAX = 4096;
/** How often an instance looks for ops other threads posted and left (ms). */
const TICK_MS = 20;
/** Re-decisions of a claimed op that keeps losing to other writers before it counts as failed. */
const MAX_ROUNDS = 8;

/** What the queue needs from the rest of the tier. */
export interface WriteQueueHooks {
  /**
   * A batch committed, durably, with `written` records (tombstones not counted); `superseded`
   * ops were dropped because a later-stamped copy of their key was on disk already.
   */
  committed(written: number, superseded: number): void;
  /** An op queued with tag `tag` ended (see settle). */
  settled(tag: number): void;
  fail: Fail;
}

/** Where the writes stood at some moment (mark()), to ask later whether they have landed. */
export interface WriteMark {
  readonly batch: number;
  readonly posted: number;
}

export class WriteQueue {
  private queue: Op[] = [];
  /** Queued or uncommitted ops by key string, so that this instance's gets see them. */
  private readonly pending = new Map<string, Op>();
  /** Insertion order of `pending`, to forget the oldest in O(1) once PENDING_MAX is reached. */
  private readonly pendingRing: (Op | undefined)[] = new Array<Op | undefined>(PENDING_MAX);
  private pendingPos = 0;
  private drainTimer: NodeJS.Immediate | undefined;
  private readonly arena = new RecordArena();
  private seq = 0;
  private settled = 0;
  /** The last batch's settled promise: lmdb-js commits batches in order, so awaiting it awaits all. */
  private last: Promise<void> = Promise.resolve();
  /** The cache's hand-off ring, once attached; null: this instance's own queue only. */
  private ring: HandoffRing | null = null;
  private tick: NodeJS.Timeout | undefined;
  /** The claim of the ring this instance is committing, if any. */
  private claiming: Promise<void> | undefined;

  constructor(
    private readonly dbs: Pick<SpillDbs, 'root' | 'records' | 'age' | 'expiry'>,
    private readonly life: Readonly<Lifecycle>,
    private readonly hooks: WriteQueueHooks,
  ) {}

  /**
   * Posts this instance's ops to the cache's hand-off ring from now on, and helps drain it:
   * every TICK_MS while ops wait that no live claim covers.
   */
  attach(ring: HandoffRing): void {
    this.ring = ring;
    this.tick = setInterval(() => {
      if (this.life.closing) return;
      if (ring.waiting !== 0) this.drainRing();
      if (this.pending.size !== 0) this.forgetDone();
    }, TICK_MS);
    this.tick.unref();
  }

  /** Stops helping drain the ring (close(); flush first). */
  detach(): void {
    if (this.tick !== undefined) clearInterval(this.tick);
    this.tick = undefined;
  }

  /** Where the writes stand now; landed(mark) tells when everything queued before it has settled. */
  mark(): WriteMark {
    return { batch: this.seq, posted: this.ring?.posted ?? 0 };
  }

  landed(mark: WriteMark): boolean {
    return this.settled >= mark.batch && (this.ring === null || seqDone(this.ring.done, mark.posted - 1));
  }

  /** Ops that found the hand-off ring full (every thread), and claims taken from a stalled thread. */
  ringStats(): { overflows: number; takeovers: number } | undefined {
    const ring = this.ring;
    return ring === null ? undefined : { overflows: ring.overflows, takeovers: ring.takeovers };
  }

  /**
   * Drains, and resolves once this instance's queue is empty and every batch has settled
   * (retries of ops that lost a race included), and every op any thread posted to the hand-off
   * ring before the call is done. Never rejects.
   */
  async settleAll(): Promise<void> {
    const ring = this.ring;
    const target = ring === null ? 0 : ring.posted;
    for (;;) {
      this.drain();
      const tail = this.last;
      await tail;
      if (this.queue.length === 0 && this.last === tail) break;
    }
    if (ring === null) return;
    for (;;) {
      const done = ring.done;
      if (seqDone(done, target - 1)) return;
      const mine = this.drainRing();
      if (mine !== undefined) await mine;
      else await ring.waitDone(done, TICK_MS); // another thread's claim is alive: wait for it
    }
  }

  /**
   * What this instance has queued or not yet committed for `recKey` (record or tombstone bytes,
   * with their stamp as writtenMs), or undefined. The disk may hold a later-stamped copy.
   */
  queued(recKey: Uint8Array): Uint8Array | undefined {
    if (this.pending.size === 0) return undefined;
    const ks = keyString(recKey);
    const op = this.pending.get(ks);
    if (op === undefined) return undefined;
    if (op.seq >= 0 && this.ring !== null && seqDone(this.ring.done, op.seq)) {
      this.pending.delete(ks); // committed by whichever thread drained it: the disk has it
      return undefined;
    }
    return op.value;
  }

  /** Encodes `rec` (copying key and vector) under (modelId, generation) and queues it. */
  write(modelId: number, generation: number, rec: SpillRecord, stamp: number, tag = -1): void {
    const recKey = recordKey(modelId, generation, rec.key);
    const header = {
      modelId,
      generation,
      createdMs: rec.createdMs,
      expiresMs: rec.expiresMs,
      writtenMs: stamp,
    };
    const value = encodeRecord(header, rec.vector, this.arena);
    this.push(recKey, value, false, stamp, rec.expiresMs, tag);
  }

  /** Queues the tombstone of `key` under (modelId, generation), stamped `stamp`. */
  remove(modelId: number, generation: number, key: Uint8Array, stamp: number, tag = -1): void {
    const recKey = recordKey(modelId, generation, key);
    const value = encodeTombstone(modelId, generation, stamp, this.arena);
    this.push(recKey, value, true, stamp, recordExpiresMs(value), tag);
  }

  private push(
    recKey: Uint8Array,
    value: Uint8Array,
    tombstone: boolean,
    writtenMs: number,
    expiresMs: number,
    tag: number,
  ): void {
    const seq = this.ring === null ? -1 : this.ring.post(recKey, value, tombstone, writtenMs, expiresMs, tag);
    const op: Op = {
      recKey,
      ks: keyString(recKey),
      value,
      tombstone,
      writtenMs,
      expiresMs,
      priors: undefined,
      tag,
      seq,
    };
    const before = this.pending.get(op.ks);
    // Only an op of this instance's own queue needs them: ring ops are committed one claim after
    // another, each reading the copies the ones before it left (batch.ts, priors).
    if (seq < 0 && before !== undefined)
      op.priors = [...(before.priors ?? []), before.writtenMs, before.expiresMs];
    const evicted = this.pendingRing[this.pendingPos];
    if (evicted !== undefined && this.pending.get(evicted.ks) === evicted) this.pending.delete(evicted.ks);
    this.pendingRing[this.pendingPos] = op;
    this.pendingPos = (this.pendingPos + 1) % PENDING_MAX;
    this.pending.set(op.ks, op);
    if (seq < 0) this.queue.push(op);
    if (this.queue.length >= BATCH_MAX) this.drain();
    else this.drainTimer ??= setImmediate(() => this.drain());
  }

  /** Forgets pending ops that another thread has committed from the ring. */
  private forgetDone(): void {
    const done = this.ring!.done;
    for (const [ks, op] of this.pending) if (op.seq >= 0 && seqDone(done, op.seq)) this.pending.delete(ks);
    if (this.pending.size === 0) this.pendingRing.fill(undefined);
  }

  /** Hands this instance's queue to lmdb-js as one batch (one transaction), and helps drain the ring. */
  drain(): void {
    if (this.drainTimer !== undefined) {
      clearImmediate(this.drainTimer);
      this.drainTimer = undefined;
    }
    if (this.life.closed) return;
    if (this.ring !== null && this.ring.waiting !== 0) void this.drainRing();
    const queued = this.queue;
    if (queued.length === 0) return;
    this.queue = [];
    const { ops, dropped } = latestPerKey(queued);
    const seq = ++this.seq;
    const batch = commitBatch(this.dbs, ops.values());
    // Settled in batch order: `last` (what flush awaits) settles only after every earlier batch
    // has been counted, although a batch's own outcomes take a few microtasks to read.
    const previous = this.last;
    this.last = batch.then(
      async ({ written, superseded, retry }) => {
        await previous;
        if (!this.life.closed) {
          // Another writer's copy landed between our read and the commit: decide again.
          for (const op of retry) {
            op.requeued = true;
            this.queue.push(op);
          }
          if (retry.length > 0) this.drainTimer ??= setImmediate(() => this.drain());
        }
        this.settle(ops, dropped, seq, undefined, written, superseded);
      },
      async (err: unknown) => {
        await previous;
        this.settle(ops, dropped, seq, err, 0);
      },
    );
  }

  /**
   * Claims a run of the ring's ops and commits them, unless another thread's claim is alive or
   * none wait; returns the work's promise (never rejects), or undefined when nothing was claimed.
   */
  private drainRing(): Promise<void> | undefined {
    if (this.claiming !== undefined) return this.claiming;
    const ring = this.ring;
    if (ring === null || this.life.closed) return undefined;
    const claim = ring.claim(BATCH_MAX);
    if (claim === null) return undefined;
    this.claiming = this.commitClaim(ring, claim).finally(() => {
      this.claiming = undefined;
      if (ring.waiting !== 0 && !this.life.closing) this.drainTimer ??= setImmediate(() => this.drain());
    });
    return this.claiming;
  }

  /**
   * Commits a claim's ops. Whatever this thread writes is counted (a put applies once, whoever
   * made it); settling the ops (their pending buckets) and counting what was superseded is for
   * the thread that completes the claim, so each op settles once even when a claim is taken over
   * and committed twice.
   */
  private async commitClaim(ring: HandoffRing, claim: HandoffClaim): Promise<void> {
    const all: Op[] = claim.ops.map((c) => ({ ...c, ks: keyString(c.recKey), priors: undefined }));
    const { ops, dropped } = latestPerKey(all);
    let written = 0;
    let superseded = dropped.length;
    let left: Op[] = [...ops.values()];
    let failure: unknown;
    let lost = false;
    for (let round = 0; left.length > 0 && !this.life.closed; round++) {
      if (round > 0 && !ring.renew(claim)) {
        lost = true; // taken over: the taker commits these ops
        break;
      }
      if (round === MAX_ROUNDS) {
        failure = new Error(`${left.length} writes kept losing to concurrent writers of their keys`);
        break;
      }
      try {
        const r = await commitBatch(this.dbs, left);
        written += r.written;
        superseded += r.superseded;
        left = r.retry;
      } catch (err) {
        silenceCommitError(err);
        failure = err;
        break;
      }
    }
    // Unfinished (taken over, or this instance closed mid-claim): the claim goes stale and the
    // next thread takes it over after the lease.
    const completed = !lost && (failure !== undefined || left.length === 0) && ring.complete(claim);
    if (completed) {
      for (const op of all) {
        const mine = this.pending.get(op.ks);
        if (mine !== undefined && mine.seq === op.seq) this.pending.delete(op.ks);
        if (op.tag >= 0) this.hooks.settled(op.tag);
      }
    }
    if (written > 0 || completed) this.hooks.committed(written, completed ? superseded : 0);
    if (completed && failure !== undefined) this.hooks.fail('a write', failure, left.length);
  }

  /**
   * Ends ops: `ops` were in the batch (a requeued one goes on), `dropped` lost to a later op of
   * their key before it. Each ended op's tag goes back to the caller.
   */
  private settle(
    ops: Map<string, Op>,
    dropped: Op[],
    seq: number,
    err: unknown,
    written: number,
    superseded = 0,
  ): void {
    for (const op of ops.values()) {
      op.priors = undefined;
      if (op.requeued) {
        op.requeued = false;
        continue;
      }
      if (this.pending.get(op.ks) === op) this.pending.delete(op.ks);
      if (op.tag >= 0) this.hooks.settled(op.tag);
    }
    for (const op of dropped) {
      if (this.pending.get(op.ks) === op) this.pending.delete(op.ks);
      if (op.tag >= 0) this.hooks.settled(op.tag);
    }
    if (this.pending.size === 0) this.pendingRing.fill(undefined);
    this.settled = Math.max(this.settled, seq);
    if (err === undefined) {
      this.hooks.committed(written, superseded + dropped.length);
    } else {
      silenceCommitError(err);
      this.hooks.fail('a write', err, ops.size);
    }
  }
}
