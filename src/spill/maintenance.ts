/**
 * Background maintenance: deletes expired records, the old generations that invalidation left
 * unreachable, and the oldest-written records while the file is over maxBytes; and measures
 * the file's live bytes (for maxBytes and stats). Apart from tier.ts because it runs on its own
 * schedule (a timer after commits, invalidations and expired reads) and only ever deletes.
 *
 * maxBytes. Live bytes = pages of the three record databases × page size, from LMDB's own
 * counters (O(1), and the same number for every thread and process). After each batch commits,
 * if the file is over maxBytes, maintenance deletes expired records first (expiry index), then
 * the oldest-written (age index) down to LOW_WATER of maxBytes. Age is the time a copy was
 * queued, not the time of the set: an entry that is promoted and spilled again moves to the
 * young end, which approximates LRU on disk. An index entry whose record has since been
 * rewritten or deleted is stale; it is recognised (the record disagrees) and dropped.
 *
 * No lmdb-js async `transaction()` anywhere. Its callback runs on the JS thread while LMDB's
 * single write lock is already held for it: a busy thread would stall every writer of every
 * thread and process, and a synchronous transaction of a second instance on the same thread
 * would wait for that lock forever (a deadlock, seen in testing). Background deletions are
 * therefore planned from a read snapshot and sent as plain batches (SWEEP_BATCH records at
 * most), each record's removal conditional on its version (its writtenMs), so a copy written
 * since the plan is never lost.
 */
import {
  generationStart,
  indexBound,
  indexEntryLive,
  indexKey,
  indexKeyInstant,
  indexKeyRecordKey,
  isStoredRecord,
  keyString,
  recordExpiresMs,
  recordWrittenMs,
} from './format.js';
import { storedModels } from './models.js';
import type { Bin, Fail, Lifecycle, SpillDbs } from './types.js';
import { silenceCommitError } from './batch.js';
import type { WriteMark } from './write-queue.js';

/** Deletions per maintenance transaction (sweep, expiry, eviction), so no writer waits long. */
const SWEEP_BATCH = 2048;
/** Eviction for maxBytes stops at this fraction of it, so it does not run after every batch. */
const LOW_WATER = 0.9;

/** One maintenance batch: records to delete (each with its index entries) and stale index entries. */
interface MaintenancePlan {
  records: { recKey: Uint8Array; writtenMs: number; expiresMs: number }[];
  indexKeys: { db: Bin; key: Uint8Array }[];
  /** A bound was hit or the file may still be over maxBytes: plan again after the commit. */
  more: boolean;
}

/** The write queue's progress, which tells the sweep when old-generation writes have landed. */
export interface BatchProgress {
  mark(): WriteMark;
  landed(mark: WriteMark): boolean;
}

export class Maintenance {
  private sweepPending = true;
  /** The sweep may not declare the file clean before the writes queued by then have landed (old-generation writes in flight). */
  private sweepAfter: WriteMark | undefined;
  private timer: NodeJS.Timeout | undefined;
  private run: Promise<void> | undefined;
  private lastEntries = 0;
  private lastBytes = 0;

  constructor(
    private readonly dbs: SpillDbs,
    private readonly maxBytes: number,
    private readonly life: Readonly<Lifecycle>,
    private readonly batches: BatchProgress,
    private readonly fail: Fail,
  ) {}

  /** The maintenance run in progress, if any. */
  get running(): Promise<void> | undefined {
    return this.run;
  }

  /** entries/bytes as of the last captureStats() (kept when a measurement fails, and after close). */
  get lastStats(): { entries: number; bytes: number } {
    return { entries: this.lastEntries, bytes: this.lastBytes };
  }

  /** Some model has records under an older generation: sweep once batches queued until now have settled. */
  requestSweep(): void {
    this.sweepPending = true;
    this.sweepAfter = this.batches.mark();
    this.schedule();
  }

  /** Runs maintenance on a timer, if it is needed then and nothing is scheduled or running. */
  schedule(): void {
    if (this.life.closing || this.timer !== undefined || this.run !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.life.closing && this.needed(Date.now())) void this.runAll();
    }, 0);
    this.timer.unref();
  }

  /** Cancels a scheduled run (close(); a run in progress is awaited through `running`). */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** Measures the file now, for stats(); keeps the last numbers if that fails. */
  captureStats(): void {
    try {
      const { entries, bytes } = this.liveBytes();
      this.lastEntries = entries;
      this.lastBytes = bytes;
    } catch {
      // keep the last numbers
    }
  }

  private liveBytes(): { entries: number; bytes: number } {
    return liveBytes(this.dbs);
  }

  /** True when some model has records under an older generation. Reads only, O(models · log n). */
  private garbageExists(): boolean {
    for (const [, m] of storedModels(this.dbs.meta)) {
      for (const _ of this.dbs.records.getKeys({
        start: generationStart(m.id, 0),
        end: generationStart(m.id, m.generation),
        limit: 1,
      }))
        return true;
    }
    return false;
  }

  /** True when there is something to delete: old generations, bytes over maxBytes, or an expired record. */
  needed(now: number): boolean {
    try {
      if (this.sweepPending) {
        if (this.garbageExists()) return true;
        if (this.sweepAfter === undefined || this.batches.landed(this.sweepAfter)) this.sweepPending = false;
      }
      if (this.maxBytes !== Infinity && this.liveBytes().bytes > this.maxBytes) return true;
      for (const k of this.dbs.expiry.getKeys({ limit: 1 })) return indexKeyInstant(k) < now;
      return false;
    } catch (err) {
      this.fail('maintenance', err, 0);
      return false;
    }
  }

  /** Runs maintenance batches until there is nothing left to do (or no progress). */
  runAll(): Promise<void> {
    this.run ??= (async () => {
      const { records, age, expiry } = this.dbs;
      try {
        for (;;) {
          if (this.life.closed) return;
          const plan = this.plan(Date.now());
          if (plan.records.length === 0 && plan.indexKeys.length === 0) return;
          const removals: Promise<boolean>[] = [];
          const batch = records.batch(() => {
            for (const r of plan.records) {
              // Conditional on the version (= writtenMs): a copy rewritten since the plan stays.
              removals.push(records.remove(r.recKey, r.writtenMs));
              void age.remove(indexKey(r.writtenMs, r.recKey));
              if (r.expiresMs !== 0) void expiry.remove(indexKey(r.expiresMs, r.recKey));
            }
            for (const { db, key } of plan.indexKeys) void db.remove(key);
          });
          for (const removal of removals) removal.catch(() => undefined); // the batch reports a failure
          await batch.catch((err: unknown) => {
            silenceCommitError(err);
            throw err;
          });
          if (!plan.more) return;
          await new Promise<void>((resolve) => setImmediate(resolve)); // let other writers in
        }
      } catch (err) {
        this.fail('maintenance', err, 0);
      } finally {
        this.run = undefined;
      }
    })();
    return this.run;
  }

  /**
   * Plans one bounded maintenance batch from a fresh read snapshot: expired records first, then
   * old generations, then the oldest-written while the file is over maxBytes. The deletions go
   * to lmdb-js as one plain batch, each record's removal conditional on its version (its
   * writtenMs); no transaction callback (see the design comment).
   */
  private plan(now: number): MaintenancePlan {
    const { root, meta, records, age, expiry } = this.dbs;
    root.resetReadTxn();
    const plan: MaintenancePlan = { records: [], indexKeys: [], more: false };
    const planned = new Set<string>();
    let budget = SWEEP_BATCH;
    const planRecord = (recKey: Uint8Array, value: Uint8Array | undefined): boolean => {
      if (value === undefined || !isStoredRecord(value)) return false;
      const ks = keyString(recKey);
      if (!planned.has(ks)) {
        planned.add(ks);
        plan.records.push({ recKey, writtenMs: recordWrittenMs(value), expiresMs: recordExpiresMs(value) });
      }
      return true;
    };
    /** The records that index entries `keys` of `db` point at; an entry pointing at nothing, or at an older copy, goes. */
    const planIndexed = (
      db: Bin,
      keys: Iterable<Uint8Array>,
      instant: (record: Uint8Array) => number,
    ): void => {
      for (const k of Array.from(keys)) {
        budget--;
        const recKey = indexKeyRecordKey(k);
        const value = records.getBinaryFast(recKey);
        if (indexEntryLive(k, value, instant)) planRecord(recKey, value);
        else plan.indexKeys.push({ db, key: k });
      }
    };

    // 1. Expired records, soonest first.
    planIndexed(expiry, expiry.getKeys({ end: indexBound(now), limit: budget }), recordExpiresMs);

    // 2. Old generations of every model (one contiguous key range each).
    if (this.sweepPending && budget > 0) {
      for (const [, m] of Array.from(storedModels(meta))) {
        if (m.generation === 0 || budget <= 0) continue;
        const range = {
          start: generationStart(m.id, 0),
          end: generationStart(m.id, m.generation),
          limit: budget,
        };
        for (const entry of Array.from(records.getRange(range))) {
          budget--;
          if (!planRecord(entry.key, entry.value)) plan.indexKeys.push({ db: records, key: entry.key }); // undecodable: drop it
        }
      }
    }

    // 3. maxBytes: the oldest-written go, down to LOW_WATER of the bound. Estimated: page counts
    // settle only after the commit, so the loop measures again.
    if (this.maxBytes !== Infinity && budget > 0) {
      const { entries, bytes } = this.liveBytes();
      const perRecord = entries > 0 ? bytes / entries : 0;
      const expected = bytes - plan.records.length * perRecord;
      if (expected > this.maxBytes && perRecord > 0) {
        const count = Math.min(
          budget,
          Math.ceil((expected - this.maxBytes * LOW_WATER) / perRecord) + plan.records.length,
        );
        planIndexed(age, age.getKeys({ limit: count }), recordWrittenMs);
        plan.more = true; // measure again after the commit
      }
    }
    if (budget <= 0) plan.more = true;
    return plan;
  }
}

/**
 * Live data of a spill file: pages of the three record databases × the page size, and the
 * records (tombstones included). What stats() reports, and the CLI too.
 */
export function liveBytes(dbs: Pick<SpillDbs, 'records' | 'age' | 'expiry'>): {
  entries: number;
  bytes: number;
  pageSize: number;
} {
  type Stat = {
    pageSize: number;
    treeBranchPageCount: number;
    treeLeafPageCount: number;
    overflowPages: number;
    entryCount: number;
  };
  let pages = 0;
  let pageSize = 4096;
  let entries = 0;
  for (const db of [dbs.records, dbs.age, dbs.expiry]) {
    const s = db.getStats() as Stat;
    pages += s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    pageSize = s.pageSize;
    if (db === dbs.records) entries = s.entryCount;
  }
  return { entries, bytes: pages * pageSize, pageSize };
}
