/**
 * EmbeddingCache: the public facade. It validates input, turns (model, chunkId, text) into a
 * 128-bit key (key/hasher.ts) and calls the shared store (memory/store.ts); it holds no algorithm of
 * its own. Every instance, in any thread, built from the same handle works on the same memory.
 */
import { randomBytes } from 'node:crypto';
import { getOrCompute as getOrComputeImpl, type EmbedFunction, type GetOrComputeOptions } from './compute/get-or-compute.js';
import { closedError, describe, EmbeddingCacheError, invalidText } from './errors.js';
import { KeyHasher, keyBytes, SECRET_BYTES } from './key/hasher.js';
import { type CacheOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { MAX_DIMS, ST_SPILL_ERRORS, ST_SPILL_HITS, ST_SPILL_MISSES, ST_SPILL_WRITES } from './memory/layout.js';
import { dimensionMismatch } from './memory/registry.js';
import { planStore, SharedStore, type StoreParts } from './memory/store.js';
import type { SpillTier } from './spill/tier.js';
import type { SpillStats } from './spill/types.js';

/** Which entry: the model that made the vector and an optional chunk id, with the text. */
export interface KeyOptions {
  /** Model name; a model's vectors all have one dimension. Default: 'default'. */
  model?: string;
  /** Your id for the chunk (document id + offset, say). Same text, other chunk id: another entry. */
  chunkId?: string;
}

export interface SetOptions extends KeyOptions {
  /** Time to live of this entry in ms (0 = never expires). Default: the cache's ttlMs. */
  ttlMs?: number;
}

/** A snapshot of the cache's counters; operations of every attached thread are counted. */
export interface CacheStats {
  /** Entries held in memory (expired ones not yet reclaimed included). */
  entries: number;
  hits: number;
  misses: number;
  /** hits / (hits + misses), 0 before any lookup. */
  hitRate: number;
  sets: number;
  /** Live entries pushed out to make room (maxEntries or maxBytes). */
  evictions: number;
  /** Entries found expired (by a lookup or by eviction) and reclaimed. */
  expirations: number;
  /** Entries dropped by invalidateModel(). */
  invalidations: number;
  deletes: number;
  /** Bytes of shared memory the cache has allocated (index, metadata, vectors). */
  memoryBytes: number;
  maxBytes: number;
  /** The entry bound, or null when only maxBytes bounds the cache. */
  maxEntries: number | null;
  /** Dead writers whose locks another thread took over (a worker terminated mid-write). */
  lockTakeovers: number;
  /**
   * The spill tier, when configured: entries and bytes of the file (every thread and process),
   * and this instance's writes, hits, misses and errors.
   */
  spill?: SpillStats;
}

const HANDLE_TAG = 'embedcache.handle';
const HANDLE_VERSION = 1;

/**
 * What `cache.handle` holds: the shared buffers and the options, nothing else. It is
 * structured-cloneable: pass it in `workerData` or `postMessage`, then `EmbeddingCache.attach()`.
 */
export interface CacheHandle {
  readonly tag: typeof HANDLE_TAG;
  readonly version: number;
  readonly parts: StoreParts;
  readonly options: ResolvedOptions;
  /** Shared table of keys being computed right now (getOrCompute's single-flight). */
  readonly inflight: SharedArrayBuffer;
}

/** Bytes of the single-flight table (see src/compute/inflight.ts). */
export const INFLIGHT_BYTES = 256 * 1024;

const DEFAULT_MODEL = 'default';
/** getMany(): floats per result buffer (64 KiB). */
const RESULT_CHUNK_FLOATS = 16 * 1024;

export class EmbeddingCache {
  private readonly store: SharedStore;
  private readonly hasher: KeyHasher;
  /** This thread's handle on the LMDB spill tier (each thread opens its own), or null. */
  private readonly spill: SpillTier | null;
  /** Model names by id, for records handed to the spill tier. */
  private readonly modelNames: string[] = [];
  private readonly options: ResolvedOptions;
  private readonly key = new Int32Array(4);
  private readonly sharedHandle: CacheHandle;
  private closed = false;
  /** Per-thread cache of model name → [id, class]; a class of -1 means no dimension yet. */
  private readonly models = new Map<string, { id: number; cls: number; dims: number }>();
  private lastModel: { name: string; info: { id: number; cls: number; dims: number } } | undefined;

  private constructor(handle: CacheHandle, store: SharedStore, hasher: KeyHasher, spill: SpillTier | null) {
    this.sharedHandle = handle;
    this.store = store;
    this.hasher = hasher;
    this.options = handle.options;
    this.spill = spill;
    if (spill !== null && !spill.persist) {
      // Evicted live entries go to disk. With persist every set is on disk already.
      store.evictHook = (key, modelId, vector, expiresAt) => {
        spill.enqueue(
          { key: keyBytes(key), model: this.nameOf(modelId), vector, createdMs: Date.now(), expiresMs: expiresAt },
          store.registry.generation(modelId),
        );
      };
    }
  }

  private nameOf(modelId: number): string {
    return (this.modelNames[modelId] ??= this.store.registry.name(modelId));
  }

  /** Creates a cache. Options are validated here: a bad one throws TypeError or RangeError. */
  static async open(options?: CacheOptions): Promise<EmbeddingCache> {
    const resolved = resolveOptions(options, 0);
    planStore(resolved.maxBytes, resolved.expectedEntries); // throws before any file is touched
    let secret = new Uint8Array(randomBytes(SECRET_BYTES));
    let spill: SpillTier | null = null;
    // The spill tier opens before the store (the file's key seed wins over a fresh one, so a
    // warm restart finds its keys again). Counts it reports before the store exists are parked.
    const sink: { add: ((kind: 'writes' | 'errors', n: number) => void) | null; parked: { writes: number; errors: number } } = { add: null, parked: { writes: 0, errors: 0 } };
    if (resolved.spill !== null) {
      spill = await openSpill(resolved, secret, (kind, n) => {
        if (sink.add !== null) sink.add(kind, n);
        else sink.parked[kind] += n;
      });
      secret = spill.seed.slice();
    }
    let cache: EmbeddingCache;
    try {
      const parts = SharedStore.create({
        maxBytes: resolved.maxBytes,
        expectedEntries: resolved.expectedEntries,
        maxEntries: resolved.maxEntries,
        lockTimeoutMs: resolved.lockTimeoutMs,
        secret,
      });
      const handle: CacheHandle = { tag: HANDLE_TAG, version: HANDLE_VERSION, parts, options: resolved, inflight: new SharedArrayBuffer(INFLIGHT_BYTES) };
      cache = await EmbeddingCache.fromHandle(handle, spill);
    } catch (err) {
      await spill?.close();
      throw err;
    }
    const counters = cache.store.counters;
    sink.add = (kind, n) => counters.add(kind === 'writes' ? ST_SPILL_WRITES : ST_SPILL_ERRORS, n);
    sink.add('writes', sink.parked.writes);
    sink.add('errors', sink.parked.errors);
    return cache;
  }

  /**
   * Attaches to a cache created elsewhere (usually in another thread) from its `handle`.
   * The result shares the same memory: a set in one thread is a hit in every other.
   */
  static async attach(handle: CacheHandle): Promise<EmbeddingCache> {
    if (!isHandle(handle)) {
      throw new EmbeddingCacheError(
        'ERR_INVALID_HANDLE',
        `EmbeddingCache.attach() needs the value of cache.handle (passed through workerData or postMessage), got ${describe(handle)}.`,
      );
    }
    return EmbeddingCache.fromHandle(handle);
  }

  private static async fromHandle(handle: CacheHandle, opened: SpillTier | null = null): Promise<EmbeddingCache> {
    const store = new SharedStore(handle.parts);
    const secret = store.secret();
    let spill = opened;
    if (spill === null && handle.options.spill !== null) {
      const counters = store.counters;
      spill = await openSpill(handle.options, secret, (kind, n) => counters.add(kind === 'writes' ? ST_SPILL_WRITES : ST_SPILL_ERRORS, n));
      if (!equalBytes(spill.seed, secret)) {
        await spill.close();
        throw new EmbeddingCacheError(
          'ERR_SPILL_FORMAT',
          `The spill file at ${handle.options.spill.path} was created by another cache (its key seed differs from this cache's). Give each cache its own spill path.`,
        );
      }
    }
    const hasher = await KeyHasher.create(handle.options.keyHash, secret);
    return new EmbeddingCache(handle, store, hasher, spill);
  }

  /** Structured-cloneable handle for EmbeddingCache.attach() in another thread. */
  get handle(): CacheHandle {
    this.assertOpen('handle');
    return this.sharedHandle;
  }

  /** Stores `vector` for `text`. The vector is copied; a later change to it does not reach the cache. */
  set(text: string, vector: Float32Array | ArrayLike<number>, opts?: SetOptions): void {
    this.assertOpen('set');
    const model = this.modelName(opts, 'set');
    const v = toVector(vector, 'set');
    const ttl = this.ttl(opts, 'set');
    const m = this.bindModel(model, v.length);
    this.hashKey(text, model, opts, 'set');
    const expiresAt = ttl > 0 ? Date.now() + ttl : 0;
    this.store.set(this.key, 0, m.id, m.cls, v, expiresAt);
    if (this.spill !== null && (this.spill.persist || expiresAt !== 0)) this.writeBehind(model, m.id, v, expiresAt);
  }

  /** persist: the entry just set goes to disk too (batched, asynchronous). */
  private writeBehind(model: string, modelId: number, v: Float32Array, expiresAt: number): void {
    this.spill!.enqueue(
      { key: keyBytes(this.key), model, vector: v, createdMs: Date.now(), expiresMs: expiresAt },
      this.store.registry.generation(modelId),
    );
  }

  /**
   * A memory miss with a spill tier: read the disk synchronously and, on a hit, promote the
   * entry into memory (unless another thread stored the key meanwhile). this.key holds the key.
   */
  private fromDisk(model: string): Float32Array | undefined {
    const spill = this.spill!;
    const id = this.store.registry.find(model);
    const hit = spill.get(keyBytes(this.key), model, Date.now(), id < 0 ? undefined : this.store.registry.generation(id));
    this.store.counters.add(hit === undefined ? ST_SPILL_MISSES : ST_SPILL_HITS);
    if (hit === undefined) return undefined;
    let m: { id: number; cls: number };
    try {
      m = this.bindModel(model, hit.vector.length);
    } catch {
      return undefined; // a record that disagrees with the model's dimension is a miss, not an error
    }
    this.store.set(this.key, 0, m.id, m.cls, hit.vector, hit.expiresMs, true);
    return hit.vector;
  }

  /**
   * The vector stored for `text`, as a new Float32Array with a buffer of its own (transfer it
   * freely); undefined on a miss. getInto() skips that allocation.
   */
  get(text: string, opts?: KeyOptions): Float32Array | undefined {
    this.assertOpen('get');
    const model = this.modelName(opts, 'get');
    const m = this.findModel(model);
    this.hashKey(text, model, opts, 'get');
    if (this.spill === null) {
      if (m === undefined || m.cls < 0) {
        this.store.countMiss();
        return undefined;
      }
      return this.store.get(this.key, 0, m.id, this.store.clock());
    }
    const v = (m === undefined || m.cls < 0 ? undefined : this.store.get(this.key, 0, m.id, this.store.clock(), false)) ?? this.fromDisk(model);
    if (v === undefined) this.store.countMiss();
    else this.store.countHit();
    return v;
  }

  /**
   * Copies the vector stored for `text` into `out` (from index `offset`) and returns true, or
   * returns false on a miss, allocating nothing: the fast path when you reuse a buffer.
   * `out` must have room for the model's dimension from `offset`.
   */
  getInto(text: string, out: Float32Array, opts?: KeyOptions & { offset?: number }): boolean {
    this.assertOpen('getInto');
    const model = this.modelName(opts, 'getInto');
    const m = this.findModel(model);
    this.hashKey(text, model, opts, 'getInto');
    if (!(out instanceof Float32Array)) throw argumentError('getInto', 'out must be a Float32Array', out);
    const offset = opts?.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0 || offset >= out.length) {
      throw argumentError('getInto', `options.offset must be an integer index into out (length ${out.length})`, offset);
    }
    if (m === undefined || m.cls < 0) {
      if (this.spill !== null) {
        const v = this.fromDisk(model);
        if (v !== undefined && offset + v.length <= out.length) {
          out.set(v, offset);
          this.store.countHit();
          return true;
        }
      }
      this.store.countMiss();
      return false;
    }
    if (!Number.isInteger(offset) || offset < 0 || offset + m.dims > out.length) {
      throw argumentError('getInto', `out needs room for ${m.dims} floats from offset ${offset} (model "${model}"), but its length is ${out.length}`, offset);
    }
    if (this.spill === null) return this.store.getInto(this.key, 0, m.id, this.store.clock(), out, offset);
    let hit = this.store.getInto(this.key, 0, m.id, this.store.clock(), out, offset, false);
    if (!hit) {
      const v = this.fromDisk(model);
      if (v !== undefined) {
        out.set(v, offset);
        hit = true;
      }
    }
    if (hit) this.store.countHit();
    else this.store.countMiss();
    return hit;
  }

  /** Whether `text` has a live entry. Counts neither a hit nor a miss. */
  has(text: string, opts?: KeyOptions): boolean {
    this.assertOpen('has');
    const model = this.modelName(opts, 'has');
    const m = this.findModel(model);
    this.hashKey(text, model, opts, 'has');
    if (m !== undefined && m.cls >= 0 && this.store.has(this.key, 0, m.id, this.store.clock())) return true;
    if (this.spill === null) return false;
    const id = this.store.registry.find(model);
    return this.spill.peek(keyBytes(this.key), model, Date.now(), id < 0 ? undefined : this.store.registry.generation(id)) !== undefined;
  }

  /** Removes the entry for `text`; true if there was a live one. */
  delete(text: string, opts?: KeyOptions): boolean {
    this.assertOpen('delete');
    const model = this.modelName(opts, 'delete');
    const m = this.findModel(model);
    this.hashKey(text, model, opts, 'delete');
    let deleted = m !== undefined && m.cls >= 0 && this.store.delete(this.key, 0, m.id, Date.now());
    if (this.spill !== null) {
      const key = keyBytes(this.key);
      const id = this.store.registry.find(model);
      const gen = id < 0 ? undefined : this.store.registry.generation(id);
      if (!deleted && this.spill.peek(key, model, Date.now(), gen) !== undefined) deleted = true;
      this.spill.delete(key, model, gen);
    }
    return deleted;
  }

  /**
   * get() for each text, in order. The hits of one call are views into a few buffers of up to
   * 64 KiB allocated for the call (not one per vector): they never overlap, but transferring
   * one's `.buffer` moves its neighbours too — `.slice()` one first to send it alone.
   */
  getMany(texts: readonly string[], opts?: KeyOptions): (Float32Array | undefined)[] {
    this.assertOpen('getMany');
    if (!Array.isArray(texts)) throw argumentError('getMany', 'texts must be an array of strings', texts);
    const model = this.modelName(opts, 'getMany');
    const m = this.findModel(model);
    const out = new Array<Float32Array | undefined>(texts.length);
    if (this.spill !== null) {
      // Memory first, then the disk for each miss (each read is synchronous; hits are promoted).
      let hits = 0;
      for (let i = 0; i < texts.length; i++) {
        this.hashKey(texts[i]!, model, opts, 'getMany');
        const mm = m !== undefined && m.cls >= 0 ? m : this.findModel(model);
        out[i] = (mm === undefined || mm.cls < 0 ? undefined : this.store.get(this.key, 0, mm.id, this.store.clock(), false)) ?? this.fromDisk(model);
        if (out[i] !== undefined) hits++;
      }
      this.store.countHit(hits);
      this.store.countMiss(texts.length - hits);
      return out;
    }
    if (m === undefined || m.cls < 0) {
      for (let i = 0; i < texts.length; i++) this.hashKey(texts[i]!, model, opts, 'getMany');
      out.fill(undefined);
      this.store.countMiss(texts.length);
      return out;
    }
    const now = this.store.clock();
    const d = m.dims;
    // Hits are copied into chunks of at most 64 KiB, allocated as hits need them: one buffer for
    // the whole batch would be large enough for the allocator to map fresh pages every call,
    // and zeroing and faulting them in costs more than the lookups.
    const perChunk = Math.max(1, Math.floor(RESULT_CHUNK_FLOATS / d));
    let chunk: Float32Array | null = null;
    let used = perChunk;
    for (let i = 0; i < texts.length; i++) {
      this.hashKey(texts[i]!, model, opts, 'getMany');
      if (used === perChunk) {
        chunk = new Float32Array(perChunk * d);
        used = 0;
      }
      if (this.store.getInto(this.key, 0, m.id, now, chunk!, used * d)) {
        out[i] = chunk!.subarray(used * d, (used + 1) * d);
        used++;
      } else {
        out[i] = undefined;
      }
    }
    return out;
  }

  /** set() for each (text, vector) pair; every input is validated before anything is stored. */
  setMany(texts: readonly string[], vectors: readonly (Float32Array | ArrayLike<number>)[], opts?: SetOptions): void {
    this.assertOpen('setMany');
    if (!Array.isArray(texts)) throw argumentError('setMany', 'texts must be an array of strings', texts);
    if (!Array.isArray(vectors)) throw argumentError('setMany', 'vectors must be an array of vectors', vectors);
    if (texts.length !== vectors.length) {
      throw new EmbeddingCacheError('ERR_INVALID_ARGUMENT', `setMany(): got ${texts.length} texts and ${vectors.length} vectors; pass one vector per text.`);
    }
    const model = this.modelName(opts, 'setMany');
    const ttl = this.ttl(opts, 'setMany');
    const checked: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      if (typeof texts[i] !== 'string') throw invalidText(texts[i], `setMany() texts[${i}]`);
      checked[i] = toVector(vectors[i], `setMany() vectors[${i}]`);
      if (i > 0 && checked[i]!.length !== checked[0]!.length) throw dimensionMismatch(model, checked[0]!.length, checked[i]!.length);
    }
    if (texts.length === 0) return;
    const m = this.bindModel(model, checked[0]!.length);
    const expiresAt = ttl > 0 ? Date.now() + ttl : 0;
    // persist writes every set behind; so does a TTL set, else an older copy on disk would
    // come back once this one expires in memory (expired entries are not spilled).
    const persist = this.spill !== null && (this.spill.persist || expiresAt !== 0);
    for (let i = 0; i < texts.length; i++) {
      this.hashKey(texts[i]!, model, opts, 'setMany');
      this.store.set(this.key, 0, m.id, m.cls, checked[i]!, expiresAt);
      if (persist) this.writeBehind(model, m.id, checked[i]!, expiresAt);
    }
  }

  /**
   * One vector per text, in input order: hits come from the cache; the unique misses go to
   * `embed` in calls of at most `batchSize` texts, are stored and returned. A text another call
   * (in this thread or any attached one) is computing right now is waited for, not recomputed.
   * If `embed` fails or returns bad vectors the call rejects with ERR_EMBED_FAILED and nothing
   * is stored for those texts.
   */
  getOrCompute(texts: readonly string[], embed: EmbedFunction, opts?: GetOrComputeOptions): Promise<Float32Array[]> {
    this.assertOpen('getOrCompute');
    return getOrComputeImpl(this, texts, embed, opts);
  }

  /** Every entry of `model` becomes a miss, at once, whatever their number (O(1)). */
  invalidateModel(model: string): void {
    this.assertOpen('invalidateModel');
    if (typeof model !== 'string') throw argumentError('invalidateModel', 'model must be a string', model);
    // Disk first, memory after: a thread that sees the new memory generation then also finds the
    // new disk generation (the spill tier re-reads it when the memory generation moves).
    this.spill?.invalidateModel(model);
    const m = this.findModel(model);
    if (m === undefined) return; // never seen in memory: nothing more to drop
    this.store.invalidate(m.id);
  }

  /** Drops every entry of every model. Counters (hits, misses, …) keep counting. */
  clear(): void {
    this.assertOpen('clear');
    this.spill?.clear();
    this.store.clear();
  }

  stats(): CacheStats {
    this.assertOpen('stats');
    const c = this.store.counters.totals();
    const lookups = c.hits + c.misses;
    return {
      entries: this.store.entries(),
      hits: c.hits,
      misses: c.misses,
      hitRate: lookups === 0 ? 0 : c.hits / lookups,
      sets: c.sets,
      evictions: c.evictions,
      expirations: c.expirations,
      invalidations: c.invalidations,
      deletes: c.deletes,
      memoryBytes: this.store.memoryBytes(),
      maxBytes: this.options.maxBytes,
      maxEntries: this.options.maxEntries >= 2 ** 30 ? null : this.options.maxEntries,
      lockTakeovers: c.lockTakeovers,
      ...(this.spill !== null ? { spill: this.spillStats(c) } : {}),
    };
  }

  private spillStats(c: ReturnType<SharedStore['counters']['totals']>): SpillStats {
    const file = this.spill!.stats();
    return { entries: file.entries, bytes: file.bytes, writes: c.spillWrites, hits: c.spillHits, misses: c.spillMisses, errors: c.spillErrors };
  }

  /**
   * Resolves once every write handed to the spill tier so far is durable on disk (with
   * persist: every set so far). Without a spill tier it resolves at once.
   */
  async flush(): Promise<void> {
    this.assertOpen('flush');
    await this.spill?.flush();
  }

  /**
   * Closes this instance: later calls on it throw ERR_CLOSED. The shared memory lives on while
   * any other thread still holds an attached instance.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.spill?.close(); // flushes this thread's pending writes first
  }

  /**
   * @internal The 128-bit key of (model, chunkId, text) as four int32 words written at out[at].
   * For getOrCompute's single-flight table; validates like get().
   */
  keyWords(text: string, opts: KeyOptions | undefined, out: Int32Array, at: number): void {
    this.assertOpen('keyWords');
    const model = this.modelName(opts, 'keyWords');
    this.hashKey(text, model, opts, 'keyWords');
    out.set(this.key, at);
  }

  /** @internal This cache's lock-owner token (unique per attached instance). */
  get ownerToken(): number {
    return this.store.token;
  }

  /** @internal Structural invariants, for tests. Empty when everything holds. */
  checkInvariants(): string[] {
    return this.store.checkInvariants();
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────────

  private assertOpen(op: string): void {
    if (this.closed) throw closedError(op);
  }

  private modelName(opts: KeyOptions | undefined, op: string): string {
    if (opts === undefined) return DEFAULT_MODEL;
    if (typeof opts !== 'object' || opts === null) throw argumentError(op, 'options must be an object like { model, chunkId }', opts);
    const model = opts.model;
    if (model === undefined) return DEFAULT_MODEL;
    if (typeof model !== 'string' || model.length === 0) throw argumentError(op, 'options.model must be a non-empty string', model);
    return model;
  }

  private ttl(opts: SetOptions | undefined, op: string): number {
    const t = opts?.ttlMs;
    if (t === undefined) return this.options.ttlMs;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw argumentError(op, 'options.ttlMs must be a finite number of milliseconds >= 0 (0 = never expires)', t);
    return t;
  }

  private hashKey(text: unknown, model: string, opts: KeyOptions | undefined, op: string): void {
    if (typeof text !== 'string') throw invalidText(text, `${op}()`);
    const chunkId = opts?.chunkId;
    if (chunkId !== undefined && typeof chunkId !== 'string') throw argumentError(op, 'options.chunkId must be a string', chunkId);
    this.hasher.hash(model, chunkId, text, this.key, 0);
  }

  private findModel(name: string): { id: number; cls: number; dims: number } | undefined {
    if (name === this.lastModel?.name) return this.lastModel.info;
    const cached = this.models.get(name);
    if (cached !== undefined && cached.cls >= 0) return cached;
    const id = this.store.registry.find(name);
    if (id < 0) return undefined;
    const info = { id, cls: this.store.registry.classOf(id), dims: this.store.registry.dims(id) };
    if (info.cls >= 0) {
      this.models.set(name, info);
      this.lastModel = { name, info };
    }
    return info;
  }

  private bindModel(name: string, dims: number): { id: number; cls: number; dims: number } {
    const cached = this.models.get(name);
    if (cached !== undefined && cached.cls >= 0) {
      if (cached.dims !== dims) throw dimensionMismatch(name, cached.dims, dims);
      return cached;
    }
    if (dims * 4 > this.options.maxBytes || dims > MAX_DIMS) {
      throw new EmbeddingCacheError(
        'ERR_VECTOR_TOO_LARGE',
        `A vector of ${dims} floats (${dims * 4} bytes) does not fit: maxBytes is ${this.options.maxBytes} and one page holds at most ${MAX_DIMS} floats. Raise maxBytes or store smaller vectors.`,
      );
    }
    const id = this.store.registry.ensure(name);
    // Check memory, then the disk, before either fixes anything: a vector refused by one must
    // not leave its dimension bound in the other.
    const known = this.store.registry.dims(id);
    if (known !== 0 && known !== dims) throw dimensionMismatch(name, known, dims);
    this.spill?.checkDims(name, dims);
    const cls = this.store.registry.bindDims(id, dims, name);
    const info = { id, cls, dims };
    this.models.set(name, info);
    return info;
  }
}

function argumentError(op: string, rule: string, got: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError('ERR_INVALID_ARGUMENT', `${op}(): ${rule}, got ${describe(got)}.`);
}

function invalidVector(where: string, why: string): EmbeddingCacheError {
  return new EmbeddingCacheError('ERR_INVALID_VECTOR', `${where}(): the vector ${why}. Pass a non-empty Float32Array (or array of numbers) of finite values.`);
}

/** Validates a vector and returns it as a Float32Array (the input itself when it already is one). */
function toVector(v: unknown, where: string): Float32Array {
  let out: Float32Array;
  if (v instanceof Float32Array) {
    out = v;
  } else if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array))) {
    const src = v as ArrayLike<unknown>;
    out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const x = src[i];
      if (typeof x !== 'number') throw invalidVector(where, `has a non-number at index ${i} (${describe(x)})`);
      out[i] = x;
    }
  } else if (typeof v === 'object' && v !== null && typeof (v as ArrayLike<unknown>).length === 'number') {
    return toVector(Array.from(v as ArrayLike<unknown>), where);
  } else {
    throw invalidVector(where, `is ${describe(v)}, not an array of numbers`);
  }
  if (out.length === 0) throw invalidVector(where, 'is empty');
  if (!allFinite(out)) {
    const bad = out.findIndex((x) => !Number.isFinite(x));
    throw invalidVector(where, `has a non-finite value (${out[bad]}) at index ${bad}`);
  }
  return out;
}

/**
 * True if no element is NaN or ±Infinity. The elements are float32, so their sum in double
 * precision cannot overflow (768 × 3.4e38 ≪ 1.8e308): it is finite exactly when every element
 * is (NaN and ±Infinity propagate; Infinity - Infinity is NaN). Four independent sums keep the
 * adds from waiting on each other — a compare per element or one running sum is 3-4× slower.
 */
function allFinite(v: Float32Array): boolean {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const n = v.length - (v.length & 3);
  for (let i = 0; i < n; i += 4) {
    s0 += v[i]!;
    s1 += v[i + 1]!;
    s2 += v[i + 2]!;
    s3 += v[i + 3]!;
  }
  for (let i = n; i < v.length; i++) s0 += v[i]!;
  return Number.isFinite(s0 + s1 + s2 + s3);
}

async function openSpill(o: ResolvedOptions, seed: Uint8Array, onCount: (kind: 'writes' | 'errors', n: number) => void): Promise<SpillTier> {
  // Loaded only when configured: a cache without a spill tier never loads LMDB's native module.
  const { SpillTier } = await import('./spill/tier.js');
  return SpillTier.open({ path: o.spill!.path, maxBytes: o.spill!.maxBytes, persist: o.spill!.persist, keyHash: o.keyHash, seed, onCount });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isHandle(h: unknown): h is CacheHandle {
  if (typeof h !== 'object' || h === null) return false;
  const c = h as Partial<CacheHandle>;
  return c.tag === HANDLE_TAG && c.version === HANDLE_VERSION &&
    typeof c.parts === 'object' && c.parts !== null &&
    c.parts.control instanceof SharedArrayBuffer && Array.isArray(c.parts.arenas) &&
    c.parts.arenas.every((a) => a instanceof SharedArrayBuffer) && c.inflight instanceof SharedArrayBuffer &&
    typeof c.options === 'object' && c.options !== null;
}
