/**
 * One write transaction of disk ops, each decided by its order stamp. Shared by the two ways an
 * op reaches LMDB: a thread's own queue (write-queue.ts) and the hand-off ring every thread of a
 * cache shares (handoff.ts).
 *
 * At plan time each op reads the key's stored stamp and is superseded if that is as new or
 * newer; otherwise its put is conditional on the stored copy being the one it read (ifVersion on
 * the stamp, or ifNoExists), so a copy another writer committed in between is never overwritten
 * by an older one: the op comes back in `retry` and is decided again. A record, its age entry
 * and its expiry entry go in the same transaction, so the indexes never miss a committed record.
 */
import { indexKey, isStoredRecord, recordExpiresMs, recordWrittenMs } from './format.js';
import type { SpillDbs } from './types.js';

/** Index entries carry no value; one constant byte (lmdb-js special-cases empty buffers). */
const INDEX_VALUE = new Uint8Array([0]);

/** A write, or a delete (its value a tombstone), on its way to disk. */
export interface Op {
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
  /** Its position in the hand-off ring, -1 when it is in a thread's own queue. */
  seq: number;
}

/** What a committed batch did. */
export interface BatchResult {
  /** Records written (tombstones not counted). */
  written: number;
  /** Ops dropped because a copy stamped later was on disk already. */
  superseded: number;
  /** Ops whose own copy (same stamp) was on disk already: committed before, by another thread. */
  already: number;
  /** Ops whose key another writer committed between our read and our commit: decide again. */
  retry: Op[];
}

/**
 * Of several ops on one key, the one stamped last (retries come back in the order batches
 * settle, so queue order is not stamp order); the others are `dropped`.
 */
export function latestPerKey(queued: readonly Op[]): { ops: Map<string, Op>; dropped: Op[] } {
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
  return { ops, dropped };
}

/**
 * Plans and hands `ops` (one per key) to lmdb-js as one batch, synchronously; the promise
 * settles when it has committed (durably) or failed. Rejects with the batch's error, which may
 * carry lmdb-js's second promise (see silenceCommitError).
 */
export function commitBatch(
  dbs: Pick<SpillDbs, 'root' | 'records' | 'age' | 'expiry'>,
  ops: Iterable<Op>,
): Promise<BatchResult> {
  const { root, records, age, expiry } = dbs;
  const outcomes: { op: Op; applied: Promise<boolean> }[] = [];
  let superseded = 0;
  let already = 0;
  let batch: Promise<boolean>;
  try {
    root.resetReadTxn(); // the latest copies: their stamps decide, and their index entries go
    const plans: { op: Op; stored: number | null; staleAge: Uint8Array[]; staleExpiry: Uint8Array[] }[] = [];
    for (const op of ops) {
      const old = records.getBinaryFast(op.recKey);
      const stored = old !== undefined && isStoredRecord(old) ? recordWrittenMs(old) : null;
      if (stored !== null && stored >= op.writtenMs) {
        if (stored === op.writtenMs)
          already++; // this very op, committed by another thread
        else superseded++; // an op stamped later is on disk already: this one lost
        continue;
      }
      // Index entries of the copies being replaced, from the snapshot and from this instance's
      // uncommitted earlier writes (which the snapshot cannot show).
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
    return Promise.reject(err);
  }
  return batch.then(async () => {
    const results = await Promise.all(outcomes.map((o) => o.applied)); // settled with the batch
    let written = 0;
    const retry: Op[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const op = outcomes[i]!.op;
      if (results[i]) {
        if (!op.tombstone) written++;
      } else {
        retry.push(op);
      }
    }
    return { written, superseded, already, retry };
  });
}

/**
 * Keeps lmdb-js's second promise of a failed batch (its commitError) from rejecting unhandled:
 * the failure is counted through the batch's own promise.
 */
export function silenceCommitError(err: unknown): void {
  const commitError = (err as { commitError?: Promise<unknown> }).commitError;
  if (commitError !== undefined) void commitError.catch(() => undefined);
}
