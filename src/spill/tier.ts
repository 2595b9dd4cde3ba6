/**
 * The spill tier: entries the memory tier evicts (and, with persist, every entry) kept in an
 * LMDB file, read back synchronously on a memory miss. This is the only module that imports
 * 'lmdb'; the byte formats live in format.ts.
 *
 * Layout. One LMDB environment per path, four databases in it:
 *
 *   embedcache-meta     'format' → {formatVersion, keyHash, seed}; 'model/<name>' → {id,
 *                        generation, dims}; 'next-model-id' → u32        (msgpackr values)
 *   embedcache-records  [model id][generation][16-byte key] → 40-byte header + raw floats,
 *                        LMDB version = writtenMs
 *   embedcache-age      [writtenMs][record key] → ·     eviction order, oldest-written first
 *   embedcache-expiry   [expiresMs][record key] → ·     only records that expire
 *
 * Reads. `get` is synchronous: build the 24-byte key in a scratch buffer, `getBinaryFast`
 * (LMDB copies the value into one reusable buffer), check the header, copy the floats into a
 * new Float32Array; `peek` skips that copy and returns a view valid until the next call, for
 * promotion. Opening a file reads only its meta records, so a file of any size opens in
 * milliseconds and the first get costs one B-tree walk. lmdb-js renews a thread's read snapshot
 * once per event-loop turn, so a snapshot can predate another thread's commit: a lookup that
 * finds nothing looks once more in a fresh snapshot before it counts as a miss.
 *
 * Writes. `enqueue` encodes the record at once (so the caller may reuse its vector; buffers come
 * from 1 MiB slabs, see RecordArena) and queues it; a setImmediate, or a full queue of
 * BATCH_MAX records, hands the queue to lmdb-js as one `batch`: one LMDB transaction, committed
 * and fsynced on lmdb-js's write thread, never a synchronous put per entry. A record, its age
 * entry and its expiry entry go in the same transaction, so the indexes never miss a committed
 * record. Until its batch commits a record also sits in a small per-instance map, so a get
 * right after an eviction still finds it (other threads see it once it commits).
 *
 * lmdb-js runs with eventTurnBatching: false and overlappingSync: false. With event-turn
 * batching, lmdb-js makes an internal promise per batch that nobody awaits; when a commit fails
 * (disk full) that promise rejects unhandled and Node's default policy kills the process. With
 * overlapping sync, a failed flush leaves the "flushed" promise pending forever, so flush()
 * would hang. With both off, every failure reaches the promise `batch` returns, where it is
 * counted, and a resolved promise means the data is on disk. The cost is one fsync per batch,
 * in lmdb-js's write thread, not the caller's.
 *
 * No lmdb-js async `transaction()` anywhere. Its callback runs on the JS thread while LMDB's
 * single write lock is already held for it: a busy thread would stall every writer of every
 * thread and process, and a synchronous transaction of a second instance on the same thread
 * would wait for that lock forever (a deadlock, seen in testing). Background deletions are
 * therefore planned from a read snapshot and sent as plain batches, each record's removal
 * conditional on its version (its writtenMs), so a copy written since the plan is never lost.
 * The few synchronous transactions (new model, dims, invalidation, a new file's format record)
 * are short and rare.
 *
 * Invalidation is O(1). `invalidateModel` bumps the model's generation in its meta record (one
 * small synchronous transaction, whatever the number of records); every record key carries the
 * generation, so old records are out of reach at once. A background sweep deletes the old
 * generations' key ranges in bounded batches (SWEEP_BATCH records each).
 *
 * Threads and processes. Each thread opens its own SpillTier on the same path; LMDB's lock file
 * serializes writers across threads and processes, and readers never block. The one thing an
 * instance caches is each model's (id, generation, dims). It re-reads them (after renewing its
 * read snapshot) when the caller passes a memory-tier generation for the model that differs
 * from the one it last saw, and at least every MODEL_REFRESH_MS in any case. So the cache bumps
 * the disk generation first (invalidateModel) and publishes its memory generation after: a
 * thread that sees the new memory generation then also finds the new disk generation. Two
 * processes on one path are safe (LMDB locks; model ids are allocated inside write
 * transactions); an invalidation in one process reaches the other's spill reads within
 * MODEL_REFRESH_MS, but not its memory tier. Network file systems are not supported (LMDB needs
 * a shared memory map and POSIX locks).
 *
 * maxBytes. Live bytes = pages of the three record databases × page size, from LMDB's own
 * counters (O(1), and the same number for every thread and process). After each batch commits,
 * if the file is over maxBytes, maintenance deletes expired records first (expiry index), then
 * the oldest-written (age index) down to LOW_WATER of maxBytes. Age is the time a copy was
 * queued, not the time of the set: an entry that is promoted and spilled again moves to the
 * young end, which approximates LRU on disk. An index entry whose record has since been
 * rewritten or deleted is stale; it is recognised (the record disagrees) and dropped.
 *
 * Faults. Every failure after open is counted in stats().errors, logged once per instance
 * with console.warn, and never thrown: a spill tier that cannot write behaves like a smaller
 * cache. Open failures throw EmbeddingCacheError: ERR_SPILL_OPEN (cannot create or read the
 * path; a data file that is not LMDB is detected before LMDB maps it, because mapping a garbage
 * or truncated file crashes the process) or ERR_SPILL_FORMAT (another format version, another
 * key hash, or an LMDB file that is not ours).
 */
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { open as openLmdb, type Database, type RootDatabase } from 'lmdb';
import { EmbeddingCacheError } from '../errors.js';
import { DEFAULT_SPILL_MAX_BYTES } from '../options.js';
import {
  ALL_DBS,
  CONTENT_KEY_BYTES,
  DB_AGE,
  DB_EXPIRY,
  DB_META,
  DB_RECORDS,
  FORMAT_VERSION,
  MAX_U32,
  META_FORMAT_KEY,
  META_NEXT_MODEL_KEY,
  MODEL_END,
  MODEL_PREFIX,
  RECORD_KEY_BYTES,
  RecordArena,
  decodeFormatMeta,
  decodeModelMeta,
  decodeU32,
  decodeVector,
  encodeFormatMeta,
  encodeModelMeta,
  encodeRecord,
  encodeU32,
  generationStart,
  indexBound,
  indexKey,
  indexKeyInstant,
  indexKeyRecordKey,
  isValidRecord,
  keyString,
  recordExpiresMs,
  recordCreatedMs,
  recordGeneration,
  recordKey,
  recordKeyGeneration,
  recordKeyModelId,
  recordModelId,
  recordWrittenMs,
  readVectorInto,
  writeRecordKey,
  type FormatMeta,
  type ModelMeta,
} from './format.js';
import type { SpillHit, SpillRecord, SpillStats, SpillTierOptions, SpillVerifyReport } from './types.js';

export type { SpillHit, SpillRecord, SpillStats, SpillTierOptions, SpillVerifyReport } from './types.js';

/** Records per write transaction when the queue fills before the next event-loop turn. */
const BATCH_MAX = 1024;
/** Deletions per maintenance transaction (sweep, expiry, eviction), so no writer waits long. */
const SWEEP_BATCH = 2048;
/** Queued-but-uncommitted records a get can still see; past it the oldest are forgotten (a miss, not an error). */
const PENDING_MAX = 4096;
/** How often an instance re-reads a model's generation even without a hint from the cache. */
export const MODEL_REFRESH_MS = 1000;
/** Eviction for maxBytes stops at this fraction of it, so it does not run after every batch. */
const LOW_WATER = 0.9;
/** Key seed length; matches key/hasher.ts SECRET_BYTES. */
const SEED_BYTES = 32;
/** Sub-millisecond step that keeps one instance's writtenMs strictly increasing (exact in a double). */
const WRITTEN_STEP_MS = 1 / 1024;
/** Index entries carry no value; one constant byte (lmdb-js special-cases empty buffers). */
const INDEX_VALUE = new Uint8Array([0]);

/** A queued write (value) or delete (value null). */
interface Op {
  recKey: Uint8Array;
  ks: string;
  value: Uint8Array | null;
  writtenMs: number;
  expiresMs: number;
  /**
   * (writtenMs, expiresMs) pairs of this instance's earlier copies of the key that were still
   * uncommitted when this op was queued: the read snapshot cannot show them, yet their index
   * entries must go when this op lands.
   */
  priors: number[] | undefined;
}

/** What an instance knows of a model; id 0 = not in the file (as of checkedMs). */
interface ModelState {
  id: number;
  generation: number;
  dims: number;
  memGen: number | undefined;
  checkedMs: number;
}

type Bin = Database<Uint8Array, Uint8Array>;

/** One maintenance batch: records to delete (each with its index entries) and stale index entries. */
interface MaintenancePlan {
  records: { recKey: Uint8Array; writtenMs: number; expiresMs: number }[];
  indexKeys: { db: Bin; key: Uint8Array }[];
  /** A bound was hit or the file may still be over maxBytes: plan again after the commit. */
  more: boolean;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// The data file is checked before LMDB maps it: lmdb-js segfaults on a data.mdb that is not an
// LMDB file, and a file shorter than its meta page claims raises SIGBUS on first access. The
// offsets are those of the LMDB build that lmdb-js ships (64-bit: 24-byte page header, then
// MDB_meta); the tests reopen real files, so a layout change shows up there first. A file cut
// short by less than TRUNCATION_SLACK_PAGES, or damaged inside, still reaches LMDB.

const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_AT = 0x18;
const META_PSIZE_AT = 0x30;
const META_LAST_PAGE_AT = 0x90;
const META_TXNID_AT = 0x98;
const TRUNCATION_SLACK_PAGES = 64;

/** Returns why `file` is not a usable LMDB data file, or undefined if it looks whole (or is absent/empty). */
function checkDataFile(file: string): string | undefined {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return 'it is not a regular file';
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return errorMessage(err);
  }
  if (size === 0) return undefined;
  if (!process.arch.includes('64')) return undefined; // the offsets below are for 64-bit builds
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    return errorMessage(err);
  }
  try {
    const head = Buffer.alloc(0xa0);
    if (readSync(fd, head, 0, head.length, 0) < head.length) return `it is only ${size} bytes long`;
    if (head.readUInt32LE(META_MAGIC_AT) !== LMDB_MAGIC) return 'it does not start with an LMDB meta page';
    const psize = head.readUInt32LE(META_PSIZE_AT);
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) return `its page size (${psize}) is not valid`;
    if (size < 2 * psize) return `it is shorter (${size} bytes) than its two meta pages`;
    const second = Buffer.alloc(0xa0);
    readSync(fd, second, 0, second.length, psize);
    if (second.readUInt32LE(META_MAGIC_AT) !== LMDB_MAGIC) return 'its second meta page is damaged';
    const newest = second.readBigUInt64LE(META_TXNID_AT) > head.readBigUInt64LE(META_TXNID_AT) ? second : head;
    // mm_last_pg is the highest page ever allocated; the top few may never have been written
    // (pages freed in the transaction that allocated them), so allow some slack.
    const lastPage = Number(newest.readBigUInt64LE(META_LAST_PAGE_AT));
    if ((lastPage + 1 - TRUNCATION_SLACK_PAGES) * psize > size) {
      return `it is truncated: ${size} bytes, but its meta page refers to page ${lastPage} of ${psize} bytes`;
    }
    return undefined;
  } catch (err) {
    return errorMessage(err);
  } finally {
    closeSync(fd);
  }
}

function openError(path: string, why: string, cause?: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_SPILL_OPEN',
    `Cannot open the spill tier at ${path}: ${why}. Pass a spill.path in a writable folder, or move the damaged folder away to start empty.`,
    cause === undefined ? undefined : { cause },
  );
}

function formatError(path: string, why: string): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_SPILL_FORMAT',
    `The spill file at ${path} cannot be used: ${why}. Open the cache with matching options, or use another spill.path (or delete that folder to start empty).`,
  );
}

export class SpillTier {
  /** Absolute path of the folder holding the LMDB environment. */
  readonly path: string;
  /** Bound on live bytes in the file. */
  readonly maxBytes: number;
  readonly persist: boolean;
  readonly keyHash: 'xxhash' | 'sha256';
  /** The key seed in force: the file's if it had one, else the one given to open(). */
  readonly seed: Uint8Array;
  private readonly onCount: SpillTierOptions['onCount'];

  private readonly root: RootDatabase<Uint8Array, Uint8Array>;
  private readonly meta: Database<Uint8Array, string>;
  private readonly records: Bin;
  private readonly age: Bin;
  private readonly expiry: Bin;

  private readonly models = new Map<string, ModelState>();
  /** Models whose invalidation failed on disk: never read or written by this instance again. */
  private readonly disabledModels = new Set<string>();
  /** Set when clear() failed on disk: the instance no longer reads or writes at all. */
  private disabledAll = false;
  private readonly keyScratch = new Uint8Array(RECORD_KEY_BYTES);
  private readonly arena = new RecordArena();
  private readonly view: SpillHit = { vector: new Float32Array(0), createdMs: 0, expiresMs: 0 };
  private readonly viewScratch = { buf: new Float32Array(0) };

  private queue: Op[] = [];
  /** Queued or uncommitted ops by key string, so that this instance's gets see them. */
  private readonly pending = new Map<string, Op>();
  /** Insertion order of `pending`, to forget the oldest in O(1) once PENDING_MAX is reached. */
  private readonly pendingRing: (Op | undefined)[] = new Array<Op | undefined>(PENDING_MAX);
  private pendingPos = 0;
  private drainTimer: NodeJS.Immediate | undefined;
  /** The last batch's settled promise: lmdb-js commits batches in order, so awaiting it awaits all. */
  private tail: Promise<void> = Promise.resolve();
  private batchSeq = 0;
  private settledSeq = 0;
  private lastWrittenMs = 0;

  private sweepPending = true;
  /** The sweep may not declare the file clean before this batch has settled (old-generation writes still in flight). */
  private sweepAfterSeq = 0;
  private maintenanceTimer: NodeJS.Timeout | undefined;
  private maintenanceRun: Promise<void> | undefined;

  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private warned = false;
  private lastEntries = 0;
  private lastBytes = 0;

  private writes = 0;
  private hits = 0;
  private misses = 0;
  private errors = 0;

  /**
   * Opens (creating if needed) the spill tier at `options.path`. Synchronous: reads only the
   * file's meta records. Throws ERR_SPILL_OPEN or ERR_SPILL_FORMAT (see the design comment).
   */
  static open(options: SpillTierOptions): SpillTier {
    if (typeof options !== 'object' || options === null) throw new TypeError('SpillTier.open(options): options must be an object.');
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new TypeError('spill.path must be a non-empty string: the folder that holds the LMDB file.');
    }
    const maxBytes = options.maxBytes ?? DEFAULT_SPILL_MAX_BYTES;
    if (typeof maxBytes !== 'number' || !(maxBytes > 0)) {
      throw new RangeError(`spill.maxBytes must be a positive number of bytes, got ${String(options.maxBytes)}.`);
    }
    if (options.keyHash !== 'xxhash' && options.keyHash !== 'sha256') {
      throw new TypeError(`keyHash must be 'xxhash' or 'sha256', got ${String(options.keyHash)}.`);
    }
    if (!(options.seed instanceof Uint8Array) || options.seed.length !== SEED_BYTES) {
      throw new TypeError(`The spill tier needs the cache's ${SEED_BYTES}-byte key seed as a Uint8Array.`);
    }
    const path = resolvePath(options.path);
    try {
      mkdirSync(path, { recursive: true });
    } catch (err) {
      throw openError(path, `cannot create the folder (${errorMessage(err)})`, err);
    }
    try {
      if (!statSync(path).isDirectory()) throw openError(path, 'it is not a folder');
    } catch (err) {
      if (err instanceof EmbeddingCacheError) throw err;
      throw openError(path, errorMessage(err), err);
    }
    const bad = checkDataFile(join(path, 'data.mdb'));
    if (bad !== undefined) throw openError(path, `its data.mdb is not a readable LMDB file: ${bad}`);

    let root: RootDatabase<Uint8Array, Uint8Array>;
    try {
      root = openLmdb<Uint8Array, Uint8Array>({
        path,
        noSubdir: false,
        maxDbs: 8,
        keyEncoding: 'binary',
        encoding: 'binary',
        // See the design comment: both off so that every failure reaches a promise we hold.
        eventTurnBatching: false,
        overlappingSync: false,
      });
    } catch (err) {
      throw openError(path, errorMessage(err), err);
    }
    try {
      return new SpillTier(root, path, maxBytes, options);
    } catch (err) {
      void root.close().catch(() => undefined);
      if (err instanceof EmbeddingCacheError) throw err;
      throw openError(path, errorMessage(err), err);
    }
  }

  private constructor(root: RootDatabase<Uint8Array, Uint8Array>, path: string, maxBytes: number, options: SpillTierOptions) {
    this.onCount = options.onCount;
    this.root = root;
    this.path = path;
    this.maxBytes = maxBytes;
    this.persist = options.persist ?? false;
    this.keyHash = options.keyHash;

    // An environment with named databases other than ours was written by something else:
    // refuse it before creating anything in it.
    for (const name of root.getKeys({ limit: 16 })) {
      const text = Buffer.from(name).toString('latin1').replace(/\0$/, '');
      if (!ALL_DBS.includes(text)) throw formatError(path, `it is an LMDB environment that embedcache did not write (it holds "${text}")`);
    }
    this.meta = root.openDB<Uint8Array, string>({ name: DB_META, encoding: 'binary', keyEncoding: 'ordered-binary' });
    // Versioned: a record's version is its writtenMs, so maintenance can delete "this copy"
    // and never a newer one written since it looked (see planMaintenance).
    this.records = root.openDB<Uint8Array, Uint8Array>({ name: DB_RECORDS, encoding: 'binary', keyEncoding: 'binary', useVersions: true });
    this.age = root.openDB<Uint8Array, Uint8Array>({ name: DB_AGE, encoding: 'binary', keyEncoding: 'binary' });
    this.expiry = root.openDB<Uint8Array, Uint8Array>({ name: DB_EXPIRY, encoding: 'binary', keyEncoding: 'binary' });

    let format = this.readFormat();
    if (format === undefined) {
      // A new file: write our identity. Re-check inside the write transaction, since another
      // thread or process may be creating the same file right now; the first one wins.
      format = this.meta.transactionSync(() => {
        const existing = this.readFormat();
        if (existing !== undefined) return existing;
        if ((this.records.getStats() as { entryCount: number }).entryCount > 0) {
          throw formatError(path, 'it holds records but no format record');
        }
        const created: FormatMeta = {
          formatVersion: FORMAT_VERSION,
          keyHash: options.keyHash,
          seed: new Uint8Array(options.seed),
          createdMs: Date.now(),
        };
        this.meta.putSync(META_FORMAT_KEY, encodeFormatMeta(created));
        return created;
      });
    }
    if (format.keyHash !== options.keyHash) {
      throw formatError(
        path,
        `it was written with keyHash '${format.keyHash}' and the cache was opened with keyHash '${options.keyHash}', so no key would match (open with keyHash: '${format.keyHash}')`,
      );
    }
    this.seed = format.seed;
    this.scheduleMaintenance();
  }

  /** Reads and validates the format record; undefined when the file has none. */
  private readFormat(): FormatMeta | undefined {
    const bytes = this.meta.getBinary(META_FORMAT_KEY);
    if (bytes === undefined) return undefined;
    const result = decodeFormatMeta(bytes);
    if (result.kind === 'version') {
      throw formatError(
        this.path,
        `it has format version ${result.formatVersion} and this version of embedcache reads format version ${FORMAT_VERSION}`,
      );
    }
    if (result.kind === 'invalid') throw formatError(this.path, result.reason);
    return result.meta;
  }

  // -------------------------------------------------------------------------------------------
  // Models.

  private readModel(model: string): ModelMeta | undefined {
    const bytes = this.meta.getBinary(MODEL_PREFIX + model);
    return bytes === undefined ? undefined : decodeModelMeta(bytes);
  }

  /**
   * The instance's view of a model, re-read when the cache's memory generation moved or the
   * last read is older than MODEL_REFRESH_MS. With `create`, a model the file lacks is added
   * (one synchronous transaction, once per model per file).
   */
  private modelState(model: string, now: number, memGen: number | undefined, create: boolean): ModelState {
    let state = this.models.get(model);
    if (state === undefined) {
      const stored = this.readModel(model);
      state = { id: stored?.id ?? 0, generation: stored?.generation ?? 0, dims: stored?.dims ?? 0, memGen, checkedMs: now };
      this.models.set(model, state);
    } else if ((memGen !== undefined && memGen !== state.memGen) || now - state.checkedMs >= MODEL_REFRESH_MS || now < state.checkedMs) {
      // Another thread may have committed a new generation after our read snapshot began.
      this.root.resetReadTxn();
      const stored = this.readModel(model);
      if (stored !== undefined) {
        if (state.id !== 0 && stored.generation !== state.generation) this.requestSweep();
        state.id = stored.id;
        state.generation = stored.generation;
        state.dims = stored.dims;
      }
      state.memGen = memGen ?? state.memGen;
      state.checkedMs = now;
    }
    if (state.id === 0 && create) {
      const stored = this.meta.transactionSync(() => {
        const existing = this.readModel(model);
        if (existing !== undefined) return existing;
        const id = Math.max(1, decodeU32(this.meta.getBinary(META_NEXT_MODEL_KEY) ?? new Uint8Array(0)));
        if (id >= MAX_U32) throw new RangeError('The spill file has no model ids left.');
        const created: ModelMeta = { id, generation: 0, dims: 0 };
        this.meta.putSync(MODEL_PREFIX + model, encodeModelMeta(created));
        this.meta.putSync(META_NEXT_MODEL_KEY, encodeU32(id + 1));
        return created;
      });
      state.id = stored.id;
      state.generation = stored.generation;
      state.dims = stored.dims;
    }
    return state;
  }

  /** Fixes the model's dims on disk if unset; returns the dims in force. */
  private fixDims(model: string, state: ModelState, dims: number): number {
    if (state.dims !== 0) return state.dims;
    const stored = this.meta.transactionSync(() => {
      const current = this.readModel(model);
      if (current === undefined) return undefined;
      if (current.dims === 0) {
        current.dims = dims;
        this.meta.putSync(MODEL_PREFIX + model, encodeModelMeta(current));
      }
      return current;
    });
    if (stored !== undefined) {
      state.generation = stored.generation;
      state.dims = stored.dims;
    }
    return state.dims;
  }

  /**
   * A model's dims are fixed on disk as they are in memory: the first vector (or this call)
   * fixes them, and a different count throws ERR_DIMENSION_MISMATCH. invalidateModel frees them.
   */
  checkDims(model: string, dims: number): void {
    if (this.closed) return;
    let fixed: number;
    try {
      fixed = this.fixDims(model, this.modelState(model, Date.now(), undefined, true), dims);
    } catch (err) {
      this.fail('checkDims', err, 1); // a disk fault: enqueue will count its own failures
      return;
    }
    if (fixed !== dims) {
      throw new EmbeddingCacheError(
        'ERR_DIMENSION_MISMATCH',
        `Model '${model}' has ${fixed}-dimensional vectors in the spill file at ${this.path}; got ${dims}. Use another model name, or invalidateModel('${model}') first.`,
      );
    }
  }

  /**
   * Makes every record of `model` unreachable at once: bumps the model's disk generation (one
   * small synchronous transaction, O(1) in the number of records) and frees its dims. The old
   * records are deleted in the background. Call it before publishing the memory tier's new
   * generation, so that a thread that sees the new memory generation finds the new disk one.
   * Never throws. Returns false if the disk could not be updated: the old records are then
   * still reachable from disk, this instance stops using the disk for the model, and the cache
   * should keep other threads from reading the model from disk too.
   */
  invalidateModel(model: string): boolean {
    if (this.closed) return false;
    let stored: ModelMeta | undefined;
    try {
      this.drain(); // queued old-generation writes must land before the sweep may call the file clean
      // Always through a write transaction: it reads the latest model record, whatever this
      // instance's view (another thread may have created the model a moment ago).
      stored = this.meta.transactionSync(() => {
        const current = this.readModel(model);
        if (current === undefined) return undefined; // no record of this model was ever written
        const next: ModelMeta = { id: current.id, generation: (current.generation + 1) % MAX_U32, dims: 0 };
        this.meta.putSync(MODEL_PREFIX + model, encodeModelMeta(next));
        return next;
      });
    } catch (err) {
      // The old records are still reachable on disk. This instance stops using the disk for
      // the model, and says so; the cache decides what the other threads do.
      this.disabledModels.add(model);
      this.fail('invalidateModel', err, 1);
      return false;
    }
    if (stored === undefined) return true;
    const state = this.models.get(model);
    if (state !== undefined) {
      state.id = stored.id;
      state.generation = stored.generation;
      state.dims = stored.dims;
      state.checkedMs = Date.now();
    }
    this.requestSweep();
    return true;
  }

  /**
   * Makes every record of every model unreachable at once: bumps every model's generation in
   * one small synchronous transaction (O(models), whatever the number of records) and frees
   * their dims; the records are deleted in the background. Never throws; returns false if the
   * disk could not be updated, and this instance then stops using the disk altogether. Other
   * threads notice through the memory generation they pass (see invalidateModel).
   */
  clear(): boolean {
    if (this.closed) return false;
    let bumped: [string, ModelMeta][];
    try {
      this.drain();
      bumped = this.meta.transactionSync(() => {
        const out: [string, ModelMeta][] = [];
        for (const { key, value } of Array.from(this.meta.getRange({ start: MODEL_PREFIX, end: MODEL_END }))) {
          const current = decodeModelMeta(value);
          if (current === undefined) continue;
          const next: ModelMeta = { id: current.id, generation: (current.generation + 1) % MAX_U32, dims: 0 };
          this.meta.putSync(key, encodeModelMeta(next));
          out.push([key.slice(MODEL_PREFIX.length), next]);
        }
        return out;
      });
    } catch (err) {
      this.disabledAll = true;
      this.fail('clear', err, 1);
      return false;
    }
    const now = Date.now();
    for (const [model, stored] of bumped) {
      const state = this.models.get(model);
      if (state === undefined) continue;
      state.id = stored.id;
      state.generation = stored.generation;
      state.dims = 0;
      state.checkedMs = now;
    }
    this.requestSweep();
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Reads.

  /**
   * The record for (key, model) as a fresh vector the caller owns, or undefined. Synchronous.
   * An expired record is never returned (it is deleted in the background). `memGen` is the
   * memory tier's generation of the model: when it differs from the last one this instance
   * saw, the model's disk generation is re-read first. Never throws for a fault: a failed or
   * corrupt read counts in errors and returns undefined.
   */
  get(key: Uint8Array, model: string, now: number, memGen?: number): SpillHit | undefined {
    const bytes = this.lookup(key, model, now, memGen);
    if (bytes === undefined) return undefined;
    return { vector: decodeVector(bytes), createdMs: recordCreatedMs(bytes), expiresMs: recordExpiresMs(bytes) };
  }

  /**
   * Like get(), without allocating: the floats are copied into a buffer this instance reuses,
   * and the returned object and its `vector` stay valid until the next peek() on this instance
   * (other calls do not touch them). For promotion, which copies the floats into the memory
   * tier anyway; it saves allocating a 3 KB array per hit.
   */
  peek(key: Uint8Array, model: string, now: number, memGen?: number): SpillHit | undefined {
    const bytes = this.lookup(key, model, now, memGen);
    if (bytes === undefined) return undefined;
    const view = this.view;
    view.vector = readVectorInto(bytes, this.viewScratch);
    view.createdMs = recordCreatedMs(bytes);
    view.expiresMs = recordExpiresMs(bytes);
    return view;
  }

  /** The valid, unexpired record bytes for (key, model); counts the hit or miss. */
  private lookup(key: Uint8Array, model: string, now: number, memGen: number | undefined): Uint8Array | undefined {
    if (this.closed) return undefined;
    if (key.length !== CONTENT_KEY_BYTES) throw new RangeError(`A spill key is ${CONTENT_KEY_BYTES} bytes, got ${key.length}.`);
    try {
      let bytes = this.find(key, model, now, memGen, false);
      if (bytes === undefined) {
        // lmdb-js renews a thread's read snapshot once per event-loop turn, so it can predate a
        // commit by another thread or process. Before calling it a miss, look again in a fresh
        // one: a miss costs the caller an embedding call, a second lookup costs a microsecond.
        this.root.resetReadTxn();
        bytes = this.find(key, model, now, memGen, true);
      }
      if (bytes === undefined || bytes === null) {
        this.misses++;
        return undefined;
      }
      if (!isValidRecord(bytes)) {
        this.fail('a read', new Error('a record has the wrong length or header (not written by this format)'), 1);
        this.misses++;
        return undefined;
      }
      const expiresMs = recordExpiresMs(bytes);
      if (expiresMs !== 0 && expiresMs <= now) {
        this.misses++;
        this.scheduleMaintenance();
        return undefined;
      }
      this.hits++;
      return bytes;
    } catch (err) {
      this.fail('a read', err, 1);
      this.misses++;
      return undefined;
    }
  }

  /**
   * The stored bytes for (key, model) in the current snapshot (or this instance's queue);
   * undefined when not found, null when this instance has a delete of it queued. With `fresh`,
   * a model the instance believed absent is looked up again.
   */
  private find(key: Uint8Array, model: string, now: number, memGen: number | undefined, fresh: boolean): Uint8Array | null | undefined {
    if (this.disabledAll || (this.disabledModels.size !== 0 && this.disabledModels.has(model))) return null;
    let state = this.modelState(model, now, memGen, false);
    if (state.id === 0) {
      if (!fresh) return undefined;
      this.models.delete(model);
      state = this.modelState(model, now, memGen, false);
      if (state.id === 0) return null;
    }
    const recKey = this.keyScratch;
    writeRecordKey(recKey, state.id, state.generation, key);
    if (this.pending.size !== 0) {
      const op = this.pending.get(keyString(recKey));
      if (op !== undefined) return op.value;
    }
    const bytes = this.records.getBinaryFast(recKey);
    if (bytes !== undefined && (recordModelId(bytes) !== state.id || recordGeneration(bytes) !== state.generation)) {
      this.fail('a read', new Error('a record disagrees with its key'), 1);
      return null;
    }
    return bytes;
  }

  // -------------------------------------------------------------------------------------------
  // Writes.

  private nextWrittenMs(now: number): number {
    this.lastWrittenMs = now > this.lastWrittenMs ? now : this.lastWrittenMs + WRITTEN_STEP_MS;
    return this.lastWrittenMs;
  }

  private push(op: Op): void {
    this.queue.push(op);
    const before = this.pending.get(op.ks);
    if (before !== undefined && before.value !== null) op.priors = [...(before.priors ?? []), before.writtenMs, before.expiresMs];
    const evicted = this.pendingRing[this.pendingPos];
    if (evicted !== undefined && this.pending.get(evicted.ks) === evicted) this.pending.delete(evicted.ks);
    this.pendingRing[this.pendingPos] = op;
    this.pendingPos = (this.pendingPos + 1) % PENDING_MAX;
    this.pending.set(op.ks, op);
    if (this.queue.length >= BATCH_MAX) this.drain();
    else this.drainTimer ??= setImmediate(() => this.drain());
  }

  /**
   * Queues `rec` for disk. Copies the key and vector before returning. Never throws: a record
   * that cannot be written (closed tier, dims that disagree with the model's, a fault) counts
   * in errors. An already-expired record is dropped. `memGen` as for get().
   */
  enqueue(rec: SpillRecord, memGen?: number): void {
    if (this.closing) return;
    try {
      if (rec.key.length !== CONTENT_KEY_BYTES) throw new RangeError(`A spill key is ${CONTENT_KEY_BYTES} bytes, got ${rec.key.length}.`);
      const now = Date.now();
      if (rec.expiresMs !== 0 && rec.expiresMs <= now) return;
      if (this.disabledAll || (this.disabledModels.size !== 0 && this.disabledModels.has(rec.model))) return;
      if (!(rec.vector instanceof Float32Array) || rec.vector.length === 0) throw new TypeError('a record needs a non-empty Float32Array vector');
      const state = this.modelState(rec.model, now, memGen, true);
      const dims = this.fixDims(rec.model, state, rec.vector.length);
      if (dims !== rec.vector.length) {
        throw new RangeError(`model '${rec.model}' has ${dims}-dimensional vectors on disk, and a record has ${rec.vector.length}`);
      }
      const writtenMs = this.nextWrittenMs(now);
      const recKey = recordKey(state.id, state.generation, rec.key);
      const value = encodeRecord(
        { modelId: state.id, generation: state.generation, createdMs: rec.createdMs, expiresMs: rec.expiresMs, writtenMs },
        rec.vector,
        this.arena,
      );
      this.push({ recKey, ks: keyString(recKey), value, writtenMs, expiresMs: rec.expiresMs, priors: undefined });
    } catch (err) {
      this.fail('a write', err, 1);
    }
  }

  /** Deletes the record for (key, model), in order with queued writes. Never throws. */
  delete(key: Uint8Array, model: string, memGen?: number): void {
    if (this.closing) return;
    try {
      let state = this.modelState(model, Date.now(), memGen, false);
      if (state.id === 0) {
        // "Not in the file" may be up to MODEL_REFRESH_MS old; a delete must not miss a record
        // another thread wrote since, or a later miss would bring the deleted entry back.
        this.models.delete(model);
        this.root.resetReadTxn();
        state = this.modelState(model, Date.now(), memGen, false);
        if (state.id === 0) return;
      }
      const recKey = recordKey(state.id, state.generation, key);
      this.push({ recKey, ks: keyString(recKey), value: null, writtenMs: 0, expiresMs: 0, priors: undefined });
    } catch (err) {
      this.fail('a delete', err, 1);
    }
  }

  /** Hands the queue to lmdb-js as one batch (one transaction). */
  private drain(): void {
    if (this.drainTimer !== undefined) {
      clearImmediate(this.drainTimer);
      this.drainTimer = undefined;
    }
    const queued = this.queue;
    if (queued.length === 0 || this.closed) return;
    this.queue = [];
    // A later op on the same key replaces an earlier one in the same batch.
    const ops = new Map<string, Op>();
    for (const op of queued) {
      ops.delete(op.ks);
      ops.set(op.ks, op);
    }
    const seq = ++this.batchSeq;
    let batch: Promise<boolean>;
    try {
      this.root.resetReadTxn(); // the latest copies, so that their index entries can go
      // Index entries of the copies being replaced or deleted, read from the current snapshot.
      // (If another writer replaces one in between, its entry goes stale; maintenance drops it.)
      const staleAge: Uint8Array[] = [];
      const staleExpiry: Uint8Array[] = [];
      const replaced = (op: Op, oldWritten: number, oldExpires: number): void => {
        if (oldWritten !== op.writtenMs || op.value === null) staleAge.push(indexKey(oldWritten, op.recKey));
        if (oldExpires !== 0 && (oldExpires !== op.expiresMs || op.value === null)) staleExpiry.push(indexKey(oldExpires, op.recKey));
      };
      for (const op of ops.values()) {
        const old = this.records.getBinaryFast(op.recKey);
        if (old !== undefined && isValidRecord(old)) replaced(op, recordWrittenMs(old), recordExpiresMs(old));
        const priors = op.priors;
        if (priors !== undefined) for (let i = 0; i + 1 < priors.length; i += 2) replaced(op, priors[i]!, priors[i + 1]!);
      }
      batch = this.records.batch(() => {
        for (const k of staleAge) void this.age.remove(k);
        for (const k of staleExpiry) void this.expiry.remove(k);
        for (const op of ops.values()) {
          if (op.value === null) {
            void this.records.remove(op.recKey);
            continue;
          }
          void this.records.put(op.recKey, op.value, op.writtenMs);
          void this.age.put(indexKey(op.writtenMs, op.recKey), INDEX_VALUE);
          if (op.expiresMs !== 0) void this.expiry.put(indexKey(op.expiresMs, op.recKey), INDEX_VALUE);
        }
      });
    } catch (err) {
      this.settle(ops, seq, err);
      return;
    }
    this.tail = batch.then(
      () => this.settle(ops, seq, undefined),
      (err: unknown) => this.settle(ops, seq, err),
    );
  }

  private settle(ops: Map<string, Op>, seq: number, err: unknown): void {
    let written = 0;
    for (const op of ops.values()) {
      if (this.pending.get(op.ks) === op) this.pending.delete(op.ks);
      if (op.value !== null) written++;
      op.priors = undefined;
    }
    // Ops superseded inside this batch are settled too (their slot in the ring is harmless).
    if (this.pending.size === 0) this.pendingRing.fill(undefined);
    this.settledSeq = Math.max(this.settledSeq, seq);
    if (err === undefined) {
      this.writes += written;
      this.onCount?.('writes', written);
      if (this.needsMaintenance(Date.now())) this.scheduleMaintenance();
    } else {
      const commitError = (err as { commitError?: Promise<unknown> }).commitError;
      if (commitError !== undefined) void commitError.catch(() => undefined);
      this.fail('a write', err, ops.size);
    }
  }

  /**
   * Resolves once every record enqueued before the call is durable (committed and fsynced) or
   * has failed (counted in errors), and the file is back under maxBytes. Never rejects.
   */
  async flush(): Promise<void> {
    if (this.closed) return;
    this.drain();
    await this.tail;
    if (this.maintenanceRun !== undefined) await this.maintenanceRun;
    if (!this.closed && this.needsMaintenance(Date.now())) await this.runMaintenance();
  }

  /** Flushes, then closes this instance's handle (other threads' instances stay open). */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      await this.flush();
      this.closing = true;
      if (this.maintenanceTimer !== undefined) clearTimeout(this.maintenanceTimer);
      if (this.maintenanceRun !== undefined) await this.maintenanceRun;
      this.drain();
      await this.tail;
      this.captureStats();
      this.closed = true;
      try {
        await this.root.close();
      } catch (err) {
        this.fail('close', err, 0);
      }
    })();
    return this.closePromise;
  }

  // -------------------------------------------------------------------------------------------
  // Maintenance: expired records, old generations, maxBytes.

  private requestSweep(): void {
    this.sweepPending = true;
    this.sweepAfterSeq = this.batchSeq;
    this.scheduleMaintenance();
  }

  private scheduleMaintenance(): void {
    if (this.closing || this.maintenanceTimer !== undefined || this.maintenanceRun !== undefined) return;
    this.maintenanceTimer = setTimeout(() => {
      this.maintenanceTimer = undefined;
      if (!this.closing && this.needsMaintenance(Date.now())) void this.runMaintenance();
    }, 0);
    this.maintenanceTimer.unref();
  }

  private liveBytes(): { entries: number; bytes: number } {
    type Stat = { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number; entryCount: number };
    let pages = 0;
    let pageSize = 4096;
    let entries = 0;
    for (const db of [this.records, this.age, this.expiry]) {
      const s = db.getStats() as Stat;
      pages += s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
      pageSize = s.pageSize;
      if (db === this.records) entries = s.entryCount;
    }
    return { entries, bytes: pages * pageSize };
  }

  /** True when some model has records under an older generation. Reads only, O(models · log n). */
  private garbageExists(): boolean {
    for (const { value } of this.meta.getRange({ start: MODEL_PREFIX, end: MODEL_END })) {
      const m = decodeModelMeta(value);
      if (m === undefined) continue;
      for (const _ of this.records.getKeys({ start: generationStart(m.id, 0), end: generationStart(m.id, m.generation), limit: 1 })) return true;
    }
    return false;
  }

  private needsMaintenance(now: number): boolean {
    try {
      if (this.sweepPending) {
        if (this.garbageExists()) return true;
        if (this.settledSeq >= this.sweepAfterSeq) this.sweepPending = false;
      }
      if (this.maxBytes !== Infinity && this.liveBytes().bytes > this.maxBytes) return true;
      for (const k of this.expiry.getKeys({ limit: 1 })) return indexKeyInstant(k) < now;
      return false;
    } catch (err) {
      this.fail('maintenance', err, 0);
      return false;
    }
  }

  /** Runs maintenance batches until there is nothing left to do (or no progress). */
  private runMaintenance(): Promise<void> {
    this.maintenanceRun ??= (async () => {
      try {
        for (;;) {
          if (this.closed) return;
          const plan = this.planMaintenance(Date.now());
          if (plan.records.length === 0 && plan.indexKeys.length === 0) return;
          const removals: Promise<boolean>[] = [];
          const batch = this.records.batch(() => {
            for (const r of plan.records) {
              // Conditional on the version (= writtenMs): a copy rewritten since the plan stays.
              removals.push(this.records.remove(r.recKey, r.writtenMs));
              void this.age.remove(indexKey(r.writtenMs, r.recKey));
              if (r.expiresMs !== 0) void this.expiry.remove(indexKey(r.expiresMs, r.recKey));
            }
            for (const { db, key } of plan.indexKeys) void db.remove(key);
          });
          for (const removal of removals) removal.catch(() => undefined); // the batch reports a failure
          await batch.catch((err: unknown) => {
            const commitError = (err as { commitError?: Promise<unknown> }).commitError;
            if (commitError !== undefined) void commitError.catch(() => undefined);
            throw err;
          });
          if (!plan.more) return;
          await new Promise<void>((resolve) => setImmediate(resolve)); // let other writers in
        }
      } catch (err) {
        this.fail('maintenance', err, 0);
      } finally {
        this.maintenanceRun = undefined;
      }
    })();
    return this.maintenanceRun;
  }

  /**
   * Plans one bounded maintenance batch from a fresh read snapshot: expired records first, then
   * old generations, then the oldest-written while the file is over maxBytes. The deletions go
   * to lmdb-js as one plain batch, each record's removal conditional on its version (its
   * writtenMs). No transaction callback: an lmdb-js async transaction holds LMDB's write lock
   * until its callback has run on this thread, so a busy thread would stall every writer, and a
   * synchronous transaction of a second instance on this thread would deadlock against it.
   */
  private planMaintenance(now: number): MaintenancePlan {
    this.root.resetReadTxn();
    const plan: MaintenancePlan = { records: [], indexKeys: [], more: false };
    const planned = new Set<string>();
    let budget = SWEEP_BATCH;
    const planRecord = (recKey: Uint8Array, value: Uint8Array | undefined): boolean => {
      if (value === undefined || !isValidRecord(value)) return false;
      const ks = keyString(recKey);
      if (!planned.has(ks)) {
        planned.add(ks);
        plan.records.push({ recKey, writtenMs: recordWrittenMs(value), expiresMs: recordExpiresMs(value) });
      }
      return true;
    };

    // 1. Expired records, soonest first.
    for (const k of Array.from(this.expiry.getKeys({ end: indexBound(now), limit: budget }))) {
      budget--;
      const recKey = indexKeyRecordKey(k);
      const value = this.records.getBinaryFast(recKey);
      if (value === undefined || !isValidRecord(value) || recordExpiresMs(value) !== indexKeyInstant(k)) {
        plan.indexKeys.push({ db: this.expiry, key: k }); // points at nothing, or at an older copy
      } else {
        planRecord(recKey, value);
      }
    }

    // 2. Old generations of every model (one contiguous key range each).
    if (this.sweepPending && budget > 0) {
      for (const { value } of Array.from(this.meta.getRange({ start: MODEL_PREFIX, end: MODEL_END }))) {
        const m = decodeModelMeta(value);
        if (m === undefined || m.generation === 0 || budget <= 0) continue;
        const range = { start: generationStart(m.id, 0), end: generationStart(m.id, m.generation), limit: budget };
        for (const entry of Array.from(this.records.getRange(range))) {
          budget--;
          if (!planRecord(entry.key, entry.value)) plan.indexKeys.push({ db: this.records, key: entry.key }); // undecodable: drop it
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
        const count = Math.min(budget, Math.ceil((expected - this.maxBytes * LOW_WATER) / perRecord) + plan.records.length);
        for (const k of Array.from(this.age.getKeys({ limit: count }))) {
          budget--;
          const recKey = indexKeyRecordKey(k);
          const value = this.records.getBinaryFast(recKey);
          if (value === undefined || !isValidRecord(value) || recordWrittenMs(value) !== indexKeyInstant(k)) {
            plan.indexKeys.push({ db: this.age, key: k });
          } else {
            planRecord(recKey, value);
          }
        }
        plan.more = true; // measure again after the commit
      }
    }
    if (budget <= 0) plan.more = true;
    return plan;
  }

  // -------------------------------------------------------------------------------------------
  // Stats and diagnostics.

  private captureStats(): void {
    try {
      const { entries, bytes } = this.liveBytes();
      this.lastEntries = entries;
      this.lastBytes = bytes;
    } catch {
      // keep the last numbers
    }
  }

  /** entries/bytes: the whole file (every thread and process); writes/hits/misses/errors: this instance. */
  stats(): SpillStats {
    if (!this.closed) this.captureStats();
    return { entries: this.lastEntries, bytes: this.lastBytes, writes: this.writes, hits: this.hits, misses: this.misses, errors: this.errors };
  }

  /**
   * Scans the whole file and checks its invariants: every record decodes and matches its key,
   * every reachable record has its age entry, no index entry points nowhere. O(n): for tests
   * and diagnostics, not for a hot path.
   */
  verify(): SpillVerifyReport {
    const report: SpillVerifyReport = { records: 0, corrupt: 0, unreachable: 0, missingAge: 0, staleIndex: 0 };
    const generations = new Map<number, number>();
    for (const { value } of this.meta.getRange({ start: MODEL_PREFIX, end: MODEL_END })) {
      const m = decodeModelMeta(value);
      if (m !== undefined) generations.set(m.id, m.generation);
    }
    for (const { key, value } of this.records.getRange({ snapshot: true })) {
      report.records++;
      if (!isValidRecord(value) || recordModelId(value) !== recordKeyModelId(key) || recordGeneration(value) !== recordKeyGeneration(key)) {
        report.corrupt++;
        continue;
      }
      if (generations.get(recordKeyModelId(key)) !== recordKeyGeneration(key)) report.unreachable++;
      if (this.age.getBinaryFast(indexKey(recordWrittenMs(value), key)) === undefined) report.missingAge++;
    }
    for (const [db, instant] of [
      [this.age, recordWrittenMs],
      [this.expiry, recordExpiresMs],
    ] as const) {
      for (const k of db.getKeys({ snapshot: true })) {
        const value = this.records.getBinary(indexKeyRecordKey(k));
        if (value === undefined || !isValidRecord(value) || instant(value) !== indexKeyInstant(k)) report.staleIndex++;
      }
    }
    return report;
  }

  // -------------------------------------------------------------------------------------------
  // Faults.

  private fail(what: string, err: unknown, count: number): void {
    this.errors += count;
    if (count > 0) this.onCount?.('errors', count);
    if (this.warned) return;
    this.warned = true;
    console.warn(
      `embedcache: spill tier at ${this.path}: ${what} failed (${errorMessage(err)}). The memory tier keeps serving; further failures are only counted in stats().spill.errors.`,
    );
  }
}
