/**
 * Tiers: the one place the memory tier (memory/store.ts), the spill tier (spill/tier.ts) and the
 * remote tier (remote/tier.ts) meet. The facade (cache.ts) validates and hashes; everything here
 * works on 128-bit keys.
 *
 *   read     memory ──miss──► disk ──hit──► promote into memory (set-if-absent) ──► caller
 *   fetch    (async paths only: fetchMany, getOrCompute) … disk miss ──► Redis ──hit──► adopt
 *            into memory (and disk with persist) under the same guards as a promotion
 *   write    memory, then disk behind (with persist, or a TTL: see set()), then Redis behind
 *   evict    a live entry pushed out of memory goes to disk (without persist; with persist
 *            every set is there already)
 *   drop     invalidateModel / clear: disk first, memory after (a thread that sees the new
 *            memory generation then also finds the new disk generation)
 *
 * One order per key. Memory is the point of order: every operation on a key holds the key's
 * stripe lock while it changes memory, and an operation bound for disk takes its order stamp
 * (memory/stamps.ts) under that same lock. The disk keeps, per key, the copy with the highest
 * stamp, and a delete leaves a stamped tombstone (spill/write-queue.ts), so a write still
 * queued in a busy thread can land late but never undoes a later set or delete. A promotion is
 * a copy from disk into memory that no thread asked for: it is stored only if the key has no
 * entry, no invalidateModel or clear ran since the disk read, and no disk write of the key's
 * bucket is still pending in any thread's queue (store.promote), so neither a dropped vector nor
 * an older copy than a write in flight is ever made permanent. Readers renew their LMDB snapshot
 * after any thread's commit (spill.links). Disk writes go through the cache's hand-off ring
 * (spill/handoff.ts), which any free thread commits, so a busy thread never holds its writes
 * back and flush() on any instance waits for every thread's. What this does not cover: a write
 * not yet committed is invisible to other threads (a get may miss it, or read the older copy it
 * replaces, for that long, without promoting it).
 *
 * The remote tier follows the same rule by stamp: every value and tombstone in Redis carries the
 * stamp of its operation, and a write lands only over a lower stamp (remote/tier.ts), so a late
 * write from a busy thread — or another machine — never undoes a later one. Between machines
 * the stamps are wall-clock milliseconds, so their order is the wall clock's. invalidateModel and
 * clear move the fleet's generation (remote/generations.ts); a generation learned from another
 * machine drops the model from memory and disk here (dropModel, dropAll), which bumps the drop
 * count, so a remote read that started before it is not adopted after it.
 *
 * Models: each thread keeps a small cache of name → (id, dimension class, dims) over the shared
 * registry, so a lookup costs one Map probe (or none, for the last model used).
 */
import { EmbeddingCacheError } from './errors.js';
import { keyBytes, keyBytesInto } from './key/hasher.js';
import {
  MAX_DIMS,
  NONE,
  ST_REMOTE_HITS,
  ST_REMOTE_INVALID,
  ST_REMOTE_LEASE_WAITS,
  ST_REMOTE_MISSES,
  ST_SPILL_HITS,
  ST_SPILL_MISSES,
} from './memory/layout.js';
import { dimensionMismatch } from './memory/registry.js';
import type { SharedStore } from './memory/store.js';
import type { FleetFlight } from './compute/fleet-flight.js';
import type { KeyOptions, SetOptions } from './options.js';
import type { RemoteTier } from './remote/tier.js';
import type { SpillTier } from './spill/tier.js';
import type { SpillStats } from './spill/types.js';

/** A model as this thread knows it: registry id, dimension class (-1: none yet) and dimension. */
export interface ModelRef {
  readonly id: number;
  readonly cls: number;
  readonly dims: number;
}

/** stats().remote: the remote tier's counters (every thread) and this thread's connection state. */
export interface RemoteStats {
  hits: number;
  misses: number;
  /** Values Redis took (sets written behind, getOrCompute results, tombstones). */
  writes: number;
  /** Failed or timed-out calls, and calls refused while the breaker was open. */
  errors: number;
  /** Texts this machine waited for while another machine held their lease (getOrCompute). */
  leaseWaits: number;
  /** Values under the prefix refused by the header check (foreign, corrupt, another dimension). */
  invalid: number;
  /**
   * This thread's connection: 'up'; 'down' while the breaker is open (Redis unreachable, failing
   * or slow); 'off' when Redis holds another fleet's key secret (see the README's Fleet section).
   */
  state: 'up' | 'down' | 'off';
}

/** The model of a call that names none. */
export const DEFAULT_MODEL = 'default';

/** getMany(): floats per result buffer (64 KiB). */
const RESULT_CHUNK_FLOATS = 16 * 1024;

export class Tiers {
  /** Model names by id, for records handed to the spill tier. */
  private readonly modelNames: string[] = [];
  private readonly models = new Map<string, ModelRef>();
  private lastModel: { name: string; ref: ModelRef } | undefined;
  /** fromDisk(): a key's 16 bytes for the spill tier's reads, and its words. */
  private readonly keyScratch = new Uint8Array(16);
  private readonly keyWords = new Int32Array(this.keyScratch.buffer);

  constructor(
    readonly store: SharedStore,
    /** This thread's handle on the LMDB spill tier (each thread opens its own), or null. */
    readonly spill: SpillTier | null,
    private readonly maxBytes: number,
    /** This thread's connection to the remote tier, or null. */
    public remote: RemoteTier | null = null,
  ) {
    store.stamping = spill !== null;
    if (spill !== null && !spill.persist) {
      // Evicted live entries go to disk. With persist every set is on disk already. The hook
      // runs under the victim's stripe lock: its stamp and its pending count are in order with
      // the key's other operations.
      store.evictHook = (key, modelId, vector, expiresAt) => {
        const b = store.bucketOf(key, 0);
        store.markPending(b);
        spill.enqueue(
          {
            key: keyBytes(key),
            model: this.nameOf(modelId),
            vector,
            createdMs: Date.now(),
            expiresMs: expiresAt,
          },
          store.registry.generation(modelId),
          store.stamps.next(),
          b,
        );
      };
    }
  }

  // ── models ─────────────────────────────────────────────────────────────────────────────────

  private nameOf(modelId: number): string {
    return (this.modelNames[modelId] ??= this.store.registry.name(modelId));
  }

  /** The model `name` if memory knows it (its cls is -1 while it has no dimension yet). */
  findModel(name: string): ModelRef | undefined {
    if (name === this.lastModel?.name) return this.lastModel.ref;
    const cached = this.models.get(name);
    if (cached !== undefined) return cached;
    const registry = this.store.registry;
    const id = registry.find(name);
    if (id < 0) return undefined;
    const ref = { id, cls: registry.classOf(id), dims: registry.dims(id) };
    if (ref.cls >= 0) {
      this.models.set(name, ref);
      this.lastModel = { name, ref };
    }
    return ref;
  }

  /** The model `name`, registered and bound to `dims` if new; throws if it has another dimension. */
  bindModel(name: string, dims: number): ModelRef {
    const cached = this.models.get(name);
    if (cached !== undefined) {
      if (cached.dims !== dims) throw dimensionMismatch(name, cached.dims, dims);
      return cached;
    }
    if (dims * 4 > this.maxBytes || dims > MAX_DIMS) {
      throw new EmbeddingCacheError(
        'ERR_VECTOR_TOO_LARGE',
        `A vector of ${dims} floats (${dims * 4} bytes) does not fit: maxBytes is ${this.maxBytes} and one page holds at most ${MAX_DIMS} floats. Raise maxBytes or store smaller vectors.`,
      );
    }
    const registry = this.store.registry;
    const id = registry.ensure(name);
    // Check memory, then the disk, before either fixes anything: a vector refused by one must
    // not leave its dimension bound in the other.
    const known = registry.dims(id);
    if (known !== 0 && known !== dims) throw dimensionMismatch(name, known, dims);
    this.spill?.checkDims(name, dims);
    const ref = { id, cls: registry.bindDims(id, dims, name), dims };
    this.models.set(name, ref);
    return ref;
  }

  /** The memory generation of `model`, or undefined if memory has never seen it. */
  private generationOf(model: string): number | undefined {
    const id = this.store.registry.find(model);
    return id < 0 ? undefined : this.store.registry.generation(id);
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────

  /** The vector of key k as a new Float32Array, from memory or disk; counts a hit or a miss. */
  get(k: Int32Array, ko: number, model: string, m: ModelRef | undefined): Float32Array | undefined {
    const store = this.store;
    if (this.spill === null) {
      if (m === undefined || m.cls < 0) {
        store.countMiss();
        return undefined;
      }
      return store.get(k, ko, m.id, store.clock());
    }
    const v =
      (m === undefined || m.cls < 0 ? undefined : store.get(k, ko, m.id, store.clock(), false)) ??
      this.fromDisk(k, ko, model, m, false);
    if (v === undefined) store.countMiss();
    else store.countHit();
    return v;
  }

  /**
   * Copies the vector of key k into out[offset…]; false on a miss. With a known model the
   * caller checked that out has room for m.dims floats; a disk hit of an unknown model that does
   * not fit counts as a miss.
   */
  getInto(
    k: Int32Array,
    ko: number,
    model: string,
    m: ModelRef | undefined,
    out: Float32Array,
    offset: number,
  ): boolean {
    const store = this.store;
    if (this.spill === null) {
      if (m !== undefined && m.cls >= 0) return store.getInto(k, ko, m.id, store.clock(), out, offset);
      store.countMiss();
      return false;
    }
    let hit = m !== undefined && m.cls >= 0 && store.getInto(k, ko, m.id, store.clock(), out, offset, false);
    if (!hit) {
      // peek: the floats land in the spill tier's reused buffer, copied from there into memory
      // (the promotion) and into out; no array of our own per read.
      const v = this.fromDisk(k, ko, model, m, true);
      if (v !== undefined && offset + v.length <= out.length) {
        out.set(v, offset);
        hit = true;
      }
    }
    if (hit) store.countHit();
    else store.countMiss();
    return hit;
  }

  /** Whether key k has a live entry in any tier. Counts nothing. */
  has(k: Int32Array, ko: number, model: string, m: ModelRef | undefined): boolean {
    if (m !== undefined && m.cls >= 0 && this.store.has(k, ko, m.id, this.store.clock())) return true;
    if (this.spill === null) return false;
    return this.spill.peek(keyBytes(k, ko), model, Date.now(), this.generationOf(model)) !== undefined;
  }

  /**
   * get() for the n keys in keys[0…4n). Memory hits without a spill tier are copied into
   * result buffers of up to 64 KiB shared by the call (views that never overlap).
   */
  getMany(keys: Int32Array, n: number, model: string, m: ModelRef | undefined): (Float32Array | undefined)[] {
    const store = this.store;
    const out = new Array<Float32Array | undefined>(n);
    if (this.spill !== null) {
      // Memory first, then the disk for each miss (each read is synchronous; hits are promoted).
      let hits = 0;
      for (let i = 0; i < n; i++) {
        const mm = m !== undefined && m.cls >= 0 ? m : this.findModel(model);
        out[i] =
          (mm === undefined || mm.cls < 0
            ? undefined
            : store.get(keys, i * 4, mm.id, store.clock(), false)) ??
          this.fromDisk(keys, i * 4, model, mm, false);
        if (out[i] !== undefined) hits++;
      }
      store.countHit(hits);
      store.countMiss(n - hits);
      return out;
    }
    if (m === undefined || m.cls < 0) {
      out.fill(undefined);
      store.countMiss(n);
      return out;
    }
    const now = store.clock();
    const d = m.dims;
    // Hits are copied into chunks of at most 64 KiB, allocated as hits need them: one buffer for
    // the whole batch would be large enough for the allocator to map fresh pages every call,
    // and zeroing and faulting them in costs more than the lookups.
    const perChunk = Math.max(1, Math.floor(RESULT_CHUNK_FLOATS / d));
    let chunk: Float32Array | null = null;
    let used = perChunk;
    for (let i = 0; i < n; i++) {
      if (used === perChunk) {
        chunk = new Float32Array(perChunk * d);
        used = 0;
      }
      if (store.getInto(keys, i * 4, m.id, now, chunk!, used * d)) {
        out[i] = chunk!.subarray(used * d, (used + 1) * d);
        used++;
      } else {
        out[i] = undefined;
      }
    }
    return out;
  }

  /**
   * A memory miss with a spill tier: read the disk synchronously and, on a hit, promote the
   * entry into memory (unless another thread stored the key meanwhile). `m` is the model as the
   * caller found it (undefined if memory does not know it yet). With `peek` the result is the
   * spill tier's reused buffer (SpillTier.peek), valid until this thread's next peek: for a
   * caller that copies it out at once (getInto); else a fresh array the caller owns.
   */
  private fromDisk(
    k: Int32Array,
    ko: number,
    model: string,
    m: ModelRef | undefined,
    peek: boolean,
  ): Float32Array | undefined {
    const spill = this.spill!;
    const store = this.store;
    // The drop count before the generation and the read: a drop bumps it after the generation,
    // so a count that is already new comes with the new generation (and the new disk state), and
    // a drop after this read voids the promotion.
    const drops = store.drops();
    // A model the caller found has its id already: its generation is one shared-memory read.
    const gen = m !== undefined ? store.registry.generation(m.id) : this.generationOf(model);
    // The key's bytes in a scratch buffer: the spill tier's reads copy it into their record key
    // and keep nothing (writes, which do keep it, get keyBytes()).
    keyBytesInto(k, ko, this.keyWords);
    const now = Date.now();
    const hit = peek
      ? spill.peek(this.keyScratch, model, now, gen)
      : spill.get(this.keyScratch, model, now, gen);
    store.counters.add(hit === undefined ? ST_SPILL_MISSES : ST_SPILL_HITS);
    if (hit === undefined) return undefined;
    const dims = hit.vector.length;
    let ref: ModelRef;
    if (m !== undefined && m.cls >= 0 && m.dims === dims) ref = m;
    else {
      try {
        ref = this.bindModel(model, dims);
      } catch {
        return undefined; // a record that disagrees with the model's dimension is a miss, not an error
      }
    }
    store.promote(k, ko, ref.id, ref.cls, hit.vector, hit.expiresMs, drops);
    return hit.vector;
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────

  /**
   * Stores v under key k in memory and, with persist or a TTL, behind on disk: a TTL set goes
   * to disk too, else an older copy there would come back once this one expires in memory
   * (expired entries are not spilled).
   */
  set(
    k: Int32Array,
    ko: number,
    model: string,
    m: ModelRef,
    v: Float32Array,
    expiresAt: number,
    toRemote = true,
  ): void {
    const spill = this.spill;
    const toDisk = spill !== null && (spill.persist || expiresAt !== 0);
    this.store.set(k, ko, m.id, m.cls, v, expiresAt, toDisk);
    let stamp = 0;
    if (toDisk) {
      stamp = this.store.lastStamp;
      this.toDisk(spill, k, ko, model, m, v, expiresAt, stamp, this.store.bucketOf(k, ko));
    }
    if (this.remote !== null && toRemote) {
      this.remote.enqueueSet(k, ko, model, v, stamp !== 0 ? stamp : this.store.stamps.next(), expiresAt);
    }
  }

  /** Removes key k from every tier; true if any tier had a live entry. */
  delete(k: Int32Array, ko: number, model: string, m: ModelRef | undefined): boolean {
    const inMemory = m !== undefined && m.cls >= 0;
    let deleted = inMemory && this.store.delete(k, ko, m.id, Date.now());
    // The delete's order stamp, for every tier: taken under the stripe lock by the memory delete
    // (when stamping), else now.
    let stamp = inMemory && this.store.stamping ? this.store.lastStamp : 0;
    if (this.spill !== null) {
      const key = keyBytes(k, ko);
      const gen = this.generationOf(model);
      if (!deleted && this.spill.peek(key, model, Date.now(), gen) !== undefined) deleted = true;
      // The tombstone's stamp and pending count: taken under the stripe lock by the memory
      // delete, or now for a model memory has never held (no memory operation to order against).
      const b = this.store.bucketOf(k, ko);
      if (!inMemory) {
        stamp = this.store.stamps.next();
        this.store.markPending(b);
      }
      this.spill.delete(key, model, gen, stamp, b);
    }
    // Redis is not asked whether it held the text (delete is synchronous); its tombstone goes behind.
    if (this.remote !== null)
      this.remote.enqueueDelete(k, ko, model, stamp !== 0 ? stamp : this.store.stamps.next());
    return deleted;
  }

  /** Every entry of `model` becomes a miss in every tier (disk first, then memory; the fleet behind). */
  invalidateModel(model: string): void {
    this.dropModel(model);
    this.remote?.invalidateModel(model);
  }

  /** Drops every entry of every model (disk first, then memory; the fleet behind). */
  clear(): void {
    this.dropAll();
    this.remote?.clear();
  }

  /** invalidateModel() of the local tiers only (also: a bump learned from another machine). */
  dropModel(model: string): void {
    this.spill?.invalidateModel(model);
    const m = this.findModel(model);
    // A model memory has not seen may still be promoted from disk right now: order the drop
    // against that too (with a spill tier; without one there is nothing to drop).
    if (m !== undefined) this.store.invalidate(m.id);
    else if (this.spill !== null) this.store.invalidate(NONE);
  }

  /** clear() of the local tiers only (also: an epoch learned from another machine). */
  dropAll(): void {
    this.spill?.clear();
    this.store.clear();
  }

  // ── the remote tier (async paths) ────────────────────────────────────────────────────────

  /**
   * Reads keys[4·at[i]…] from Redis and adopts each hit into memory (and disk with persist),
   * unless the key was stored meanwhile or a drop ran since the read began. A value whose
   * dimension disagrees with the model's is a miss (counted invalid). Never throws for Redis.
   */
  async fetchRemote(
    keys: Int32Array,
    at: readonly number[],
    model: string,
    countMisses = true,
  ): Promise<(Float32Array | undefined)[]> {
    const remote = this.remote!;
    const drops = this.store.drops();
    const known = this.findModel(model);
    const got = await remote.read(
      keys,
      at,
      model,
      known !== undefined && known.cls >= 0 ? known.dims : 0,
      countMisses,
    );
    const out = new Array<Float32Array | undefined>(at.length);
    for (let i = 0; i < at.length; i++) {
      const { vector, expiresMs } = got[i]!;
      if (vector === undefined) continue;
      let m: ModelRef;
      try {
        m = this.bindModel(model, vector.length);
      } catch {
        // Decoded, but of another dimension than the model's here: a miss after all.
        this.store.counters.add(ST_REMOTE_INVALID);
        this.store.counters.add(ST_REMOTE_HITS, -1);
        this.store.counters.add(ST_REMOTE_MISSES);
        continue;
      }
      out[i] = vector;
      this.adopt(keys, at[i]! * 4, model, m, vector, expiresMs, drops);
    }
    return out;
  }

  /** Fills the holes of `out` (keys[4i…] for out[i]) from Redis, in one read. */
  async fillFromRemote(keys: Int32Array, out: (Float32Array | undefined)[], model: string): Promise<void> {
    const at: number[] = [];
    for (let i = 0; i < out.length; i++) if (out[i] === undefined) at.push(i);
    if (at.length === 0) return;
    const got = await this.fetchRemote(keys, at, model);
    for (let i = 0; i < at.length; i++) if (got[i] !== undefined) out[at[i]!] = got[i];
  }

  /**
   * getOrCompute's view of the remote tier (compute/fleet-flight.ts). `ttlOf` resolves a call's
   * TTL as set() does; a closed cache reads nothing more.
   */
  fleetFlight(ttlOf: (opts: SetOptions | undefined) => number, closed: () => boolean): FleetFlight {
    const remote = this.remote!;
    const modelOf = (opts: KeyOptions | undefined): string => opts?.model ?? DEFAULT_MODEL;
    return {
      leaseMs: remote.settings.leaseMs,
      fetch: (keys, at, opts, countMisses) =>
        closed()
          ? Promise.resolve(at.map(() => undefined))
          : this.fetchRemote(keys, at, modelOf(opts), countMisses),
      namesOf: (keys, at, opts) => at.map((p) => remote.keyOf(keys, p * 4, modelOf(opts))),
      lease: (names, ms) => remote.lease(names, ms),
      renew: (names, ms) => remote.renew(names, ms),
      release: (names) => remote.release(names),
      publish: async (keys, at, vectors, opts) => {
        const ttl = ttlOf(opts);
        const expiresAt = ttl > 0 ? Date.now() + ttl : 0;
        await remote.writeNow(
          remote.writesOf(keys, at, modelOf(opts), vectors, this.store.stamps.next(), expiresAt),
        );
      },
      countWaits: (n) => this.store.counters.add(ST_REMOTE_LEASE_WAITS, n),
    };
  }

  /**
   * Stores a vector read from Redis locally, set-if-absent and only if nothing was dropped since
   * `drops`. With persist it goes to disk too, with a stamp of its own but not counted pending:
   * a pending count would refuse the adoption of the batch's next key in the same bucket, and
   * memory holds this key while the write is queued (a disk promotion of it cannot happen then).
   */
  private adopt(
    k: Int32Array,
    ko: number,
    model: string,
    m: ModelRef,
    v: Float32Array,
    expiresAt: number,
    drops: number,
  ): void {
    const spill = this.spill;
    if (!this.store.promote(k, ko, m.id, m.cls, v, expiresAt, drops, false)) return;
    if (spill === null || (!spill.persist && expiresAt === 0)) return;
    this.toDisk(spill, k, ko, model, m, v, expiresAt, this.store.stamps.next(), -1);
  }

  /** Queues key k's vector for disk with its order stamp; `tag` is its pending bucket (-1: not counted pending). */
  private toDisk(
    spill: SpillTier,
    k: Int32Array,
    ko: number,
    model: string,
    m: ModelRef,
    v: Float32Array,
    expiresAt: number,
    stamp: number,
    tag: number,
  ): void {
    spill.enqueue(
      { key: keyBytes(k, ko), model, vector: v, createdMs: Date.now(), expiresMs: expiresAt },
      this.store.registry.generation(m.id),
      stamp,
      tag,
    );
  }

  /** The spill tier's file figures with this cache's counters, or undefined without one. */
  spillStats(c: ReturnType<SharedStore['counters']['totals']>): SpillStats | undefined {
    if (this.spill === null) return undefined;
    const file = this.spill.stats();
    return {
      entries: file.entries,
      bytes: file.bytes,
      writes: c.spillWrites,
      hits: c.spillHits,
      misses: c.spillMisses,
      errors: c.spillErrors,
      superseded: c.spillSuperseded,
      ...(file.handoff !== undefined ? { handoff: file.handoff } : {}),
    };
  }

  /** The remote tier's counters and this thread's connection state ('off' without one). */
  remoteStats(c: ReturnType<SharedStore['counters']['totals']>): RemoteStats | undefined {
    if (this.remote === null) return undefined;
    return {
      hits: c.remoteHits,
      misses: c.remoteMisses,
      writes: c.remoteWrites,
      errors: c.remoteErrors,
      leaseWaits: c.remoteLeaseWaits,
      invalid: c.remoteInvalid,
      state: this.remote.state(),
    };
  }

  /** Resolves once every write handed to the spill tier so far is durable, and Redis has had every remote write. */
  async flush(): Promise<void> {
    await Promise.all([this.spill?.flush(), this.remote?.flush()]);
  }

  /** Flushes this thread's pending writes and closes its spill handle and remote connection. */
  async close(): Promise<void> {
    await Promise.all([this.spill?.close(), this.remote?.close()]);
  }
}
