/**
 * Operation counters. Each attached thread bumps its own padded row (Atomics.add on a line no
 * other thread writes, unless more than STAT_ROWS threads attach and rows are shared), so a get
 * on one core never bounces a counter's cache line off another. stats() sums the rows.
 */
import {
  ST_COMPUTE_EMBEDDED,
  ST_COMPUTE_TEXTS,
  ST_DELETES,
  ST_EVICTIONS,
  ST_EXPIRATIONS,
  ST_HITS,
  ST_INVALIDATIONS,
  ST_MISSES,
  ST_SETS,
  ST_SPILL_ERRORS,
  ST_SPILL_HITS,
  ST_SPILL_SUPERSEDED,
  ST_SPILL_MISSES,
  ST_SPILL_WRITES,
  ST_TAKEOVERS,
  ST_REMOTE_ERRORS,
  ST_REMOTE_HITS,
  ST_REMOTE_INVALID,
  ST_REMOTE_LEASE_WAITS,
  ST_REMOTE_MISSES,
  ST_REMOTE_WRITES,
  STAT_ROWS,
  STAT_WORDS,
  STATS,
} from './layout.js';

export interface CounterTotals {
  hits: number;
  misses: number;
  sets: number;
  evictions: number;
  expirations: number;
  invalidations: number;
  deletes: number;
  lockTakeovers: number;
  spillWrites: number;
  spillHits: number;
  spillMisses: number;
  spillErrors: number;
  spillSuperseded: number;
  remoteHits: number;
  remoteMisses: number;
  remoteWrites: number;
  remoteErrors: number;
  remoteLeaseWaits: number;
  remoteInvalid: number;
  computeTexts: number;
  computeEmbedded: number;
}

export class Counters {
  /** First word of this thread's row. */
  private readonly row: number;

  constructor(
    private readonly ctl: Int32Array,
    rowIndex: number,
  ) {
    this.row = STATS + (rowIndex % STAT_ROWS) * STAT_WORDS;
  }

  add(counter: number, n = 1): void {
    Atomics.add(this.ctl, this.row + counter, n);
  }

  totals(): CounterTotals {
    const sum = (c: number) => {
      let s = 0;
      // Counters are int32 words read as unsigned: each wraps after 4.29e9 operations per row.
      for (let r = 0; r < STAT_ROWS; r++) s += Atomics.load(this.ctl, STATS + r * STAT_WORDS + c) >>> 0;
      return s;
    };
    return {
      hits: sum(ST_HITS),
      misses: sum(ST_MISSES),
      sets: sum(ST_SETS),
      evictions: sum(ST_EVICTIONS),
      expirations: sum(ST_EXPIRATIONS),
      invalidations: sum(ST_INVALIDATIONS),
      deletes: sum(ST_DELETES),
      lockTakeovers: sum(ST_TAKEOVERS),
      spillWrites: sum(ST_SPILL_WRITES),
      spillHits: sum(ST_SPILL_HITS),
      spillMisses: sum(ST_SPILL_MISSES),
      spillErrors: sum(ST_SPILL_ERRORS),
      spillSuperseded: sum(ST_SPILL_SUPERSEDED),
      remoteHits: sum(ST_REMOTE_HITS),
      remoteMisses: sum(ST_REMOTE_MISSES),
      remoteWrites: sum(ST_REMOTE_WRITES),
      remoteErrors: sum(ST_REMOTE_ERRORS),
      remoteLeaseWaits: sum(ST_REMOTE_LEASE_WAITS),
      remoteInvalid: sum(ST_REMOTE_INVALID),
      computeTexts: sum(ST_COMPUTE_TEXTS),
      computeEmbedded: sum(ST_COMPUTE_EMBEDDED),
    };
  }
}
