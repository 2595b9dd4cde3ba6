/**
 * The shared-memory store: hash index, entries and vectors, read and written by any thread.
 * (About 700 lines, on purpose: the lock-free read, probe(), is only correct against the exact
 * write protocol of set, overwrite, fill and delete, so the two stay side by side; allocation,
 * eviction, chains and recovery live in their own files.)
 *
 * Index. Buckets (control buffer) hold the id of the first entry of a chain; each entry holds the
 * id of the next. A key's bucket is its first word masked; the bucket's stripe lock
 * (lock.ts) serializes writers of that chain. Entry ids are page << 13 | slot (layout.ts).
 *
 * Reads take no lock (a seqlock per entry, plus one per page):
 *
 *   ep  = page.epoch        (odd: the page is changing class → retry)
 *   seq = entry.seq         (odd: a writer is in the middle → retry)
 *   compare the 128-bit key; read state, model generation, expiry; copy the vector out
 *   entry.seq == seq && page.epoch == ep ?  → a consistent snapshot, else retry
 *
 * An entry can be recycled for another key between the bucket probe and the copy; the key is
 * read under the same seq as the vector, so a recycled entry shows up as a key mismatch or a
 * moved seq, never as a hit with a foreign vector. A chain walk that wanders off (its entry
 * was moved to another chain) ends as a miss: a miss is always safe in a cache.
 *
 * Writes (set, delete, evict) hold the stripe lock of the key's bucket. A write bumps the
 * entry's seq to odd, copies with one TypedArray.set() (a builtin: a terminated worker stops
 * before or after it, not inside), bumps seq to even, then links the entry. Before changing an
 * entry a writer records it as the lock's intent, so the thread that takes over a dead writer's
 * lock can repair exactly that entry (recovery.ts).
 *
 * Allocation, in order: a fresh slot from the class's current page; a new page while maxBytes
 * allows; then the sweep over the class's pages, which takes free, expired and invalidated
 * entries first and evicts the policy's victim otherwise (eviction.ts, car.ts). Never blocks on
 * a second lock while holding one, so writers cannot deadlock. When a class has no room at all
 * (a new model of a new dimension and every page owned by others), a page of another class is
 * emptied and reformatted under every stripe lock (arena.ts, stealPage).
 *
 * Counting. H_OCCUPIED counts claimed and live entries and enforces maxEntries with a CAS (it
 * never exceeds it). Each model counts its live entries of the current generation; invalidation
 * moves that count to H_STALE under every lock, so stats().entries stays exact without visiting
 * entries. A worker killed mid-write can leave these counters off by one; memory safety and the
 * maxEntries/maxBytes bounds do not depend on them being exact.
 *
 * Files. This one holds the index (probe, the hot path, and the chain edits) and the writes; the
 * rest is composed per thread: arena.ts (views, addressing, pages), free-slots.ts (free slots),
 * eviction.ts (allocation and the policy sweep), recovery.ts (repair, fsck, invariants).
 */
import { EmbeddingCacheError } from '../errors.js';
import {
  arenaOf,
  BUCKETS,
  entryId,
  H_ATTACH_SEQ,
  H_CLASS_COUNT,
  H_LAYOUT_VERSION,
  H_MAGIC,
  H_OCCUPIED,
  H_PAGES_USED,
  H_DEAD_RING,
  H_DISK_COMMITS,
  H_DROPS,
  H_SECRET,
  H_STALE,
  H_TOKEN_SEQ,
  H_TTL_USED,
  LAYOUT_VERSION,
  LOCKS,
  M_GEN,
  M_LIVE,
  MAGIC,
  MAX_MODELS,
  MODEL_WORDS,
  modelAt,
  MODELS,
  NONE,
  ON_DISK,
  PAGE_WORD_SHIFT,
  PAGE_WORDS,
  pageBase,
  type PageLayout,
  pageOf,
  pendingAt,
  PAGES_PER_ARENA,
  PAGES_PER_ARENA_SHIFT,
  PG_BUMP,
  PG_CLASS,
  PG_EPOCH,
  PG_HOT,
  PG_REF,
  SECRET_WORDS,
  SLOT_BITS,
  SLOT_MASK,
  slotOf,
  ST_DELETES,
  ST_HITS,
  ST_INVALIDATIONS,
  ST_MISSES,
  ST_SETS,
  ST_TAKEOVERS,
  STATE_LIVE,
  STRIPES,
} from './layout.js';
import { LockTable } from './lock.js';
import { StampClock } from './stamps.js';
import { markReferenced } from './policy.js';
import { CarPolicy } from './car.js';
import { FleetWords } from './fleet-words.js';
import { ModelRegistry } from './registry.js';
import { Counters } from './counters.js';
import { Arena, createStoreParts, planStore } from './arena.js';
import { FreeSlots } from './free-slots.js';
import { Eviction, type EvictHook } from './eviction.js';
import { IndexChains } from './chains.js';
import { Recovery } from './recovery.js';
import type { PageOwners, StoreParts } from './types.js';

export type { StoreParts } from './types.js';

export { planStore };
export type { EvictHook } from './eviction.js';

const MAX_CHAIN_STEPS = 256;
/** probe(): copy the vector into a new Float32Array of its own. */
const COPY_NEW = new Float32Array(0);
const READ_RETRIES = 16;

export class SharedStore {
  readonly parts: StoreParts;
  readonly registry: ModelRegistry;
  /** The fleet words of the remote tier (epoch, leader). */
  readonly fleet: FleetWords;
  readonly counters: Counters;
  readonly token: number;

  private readonly ctl: Int32Array;
  /** The arena's view arrays and layout cache (the same arrays: probe() indexes them directly). */
  private readonly i32: Int32Array[];
  private readonly f32: Float32Array[];
  private readonly f64: Float64Array[];
  private readonly layouts: (PageLayout | undefined)[];
  private readonly locks: LockTable;
  private readonly bucketMask: number;
  private readonly arena: Arena;
  private readonly free: FreeSlots;
  private readonly eviction: Eviction;
  private readonly recovery: Recovery;
  private readonly chains: IndexChains;
  private readonly pageOwners: PageOwners;
  /** The replacement policy (car.ts): new entries are admitted through it, clear() resets it. */
  private readonly policy: CarPolicy;
  /** The vector of the last hit of probe(). */
  private found: Float32Array | undefined;
  /** The order-stamp clock shared by every thread (stamps.ts). */
  readonly stamps: StampClock;
  /**
   * Whether delete() takes an order stamp and counts a pending disk write (with a spill tier,
   * which queues a tombstone for every delete). set() does when asked (toDisk).
   */
  stamping = false;
  /** The stamp taken by this instance's last disk-bound set() or delete(). */
  lastStamp = 0;
  /** Word index of the pending-disk-write count of bucket 0 (layout.ts, pendingAt). */
  private readonly pending: number;

  /** Allocates and initializes the shared memory of a new store (arena.ts). */
  static readonly create = createStoreParts;

  constructor(parts: StoreParts) {
    this.parts = parts;
    this.ctl = new Int32Array(parts.control);
    if (this.ctl[H_MAGIC] !== MAGIC || this.ctl[H_LAYOUT_VERSION] !== LAYOUT_VERSION) {
      throw new EmbeddingCacheError(
        'ERR_INVALID_HANDLE',
        "The handle's shared memory is not an embedcache of this version.",
      );
    }
    this.bucketMask = parts.buckets - 1;
    this.token = Atomics.add(this.ctl, H_TOKEN_SEQ, 1) + 1;
    this.counters = new Counters(this.ctl, Atomics.add(this.ctl, H_ATTACH_SEQ, 1));
    this.locks = new LockTable(
      this.ctl,
      LOCKS,
      H_DEAD_RING,
      this.token,
      parts.lockTimeoutMs,
      (dead, entry) => this.recovery.repair(dead, entry),
      () => {
        this.counters.add(ST_TAKEOVERS);
        this.recovery.needsFsck = true;
      },
    );
    this.registry = new ModelRegistry(this.ctl, this.locks);
    this.fleet = new FleetWords(this.ctl, this.token);
    this.stamps = new StampClock(parts.control);
    this.pending = pendingAt(parts.buckets);
    const arena = new Arena(parts, this.ctl, this.token, this.registry, this.locks);
    this.arena = arena;
    this.i32 = arena.i32;
    this.f32 = arena.f32;
    this.f64 = arena.f64;
    this.layouts = arena.layouts;
    this.policy = new CarPolicy(this.ctl, parts.buckets, parts.maxEntries);
    this.free = new FreeSlots(arena, this.policy);
    this.chains = new IndexChains(arena, this.ctl);
    this.eviction = new Eviction(arena, this.free, this.chains, this.counters, this.bucketMask, this.policy);
    this.recovery = new Recovery(arena, this.free, this.chains, this.bucketMask, this.policy);
    this.pageOwners = {
      emptyPage: (p, mem, base, L, now) => this.eviction.emptyPage(p, mem, base, L, now),
      resetFree: (cls) => this.free.resetFree(cls),
    };
  }

  /** Called with the page count after this instance adds a page (the prefaulter's trigger). */
  set onNewPage(hook: ((pagesUsed: number) => void) | null) {
    this.arena.onNewPage = hook;
  }

  /** Called with each evicted live entry (the spill tier hooks in here). */
  get evictHook(): EvictHook | null {
    return this.eviction.evictHook;
  }

  set evictHook(hook: EvictHook | null) {
    this.eviction.evictHook = hook;
  }

  /** The per-cache key secret stored in the header. */
  secret(): Uint8Array {
    return new Uint8Array(this.parts.control, H_SECRET * 4, SECRET_WORDS * 4).slice();
  }

  // ── Reads (no lock) ────────────────────────────────────────────────────────────────────────

  /**
   * Looks key k[ko..ko+3] of model m up; true on a hit. Expired and invalidated entries are
   * misses (and reclaimed if their stripe is free right now). `out` selects the copy: null
   * copies nothing (has), COPY_NEW into a new Float32Array left in this.found, any other array
   * at out[outAt] (the caller checked it has room for the model's dimension).
   *
   * The hot path: every address computation is written out here (no helper calls), and the
   * view arrays are read directly; only a view refresh, a first layout and a reclaim call out.
   */
  private probe(
    k: Int32Array,
    ko: number,
    m: number,
    now: number,
    out: Float32Array | null,
    outAt: number,
  ): boolean {
    // Only the two seq reads are Atomics (they order the snapshot); the other shared words are
    // read plainly: a stale value there can only turn into a retry or a miss, never a wrong hit.
    // (Atomics.load is a builtin call in Node 20, not inlined: it costs ~10-25 ns each.)
    const ctl = this.ctl;
    const k0 = k[ko]!,
      k1 = k[ko + 1]!,
      k2 = k[ko + 2]!,
      k3 = k[ko + 3]!;
    const b = k0 & this.bucketMask;
    const gen = ctl[MODELS + m * MODEL_WORDS + M_GEN]!;
    const pagesUsed = ctl[H_PAGES_USED]!;
    for (let attempt = 0; attempt < READ_RETRIES; attempt++) {
      let e = ctl[BUCKETS + b]!;
      let retry = false;
      for (let steps = 0; e !== NONE && steps < MAX_CHAIN_STEPS; steps++) {
        const p = e >>> SLOT_BITS;
        const s = e & SLOT_MASK;
        if (p >= pagesUsed) break;
        const a = p >>> PAGES_PER_ARENA_SHIFT;
        const base = (p & (PAGES_PER_ARENA - 1)) << PAGE_WORD_SHIFT;
        let mem = this.i32[a]!;
        if (base + PAGE_WORDS > mem.length) mem = this.arena.refreshViews(a);
        const ep = mem[base + PG_EPOCH]!;
        if ((ep & 1) !== 0) {
          retry = true;
          break;
        }
        const c = mem[base + PG_CLASS]!;
        if (c === 0) break;
        const L = this.layouts[c - 1] ?? this.arena.layout(c - 1);
        if (s >= L.slots) break;
        const ki = base + L.key + 4 * s;
        if (mem[ki] === k0 && mem[ki + 1] === k1 && mem[ki + 2] === k2 && mem[ki + 3] === k3) {
          const seqAt = base + L.seq + s;
          const seq = Atomics.load(mem, seqAt);
          if ((seq & 1) !== 0) {
            retry = true;
            break;
          }
          // Re-check the key under seq: it may have been rewritten between the compare and the load.
          if (mem[ki] !== k0 || mem[ki + 1] !== k1 || mem[ki + 2] !== k2 || mem[ki + 3] !== k3) {
            retry = true;
            break;
          }
          const state = mem[base + L.state + s];
          const entryGen = mem[base + L.gen + s];
          const entryModel = mem[base + L.model + s];
          const expires = this.f64[a]![(base >>> 1) + L.expiryF64 + s]!;
          let vec: Float32Array | undefined;
          if (out !== null) {
            const v = base + L.vec + s * L.dims;
            if (out === COPY_NEW) {
              vec = new Float32Array(L.dims);
              vec.set(this.f32[a]!.subarray(v, v + L.dims));
            } else {
              out.set(this.f32[a]!.subarray(v, v + L.dims), outAt);
            }
          }
          if (Atomics.load(mem, seqAt) !== seq || mem[base + PG_EPOCH] !== ep) {
            retry = true;
            break;
          }
          if (state !== STATE_LIVE || entryModel !== m) return false;
          if (entryGen !== gen || (expires !== 0 && expires <= now)) {
            this.eviction.reclaimIfStale(e, b, now === 0 ? Date.now() : now);
            return false;
          }
          markReferenced(mem, base, s);
          if (mem[base + PG_HOT] === 0) mem[base + PG_HOT] = 1;
          this.found = vec;
          return true;
        }
        e = mem[base + L.next + s]!;
      }
      if (!retry) return false;
    }
    return false; // kept changing under us: a miss is always safe
  }

  /**
   * The time lookups compare expiries with: Date.now() once any entry has had a TTL, else 0
   * (no entry can be expired, and reading the clock costs as much as a third of a lookup).
   */
  clock(): number {
    return this.ctl[H_TTL_USED] === 0 ? 0 : Date.now();
  }

  /**
   * The vector of key k as a new Float32Array with a buffer of its own, or undefined. Counts a
   * hit or a miss unless `count` is false (the facade counts itself when a spill tier may still
   * turn a memory miss into a hit).
   */
  get(k: Int32Array, ko: number, m: number, now: number, count = true): Float32Array | undefined {
    if (this.probe(k, ko, m, now, COPY_NEW, 0)) {
      if (count) this.counters.add(ST_HITS);
      const v = this.found;
      this.found = undefined;
      return v;
    }
    if (count) this.counters.add(ST_MISSES);
    return undefined;
  }

  /** Copies the vector of key k into out[at…]; false on a miss. out must have room for it. */
  getInto(
    k: Int32Array,
    ko: number,
    m: number,
    now: number,
    out: Float32Array,
    at: number,
    count = true,
  ): boolean {
    const hit = this.probe(k, ko, m, now, out, at);
    if (count) this.counters.add(hit ? ST_HITS : ST_MISSES);
    return hit;
  }

  /** A lookup that copies nothing and counts nothing. */
  has(k: Int32Array, ko: number, m: number, now: number): boolean {
    return this.probe(k, ko, m, now, null, 0);
  }

  /** Counts a miss that happened outside the store (unknown model). */
  countMiss(n = 1): void {
    this.counters.add(ST_MISSES, n);
  }

  countHit(n = 1): void {
    this.counters.add(ST_HITS, n);
  }

  // ── Writes (stripe lock) ───────────────────────────────────────────────────────────────────

  /**
   * Stores vec under key k for model m (class cls); vec.length equals the class's dimension. With `toDisk` (the caller will queue the write for the spill tier)
   * the write takes its order stamp (this.lastStamp) and counts as pending in the key's bucket,
   * both under the stripe lock; the caller settles it (settlePending) when the disk write ends.
   */
  set(
    k: Int32Array,
    ko: number,
    m: number,
    cls: number,
    vec: Float32Array,
    expiresAt: number,
    toDisk = false,
  ): void {
    this.write(k, ko, m, cls, vec, expiresAt, false, 0, toDisk, false);
  }

  /**
   * Stores a vector read from the spill tier, unless the key has an entry (it may be a newer
   * value another thread set meanwhile) or an invalidateModel or clear ran since `drops` was
   * read (drops(), before the disk read): the vector may be of a dropped generation. Checked
   * under the stripe lock, which every drop also holds. Refused too while any disk write of the
   * key's bucket is pending in some thread's queue: the copy read may be older than it. The new
   * entry is marked as already on disk, so evicting it writes nothing — unless `onDisk` is false
   * (a vector read from the remote tier: an eviction spills it like any other entry). False if
   * not stored.
   */
  promote(
    k: Int32Array,
    ko: number,
    m: number,
    cls: number,
    vec: Float32Array,
    expiresAt: number,
    drops: number,
    onDisk = true,
  ): boolean {
    return this.write(k, ko, m, cls, vec, expiresAt, true, drops, false, onDisk);
  }

  /** The bucket of key k[ko…] (the tag of its disk writes). */
  bucketOf(k: Int32Array, ko: number): number {
    return k[ko]! & this.bucketMask;
  }

  /** Counts a disk write of bucket b's keys as pending; call under b's stripe lock when it matters. */
  markPending(b: number): void {
    Atomics.add(this.ctl, this.pending + b, 1);
  }

  /** A pending disk write of bucket b ended (written, superseded, failed or dropped). */
  settlePending(b: number): void {
    if (Atomics.sub(this.ctl, this.pending + b, 1) <= 0) Atomics.add(this.ctl, this.pending + b, 1); // never below 0
  }

  /** Spill batches committed by any thread (H_DISK_COMMITS). */
  diskCommits(): number {
    return Atomics.load(this.ctl, H_DISK_COMMITS);
  }

  diskCommitted(): void {
    Atomics.add(this.ctl, H_DISK_COMMITS, 1);
  }

  /** The count of invalidations and clears so far (for promote()). */
  drops(): number {
    return Atomics.load(this.ctl, H_DROPS);
  }

  private write(
    k: Int32Array,
    ko: number,
    m: number,
    cls: number,
    vec: Float32Array,
    expiresAt: number,
    ifAbsent: boolean,
    drops: number,
    toDisk: boolean,
    onDisk: boolean,
  ): boolean {
    const b = k[ko]! & this.bucketMask;
    const stripe = b & (STRIPES - 1);
    const L = this.arena.layout(cls);
    if (expiresAt !== 0 && this.ctl[H_TTL_USED] === 0) Atomics.store(this.ctl, H_TTL_USED, 1);
    for (let round = 0; ; round++) {
      this.locks.acquire(stripe);
      let placed = false;
      try {
        if (ifAbsent && (Atomics.load(this.ctl, H_DROPS) !== drops || this.ctl[this.pending + b]! !== 0))
          return false;
        const existing = this.chains.find(b, k, ko);
        if (existing !== NONE) {
          if (ifAbsent) return false;
          this.overwrite(stripe, existing, m, vec, expiresAt);
          placed = true;
        } else {
          const e = this.eviction.allocate(cls, L, stripe);
          if (e >= 0) {
            this.fill(stripe, e, b, k, ko, m, vec, expiresAt, onDisk);
            placed = true;
          }
        }
        if (placed && toDisk) {
          this.lastStamp = this.stamps.next();
          Atomics.add(this.ctl, this.pending + b, 1);
        }
      } finally {
        this.locks.clearIntent(stripe);
        this.locks.release(stripe);
        if (this.recovery.needsFsck) this.fsck();
      }
      if (placed) {
        if (!ifAbsent) this.counters.add(ST_SETS); // a promotion from disk is not the caller's set
        return true;
      }
      // No room in this class, or a cold page of another class to take: move a page over (all
      // locks, so outside our stripe lock), then try again. Failing to find room is transient
      // (other writers hold the candidates); give up only after many rounds.
      if (!this.arena.stealPage(cls, this.pageOwners) && round >= 100) {
        throw new EmbeddingCacheError(
          'ERR_CAPACITY',
          'No memory could be found for this vector: every page is in use by entries that are being written. Raise maxBytes.',
        );
      }
    }
  }

  /** Removes key k; true if a live entry was removed. */
  delete(k: Int32Array, ko: number, m: number, now: number): boolean {
    const b = k[ko]! & this.bucketMask;
    const stripe = b & (STRIPES - 1);
    this.locks.acquire(stripe);
    try {
      // Stamped whether or not memory holds the key: the delete is ordered for the disk too.
      if (this.stamping) {
        this.lastStamp = this.stamps.next();
        Atomics.add(this.ctl, this.pending + b, 1);
      }
      const e = this.chains.find(b, k, ko);
      if (e === NONE) return false;
      const p = pageOf(e),
        s = slotOf(e);
      const mem = this.arena.mem(p),
        base = pageBase(p);
      const L = this.arena.layoutOfPage(mem, base)!;
      const live = mem[base + L.model + s] === m && this.arena.isCurrent(mem, base, L, s, p, now);
      this.locks.setIntent(stripe, e);
      this.chains.unlink(e, b);
      this.free.release(e, mem, base, L, s);
      if (live) this.counters.add(ST_DELETES);
      return live;
    } finally {
      this.locks.clearIntent(stripe);
      this.locks.release(stripe);
      if (this.recovery.needsFsck) this.fsck();
    }
  }

  /**
   * O(1) in entries: bumps the model's generation under every lock (so no write is half-way).
   * m = NONE (a model memory has never seen) only orders the drop against promotions.
   */
  invalidate(m: number): void {
    if (this.recovery.needsFsck) this.fsck();
    this.arena.acquireAll();
    try {
      if (m !== NONE) {
        const r = modelAt(m);
        const live = Atomics.exchange(this.ctl, r + M_LIVE, 0);
        Atomics.add(this.ctl, H_STALE, live);
        Atomics.add(this.ctl, r + M_GEN, 1);
        this.counters.add(ST_INVALIDATIONS, live);
      }
      // Last, after the generation: a reader that sees this count also sees the new generation
      // (it reads the count first, then the generation, then the disk; see Tiers.fromDisk).
      Atomics.add(this.ctl, H_DROPS, 1);
    } finally {
      this.arena.releaseAll();
    }
  }

  /** Drops every entry (pages stay with their classes, all slots free). O(pages). */
  clear(): void {
    this.arena.acquireAll();
    try {
      const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
      const classes = Atomics.load(this.ctl, H_CLASS_COUNT);
      for (let c = 0; c < classes; c++) this.free.resetFree(c);
      this.policy.reset(); // (every page's policy bits are zeroed below)
      for (let p = 0; p < pagesUsed; p++) {
        const mem = this.arena.mem(p),
          base = pageBase(p);
        const L = this.arena.layoutOfPage(mem, base);
        Atomics.add(mem, base + PG_EPOCH, 1);
        mem.fill(0, base + PG_REF, base + PAGE_WORDS);
        Atomics.add(mem, base + PG_EPOCH, 1);
        if (L === undefined) continue;
        // Every used slot is free now: stack them so new entries reuse them before new pages.
        const used = Math.min(L.slots, mem[base + PG_BUMP]!);
        for (let s = used - 1; s >= 0; s--) this.free.pushFree(mem[base + PG_CLASS]! - 1, entryId(p, s));
      }
      this.ctl.fill(NONE, BUCKETS, BUCKETS + this.parts.buckets);
      Atomics.store(this.ctl, H_OCCUPIED, 0);
      Atomics.store(this.ctl, H_STALE, 0);
      for (let m = 0; m < MAX_MODELS; m++) {
        Atomics.store(this.ctl, modelAt(m) + M_LIVE, 0);
        // Moving every generation on tells other threads' spill tiers to re-read theirs.
        Atomics.add(this.ctl, modelAt(m) + M_GEN, 1);
      }
      Atomics.add(this.ctl, H_DROPS, 1); // last, as in invalidate()
    } finally {
      this.arena.releaseAll();
    }
  }

  // ── Write internals (caller holds the stripe lock) ─────────────────────────────────────────

  private overwrite(stripe: number, e: number, m: number, vec: Float32Array, expiresAt: number): void {
    const p = pageOf(e),
      s = slotOf(e);
    const a = arenaOf(p);
    const mem = this.arena.mem(p),
      base = pageBase(p);
    const L = this.arena.layoutOfPage(mem, base)!;
    this.locks.setIntent(stripe, e);
    const seqAt = base + L.seq + s;
    const seq = mem[seqAt]!;
    if (Atomics.compareExchange(mem, seqAt, seq, seq + 1) !== seq) return; // taken over: back off
    this.f32[a]!.set(vec, base + L.vec + s * L.dims);
    mem[base + L.free + s] = 0; // the new value is not on disk
    // A plain read (an Atomics.load is a builtin call): stable, invalidate holds every lock.
    const gen = this.ctl[modelAt(m) + M_GEN]!;
    if (mem[base + L.gen + s] !== gen) {
      // Rewriting an invalidated entry makes it live again in the current generation.
      mem[base + L.gen + s] = gen;
      Atomics.sub(this.ctl, H_STALE, 1);
      Atomics.add(this.ctl, modelAt(m) + M_LIVE, 1);
    }
    this.f64[a]![(base >>> 1) + L.expiryF64 + s] = expiresAt;
    Atomics.compareExchange(mem, seqAt, seq + 1, seq + 2);
  }

  /** Writes a claimed entry and publishes it at the head of bucket b's chain. */
  private fill(
    stripe: number,
    e: number,
    b: number,
    k: Int32Array,
    ko: number,
    m: number,
    vec: Float32Array,
    expiresAt: number,
    onDisk: boolean,
  ): void {
    const p = pageOf(e),
      s = slotOf(e);
    const a = arenaOf(p);
    const mem = this.arena.mem(p),
      base = pageBase(p);
    const L = this.arena.layoutOfPage(mem, base)!;
    this.locks.setIntent(stripe, e);
    const seqAt = base + L.seq + s;
    let seq = Atomics.load(mem, seqAt);
    if ((seq & 1) !== 0) seq++; // left odd by a repaired writer: move on from it
    Atomics.store(mem, seqAt, seq + 1);
    const ki = base + L.key + 4 * s;
    mem[ki] = k[ko]!;
    mem[ki + 1] = k[ko + 1]!;
    mem[ki + 2] = k[ko + 2]!;
    mem[ki + 3] = k[ko + 3]!;
    mem[base + L.model + s] = m;
    mem[base + L.gen + s] = this.registry.generation(m);
    this.f64[a]![(base >>> 1) + L.expiryF64 + s] = expiresAt;
    this.f32[a]!.set(vec, base + L.vec + s * L.dims);
    this.policy.admit(mem, base, s, k, ko); // its list (T1, or T2 for a ghost), before it is published
    mem[base + L.free + s] = onDisk ? ON_DISK : 0;
    if (Atomics.compareExchange(mem, seqAt, seq + 1, seq + 2) !== seq + 1) return; // taken over
    mem[base + L.next + s] = Atomics.load(this.ctl, BUCKETS + b);
    Atomics.store(this.ctl, BUCKETS + b, e); // publish
    Atomics.store(mem, base + L.state + s, STATE_LIVE);
    Atomics.add(this.ctl, modelAt(m) + M_LIVE, 1);
  }

  /** The integrity pass after a take-over (recovery.ts); runs by itself after the next write. */
  fsck(): void {
    this.recovery.fsck();
  }

  // ── Introspection ──────────────────────────────────────────────────────────────────────────

  /** Live entries (expired ones not yet reclaimed included). */
  entries(): number {
    return Math.max(0, Atomics.load(this.ctl, H_OCCUPIED) - Atomics.load(this.ctl, H_STALE));
  }

  /** Every byte of shared memory allocated: control buffer plus committed arena pages. */
  memoryBytes(): number {
    return this.arena.memoryBytes();
  }

  maxBytes(): number {
    return this.arena.maxBytes();
  }

  /** For tests: structural invariants (recovery.ts) as a list of violations (empty = fine). */
  checkInvariants(exactPolicy = false): string[] {
    return this.recovery.checkInvariants(exactPolicy);
  }
}
