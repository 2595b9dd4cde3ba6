/**
 * Order stamps: one clock per cache, in shared memory, that gives every write that leaves for
 * disk (a set with persist or a TTL, an eviction, a delete) a number. The number is taken while
 * the key's stripe lock is held, so for one key the stamps are in the order the operations
 * happened in memory, whichever threads ran them. The spill tier keeps, per key, the copy with
 * the highest stamp (write-queue.ts): an operation queued in a busy thread can land late but
 * can never undo a later one.
 *
 * A stamp is a hybrid logical clock read in milliseconds: max(Date.now(), last + 1/1024 ms),
 * advanced with a compare-exchange on a 64-bit word holding stamp × 1024. So it is close to the
 * wall clock (it doubles as the record's writtenMs, the disk's eviction order), strictly
 * increasing across threads, and exact in a double (2^53 / 1024 ms is ~280,000 years).
 * Processes sharing one spill file have a clock each; between them the wall clock orders, which
 * is exact unless one of them writes more than 1,024 records per millisecond for a while.
 */
import { H_STAMP } from './layout.js';

const STEPS_PER_MS = 1024n;

export class StampClock {
  private readonly word: BigInt64Array;
  private readonly index = H_STAMP >>> 1;

  constructor(control: SharedArrayBuffer) {
    this.word = new BigInt64Array(control, 0, (H_STAMP >>> 1) + 1);
  }

  /** A stamp later than every stamp taken so far by any thread of this cache. */
  next(): number {
    const floor = BigInt(Date.now()) * STEPS_PER_MS;
    for (;;) {
      const last = Atomics.load(this.word, this.index);
      const next = last >= floor ? last + 1n : floor;
      if (Atomics.compareExchange(this.word, this.index, last, next) === last) return Number(next) / 1024;
    }
  }
}
