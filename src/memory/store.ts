/**
 * The shared-memory store: hash index, entries and vectors, read and written by any thread.
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
 * lock can repair exactly that entry (see repair()).
 *
 * Allocation, in order: a fresh slot from the class's current page; a new page while maxBytes
 * allows; then the CLOCK sweep over the class's pages (policy.ts), which takes free, expired and
 * invalidated entries first and evicts an unreferenced one otherwise. A victim in another
 * stripe is taken only if its lock is free right now (tryAcquire): a writer never blocks on a
 * second lock while holding one, so writers cannot deadlock. When a class has no room at all
 * (a new model of a new dimension and every page owned by others), stealPage() takes every
 * stripe lock, empties one page of another class and reformats it.
 *
 * Counting. H_OCCUPIED counts claimed and live entries and enforces maxEntries with a CAS (it
 * never exceeds it). Each model counts its live entries of the current generation; invalidation
 * moves that count to H_STALE under every lock, so stats().entries stays exact without visiting
 * entries. A worker killed mid-write can leave these counters off by one; memory safety and the
 * maxEntries/maxBytes bounds do not depend on them being exact.
 */
import { EmbeddingCacheError } from '../errors.js';
import {
  ARENA_MAX_BYTES, BUCKETS, C_CUR_PAGE, C_FREE_HEAD, C_PAGES, CLASS_WORDS, CLASSES, controlWords, H_ATTACH_SEQ,
  H_CLASS_COUNT, H_LAYOUT_VERSION, H_MAGIC, H_OCCUPIED, H_PAGES_USED, H_SECRET, H_STALE, H_TOKEN_SEQ, H_TTL_USED,
  LAYOUT_VERSION, LOCKS, M_GEN, M_LIVE, MAGIC, MAX_MODELS, MAX_PAGES, MODEL_WORDS, MODELS, NONE,
  PAGE_BYTES, PAGE_HEADER_WORDS, PAGE_WORD_SHIFT, PAGE_WORDS, PAGES_PER_ARENA, PAGES_PER_ARENA_SHIFT,
  pageLayout, type PageLayout, PG_BODY, PG_BUMP, PG_CLASS, PG_DIMS, PG_EPOCH, PG_HOT, PG_REF, PG_SLOTS,
  SECRET_WORDS, SLOT_BITS, SLOT_MASK, ST_DELETES, ST_EVICTIONS, ST_EXPIRATIONS, ST_HITS,
  ST_INVALIDATIONS, ST_MISSES, ST_SETS, ST_TAKEOVERS, STATE_FREE, STATE_LIVE,
  STRIPES,
} from './layout.js';
import { LockTable } from './lock.js';
import { clearReferenced, markReferenced, testAndClearReferenced } from './policy.js';
import { ModelRegistry } from './registry.js';
import { Counters } from './counters.js';

/** What a thread needs to attach: the buffers and the sizes fixed at creation. */
export interface StoreParts {
  control: SharedArrayBuffer;
  arenas: SharedArrayBuffer[];
  buckets: number;
  maxEntries: number;
  maxPages: number;
  lockTimeoutMs: number;
}

/** Receives an evicted live entry before its slot is reused; `vector` is only valid during the call. */
export type EvictHook = (key: Int32Array, modelId: number, vector: Float32Array, expiresAt: number) => void;

const MAX_CHAIN_STEPS = 256;
/**
 * A live entry's `free` word (the free-stack link is unused while it is live): ON_DISK when the
 * entry came from the spill tier and has not been rewritten, so evicting it writes nothing.
 */
const ON_DISK = 1;
/** allocate(): no slot now, but stealTarget is a cold page of another class worth taking. */
const STEAL = -2;
/** probe(): copy the vector into a new Float32Array of its own. */
const COPY_NEW = new Float32Array(0);
const READ_RETRIES = 16;

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Sizes of a new store for the given bounds; throws RangeError if maxBytes is too small. */
export function planStore(maxBytes: number, expectedEntries: number): { buckets: number; controlBytes: number; maxPages: number; arenaBytes: number[] } {
  const buckets = Math.max(STRIPES, nextPow2(Math.ceil(expectedEntries * 1.25)));
  const controlBytes = controlWords(buckets) * 4;
  const maxPages = Math.min(MAX_PAGES, Math.floor((maxBytes - controlBytes) / PAGE_BYTES));
  if (maxPages < 1) {
    throw new RangeError(
      `options.maxBytes (${maxBytes}) leaves no room for vectors: the index for ${expectedEntries} expected entries takes ${controlBytes} bytes and a page is ${PAGE_BYTES}. ` +
      `Raise maxBytes to at least ${controlBytes + PAGE_BYTES}, or lower expectedEntries/maxEntries.`,
    );
  }
  const arenaBytes: number[] = [];
  for (let left = maxPages * PAGE_BYTES; left > 0; left -= ARENA_MAX_BYTES) arenaBytes.push(Math.min(left, ARENA_MAX_BYTES));
  return { buckets, controlBytes, maxPages, arenaBytes };
}

export class SharedStore {
  readonly parts: StoreParts;
  readonly registry: ModelRegistry;
  readonly counters: Counters;
  readonly token: number;
  /** Called with each evicted live entry (the spill tier hooks in here). */
  evictHook: EvictHook | null = null;

  private readonly ctl: Int32Array;
  /** The control buffer as 64-bit words, for the free-stack heads (C_FREE_HEAD). */
  private readonly ctl64: BigUint64Array;
  private readonly i32: Int32Array[];
  private readonly f32: Float32Array[];
  private readonly f64: Float64Array[];
  private readonly locks: LockTable;
  private readonly bucketMask: number;
  private readonly maxEntries: number;
  private readonly maxPages: number;
  /** Page layouts by class, cached per thread (a class's dimension never changes). */
  private readonly layouts: (PageLayout | undefined)[] = [];
  /** CLOCK hands, per thread: per class, and one over all pages. */
  private readonly hands: number[] = [];
  private anyHand = 0;
  private stealHand = 0;
  /** Page CLOCK over other classes' pages (coldForeignPage), and the page it picked. */
  private pageHand = 0;
  private stealTarget = NONE;
  /** Set when this thread took over a dead writer's lock: run fsck() once no lock is held. */
  private needsFsck = false;
  /** The vector of the last hit of probe(). */
  private found: Float32Array | undefined;
  private readonly keyScratch = new Int32Array(4);

  /** Allocates and initializes the shared memory of a new store. */
  static create(opts: { maxBytes: number; expectedEntries: number; maxEntries: number; lockTimeoutMs: number; secret: Uint8Array }): StoreParts {
    const plan = planStore(opts.maxBytes, opts.expectedEntries);
    const control = new SharedArrayBuffer(plan.controlBytes);
    const ctl = new Int32Array(control);
    ctl[H_MAGIC] = MAGIC;
    ctl[H_LAYOUT_VERSION] = LAYOUT_VERSION;
    new Uint8Array(control, H_SECRET * 4, SECRET_WORDS * 4).set(opts.secret);
    LockTable.init(ctl, LOCKS, STRIPES + 1);
    ctl.fill(NONE, BUCKETS, BUCKETS + plan.buckets);
    const arenas = plan.arenaBytes.map((max) => new SharedArrayBuffer(0, { maxByteLength: max }));
    return { control, arenas, buckets: plan.buckets, maxEntries: opts.maxEntries, maxPages: plan.maxPages, lockTimeoutMs: opts.lockTimeoutMs };
  }

  constructor(parts: StoreParts) {
    this.parts = parts;
    this.ctl = new Int32Array(parts.control);
    this.ctl64 = new BigUint64Array(parts.control);
    if (this.ctl[H_MAGIC] !== MAGIC || this.ctl[H_LAYOUT_VERSION] !== LAYOUT_VERSION) {
      throw new EmbeddingCacheError('ERR_INVALID_HANDLE', 'The handle\'s shared memory is not an embedcache of this version.');
    }
    // Fixed-length views over the committed part of each arena. Length-tracking views would see
    // growth by themselves, but V8 (Node 20) indexes them several times slower; so a view is
    // rebuilt when an access reaches a page beyond it (view()).
    this.i32 = parts.arenas.map((b) => new Int32Array(b, 0, b.byteLength >>> 2));
    this.f32 = parts.arenas.map((b) => new Float32Array(b, 0, b.byteLength >>> 2));
    this.f64 = parts.arenas.map((b) => new Float64Array(b, 0, b.byteLength >>> 3));
    this.bucketMask = parts.buckets - 1;
    this.maxEntries = parts.maxEntries;
    this.maxPages = parts.maxPages;
    this.token = Atomics.add(this.ctl, H_TOKEN_SEQ, 1) + 1;
    this.counters = new Counters(this.ctl, Atomics.add(this.ctl, H_ATTACH_SEQ, 1));
    this.locks = new LockTable(
      this.ctl, LOCKS, this.token, parts.lockTimeoutMs,
      (dead, entry) => this.repair(dead, entry),
      () => {
        this.counters.add(ST_TAKEOVERS);
        this.needsFsck = true;
      },
    );
    this.registry = new ModelRegistry(this.ctl, this.locks);
    this.anyHand = this.stealHand = (this.token * 7919) % Math.max(1, parts.maxPages);
  }

  /** The per-cache key secret stored in the header. */
  secret(): Uint8Array {
    return new Uint8Array(this.parts.control, H_SECRET * 4, SECRET_WORDS * 4).slice();
  }

  // ── Addressing ─────────────────────────────────────────────────────────────────────────────

  private mem(page: number): Int32Array {
    const a = page >>> PAGES_PER_ARENA_SHIFT;
    const m = this.i32[a]!;
    return this.base(page) + PAGE_WORDS <= m.length ? m : this.refreshViews(a);
  }

  /** Rebuilds arena a's views to cover everything committed so far (another thread grew it). */
  private refreshViews(a: number): Int32Array {
    const b = this.parts.arenas[a]!;
    const i32 = new Int32Array(b, 0, b.byteLength >>> 2);
    this.i32[a] = i32;
    this.f32[a] = new Float32Array(b, 0, b.byteLength >>> 2);
    this.f64[a] = new Float64Array(b, 0, b.byteLength >>> 3);
    return i32;
  }

  private base(page: number): number {
    return (page & (PAGES_PER_ARENA - 1)) << PAGE_WORD_SHIFT;
  }

  private layout(cls: number): PageLayout {
    let l = this.layouts[cls];
    if (l === undefined) {
      l = pageLayout(this.registry.classDims(cls));
      this.layouts[cls] = l;
    }
    return l;
  }

  /** Layout of the page holding entry e (its class as of now). */
  private layoutOfPage(mem: Int32Array, base: number): PageLayout | undefined {
    const c = mem[base + PG_CLASS]!;
    return c === 0 ? undefined : this.layout(c - 1);
  }

  // ── Reads (no lock) ────────────────────────────────────────────────────────────────────────

  /**
   * Looks key k[ko..ko+3] of model m up. On a hit returns true and, if `copy`, leaves a copy of
   * the vector in this.found. Expired and invalidated entries are misses (and reclaimed if their
   * stripe is free right now).
   */
  /**
   * `out` selects the copy: null copies nothing (has), COPY_NEW into a new Float32Array, any
   * other array at out[outAt] (the caller checked it has room for the model's dimension).
   */
  private probe(k: Int32Array, ko: number, m: number, now: number, out: Float32Array | null, outAt: number): boolean {
    // Only the two seq reads are Atomics (they order the snapshot); the other shared words are
    // read plainly: a stale value there can only turn into a retry or a miss, never a wrong hit.
    // (Atomics.load is a builtin call in Node 20, not inlined: it costs ~10-25 ns each.)
    const ctl = this.ctl;
    const k0 = k[ko]!, k1 = k[ko + 1]!, k2 = k[ko + 2]!, k3 = k[ko + 3]!;
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
        if (base + PAGE_WORDS > mem.length) mem = this.refreshViews(a);
        const ep = mem[base + PG_EPOCH]!;
        if ((ep & 1) !== 0) { retry = true; break; }
        const c = mem[base + PG_CLASS]!;
        if (c === 0) break;
        const L = this.layouts[c - 1] ?? this.layout(c - 1);
        if (s >= L.slots) break;
        const ki = base + L.key + 4 * s;
        if (mem[ki] === k0 && mem[ki + 1] === k1 && mem[ki + 2] === k2 && mem[ki + 3] === k3) {
          const seqAt = base + L.seq + s;
          const seq = Atomics.load(mem, seqAt);
          if ((seq & 1) !== 0) { retry = true; break; }
          // Re-check the key under seq: it may have been rewritten between the compare and the load.
          if (mem[ki] !== k0 || mem[ki + 1] !== k1 || mem[ki + 2] !== k2 || mem[ki + 3] !== k3) { retry = true; break; }
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
          if (Atomics.load(mem, seqAt) !== seq || mem[base + PG_EPOCH] !== ep) { retry = true; break; }
          if (state !== STATE_LIVE || entryModel !== m) return false;
          if (entryGen !== gen || (expires !== 0 && expires <= now)) {
            this.reclaimIfStale(e, b, now === 0 ? Date.now() : now);
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
  getInto(k: Int32Array, ko: number, m: number, now: number, out: Float32Array, at: number, count = true): boolean {
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
   * Stores vec under key k for model m (class cls). vec.length equals the class's dimension.
   * With `ifAbsent` (a promotion from the spill tier), an existing entry is left as it is (it
   * may be a newer value another thread set meanwhile), and a new one is marked as already on
   * disk, so evicting it again writes nothing.
   */
  set(k: Int32Array, ko: number, m: number, cls: number, vec: Float32Array, expiresAt: number, ifAbsent = false): void {
    const b = k[ko]! & this.bucketMask;
    const stripe = b & (STRIPES - 1);
    const L = this.layout(cls);
    if (expiresAt !== 0 && this.ctl[H_TTL_USED] === 0) Atomics.store(this.ctl, H_TTL_USED, 1);
    for (let round = 0; ; round++) {
      this.locks.acquire(stripe);
      let placed = false;
      try {
        const existing = this.findLocked(b, k, ko);
        if (existing !== NONE) {
          if (!ifAbsent) this.overwrite(stripe, existing, m, vec, expiresAt);
          placed = true;
        } else {
          const e = this.allocate(cls, L, stripe);
          if (e >= 0) {
            this.fill(stripe, e, b, k, ko, m, vec, expiresAt, ifAbsent);
            placed = true;
          }
        }
      } finally {
        this.locks.clearIntent(stripe);
        this.locks.release(stripe);
      }
      if (this.needsFsck) this.fsck();
      if (placed) {
        if (!ifAbsent) this.counters.add(ST_SETS); // a promotion from disk is not the caller's set
        return;
      }
      // No room in this class, or a cold page of another class to take: move a page over (all
      // locks, so outside our stripe lock), then try again. Failing to find room is transient
      // (other writers hold the candidates); give up only after many rounds.
      const target = this.stealTarget;
      this.stealTarget = NONE;
      if (!this.stealPage(cls, target) && round >= 100) {
        throw new EmbeddingCacheError('ERR_CAPACITY', 'No memory could be found for this vector: every page is in use by entries that are being written. Raise maxBytes.');
      }
    }
  }

  /** Removes key k; true if a live entry was removed. */
  delete(k: Int32Array, ko: number, m: number, now: number): boolean {
    const b = k[ko]! & this.bucketMask;
    const stripe = b & (STRIPES - 1);
    this.locks.acquire(stripe);
    try {
      const e = this.findLocked(b, k, ko);
      if (e === NONE) return false;
      const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
      const mem = this.mem(p), base = this.base(p);
      const L = this.layoutOfPage(mem, base)!;
      const live = mem[base + L.model + s] === m && this.isCurrent(mem, base, L, s, p, now);
      this.locks.setIntent(stripe, e);
      this.unlink(e, b);
      this.release(e, mem, base, L, s);
      if (live) this.counters.add(ST_DELETES);
      return live;
    } finally {
      this.locks.clearIntent(stripe);
      this.locks.release(stripe);
      if (this.needsFsck) this.fsck();
    }
  }

  /** O(1) in entries: bumps the model's generation under every lock (so no write is half-way). */
  invalidate(m: number): void {
    if (this.needsFsck) this.fsck();
    this.acquireAll();
    try {
      const r = MODELS + m * MODEL_WORDS;
      const live = Atomics.exchange(this.ctl, r + M_LIVE, 0);
      Atomics.add(this.ctl, H_STALE, live);
      Atomics.add(this.ctl, r + M_GEN, 1);
      this.counters.add(ST_INVALIDATIONS, live);
    } finally {
      this.releaseAll();
    }
  }

  /** Drops every entry (pages stay with their classes, all slots free). O(pages). */
  clear(): void {
    this.acquireAll();
    try {
      const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
      const classes = Atomics.load(this.ctl, H_CLASS_COUNT);
      for (let c = 0; c < classes; c++) this.resetFree(c);
      for (let p = 0; p < pagesUsed; p++) {
        const mem = this.mem(p), base = this.base(p);
        const L = this.layoutOfPage(mem, base);
        Atomics.add(mem, base + PG_EPOCH, 1);
        mem.fill(0, base + PG_REF, base + PAGE_WORDS);
        Atomics.add(mem, base + PG_EPOCH, 1);
        if (L === undefined) continue;
        // Every used slot is free now: stack them so new entries reuse them before new pages.
        const used = Math.min(L.slots, mem[base + PG_BUMP]!);
        for (let s = used - 1; s >= 0; s--) this.pushFree(mem[base + PG_CLASS]! - 1, (p << SLOT_BITS) | s);
      }
      this.ctl.fill(NONE, BUCKETS, BUCKETS + this.parts.buckets);
      Atomics.store(this.ctl, H_OCCUPIED, 0);
      Atomics.store(this.ctl, H_STALE, 0);
      for (let m = 0; m < MAX_MODELS; m++) {
        Atomics.store(this.ctl, MODELS + m * MODEL_WORDS + M_LIVE, 0);
        // Moving every generation on tells other threads' spill tiers to re-read theirs.
        Atomics.add(this.ctl, MODELS + m * MODEL_WORDS + M_GEN, 1);
      }
    } finally {
      this.releaseAll();
    }
  }

  // ── Write internals (caller holds the stripe lock) ─────────────────────────────────────────

  /** Entry of key k in bucket b's chain, or NONE. Caller holds the bucket's stripe lock. */
  private findLocked(b: number, k: Int32Array, ko: number): number {
    const k0 = k[ko]!, k1 = k[ko + 1]!, k2 = k[ko + 2]!, k3 = k[ko + 3]!;
    let e = this.ctl[BUCKETS + b]!; // plain: every writer of this chain holds our lock
    for (let steps = 0; e !== NONE && steps < MAX_CHAIN_STEPS * 64; steps++) {
      const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
      const mem = this.mem(p), base = this.base(p);
      const L = this.layoutOfPage(mem, base)!;
      const ki = base + L.key + 4 * s;
      if (mem[ki] === k0 && mem[ki + 1] === k1 && mem[ki + 2] === k2 && mem[ki + 3] === k3) return e;
      e = mem[base + L.next + s]!;
    }
    return NONE;
  }

  private isCurrent(mem: Int32Array, base: number, L: PageLayout, s: number, p: number, now: number): boolean {
    if (mem[base + L.state + s] !== STATE_LIVE) return false;
    const m = mem[base + L.model + s]!;
    if (mem[base + L.gen + s] !== Atomics.load(this.ctl, MODELS + m * MODEL_WORDS + M_GEN)) return false;
    const exp = this.f64[p >>> PAGES_PER_ARENA_SHIFT]![(base >>> 1) + L.expiryF64 + s]!;
    return exp === 0 || exp > now;
  }

  private overwrite(stripe: number, e: number, m: number, vec: Float32Array, expiresAt: number): void {
    const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
    const mem = this.mem(p), base = this.base(p);
    const L = this.layoutOfPage(mem, base)!;
    this.locks.setIntent(stripe, e);
    const seqAt = base + L.seq + s;
    const seq = mem[seqAt]!;
    if (Atomics.compareExchange(mem, seqAt, seq, seq + 1) !== seq) return; // taken over: back off
    this.f32[p >>> PAGES_PER_ARENA_SHIFT]!.set(vec, base + L.vec + s * L.dims);
    mem[base + L.free + s] = 0; // the new value is not on disk
    const gen = this.ctl[MODELS + m * MODEL_WORDS + M_GEN]!; // stable: invalidate holds every lock
    if (mem[base + L.gen + s] !== gen) {
      // Rewriting an invalidated entry makes it live again in the current generation.
      mem[base + L.gen + s] = gen;
      Atomics.sub(this.ctl, H_STALE, 1);
      Atomics.add(this.ctl, MODELS + m * MODEL_WORDS + M_LIVE, 1);
    }
    this.f64[p >>> PAGES_PER_ARENA_SHIFT]![(base >>> 1) + L.expiryF64 + s] = expiresAt;
    Atomics.compareExchange(mem, seqAt, seq + 1, seq + 2);
  }

  /** Writes a claimed entry and publishes it at the head of bucket b's chain. */
  private fill(stripe: number, e: number, b: number, k: Int32Array, ko: number, m: number, vec: Float32Array, expiresAt: number, onDisk: boolean): void {
    const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
    const a = p >>> PAGES_PER_ARENA_SHIFT;
    const mem = this.mem(p), base = this.base(p);
    const L = this.layoutOfPage(mem, base)!;
    this.locks.setIntent(stripe, e);
    const seqAt = base + L.seq + s;
    let seq = Atomics.load(mem, seqAt);
    if ((seq & 1) !== 0) seq++; // left odd by a repaired writer: move on from it
    Atomics.store(mem, seqAt, seq + 1);
    const ki = base + L.key + 4 * s;
    mem[ki] = k[ko]!; mem[ki + 1] = k[ko + 1]!; mem[ki + 2] = k[ko + 2]!; mem[ki + 3] = k[ko + 3]!;
    mem[base + L.model + s] = m;
    mem[base + L.gen + s] = Atomics.load(this.ctl, MODELS + m * MODEL_WORDS + M_GEN);
    this.f64[a]![(base >>> 1) + L.expiryF64 + s] = expiresAt;
    this.f32[a]!.set(vec, base + L.vec + s * L.dims);
    clearReferenced(mem, base, s);
    mem[base + L.free + s] = onDisk ? ON_DISK : 0;
    if (Atomics.compareExchange(mem, seqAt, seq + 1, seq + 2) !== seq + 1) return; // taken over
    mem[base + L.next + s] = Atomics.load(this.ctl, BUCKETS + b);
    Atomics.store(this.ctl, BUCKETS + b, e); // publish
    Atomics.store(mem, base + L.state + s, STATE_LIVE);
    Atomics.add(this.ctl, MODELS + m * MODEL_WORDS + M_LIVE, 1);
  }

  /** Removes e from bucket b's chain if it is there. Caller holds b's stripe lock. */
  private unlink(e: number, b: number): boolean {
    let prev = NONE;
    let cur = Atomics.load(this.ctl, BUCKETS + b);
    for (let steps = 0; cur !== NONE && steps < MAX_CHAIN_STEPS * 64; steps++) {
      const p = cur >>> SLOT_BITS, s = cur & SLOT_MASK;
      const mem = this.mem(p), base = this.base(p);
      const L = this.layoutOfPage(mem, base)!;
      const next = mem[base + L.next + s]!;
      if (cur === e) {
        if (prev === NONE) Atomics.store(this.ctl, BUCKETS + b, next);
        else {
          const pp = prev >>> SLOT_BITS, ps = prev & SLOT_MASK;
          const pm = this.mem(pp), pb = this.base(pp);
          Atomics.store(pm, pb + this.layoutOfPage(pm, pb)!.next + ps, next);
        }
        return true;
      }
      prev = cur;
      cur = next;
    }
    return false;
  }

  /** Marks an unlinked entry free and fixes the counts. Caller holds the entry's stripe lock. */
  private release(e: number, mem: Int32Array, base: number, L: PageLayout, s: number): void {
    const wasLive = mem[base + L.state + s] === STATE_LIVE;
    if (wasLive) this.uncount(mem, base, L, s);
    const seqAt = base + L.seq + s;
    const seq = Atomics.load(mem, seqAt);
    Atomics.store(mem, seqAt, (seq | 1) + 1); // even, and moved: a reader mid-copy retries
    Atomics.store(mem, base + L.state + s, STATE_FREE);
    Atomics.sub(this.ctl, H_OCCUPIED, 1);
    this.pushFree(mem[base + PG_CLASS]! - 1, e);
  }

  // ── Free slots ─────────────────────────────────────────────────────────────────────────────
  // A lock-free stack per class (Treiber), linked through the entries' `free` words, with a tag
  // in the head against ABA. It is a hint: a slot popped by a thread that then dies is found
  // again by the sweep (its state is FREE), and every claim is a CAS FREE → -token, so a stale
  // or damaged stack can only make a pop come back empty-handed, never hand out a live entry.

  private freeHead(cls: number): number {
    return (CLASSES + cls * CLASS_WORDS + C_FREE_HEAD) >>> 1;
  }

  private pushFree(cls: number, e: number): void {
    const h = this.freeHead(cls);
    const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
    const mem = this.mem(p), base = this.base(p);
    const L = this.layoutOfPage(mem, base);
    if (L === undefined) return;
    for (;;) {
      const old = Atomics.load(this.ctl64, h);
      mem[base + L.free + s] = Number(BigInt.asIntN(32, old));
      const next = (((old >> 32n) + 1n) & 0xffffffffn) << 32n | BigInt(e >>> 0);
      if (Atomics.compareExchange(this.ctl64, h, old, next) === old) return;
    }
  }

  /** A free slot of class cls claimed for the caller (state -token), or NONE. */
  private popFree(cls: number, L: PageLayout): number {
    const h = this.freeHead(cls);
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    for (let tries = 0; tries < 64; tries++) {
      const old = Atomics.load(this.ctl64, h);
      const e = Number(BigInt.asIntN(32, old));
      if (e === NONE) return NONE;
      const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
      let next = NONE;
      const valid = p < pagesUsed;
      const mem = valid ? this.mem(p) : undefined, base = this.base(p);
      if (mem !== undefined && mem[base + PG_CLASS] === cls + 1 && s < L.slots) next = mem[base + L.free + s]!;
      const nv = (((old >> 32n) + 1n) & 0xffffffffn) << 32n | BigInt(next >>> 0);
      if (Atomics.compareExchange(this.ctl64, h, old, nv) !== old) continue;
      // Popped: it is ours only if it is still a free slot of this class.
      if (mem === undefined || mem[base + PG_CLASS] !== cls + 1 || s >= L.slots) continue;
      if (Atomics.compareExchange(mem, base + L.state + s, STATE_FREE, -this.token) === STATE_FREE) return e;
    }
    return NONE;
  }

  private resetFree(cls: number): void {
    Atomics.store(this.ctl64, this.freeHead(cls), 0xffffffffn);
  }

  /** Takes a live entry out of its model's (or the stale) count. */
  private uncount(mem: Int32Array, base: number, L: PageLayout, s: number): void {
    const m = mem[base + L.model + s]!;
    const r = MODELS + m * MODEL_WORDS;
    if (mem[base + L.gen + s] === Atomics.load(this.ctl, r + M_GEN)) Atomics.sub(this.ctl, r + M_LIVE, 1);
    else Atomics.sub(this.ctl, H_STALE, 1);
  }

  /** Reserves one unit of maxEntries; false when the cache holds maxEntries already. */
  private reserve(): boolean {
    for (;;) {
      const n = Atomics.load(this.ctl, H_OCCUPIED);
      if (n >= this.maxEntries) return false;
      if (Atomics.compareExchange(this.ctl, H_OCCUPIED, n, n + 1) === n) return true;
    }
  }

  /** Grows page p's arena to cover it (grow never shrinks; racing growers are fine). */
  private commit(p: number): void {
    const arena = this.parts.arenas[p >>> PAGES_PER_ARENA_SHIFT]!;
    const need = ((p & (PAGES_PER_ARENA - 1)) + 1) * PAGE_BYTES;
    while (arena.byteLength < need) {
      try {
        arena.grow(need);
      } catch (err) {
        // Another thread grew it further first: fine if that covers us.
        if (arena.byteLength < need) throw err;
      }
    }
  }

  /** A claimed entry of class cls for a new key, or NONE if the class has no room. */
  private allocate(cls: number, L: PageLayout, stripe: number): number {
    for (let round = 0; round < 4; round++) {
      if (this.reserve()) {
        const reused = this.popFree(cls, L);
        if (reused !== NONE) return reused;
        const fresh = this.freshSlot(cls, L);
        if (fresh !== NONE) return fresh;
        // Memory is full. A page of another class that went cold is worth more to us than
        // our own coldest entry.
        if (this.coldForeignPage(cls)) {
          Atomics.sub(this.ctl, H_OCCUPIED, 1);
          return STEAL;
        }
        const swept = this.sweep(cls, L, stripe, true);
        if (swept !== NONE) return swept;
        Atomics.sub(this.ctl, H_OCCUPIED, 1);
        return NONE;
      }
      // At maxEntries: a victim of this class hands its count over.
      const victim = this.sweep(cls, L, stripe, false);
      if (victim !== NONE) return victim;
      // This class has nothing to give: evict from any class, then reserve again.
      if (!this.evictAny(stripe)) return NONE;
    }
    return NONE;
  }

  /**
   * Page CLOCK: looks at the next two pages of other classes; one with no hit since the hand
   * last passed is chosen (this.stealTarget), one with hits gets its flag cleared. A single
   * model never gets here with a foreign page; with several, memory follows the traffic (and an
   * invalidated model's pages, which no longer get hits, go first).
   */
  private coldForeignPage(cls: number): boolean {
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    for (let looked = 0, i = 0; looked < 2 && i < pagesUsed; i++) {
      const p = this.pageHand % pagesUsed;
      this.pageHand = p + 1;
      const mem = this.mem(p), base = this.base(p);
      const c = mem[base + PG_CLASS]!;
      if (c === 0 || c === cls + 1) continue;
      looked++;
      if (mem[base + PG_HOT] !== 0) {
        mem[base + PG_HOT] = 0;
        continue;
      }
      this.stealTarget = p;
      return true;
    }
    return false;
  }

  /** A never-used slot of class cls (bumping its current page, or a new page), or NONE. */
  private freshSlot(cls: number, L: PageLayout): number {
    const cw = CLASSES + cls * CLASS_WORDS;
    for (;;) {
      const p = Atomics.load(this.ctl, cw + C_CUR_PAGE);
      if (p >= 0) {
        const mem = this.mem(p), base = this.base(p);
        if (mem[base + PG_CLASS] === cls + 1) {
          const s = Atomics.add(mem, base + PG_BUMP, 1);
          if (s < L.slots) {
            if (Atomics.compareExchange(mem, base + L.state + s, STATE_FREE, -this.token) === STATE_FREE) return (p << SLOT_BITS) | s;
            continue;
          }
        }
      }
      const np = this.newPage(cls, L);
      if (np === NONE) return NONE;
      Atomics.compareExchange(this.ctl, cw + C_CUR_PAGE, p, np);
    }
  }

  /** Commits and formats a new page for class cls, or NONE at maxBytes. */
  private newPage(cls: number, L: PageLayout): number {
    let p: number;
    for (;;) {
      p = Atomics.load(this.ctl, H_PAGES_USED);
      if (p >= this.maxPages) return NONE;
      // Commit the memory before publishing the page count: other threads walk pages
      // [0, H_PAGES_USED) and must find each one committed (zeroed: class 0, skipped).
      this.commit(p);
      if (Atomics.compareExchange(this.ctl, H_PAGES_USED, p, p + 1) === p) break;
    }
    const mem = this.mem(p), base = this.base(p);
    mem[base + PG_SLOTS] = L.slots;
    mem[base + PG_DIMS] = L.dims;
    mem[base + PG_BUMP] = 0;
    mem[base + PG_HOT] = 1;
    Atomics.store(mem, base + PG_CLASS, cls + 1);
    Atomics.add(this.ctl, CLASSES + cls * CLASS_WORDS + C_PAGES, 1);
    return p;
  }

  /**
   * CLOCK over the pages of class cls. Returns an entry claimed for the caller, or NONE after a
   * bounded sweep. With `haveCount` the caller already reserved a count (a free slot is enough);
   * without, only a victim (whose count passes to the caller) or a free slot plus a new
   * reservation will do.
   */
  private sweep(cls: number, L: PageLayout, stripe: number, haveCount: boolean): number {
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    const classPages = Atomics.load(this.ctl, CLASSES + cls * CLASS_WORDS + C_PAGES);
    if (classPages === 0 || pagesUsed === 0) return NONE;
    const budget = 2 * classPages * L.slots + L.slots;
    let pos = this.hands[cls] ?? 0;
    const now = Date.now();
    let steps = 0;
    let skippedPages = 0;
    while (steps < budget && skippedPages <= pagesUsed) {
      let p = pos >>> SLOT_BITS;
      let s = pos & SLOT_MASK;
      if (p >= pagesUsed) { p = 0; s = 0; }
      const mem = this.mem(p), base = this.base(p);
      const used = Math.min(L.slots, Atomics.load(mem, base + PG_BUMP));
      if (mem[base + PG_CLASS] !== cls + 1 || s >= used) {
        pos = ((p + 1) % pagesUsed) << SLOT_BITS;
        skippedPages++;
        continue;
      }
      skippedPages = 0;
      steps++;
      pos = s + 1 < used ? pos + 1 : ((p + 1) % pagesUsed) << SLOT_BITS;
      const e = (p << SLOT_BITS) | s;
      const st = Atomics.load(mem, base + L.state + s);
      if (st === STATE_FREE) {
        if (!haveCount && !this.reserve()) continue;
        if (Atomics.compareExchange(mem, base + L.state + s, STATE_FREE, -this.token) === STATE_FREE) {
          this.hands[cls] = pos;
          return e;
        }
        if (!haveCount) Atomics.sub(this.ctl, H_OCCUPIED, 1);
        continue;
      }
      if (st !== STATE_LIVE) continue; // claimed by a writer right now
      const current = this.isCurrent(mem, base, L, s, p, now);
      if (current && testAndClearReferenced(mem, base, s)) continue;
      if (this.evict(e, stripe, current, now)) {
        if (haveCount) Atomics.sub(this.ctl, H_OCCUPIED, 1); // the victim's count is ours now
        this.hands[cls] = pos;
        return e;
      }
    }
    this.hands[cls] = pos;
    return NONE;
  }

  /**
   * Takes live entry e out of its chain and claims it for the caller (state -token). `valid`
   * says whether it is a current, unexpired entry (spilled and counted as an eviction) rather
   * than expired or invalidated. Only if e's stripe lock is free now, or is ours.
   */
  private evict(e: number, ownStripe: number, valid: boolean, now: number): boolean {
    const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
    const a = p >>> PAGES_PER_ARENA_SHIFT;
    const mem = this.mem(p), base = this.base(p);
    const L = this.layoutOfPage(mem, base)!;
    const ki = base + L.key + 4 * s;
    const b = mem[ki]! & this.bucketMask;
    const t = b & (STRIPES - 1);
    if (t !== ownStripe && !this.locks.tryAcquire(t)) return false;
    try {
      // Re-check under the victim's lock: it may have changed since the sweep looked.
      if (Atomics.load(mem, base + L.state + s) !== STATE_LIVE) return false;
      if ((mem[ki]! & this.bucketMask) !== b) return false;
      const stillValid = this.isCurrent(mem, base, L, s, p, now);
      if (stillValid && !valid) return false; // rewritten since the sweep looked: leave it
      this.locks.setIntent(t, e);
      if (stillValid) this.spillOut(a, mem, base, L, s);
      this.unlink(e, b);
      this.uncount(mem, base, L, s);
      Atomics.store(mem, base + L.state + s, -this.token);
      if (t !== ownStripe) this.locks.setIntent(ownStripe, e);
      if (stillValid) this.counters.add(ST_EVICTIONS);
      else if (mem[base + L.gen + s] === Atomics.load(this.ctl, MODELS + mem[base + L.model + s]! * MODEL_WORDS + M_GEN)) this.counters.add(ST_EXPIRATIONS);
      return true;
    } finally {
      if (t !== ownStripe) {
        this.locks.clearIntent(t);
        this.locks.release(t);
      }
    }
  }

  /** Hands a live entry that is leaving memory to the evict hook (the spill tier), if any. */
  private spillOut(a: number, mem: Int32Array, base: number, L: PageLayout, s: number): void {
    // An entry promoted from disk and not rewritten since is on disk already: no second write.
    if (this.evictHook === null || mem[base + L.free + s] === ON_DISK) return;
    const ki = base + L.key + 4 * s;
    const v = base + L.vec + s * L.dims;
    this.keyScratch.set(mem.subarray(ki, ki + 4));
    this.evictHook(this.keyScratch, mem[base + L.model + s]!, this.f32[a]!.subarray(v, v + L.dims), this.f64[a]![(base >>> 1) + L.expiryF64 + s]!);
  }

  /** Evicts one entry of any class to free a count; the slot becomes free in its class. */
  private evictAny(stripe: number): boolean {
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    if (pagesUsed === 0) return false;
    const now = Date.now();
    let pos = this.anyHand;
    const budget = 2 * pagesUsed * 64 + 64;
    for (let steps = 0; steps < budget; steps++) {
      let p = pos >>> SLOT_BITS;
      let s = pos & SLOT_MASK;
      if (p >= pagesUsed) { p = 0; s = 0; }
      const mem = this.mem(p), base = this.base(p);
      const L = this.layoutOfPage(mem, base);
      const used = L === undefined ? 0 : Math.min(L.slots, Atomics.load(mem, base + PG_BUMP));
      if (L === undefined || s >= used) {
        pos = ((p + 1) % pagesUsed) << SLOT_BITS;
        continue;
      }
      pos = s + 1 < used ? pos + 1 : ((p + 1) % pagesUsed) << SLOT_BITS;
      if (Atomics.load(mem, base + L.state + s) !== STATE_LIVE) continue;
      const current = this.isCurrent(mem, base, L, s, p, now);
      if (current && testAndClearReferenced(mem, base, s)) continue;
      const e = (p << SLOT_BITS) | s;
      if (this.evict(e, stripe, current, now)) {
        // The slot is claimed by us: give it back to its class as free.
        const seqAt = base + L.seq + s;
        Atomics.store(mem, seqAt, (Atomics.load(mem, seqAt) | 1) + 1);
        Atomics.store(mem, base + L.state + s, STATE_FREE);
        Atomics.sub(this.ctl, H_OCCUPIED, 1);
        this.pushFree(mem[base + PG_CLASS]! - 1, e);
        this.anyHand = pos;
        return true;
      }
    }
    this.anyHand = pos;
    return false;
  }

  /** Reclaims an expired or invalidated entry found by a reader, if its stripe is free now. */
  private reclaimIfStale(e: number, b: number, now: number): void {
    const t = b & (STRIPES - 1);
    if (!this.locks.tryAcquire(t)) return;
    try {
      const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
      const mem = this.mem(p), base = this.base(p);
      const L = this.layoutOfPage(mem, base);
      if (L === undefined || s >= L.slots) return;
      if (Atomics.load(mem, base + L.state + s) !== STATE_LIVE || (mem[base + L.key + 4 * s]! & this.bucketMask) !== b) return;
      if (this.isCurrent(mem, base, L, s, p, now)) return;
      const expired = mem[base + L.gen + s] === Atomics.load(this.ctl, MODELS + mem[base + L.model + s]! * MODEL_WORDS + M_GEN);
      this.locks.setIntent(t, e);
      if (!this.unlink(e, b)) return;
      this.release(e, mem, base, L, s);
      if (expired) this.counters.add(ST_EXPIRATIONS);
    } finally {
      this.locks.clearIntent(t);
      this.locks.release(t);
    }
  }

  /**
   * Moves one page from another class to class cls, with every stripe lock held (so no writer
   * is anywhere in the store and no slot is half-claimed). Readers are kept out by the page
   * epoch. Returns false if no page could be taken (or room appeared meanwhile).
   */
  private stealPage(cls: number, target = NONE): boolean {
    this.acquireAll();
    try {
      if (Atomics.load(this.ctl, H_PAGES_USED) < this.maxPages) return true; // room appeared
      const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
      let victim = NONE;
      if (target !== NONE) {
        // A page the page hand found cold: take it if it still belongs to another class, else
        // let the caller look again (its allocation may well succeed now).
        const c = target < pagesUsed ? this.mem(target)[this.base(target) + PG_CLASS]! : 0;
        if (c === 0 || c === cls + 1) return true;
        victim = target;
      }
      for (let i = 0; victim === NONE && i < pagesUsed; i++) {
        const p = (this.stealHand + i) % pagesUsed;
        const c = this.mem(p)[this.base(p) + PG_CLASS]!;
        if (c !== 0 && c !== cls + 1) { victim = p; break; }
      }
      if (victim === NONE) return false;
      this.stealHand = (victim + 1) % pagesUsed;
      const p = victim;
      const a = p >>> PAGES_PER_ARENA_SHIFT;
      const mem = this.mem(p), base = this.base(p);
      const oldCls = mem[base + PG_CLASS]! - 1;
      const L = this.layout(oldCls);
      const now = Date.now();
      Atomics.add(mem, base + PG_EPOCH, 1); // odd: readers of this page retry
      const used = Math.min(L.slots, mem[base + PG_BUMP]!);
      for (let s = 0; s < used; s++) {
        const st = mem[base + L.state + s]!;
        if (st === STATE_FREE) continue;
        const e = (p << SLOT_BITS) | s;
        if (st === STATE_LIVE) {
          const ki = base + L.key + 4 * s;
          const valid = this.isCurrent(mem, base, L, s, p, now);
          if (valid) this.spillOut(a, mem, base, L, s);
          this.unlink(e, mem[ki]! & this.bucketMask);
          this.uncount(mem, base, L, s);
          if (valid) this.counters.add(ST_EVICTIONS);
        }
        Atomics.sub(this.ctl, H_OCCUPIED, 1);
      }
      const NL = this.layout(cls);
      mem.fill(0, base + PAGE_HEADER_WORDS, base + PAGE_WORDS);
      mem[base + PG_SLOTS] = NL.slots;
      mem[base + PG_DIMS] = NL.dims;
      mem[base + PG_BUMP] = 0;
      mem[base + PG_HOT] = 1; // a pass of grace before the page hand may take it back
      Atomics.store(mem, base + PG_CLASS, cls + 1);
      // The old class's free stack may hold slots of this page: drop the stack (its other slots
      // are still FREE and the sweep finds them).
      this.resetFree(oldCls);
      Atomics.sub(this.ctl, CLASSES + oldCls * CLASS_WORDS + C_PAGES, 1);
      Atomics.compareExchange(this.ctl, CLASSES + oldCls * CLASS_WORDS + C_CUR_PAGE, p, -1);
      Atomics.add(this.ctl, CLASSES + cls * CLASS_WORDS + C_PAGES, 1);
      Atomics.store(this.ctl, CLASSES + cls * CLASS_WORDS + C_CUR_PAGE, p);
      Atomics.add(mem, base + PG_EPOCH, 1); // even again
      return true;
    } finally {
      this.releaseAll();
    }
  }

  /**
   * Repairs entry e after taking over the lock of a dead owner (token `dead`): an entry the
   * owner had claimed but not finished, or was rewriting (seq odd), is unlinked and freed.
   * A complete live entry is left as it is.
   */
  private repair(dead: number, e: number): void {
    const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
    if (p >= Atomics.load(this.ctl, H_PAGES_USED)) return;
    const mem = this.mem(p), base = this.base(p);
    const L = this.layoutOfPage(mem, base);
    if (L === undefined || s >= L.slots) return;
    const st = Atomics.load(mem, base + L.state + s);
    const seq = Atomics.load(mem, base + L.seq + s);
    const b = mem[base + L.key + 4 * s]! & this.bucketMask;
    if (st === -dead) {
      // Claimed, perhaps linked: its key is whole if it was linked (keys are written first).
      this.unlink(e, b);
      Atomics.store(mem, base + L.seq + s, (seq | 1) + 1);
      Atomics.store(mem, base + L.state + s, STATE_FREE);
      Atomics.sub(this.ctl, H_OCCUPIED, 1);
      this.pushFree(mem[base + PG_CLASS]! - 1, e);
    } else if (st === STATE_LIVE && (seq & 1) !== 0) {
      // Rewritten in place and cut off mid-copy: the vector is torn, drop the entry.
      this.unlink(e, b);
      this.release(e, mem, base, L, s);
    }
  }

  /**
   * Integrity pass after a take-over. A writer killed mid-operation can leave a slot claimed by a
   * dead token that no intent points at, or a count reserved and never used: repair() fixes the
   * one entry the lock names, this fixes the rest. Under every lock (so no write is in flight and
   * every claimed slot belongs to a dead thread) it walks the chains, frees every slot in use that
   * no chain reaches, and recounts occupied, live-per-model and stale from what is linked.
   * O(entries), and it only ever runs after a thread died holding a lock.
   */
  fsck(): void {
    this.needsFsck = false;
    this.acquireAll();
    try {
      const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
      const linked = new Uint8Array(pagesUsed * (1 << SLOT_BITS) >>> 3);
      const live = new Int32Array(MAX_MODELS);
      let occupied = 0;
      let stale = 0;
      for (let b = 0; b < this.parts.buckets; b++) {
        let prev = NONE;
        let e = this.ctl[BUCKETS + b]!;
        while (e !== NONE) {
          const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
          const mem = p < pagesUsed ? this.mem(p) : undefined;
          const base = this.base(p);
          const L = mem === undefined ? undefined : this.layoutOfPage(mem, base);
          const bit = (p << SLOT_BITS) | s;
          if (mem === undefined || L === undefined || s >= L.slots || (linked[bit >>> 3]! & (1 << (bit & 7))) !== 0) {
            // A link to nowhere (or a cycle): cut the chain here.
            if (prev === NONE) this.ctl[BUCKETS + b] = NONE;
            else this.setNext(prev, NONE);
            break;
          }
          const next = mem[base + L.next + s]!;
          const ok = mem[base + L.state + s] === STATE_LIVE && (mem[base + L.seq + s]! & 1) === 0 &&
            (mem[base + L.key + 4 * s]! & this.bucketMask) === b;
          if (!ok) {
            // Unfinished or misplaced: unlink; the page walk below frees it.
            if (prev === NONE) this.ctl[BUCKETS + b] = next;
            else this.setNext(prev, next);
            e = next;
            continue;
          }
          linked[bit >>> 3]! |= 1 << (bit & 7);
          occupied++;
          const m = mem[base + L.model + s]!;
          if (mem[base + L.gen + s] === this.ctl[MODELS + m * MODEL_WORDS + M_GEN]) live[m]!++;
          else stale++;
          prev = e;
          e = next;
        }
      }
      for (let p = 0; p < pagesUsed; p++) {
        const mem = this.mem(p), base = this.base(p);
        const L = this.layoutOfPage(mem, base);
        if (L === undefined) continue;
        const used = Math.min(L.slots, mem[base + PG_BUMP]!);
        for (let s = 0; s < used; s++) {
          const bit = (p << SLOT_BITS) | s;
          if ((linked[bit >>> 3]! & (1 << (bit & 7))) !== 0 || mem[base + L.state + s] === STATE_FREE) continue;
          const seqAt = base + L.seq + s;
          Atomics.store(mem, seqAt, (mem[seqAt]! | 1) + 1);
          Atomics.store(mem, base + L.state + s, STATE_FREE);
          this.pushFree(mem[base + PG_CLASS]! - 1, (p << SLOT_BITS) | s);
        }
      }
      Atomics.store(this.ctl, H_OCCUPIED, occupied);
      Atomics.store(this.ctl, H_STALE, stale);
      for (let m = 0; m < MAX_MODELS; m++) Atomics.store(this.ctl, MODELS + m * MODEL_WORDS + M_LIVE, live[m]!);
    } finally {
      this.releaseAll();
    }
  }

  private setNext(e: number, next: number): void {
    const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
    const mem = this.mem(p), base = this.base(p);
    Atomics.store(mem, base + this.layoutOfPage(mem, base)!.next + s, next);
  }

  /** Every stripe lock, in order (no deadlock: no one holds a stripe while waiting for another). */
  private acquireAll(): void {
    for (let i = 0; i < STRIPES; i++) this.locks.acquire(i);
    // A take-over during this loop set needsFsck; the caller's operation runs first, then the
    // next write runs the pass (fsck itself comes through here and clears the flag first).
  }

  private releaseAll(): void {
    for (let i = STRIPES - 1; i >= 0; i--) this.locks.release(i);
  }

  // ── Introspection ──────────────────────────────────────────────────────────────────────────

  /** Live entries (expired ones not yet reclaimed included). */
  entries(): number {
    return Math.max(0, Atomics.load(this.ctl, H_OCCUPIED) - Atomics.load(this.ctl, H_STALE));
  }

  /** Every byte of shared memory allocated: control buffer plus committed arena pages. */
  memoryBytes(): number {
    let n = this.parts.control.byteLength;
    for (const a of this.parts.arenas) n += a.byteLength;
    return n;
  }

  maxBytes(): number {
    return this.parts.control.byteLength + this.maxPages * PAGE_BYTES;
  }

  /** For tests: checks structural invariants and returns a list of violations (empty = fine). */
  checkInvariants(): string[] {
    const problems: string[] = [];
    const occupied = Atomics.load(this.ctl, H_OCCUPIED);
    if (occupied > this.maxEntries) problems.push(`occupied ${occupied} > maxEntries ${this.maxEntries}`);
    if (this.memoryBytes() > this.maxBytes()) problems.push(`memory ${this.memoryBytes()} > bound ${this.maxBytes()}`);
    let linked = 0;
    for (let b = 0; b < this.parts.buckets; b++) {
      let e = this.ctl[BUCKETS + b]!;
      for (let steps = 0; e !== NONE; steps++) {
        if (steps > 1_000_000) { problems.push(`bucket ${b}: cycle`); break; }
        const p = e >>> SLOT_BITS, s = e & SLOT_MASK;
        const mem = this.mem(p), base = this.base(p);
        const L = this.layoutOfPage(mem, base);
        if (L === undefined) { problems.push(`bucket ${b}: entry ${e} on an unassigned page`); break; }
        if ((mem[base + L.key + 4 * s]! & this.bucketMask) !== b) problems.push(`entry ${e} in wrong bucket ${b}`);
        if (mem[base + L.state + s] !== STATE_LIVE) problems.push(`entry ${e} linked but state ${mem[base + L.state + s]}`);
        if ((mem[base + L.seq + s]! & 1) !== 0) problems.push(`entry ${e} linked with odd seq`);
        linked++;
        e = mem[base + L.next + s]!;
      }
    }
    if (linked !== occupied) problems.push(`linked entries ${linked} != occupied ${occupied}`);
    return problems;
  }
}
