/**
 * EmbeddingCache: the public facade. It validates input, turns (model, chunkId, text) into a
 * 128-bit key (key/hasher.ts) and delegates to the tiers (tiers.ts), which hold the policy of
 * memory and disk. Every instance, in any thread, built from the same handle works on the same
 * memory.
 */
import { randomBytes } from 'node:crypto';
import { computeMany, type ComputeHost, type EmbedFunction } from './compute/get-or-compute.js';
import { InflightTable } from './compute/inflight.js';
import { argumentError, closedError, describe, EmbeddingCacheError, invalidText } from './errors.js';
import { KeyHasher, SECRET_BYTES } from './key/hasher.js';
import { Prefaulter } from './memory/prefault.js';
import { dimensionMismatch } from './memory/registry.js';
import { planStore, SharedStore } from './memory/store.js';
import {
  type CacheOptions,
  type GetOrComputeOptions,
  type KeyOptions,
  type ResolvedOptions,
  resolveOptions,
  type SetOptions,
} from './options.js';
import type { SpillTier } from './spill/tier.js';
import type { SpillCount, SpillStats } from './spill/types.js';
import { type CacheHandle, HANDLE_TAG, HANDLE_VERSION, INFLIGHT_BYTES, isCacheHandle } from './handle.js';
import { connectRemote, equalBytes, openSpill, spillCounter, spillLinks } from './open.js';
import type { RemoteTier } from './remote/tier.js';
import { DEFAULT_MODEL, type RemoteStats, Tiers } from './tiers.js';
import { toVector } from './vectors.js';

export type { GetOrComputeOptions, KeyOptions, SetOptions } from './options.js';
export type { RemoteStats } from './tiers.js';
export { type CacheHandle, HANDLE_TAG, INFLIGHT_BYTES, isCacheHandle } from './handle.js';

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
  /** The remote tier, when configured: counters of every thread, this thread's connection state. */
  remote?: RemoteStats;
  /**
   * getOrCompute, every thread: texts asked for, texts sent to embed(), and texts answered
   * without a model call (saved = texts − embedded: hits in any tier, duplicates in a call, and
   * texts another caller or machine was embedding).
   */
  compute: { texts: number; embedded: number; saved: number };
}

export class EmbeddingCache {
  private readonly store: SharedStore;
  private readonly tiers: Tiers;
  private readonly hasher: KeyHasher;
  private readonly options: ResolvedOptions;
  /** The key of the current call (4 int32 words). */
  private readonly key = new Int32Array(4);
  private readonly sharedHandle: CacheHandle;
  private readonly compute: ComputeHost;
  private readonly prefaulter: Prefaulter | null; // started when this instance grows the cache
  private closed = false;

  private constructor(
    handle: CacheHandle,
    store: SharedStore,
    hasher: KeyHasher,
    spill: SpillTier | null,
    remote: RemoteTier | null,
  ) {
    this.sharedHandle = handle;
    this.store = store;
    this.hasher = hasher;
    this.options = handle.options;
    this.tiers = new Tiers(store, spill, handle.options.maxBytes, remote);
    this.compute = this.computeHost(
      new InflightTable(handle.inflight, store.token, handle.options.lockTimeoutMs),
    );
    this.prefaulter = handle.options.prefault ? Prefaulter.attach(store, handle.parts) : null;
  }

  /** Creates a cache. Options are validated here: a bad one throws TypeError or RangeError. */
  static async open(options?: CacheOptions): Promise<EmbeddingCache> {
    const resolved = resolveOptions(options, 0);
    planStore(resolved.maxBytes, resolved.expectedEntries); // throws before any file is touched
    let secret: Uint8Array = new Uint8Array(randomBytes(SECRET_BYTES));
    let spill: SpillTier | null = null;
    let remote: RemoteTier | null = null;
    // The spill tier opens before the store (the file's key seed wins over a fresh one, so a
    // warm restart finds its keys again). Counts it reports before the store exists are parked.
    const parked: Record<SpillCount, number> = { writes: 0, errors: 0, superseded: 0 };
    let sink: ((kind: SpillCount, n: number) => void) | null = null;
    const linkTo: { store: SharedStore | null } = { store: null };
    let cache: EmbeddingCache;
    try {
      if (resolved.spill !== null) {
        const count = (kind: SpillCount, n: number): void => {
          if (sink !== null) sink(kind, n);
          else parked[kind] += n;
        };
        spill = await openSpill(resolved, secret, count, spillLinks(linkTo));
        secret = spill.seed.slice();
      }
      let verified = false;
      if (resolved.remote !== null) {
        // The fleet's key secret wins over the file's: keys must agree across machines.
        const opened = await connectRemote(resolved, secret, spill, options!.remote!.client);
        remote = opened.remote;
        secret = opened.secret;
        verified = opened.verified;
      }
      const parts = SharedStore.create({
        maxBytes: resolved.maxBytes,
        expectedEntries: resolved.expectedEntries,
        maxEntries: resolved.maxEntries,
        lockTimeoutMs: resolved.lockTimeoutMs,
        secret,
      });
      const handle: CacheHandle = {
        tag: HANDLE_TAG,
        version: HANDLE_VERSION,
        parts,
        options: resolved,
        inflight: InflightTable.create(INFLIGHT_BYTES),
        // Loaded only with a spill tier, like the tier itself.
        handoff: spill !== null ? (await import('./spill/handoff.js')).HandoffRing.create() : null,
      };
      cache = await EmbeddingCache.fromHandle(handle, spill, remote, verified);
      if (remote !== null) {
        // This instance keeps the machine's view of the fleet's generations current.
        const marks = spill?.fleetMarks(resolved.remote!.prefix);
        await cache.tiers.remote!.startGenerations(marks, true);
      }
    } catch (err) {
      await Promise.all([spill?.close(), remote?.close()]);
      throw err;
    }
    linkTo.store = cache.store;
    const add = spillCounter(cache.store);
    sink = add;
    for (const kind of ['writes', 'errors', 'superseded'] as const) add(kind, parked[kind]);
    return cache;
  }

  /**
   * Attaches to a cache created elsewhere (usually in another thread) from its `handle`.
   * The result shares the same memory: a set in one thread is a hit in every other.
   */
  static async attach(handle: CacheHandle): Promise<EmbeddingCache> {
    if (!isCacheHandle(handle)) {
      throw new EmbeddingCacheError(
        'ERR_INVALID_HANDLE',
        `EmbeddingCache.attach() needs the value of cache.handle (passed through workerData or postMessage), got ${describe(handle)}.`,
      );
    }
    return EmbeddingCache.fromHandle(handle);
  }

  private static async fromHandle(
    handle: CacheHandle,
    opened: SpillTier | null = null,
    openedRemote: RemoteTier | null = null,
    verified = false,
  ): Promise<EmbeddingCache> {
    const store = new SharedStore(handle.parts);
    const secret = store.secret();
    let spill = opened;
    let remote = openedRemote;
    try {
      if (spill === null && handle.options.spill !== null) {
        spill = await openSpill(handle.options, secret, spillCounter(store), spillLinks({ store }));
        if (!equalBytes(spill.seed, secret)) {
          throw new EmbeddingCacheError(
            'ERR_SPILL_FORMAT',
            `The spill file at ${handle.options.spill.path} was created by another cache (its key seed differs from this cache's). Give each cache its own spill path.`,
          );
        }
      }
      if (remote === null && handle.options.remote !== null) {
        const { RemoteTier } = await import('./remote/tier.js');
        remote = await RemoteTier.connect(handle.options.remote, undefined);
      }
      const hasher = await KeyHasher.create(handle.options.keyHash, secret);
      const cache = new EmbeddingCache(handle, store, hasher, spill, remote);
      if (spill !== null && handle.handoff !== null)
        spill.attachHandoff(handle.handoff, store.token, handle.options.lockTimeoutMs);
      if (remote !== null) {
        const tiers = cache.tiers;
        const disk = spill;
        remote.attach(
          store,
          {
            dropModel: (model) => tiers.dropModel(model),
            dropAll: () => tiers.dropAll(),
            ...(disk !== null
              ? { record: (epoch, gens) => void disk.saveFleetMarks(remote!.names.prefix, { epoch, gens }) }
              : {}),
          },
          verified,
        );
        // An attached instance takes over the machine's fleet view if the one leading it stops.
        if (openedRemote === null) void remote.startGenerations(undefined, false);
      }
      return cache;
    } catch (err) {
      if (opened === null) await spill?.close();
      if (openedRemote === null) await remote?.close();
      throw err;
    }
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
    const v = toVector(vector, 'set()');
    const ttl = this.ttl(opts, 'set');
    const m = this.tiers.bindModel(model, v.length);
    this.hashKey(text, model, opts, 'set');
    this.tiers.set(this.key, 0, model, m, v, ttl > 0 ? Date.now() + ttl : 0);
  }

  /**
   * The vector stored for `text`, as a new Float32Array with a buffer of its own (transfer it
   * freely); undefined on a miss. getInto() skips that allocation.
   */
  get(text: string, opts?: KeyOptions): Float32Array | undefined {
    this.assertOpen('get');
    const model = this.modelName(opts, 'get');
    const m = this.tiers.findModel(model);
    this.hashKey(text, model, opts, 'get');
    return this.tiers.get(this.key, 0, model, m);
  }

  /**
   * Copies the vector stored for `text` into `out` (from index `offset`) and returns true, or
   * returns false on a miss, allocating nothing: the fast path when you reuse a buffer.
   * `out` must have room for the model's dimension from `offset`.
   */
  getInto(text: string, out: Float32Array, opts?: KeyOptions & { offset?: number }): boolean {
    this.assertOpen('getInto');
    const model = this.modelName(opts, 'getInto');
    const m = this.tiers.findModel(model);
    this.hashKey(text, model, opts, 'getInto');
    if (!(out instanceof Float32Array)) throw argumentError('getInto', 'out must be a Float32Array', out);
    const offset = opts?.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0 || offset >= out.length) {
      throw argumentError(
        'getInto',
        `options.offset must be an integer index into out (length ${out.length})`,
        offset,
      );
    }
    if (m !== undefined && m.cls >= 0 && offset + m.dims > out.length) {
      throw argumentError(
        'getInto',
        `out needs room for ${m.dims} floats from offset ${offset} (model "${model}"), but its length is ${out.length}`,
        offset,
      );
    }
    return this.tiers.getInto(this.key, 0, model, m, out, offset);
  }

  /** Whether `text` has a live entry. Counts neither a hit nor a miss. */
  has(text: string, opts?: KeyOptions): boolean {
    this.assertOpen('has');
    const model = this.modelName(opts, 'has');
    const m = this.tiers.findModel(model);
    this.hashKey(text, model, opts, 'has');
    return this.tiers.has(this.key, 0, model, m);
  }

  /** Removes the entry for `text`; true if there was a live one. */
  delete(text: string, opts?: KeyOptions): boolean {
    this.assertOpen('delete');
    const model = this.modelName(opts, 'delete');
    const m = this.tiers.findModel(model);
    this.hashKey(text, model, opts, 'delete');
    return this.tiers.delete(this.key, 0, model, m);
  }

  /**
   * get() for each text, in order. The hits of one call are views into a few buffers of up to
   * 64 KiB allocated for the call (not one per vector): they never overlap, but transferring
   * one's `.buffer` moves its neighbours too — `.slice()` one first to send it alone. With a
   * spill tier, a hit read from disk has a buffer of its own.
   */
  getMany(texts: readonly string[], opts?: KeyOptions): (Float32Array | undefined)[] {
    this.assertOpen('getMany');
    const keys = this.hashAll(texts, opts, 'getMany');
    return this.readMany(keys, texts.length, opts);
  }

  /** set() for each (text, vector) pair; every input is validated before anything is stored. */
  setMany(
    texts: readonly string[],
    vectors: readonly (Float32Array | ArrayLike<number>)[],
    opts?: SetOptions,
  ): void {
    this.assertOpen('setMany');
    if (!Array.isArray(texts)) throw argumentError('setMany', 'texts must be an array of strings', texts);
    if (!Array.isArray(vectors))
      throw argumentError('setMany', 'vectors must be an array of vectors', vectors);
    if (texts.length !== vectors.length) {
      throw new EmbeddingCacheError(
        'ERR_INVALID_ARGUMENT',
        `setMany(): got ${texts.length} texts and ${vectors.length} vectors; pass one vector per text.`,
      );
    }
    const model = this.modelName(opts, 'setMany');
    this.ttl(opts, 'setMany');
    const checked: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      if (typeof texts[i] !== 'string') throw invalidText(texts[i], `setMany() texts[${i}]`);
      checked[i] = toVector(vectors[i], `setMany() vectors[${i}]`);
      if (i > 0 && checked[i]!.length !== checked[0]!.length)
        throw dimensionMismatch(model, checked[0]!.length, checked[i]!.length);
    }
    if (texts.length === 0) return;
    const keys = this.hashAll(texts, opts, 'setMany');
    this.writeMany(keys, null, checked, opts);
  }

  /**
   * One vector per text, in input order: hits come from the cache; the unique misses go to
   * `embed` in calls of at most `batchSize` texts, are stored and returned. A text another call
   * (in this thread or any attached one) is computing right now is waited for, not recomputed.
   * If `embed` fails or returns bad vectors the call rejects with ERR_EMBED_FAILED and nothing
   * is stored for those texts.
   */
  getOrCompute(
    texts: readonly string[],
    embed: EmbedFunction,
    opts?: GetOrComputeOptions,
  ): Promise<Float32Array[]> {
    this.assertOpen('getOrCompute');
    return computeMany(this.compute, texts, embed, opts);
  }

  /** Every entry of `model` becomes a miss, at once, whatever their number (O(1)). */
  invalidateModel(model: string): void {
    this.assertOpen('invalidateModel');
    if (typeof model !== 'string') throw argumentError('invalidateModel', 'model must be a string', model);
    this.tiers.invalidateModel(model);
  }

  /** Drops every entry of every model. Counters (hits, misses, …) keep counting. */
  clear(): void {
    this.assertOpen('clear');
    this.tiers.clear();
  }

  stats(): CacheStats {
    this.assertOpen('stats');
    const c = this.store.counters.totals();
    const lookups = c.hits + c.misses;
    const spill = this.tiers.spillStats(c);
    const remote = this.tiers.remoteStats(c);
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
      ...(spill !== undefined ? { spill } : {}),
      ...(remote !== undefined ? { remote } : {}),
      compute: {
        texts: c.computeTexts,
        embedded: c.computeEmbedded,
        saved: c.computeTexts - c.computeEmbedded,
      },
    };
  }

  /**
   * Resolves once every write handed to the spill tier so far is durable on disk (with
   * persist: every set so far). Without a spill tier it resolves at once.
   */
  async flush(): Promise<void> {
    this.assertOpen('flush');
    await this.tiers.flush();
  }

  /**
   * Closes this instance: later calls on it throw ERR_CLOSED. The shared memory lives on while
   * any other thread still holds an attached instance.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const prefaulting = this.prefaulter?.stop(); // unhooks; its thread ends beside the flush
    await this.tiers.close(); // flushes this thread's pending writes first
    await prefaulting;
  }

  /**
   * @internal The 128-bit key of (model, chunkId, text) as four int32 words written at out[at].
   * For the pool's hashKeys task; validates like get().
   */
  keyWords(text: string, opts: KeyOptions | undefined, out: Int32Array, at: number): void {
    this.assertOpen('keyWords');
    const model = this.modelName(opts, 'keyWords');
    this.hashKey(text, model, opts, 'keyWords');
    out.set(this.key, at);
  }

  /** @internal This instance's view of the single-flight table (tests and the demo read its counters). */
  get claims(): InflightTable {
    return this.compute.claims;
  }

  /** @internal Structural invariants, for tests. Empty when everything holds. */
  checkInvariants(): string[] {
    return this.store.checkInvariants();
  }

  // ── keyed batches (getMany, setMany, getOrCompute) ─────────────────────────────────────────

  /** Validates opts and texts and hashes every text: keys of texts[i] at keys[4i…]. */
  private hashAll(texts: readonly string[], opts: KeyOptions | undefined, op: string): Int32Array {
    if (!Array.isArray(texts)) throw argumentError(op, 'texts must be an array of strings', texts);
    const model = this.modelName(opts, op);
    const chunkId = this.chunkId(opts, op);
    const keys = new Int32Array(texts.length * 4);
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i];
      if (typeof t !== 'string') throw invalidText(t, `${op}() texts[${i}]`);
      this.hasher.hash(model, chunkId, t, keys, i * 4);
    }
    return keys;
  }

  private readMany(keys: Int32Array, n: number, opts: KeyOptions | undefined): (Float32Array | undefined)[] {
    const model = opts?.model ?? DEFAULT_MODEL;
    return this.tiers.getMany(keys, n, model, this.tiers.findModel(model));
  }

  /** Stores vectors[i] at keys[4·(idx?.[i] ?? i)…]; the vectors are validated and of one dimension. */
  private writeMany(
    keys: Int32Array,
    idx: readonly number[] | null,
    vectors: readonly Float32Array[],
    opts: SetOptions | undefined,
    toRemote = true,
  ): void {
    if (vectors.length === 0) return;
    const model = opts?.model ?? DEFAULT_MODEL;
    const ttl = this.ttl(opts, 'setMany');
    const m = this.tiers.bindModel(model, vectors[0]!.length);
    const expiresAt = ttl > 0 ? Date.now() + ttl : 0;
    for (let i = 0; i < vectors.length; i++)
      this.tiers.set(keys, (idx === null ? i : idx[i]!) * 4, model, m, vectors[i]!, expiresAt, toRemote);
  }

  /** getOrCompute's view of this cache: the same tiers, by key, and the claim table. */
  private computeHost(claims: InflightTable): ComputeHost {
    return {
      claims,
      checkOptions: (opts, op) => {
        this.modelName(opts, op);
        this.chunkId(opts, op);
        this.ttl(opts, op);
      },
      hashAll: (texts, opts, op) => {
        this.assertOpen(op);
        return this.hashAll(texts, opts, op);
      },
      readMany: (keys, n, opts) => this.readMany(keys, n, opts),
      read: (keys, at, opts, countMiss) => {
        this.assertOpen('getOrCompute');
        const model = opts?.model ?? DEFAULT_MODEL;
        const m = this.tiers.findModel(model);
        if (!countMiss && !this.tiers.has(keys, at, model, m)) return undefined;
        return this.tiers.get(keys, at, model, m);
      },
      writeMany: (keys, idx, vectors, opts) => {
        this.assertOpen('getOrCompute');
        // With a remote tier getOrCompute writes to Redis itself, awaited (fleet.publish).
        this.writeMany(keys, idx, vectors, opts, false);
      },
      flush: () => (this.closed ? Promise.resolve() : this.tiers.flush()),
      fleet:
        this.tiers.remote === null
          ? null
          : this.tiers.fleetFlight(
              (opts) => this.ttl(opts, 'getOrCompute'),
              () => this.closed,
            ),
      count: (counter, n) => this.store.counters.add(counter, n),
    };
  }

  /**
   * Like getMany(), through every tier, the remote one included (memory, then disk, then Redis;
   * no embedding). Hits from Redis are stored in memory (and on disk with persist). Order kept;
   * a miss is undefined. Redis being down or slow is never an error: its part is a miss.
   */
  async fetchMany(texts: readonly string[], opts?: KeyOptions): Promise<(Float32Array | undefined)[]> {
    this.assertOpen('fetchMany');
    const keys = this.hashAll(texts, opts, 'fetchMany');
    const out = this.readMany(keys, texts.length, opts);
    if (this.tiers.remote !== null) await this.tiers.fillFromRemote(keys, out, opts?.model ?? DEFAULT_MODEL);
    return out;
  }

  // ── helpers ────────────────────────────────────────────────────────────────────────────────

  private assertOpen(op: string): void {
    if (this.closed) throw closedError(op);
  }

  private modelName(opts: KeyOptions | undefined, op: string): string {
    if (opts === undefined) return DEFAULT_MODEL;
    if (typeof opts !== 'object' || opts === null)
      throw argumentError(op, 'options must be an object like { model, chunkId }', opts);
    const model = opts.model;
    if (model === undefined) return DEFAULT_MODEL;
    if (typeof model !== 'string' || model.length === 0)
      throw argumentError(op, 'options.model must be a non-empty string', model);
    // Model names are stored as UTF-8 (memory registry, spill file): a lone surrogate would not
    // come back as the same name.
    if (!model.isWellFormed()) {
      throw argumentError(op, 'options.model must be well-formed Unicode (no lone surrogates)', model);
    }
    return model;
  }

  private chunkId(opts: KeyOptions | undefined, op: string): string | undefined {
    const chunkId = opts?.chunkId;
    if (chunkId !== undefined && typeof chunkId !== 'string')
      throw argumentError(op, 'options.chunkId must be a string', chunkId);
    return chunkId;
  }

  private ttl(opts: SetOptions | undefined, op: string): number {
    const t = opts?.ttlMs;
    if (t === undefined) return this.options.ttlMs;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
      throw argumentError(
        op,
        'options.ttlMs must be a finite number of milliseconds >= 0 (0 = never expires)',
        t,
      );
    }
    return t;
  }

  private hashKey(text: unknown, model: string, opts: KeyOptions | undefined, op: string): void {
    if (typeof text !== 'string') throw invalidText(text, `${op}()`);
    this.hasher.hash(model, this.chunkId(opts, op), text, this.key, 0);
  }
}

/** Public free-function form of cache.getOrCompute(), for worker modules. */
export function getOrCompute(
  cache: EmbeddingCache,
  texts: readonly string[],
  embed: EmbedFunction,
  opts?: GetOrComputeOptions,
): Promise<Float32Array[]> {
  if (!(cache instanceof EmbeddingCache))
    throw argumentError('getOrCompute', 'cache must be an EmbeddingCache', cache);
  return cache.getOrCompute(texts, embed, opts);
}
