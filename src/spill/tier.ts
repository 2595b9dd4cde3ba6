/**
 * The spill tier: entries the memory tier evicts (and, with persist, every entry) kept in an
 * LMDB file, read back synchronously on a memory miss. SpillTier is the public surface and the
 * cache's only module that imports 'lmdb' as a value (the CLI, src/cli/, opens files read-only
 * on its own): it opens the environment and composes the parts that each live in their own
 * file, given the handles they need. (Just over 600 lines: what remains here is the surface
 * every part is reached through — open, reads, queueing, flush, close, meta records, stats.)
 *
 *   preflight.ts     checks before LMDB maps the file; open/format errors
 *   format.ts        the byte formats of records, keys and meta records
 *   models.ts        ModelCatalog: model ids, generations, dims; invalidation
 *   write-queue.ts   WriteQueue: write-behind, and the not-yet-committed records
 *   handoff.ts       the ring every thread of a cache posts its disk ops to (any thread drains)
 *   batch.ts         one LMDB transaction of ops, each decided by its order stamp
 *   maintenance.ts   Maintenance: expiry, old-generation sweep, maxBytes; live bytes
 *   verify.ts        the O(n) invariant check
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
 * lmdb-js runs with eventTurnBatching: false and overlappingSync: false. With event-turn
 * batching, lmdb-js makes an internal promise per batch that nobody awaits; when a commit fails
 * (disk full) that promise rejects unhandled and Node's default policy kills the process. With
 * overlapping sync, a failed flush leaves the "flushed" promise pending forever, so flush()
 * would hang. With both off, every failure reaches the promise `batch` returns, where it is
 * counted, and a resolved promise means the data is on disk. The cost is one fsync per batch,
 * in lmdb-js's write thread, not the caller's. No lmdb-js async `transaction()` anywhere (see
 * maintenance.ts); the few synchronous transactions (new model, dims, invalidation, a new
 * file's format record) are short and rare.
 *
 * Threads and processes. Each thread opens its own SpillTier on the same path; LMDB's lock file
 * serializes writers across threads and processes, and readers never block. The one thing an
 * instance caches is each model's (id, generation, dims), re-read as models.ts describes. Two
 * processes on one path are safe. Network file systems are not supported (LMDB needs a shared
 * memory map and POSIX locks).
 *
 * Faults. Every failure after open is counted in stats().errors, logged once per instance
 * with console.warn, and never thrown: a spill tier that cannot write behaves like a smaller
 * cache. Open failures throw EmbeddingCacheError: ERR_SPILL_OPEN (cannot create or read the
 * path; a data file that is not LMDB is detected before LMDB maps it, because mapping a garbage
 * or truncated file crashes the process; see preflight.ts) or ERR_SPILL_FORMAT (another format
 * version, another key hash, or an LMDB file that is not ours).
 */
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { EmbeddingCacheError } from '../errors.js';
import {
  ALL_DBS,
  CONTENT_KEY_BYTES,
  DB_AGE,
  DB_EXPIRY,
  DB_META,
  DB_RECORDS,
  FORMAT_VERSION,
  META_FORMAT_KEY,
  RECORD_KEY_BYTES,
  decodeFormatMeta,
  decodeVector,
  decodeFleetMarks,
  encodeFleetMarks,
  encodeFormatMeta,
  type FleetMarks,
  META_FLEET_PREFIX,
  isStoredRecord,
  isTombstone,
  isValidRecord,
  recordCreatedMs,
  recordExpiresMs,
  recordGeneration,
  recordModelId,
  recordWrittenMs,
  readVectorInto,
  writeRecordKey,
  type FormatMeta,
} from './format.js';
import { Maintenance } from './maintenance.js';
import { ModelCatalog } from './models.js';
import { errorMessage, formatError, openError, preflight } from './preflight.js';
import type {
  Fail,
  Lifecycle,
  SpillDbs,
  SpillHit,
  SpillLinks,
  SpillRecord,
  SpillStats,
  SpillTierOptions,
  SpillVerifyReport,
} from './types.js';
import { HandoffRing } from './handoff.js';
import { verify } from './verify.js';
import { WriteQueue } from './write-queue.js';

export type { SpillHit, SpillRecord, SpillStats, SpillTierOptions, SpillVerifyReport } from './types.js';
export { MODEL_REFRESH_MS } from './models.js';

function checkKey(key: Uint8Array): void {
  if (key.length !== CONTENT_KEY_BYTES)
    throw new RangeError(`A spill key is ${CONTENT_KEY_BYTES} bytes, got ${key.length}.`);
}

export class SpillTier {
  private lastStamp = 0;
  private readonly links: SpillLinks | undefined;
  /** links.commits() when this instance last renewed its read snapshot. */
  private seenCommits = 0;
  /** Absolute path of the folder holding the LMDB environment. */
  readonly path: string;
  /** Bound on live bytes in the file. */
  readonly maxBytes: number;
  readonly persist: boolean;
  readonly keyHash: 'xxhash' | 'sha256';
  /** The key seed in force: the file's if it had one, else the one given to open(). */
  seed: Uint8Array;
  private readonly onCount: SpillTierOptions['onCount'];

  private readonly root: RootDatabase<Uint8Array, Uint8Array>;
  private readonly dbs: SpillDbs;
  private readonly models: ModelCatalog;
  private readonly queue: WriteQueue;
  private readonly maintenance: Maintenance;
  private readonly life: Lifecycle = { closing: false, closed: false };

  private readonly keyScratch = new Uint8Array(RECORD_KEY_BYTES);
  private readonly view: SpillHit = { vector: new Float32Array(0), createdMs: 0, expiresMs: 0 };
  private readonly viewScratch = { buf: new Float32Array(0) };

  private closePromise: Promise<void> | undefined;
  private warned = false;
  private writes = 0;
  private hits = 0;
  private misses = 0;
  private errors = 0;
  private superseded = 0;

  /**
   * Opens (creating if needed) the spill tier at `options.path`. Synchronous: reads only the
   * file's meta records. Throws ERR_SPILL_OPEN or ERR_SPILL_FORMAT (see the design comment).
   */
  static open(options: SpillTierOptions): SpillTier {
    const { path, maxBytes } = preflight(options);
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

  private constructor(
    root: RootDatabase<Uint8Array, Uint8Array>,
    path: string,
    maxBytes: number,
    options: SpillTierOptions,
  ) {
    this.onCount = options.onCount;
    this.links = options.links;
    this.root = root;
    this.path = path;
    this.maxBytes = maxBytes;
    this.persist = options.persist ?? false;
    this.keyHash = options.keyHash;

    // An environment with named databases other than ours was written by something else:
    // refuse it before creating anything in it.
    for (const name of root.getKeys({ limit: 16 })) {
      const text = Buffer.from(name).toString('latin1').replace(/\0$/, '');
      if (!ALL_DBS.includes(text))
        throw formatError(
          path,
          `it is an LMDB environment that embedcache did not write (it holds "${text}")`,
        );
    }
    const meta = root.openDB<Uint8Array, string>({
      name: DB_META,
      encoding: 'binary',
      keyEncoding: 'ordered-binary',
    });
    this.dbs = {
      root,
      meta,
      // Versioned: a record's version is its writtenMs, so maintenance can delete "this copy"
      // and never a newer one written since it looked (see maintenance.ts).
      records: root.openDB<Uint8Array, Uint8Array>({
        name: DB_RECORDS,
        encoding: 'binary',
        keyEncoding: 'binary',
        useVersions: true,
      }),
      age: root.openDB<Uint8Array, Uint8Array>({ name: DB_AGE, encoding: 'binary', keyEncoding: 'binary' }),
      expiry: root.openDB<Uint8Array, Uint8Array>({
        name: DB_EXPIRY,
        encoding: 'binary',
        keyEncoding: 'binary',
      }),
    };
    const fail: Fail = (what, err, count) => this.fail(what, err, count);
    this.models = new ModelCatalog(this.dbs, path, {
      drain: () => this.queue.drain(),
      requestSweep: () => this.maintenance.requestSweep(),
      fail,
    });
    this.queue = new WriteQueue(this.dbs, this.life, {
      settled: (tag) => this.links?.settled(tag),
      committed: (written, superseded) => {
        this.links?.committed();
        this.writes += written;
        this.onCount?.('writes', written);
        this.superseded += superseded;
        if (superseded > 0) this.onCount?.('superseded', superseded);
        if (this.maintenance.needed(Date.now())) this.maintenance.schedule();
      },
      fail,
    });
    this.maintenance = new Maintenance(this.dbs, maxBytes, this.life, this.queue, fail);

    let format = this.readFormat();
    if (format === undefined) {
      // A new file: write our identity. Re-check inside the write transaction, since another
      // thread or process may be creating the same file right now; the first one wins.
      format = meta.transactionSync(() => {
        const existing = this.readFormat();
        if (existing !== undefined) return existing;
        if ((this.dbs.records.getStats() as { entryCount: number }).entryCount > 0) {
          throw formatError(path, 'it holds records but no format record');
        }
        const created: FormatMeta = {
          formatVersion: FORMAT_VERSION,
          keyHash: options.keyHash,
          seed: new Uint8Array(options.seed),
          createdMs: Date.now(),
        };
        meta.putSync(META_FORMAT_KEY, encodeFormatMeta(created));
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
    this.maintenance.schedule();
  }

  /**
   * Gives a file that holds no records another key seed (the fleet's, when the remote tier's
   * secret differs from a new file's); false, changing nothing, if it holds any.
   */
  adoptSeed(seed: Uint8Array): boolean {
    const adopted = this.dbs.meta.transactionSync(() => {
      if ((this.dbs.records.getStats() as { entryCount: number }).entryCount > 0) return false;
      const current = this.readFormat();
      if (current === undefined) return false;
      this.dbs.meta.putSync(META_FORMAT_KEY, encodeFormatMeta({ ...current, seed: new Uint8Array(seed) }));
      return true;
    });
    if (adopted) this.seed = new Uint8Array(seed);
    return adopted;
  }

  /**
   * Joins the cache's hand-off ring (handoff.ts): from now on this instance posts its disk ops
   * there, where any thread of the cache commits them, and helps commit other threads' posts.
   * `token` is this instance's lock-owner token; `lockTimeoutMs` how long a ring lock may stay
   * unchanged before its holder is presumed dead.
   */
  attachHandoff(buffer: SharedArrayBuffer, token: number, lockTimeoutMs: number): void {
    if (this.life.closing) return;
    this.queue.attach(new HandoffRing(buffer, token, lockTimeoutMs));
  }

  /** Reads and validates the format record; undefined when the file has none. */
  private readFormat(): FormatMeta | undefined {
    const bytes = this.dbs.meta.getBinary(META_FORMAT_KEY);
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
  // Models (models.ts).

  /**
   * A model's dims are fixed on disk as they are in memory: the first vector (or this call)
   * fixes them, and a different count throws ERR_DIMENSION_MISMATCH. invalidateModel frees them.
   */
  checkDims(model: string, dims: number): void {
    if (this.life.closed) return;
    this.models.checkDims(model, dims);
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
    if (this.life.closed) return false;
    return this.models.invalidate(model);
  }

  /**
   * Makes every record of every model unreachable at once: bumps every model's generation in
   * one small synchronous transaction (O(models), whatever the number of records) and frees
   * their dims; the records are deleted in the background. Never throws; returns false if the
   * disk could not be updated, and this instance then stops using the disk altogether. Other
   * threads notice through the memory generation they pass (see invalidateModel).
   */
  clear(): boolean {
    if (this.life.closed) return false;
    return this.models.clear();
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
    return {
      vector: decodeVector(bytes),
      createdMs: recordCreatedMs(bytes),
      expiresMs: recordExpiresMs(bytes),
    };
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
  private lookup(
    key: Uint8Array,
    model: string,
    now: number,
    memGen: number | undefined,
  ): Uint8Array | undefined {
    if (this.life.closed) return undefined;
    checkKey(key);
    try {
      // lmdb-js renews a read snapshot once per event-loop turn; a thread busy for longer would
      // read a disk older than other threads' commits. Renew when any thread committed since.
      const links = this.links;
      if (links !== undefined) {
        const commits = links.commits();
        if (commits !== this.seenCommits) {
          this.seenCommits = commits;
          this.root.resetReadTxn();
        }
      }
      let bytes = this.find(key, model, now, memGen, false);
      if (bytes === undefined) {
        // lmdb-js renews a thread's read snapshot once per event-loop turn, so it can predate a
        // commit by another thread or process. Before calling it a miss, look again in a fresh
        // one: a miss costs the caller an embedding call, a second lookup costs a microsecond.
        this.root.resetReadTxn();
        bytes = this.find(key, model, now, memGen, true);
      }
      if (bytes === undefined || bytes === null || isTombstone(bytes)) {
        this.misses++;
        return undefined;
      }
      if (!isValidRecord(bytes)) {
        this.fail(
          'a read',
          new Error('a record has the wrong length or header (not written by this format)'),
          1,
        );
        this.misses++;
        return undefined;
      }
      const expiresMs = recordExpiresMs(bytes);
      if (expiresMs !== 0 && expiresMs <= now) {
        this.misses++;
        this.maintenance.schedule();
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
  private find(
    key: Uint8Array,
    model: string,
    now: number,
    memGen: number | undefined,
    fresh: boolean,
  ): Uint8Array | null | undefined {
    if (this.models.isDisabled(model)) return null;
    let state = this.models.state(model, now, memGen, false);
    if (state.id === 0) {
      if (!fresh) return undefined;
      state = this.models.reread(model, now, memGen);
      if (state.id === 0) return null;
    }
    const recKey = this.keyScratch;
    writeRecordKey(recKey, state.id, state.generation, key);
    const queued = this.queue.queued(recKey);
    const bytes = this.dbs.records.getBinaryFast(recKey);
    if (queued !== undefined) {
      // This instance's uncommitted copy, unless another thread has since committed a later one.
      const later =
        bytes !== undefined && isStoredRecord(bytes) && recordWrittenMs(bytes) > recordWrittenMs(queued);
      if (!later) return isTombstone(queued) ? null : queued;
    }
    if (
      bytes !== undefined &&
      (recordModelId(bytes) !== state.id || recordGeneration(bytes) !== state.generation)
    ) {
      this.fail('a read', new Error('a record disagrees with its key'), 1);
      return null;
    }
    return bytes;
  }

  // -------------------------------------------------------------------------------------------
  // Writes (write-queue.ts).

  /** Order stamps of a tier used without a cache: this instance's clock, strictly increasing. */
  private localStamp(now: number): number {
    this.lastStamp = now > this.lastStamp ? now : this.lastStamp + 1 / 1024;
    return this.lastStamp;
  }

  /**
   * Queues `rec` for disk. Copies the key and vector before returning. Never throws: a record
   * that cannot be written (closed tier, dims that disagree with the model's, a fault) counts
   * in errors. An already-expired record is dropped. `memGen` as for get(). `stamp` is the
   * write's order stamp (memory/stamps.ts); a standalone tier stamps with its own clock.
   */
  enqueue(rec: SpillRecord, memGen?: number, stamp?: number, tag = -1): void {
    if (this.life.closing) return this.unqueued(tag);
    try {
      checkKey(rec.key);
      const now = Date.now();
      if ((rec.expiresMs !== 0 && rec.expiresMs <= now) || this.models.isDisabled(rec.model)) {
        return this.unqueued(tag);
      }
      if (!(rec.vector instanceof Float32Array) || rec.vector.length === 0)
        throw new TypeError('a record needs a non-empty Float32Array vector');
      const state = this.models.state(rec.model, now, memGen, true);
      const dims = this.models.fixDims(rec.model, state, rec.vector.length);
      if (dims !== rec.vector.length) {
        throw new RangeError(
          `model '${rec.model}' has ${dims}-dimensional vectors on disk, and a record has ${rec.vector.length}`,
        );
      }
      this.queue.write(state.id, state.generation, rec, stamp ?? this.localStamp(now), tag);
    } catch (err) {
      this.fail('a write', err, 1);
      this.unqueued(tag);
    }
  }

  /** An op with `tag` that never reached the queue ends here (links.settled). */
  private unqueued(tag: number): void {
    if (tag >= 0) this.links?.settled(tag);
  }

  /**
   * Deletes the record for (key, model): queues a tombstone stamped `stamp`, which wins over
   * every write of the key stamped before it, whichever queue they wait in. Never throws.
   */
  delete(key: Uint8Array, model: string, memGen?: number, stamp?: number, tag = -1): void {
    if (this.life.closing) return this.unqueued(tag);
    try {
      checkKey(key);
      const now = Date.now();
      // The model is registered if new: a write of it may still be queued in another thread.
      const state = this.models.state(model, now, memGen, true);
      this.queue.remove(state.id, state.generation, key, stamp ?? this.localStamp(now), tag);
    } catch (err) {
      this.fail('a delete', err, 1);
      this.unqueued(tag);
    }
  }

  /**
   * Resolves once every record enqueued before the call is durable (committed and fsynced) or
   * has failed (counted in errors), and the file is back under maxBytes. Attached to a hand-off
   * ring, that includes every op any thread of the cache posted before the call. Never rejects.
   */
  async flush(): Promise<void> {
    if (this.life.closed) return;
    await this.queue.settleAll();
    if (this.maintenance.running !== undefined) await this.maintenance.running;
    if (!this.life.closed && this.maintenance.needed(Date.now())) await this.maintenance.runAll();
  }

  /** Flushes, then closes this instance's handle (other threads' instances stay open). */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      await this.flush();
      this.life.closing = true;
      this.maintenance.cancel();
      if (this.maintenance.running !== undefined) await this.maintenance.running;
      await this.queue.settleAll();
      this.queue.detach();
      this.maintenance.captureStats();
      this.life.closed = true;
      try {
        await this.root.close();
      } catch (err) {
        this.fail('close', err, 0);
      }
    })();
    return this.closePromise;
  }

  /** The fleet generations recorded for remote prefix `prefix` (format.ts, FleetMarks), if any. */
  fleetMarks(prefix: string): FleetMarks | undefined {
    const bytes = this.dbs.meta.getBinary(META_FLEET_PREFIX + prefix);
    return bytes === undefined ? undefined : decodeFleetMarks(bytes);
  }

  /** Records the fleet generations in force for `prefix` (durable with the next commit). */
  saveFleetMarks(prefix: string, marks: FleetMarks): Promise<boolean> {
    return this.dbs.meta.put(META_FLEET_PREFIX + prefix, encodeFleetMarks(marks)).catch((err) => {
      this.fail('recording fleet generations', err, 1);
      return false;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Stats, diagnostics and faults.

  /** entries/bytes: the whole file (every thread and process); writes/hits/misses/errors: this instance. */
  stats(): SpillStats {
    if (!this.life.closed) this.maintenance.captureStats();
    const { entries, bytes } = this.maintenance.lastStats;
    const { writes, hits, misses, errors, superseded } = this;
    const ring = this.queue.ringStats();
    return {
      entries,
      bytes,
      writes,
      hits,
      misses,
      errors,
      superseded,
      ...(ring !== undefined ? { handoff: ring } : {}),
    };
  }

  /**
   * Scans the whole file and checks its invariants: every record decodes and matches its key,
   * every reachable record has its age entry, no index entry points nowhere. O(n): for tests
   * and diagnostics, not for a hot path.
   */
  verify(): SpillVerifyReport {
    return verify(this.dbs);
  }

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
