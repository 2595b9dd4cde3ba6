/**
 * The write-behind queue: records and deletes on their way to LMDB, and the per-instance map
 * that lets this instance's gets see them before they commit. Apart from tier.ts because it is
 * the only part with its own timing (a drain per event-loop turn, batches settling later).
 *
 * Writes. `write` encodes the record at once (so the caller may reuse its vector; buffers come
 * from 1 MiB slabs, see RecordArena) and queues it; a setImmediate, or a full queue of
 * BATCH_MAX records, hands the queue to lmdb-js as one `batch`: one LMDB transaction, committed
 * and fsynced on lmdb-js's write thread, never a synchronous put per entry. A record, its age
 * entry and its expiry entry go in the same transaction, so the indexes never miss a committed
 * record. Until its batch commits a record also sits in a small per-instance map, so a get
 * right after an eviction still finds it (other threads see it once it commits).
 *
 * Order. Every thread (and process) has a queue of its own, so writes reach LMDB in no
 * particular order across queues: a set queued by a busy worker may land after a later delete
 * or set of the same key by another thread. Each op therefore carries its order stamp (the
 * record's writtenMs and LMDB version; see memory/stamps.ts), and a delete writes a tombstone
 * rather than removing the record. At drain time each op reads the key's stored stamp and is
 * dropped if that is as new or newer; otherwise its put is conditional on the stored copy
 * being the one it read (ifVersion on the stamp, or ifNoExists), so a copy committed by another
 * writer in between is never overwritten by an older one: the op is re-queued and decides
 * again. Per key, the op stamped last wins on disk, whatever order the queues drain in.
 *
 * Every failure of a batch reaches the promise `batch` returns (tier.ts opens lmdb-js with
 * eventTurnBatching and overlappingSync off for that), where it is counted; a resolved promise
 * means the data is on disk.
 */
import {
  RecordArena,
  encodeRecord,
  encodeTombstone,
  indexKey,
  isStoredRecord,
  keyString,
  recordExpiresMs,
  recordKey,
  recordWrittenMs,
} from './format.js';
import type { Fail, Lifecycle, SpillDbs, SpillRecord } from './types.js';

/** Records per write transaction when the queue fills before the next event-loop turn. */
const BATCH_MAX = 1024;
/** Queued-but-uncommitted records a get can still see; past it the oldest are forgotten (a miss, not an error). */
const PENDING_MAX = 4096;
/** Index entries carry no value; one constant byte (lmdb-js special-cases empty buffers). */
const INDEX_VALUE = new Uint8Array([0]);

/** A queued write, or a delete (its value a tombstone). */
interface Op {
  recKey: Uint8Array;
  ks: string;
  value: Uint8Array;
  tombstone: boolean;
  /** The order stamp: the record's writtenMs and LMDB version. */
  writtenMs: number;
  expiresMs: number;
  /**
   * (writtenMs, expiresMs) pairs of this instance's earlier copies of the key that were still
   * uncommitted when this op was queued: the read snapshot cannot show them, yet their index
   * entries must go when this op lands.
   */
  priors: number[] | undefined;
  /** Set while a retry of this op waits in the queue (its pending entry stays). */
  requeued?: boolean;
  /** The caller's tag (tiers.ts: the key's bucket), handed back when the op settles; -1: none. */
  tag: number;
}

/**
 * Keeps lmdb-js's second promise of a failed batch (its commitError) from rejecting unhandled:
 * the failure is counted through the batch's own promise.
 */
export function silenceCommitError(err: unknown): void {
  const commitError = (err as { commitError?: Promise<unknown> }).commitError;
  if (commitError !== undefined) void commitError.catch(() => undefined);
}

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

  constructor(
    private readonly dbs: Pick<SpillDbs, 'root' | 'records' | 'age' | 'expiry'>,
    private readonly life: Readonly<Lifecycle>,
    private readonly hooks: WriteQueueHooks,
  ) {}

  /** Batches handed to lmdb-js so far (a batch's number is its position in this count). */
  get batchSeq(): number {
    return this.seq;
  }

  /** The highest batch number that has settled (committed or failed). */
  get settledSeq(): number {
    return this.settled;
  }

  /**
   * Drains, and resolves once the queue is empty and every batch has settled, retries of ops
   * that lost a race included. Never rejects.
   */
  async settleAll(): Promise<void> {
    for (;;) {
      this.drain();
      const tail = this.last;
      await tail;
      if (this.queue.length === 0 && this.last === tail) return;
    }
  }

  /**
   * What this instance has queued or not yet committed for `recKey` (record or tombstone bytes,
   * with their stamp as writtenMs), or undefined. The disk may hold a later-stamped copy.
   */
  queued(recKey: Uint8Array): Uint8Array | undefined {
    if (this.pending.size === 0) return undefined;
    return this.pending.get(keyString(recKey))?.value;
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
    this.push({
      recKey,
      ks: keyString(recKey),
      value,
      tombstone: false,
      writtenMs: stamp,
      expiresMs: rec.expiresMs,
      priors: undefined,
      tag,
    });
  }

  /** Queues the tombstone of `key` under (modelId, generation), stamped `stamp`. */
  remove(modelId: number, generation: number, key: Uint8Array, stamp: number, tag = -1): void {
    const recKey = recordKey(modelId, generation, key);
    const value = encodeTombstone(modelId, generation, stamp, this.arena);
    this.push({
      recKey,
      ks: keyString(recKey),
      value,
      tombstone: true,
      writtenMs: stamp,
      expiresMs: recordExpiresMs(value),
      priors: undefined,
      tag,
    });
  }

  private push(op: Op): void {
    this.queue.push(op);
    const before = this.pending.get(op.ks);
    if (before !== undefined) op.priors = [...(before.priors ?? []), before.writtenMs, before.expiresMs];
    const evicted = this.pendingRing[this.pendingPos];
    if (evicted !== undefined && this.pending.get(evicted.ks) === evicted) this.pending.delete(evicted.ks);
    this.pendingRing[this.pendingPos] = op;
    this.pendingPos = (this.pendingPos + 1) % PENDING_MAX;
    this.pending.set(op.ks, op);
    if (this.queue.length >= BATCH_MAX) this.drain();
    else this.drainTimer ??= setImmediate(() => this.drain());
  }

  /** Hands the queue to lmdb-js as one batch (one transaction). */
  drain(): void {
    if (this.drainTimer !== undefined) {
      clearImmediate(this.drainTimer);
      this.drainTimer = undefined;
    }
    const queued = this.queue;
    if (queued.length === 0 || this.life.closed) return;
    this.queue = [];
    // Of several ops on one key, the one stamped last goes (retries of ops that lost a race come
    // back in the order batches settle, so queue order is not stamp order); the others are
    // superseded here.
    const ops = new Map<string, Op>();
    const dropped: Op[] = [];
    for (const op of queued) {
      const other = ops.get(op.ks);
      if (other === undefined) {
        ops.set(op.ks, op);
      } else if (other.writtenMs < op.writtenMs) {
        ops.set(op.ks, op);
        dropped.push(other);
      } else {
        dropped.push(op);
      }
    }
    const seq = ++this.seq;
    const { root, records, age, expiry } = this.dbs;
    const outcomes: { op: Op; applied: Promise<boolean> }[] = [];
    let superseded = 0;
    let batch: Promise<boolean>;
    try {
      root.resetReadTxn(); // the latest copies: their stamps decide, and their index entries go
      const plans: { op: Op; stored: number | null; staleAge: Uint8Array[]; staleExpiry: Uint8Array[] }[] =
        [];
      for (const op of ops.values()) {
        const old = records.getBinaryFast(op.recKey);
        const stored = old !== undefined && isStoredRecord(old) ? recordWrittenMs(old) : null;
        if (stored !== null && stored >= op.writtenMs) {
          superseded++; // an op stamped later (or this one) is on disk already: this one lost
          continue;
        }
        // Index entries of the copies being replaced, from the snapshot and from this
        // instance's uncommitted earlier writes (which the snapshot cannot show).
        const staleAge: Uint8Array[] = [];
        const staleExpiry: Uint8Array[] = [];
        const replaced = (oldWritten: number, oldExpires: number): void => {
          if (oldWritten !== op.writtenMs) staleAge.push(indexKey(oldWritten, op.recKey));
          if (oldExpires !== 0 && oldExpires !== op.expiresMs)
            staleExpiry.push(indexKey(oldExpires, op.recKey));
        };
        if (stored !== null) replaced(stored, recordExpiresMs(old!));
        const priors = op.priors;
        if (priors !== undefined)
          for (let i = 0; i + 1 < priors.length; i += 2) replaced(priors[i]!, priors[i + 1]!);
        plans.push({ op, stored, staleAge, staleExpiry });
      }
      batch = records.batch(() => {
        for (const { op, stored, staleAge, staleExpiry } of plans) {
          const apply = (): void => {
            for (const k of staleAge) void age.remove(k);
            for (const k of staleExpiry) void expiry.remove(k);
            void records.put(op.recKey, op.value, op.writtenMs);
            void age.put(indexKey(op.writtenMs, op.recKey), INDEX_VALUE);
            if (op.expiresMs !== 0) void expiry.put(indexKey(op.expiresMs, op.recKey), INDEX_VALUE);
          };
          // Only over the copy we read: one committed by another writer since is decided again.
          const applied =
            stored === null
              ? records.ifNoExists(op.recKey, apply)
              : records.ifVersion(op.recKey, stored, apply);
          // A failed batch rejects these too; the batch's own promise reports it (counted once).
          outcomes.push({ op, applied: applied.catch(() => false) });
        }
      });
    } catch (err) {
      this.settle(ops, dropped, seq, err, 0);
      return;
    }
    // Settled in batch order: `last` (what flush awaits) settles only after every earlier batch
    // has been counted, although a batch's own outcomes take a few microtasks to read.
    const previous = this.last;
    this.last = batch.then(
      async () => {
        await previous;
        let written = 0;
        let retried = false;
        const results = await Promise.all(outcomes.map((o) => o.applied)); // settled with the batch
        for (let i = 0; i < outcomes.length; i++) {
          const op = outcomes[i]!.op;
          if (results[i]) {
            if (!op.tombstone) written++;
          } else if (!this.life.closed) {
            // Another writer's copy landed between our read and the commit: decide again.
            op.requeued = true;
            this.queue.push(op);
            retried = true;
          }
        }
        this.settle(ops, dropped, seq, undefined, written, superseded);
        if (retried) this.drainTimer ??= setImmediate(() => this.drain());
      },
      async (err: unknown) => {
        await previous;
        this.settle(ops, dropped, seq, err, 0);
      },
    );
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
