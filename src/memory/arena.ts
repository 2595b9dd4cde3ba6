/**
 * Addressing and pages: each thread's views over the shared arenas, and the life of a page.
 *
 * Views. Vectors and entries live in growable SharedArrayBuffers (arenas), committed a page at a
 * time (layout.ts). Each thread indexes them through fixed-length views over the committed part.
 * Length-tracking views would see growth by themselves, but V8 (Node 20) indexes them several
 * times slower; so a view is rebuilt when an access reaches a page beyond it (refreshViews()).
 * SharedStore.probe() reads the same view arrays directly (no call on the hot path):
 * refreshViews() replaces their elements in place, never the arrays themselves.
 *
 * Pages. A page is committed before it is counted in H_PAGES_USED (every thread walks pages
 * [0, H_PAGES_USED) and must find each one committed, zeroed: class 0, skipped), then formatted
 * for one class, its class word written last. Pages never return to "unassigned"; they move
 * between classes instead. When a class has no room and memory is at maxBytes, stealPage() takes
 * a page of another class — preferably one the page CLOCK found cold (coldForeignPage()), so
 * memory follows the traffic — with every stripe lock held and the page epoch odd, so no writer
 * is inside the store and readers of that page retry.
 *
 * Sizes. planStore() fixes them all at creation: the index, the page budget, the arenas.
 */
import {
  ARENA_MAX_BYTES,
  BUCKETS,
  H_LAYOUT_VERSION,
  H_MAGIC,
  H_SECRET,
  LAYOUT_VERSION,
  LOCKS,
  MAGIC,
  SECRET_WORDS,
  arenaOf,
  C_CUR_PAGE,
  C_PAGES,
  classAt,
  controlWords,
  entryId,
  H_OCCUPIED,
  H_PAGES_USED,
  MAX_PAGES,
  NONE,
  PAGE_BYTES,
  PAGE_HEADER_WORDS,
  PAGE_WORDS,
  pageBase,
  pageLayout,
  type PageLayout,
  PAGES_PER_ARENA,
  PG_BUMP,
  PG_CLASS,
  PG_DIMS,
  PG_EPOCH,
  PG_HOT,
  PG_SLOTS,
  STATE_FREE,
  STATE_LIVE,
  STRIPES,
} from './layout.js';
import { LockTable } from './lock.js';
import type { ModelRegistry } from './registry.js';
import type { PageOwners, StoreParts } from './types.js';

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Sizes of a new store for the given bounds: the index (buckets, in the control buffer), the page
 * budget and the arenas that hold it. Throws RangeError if maxBytes is too small.
 */
export function planStore(
  maxBytes: number,
  expectedEntries: number,
): { buckets: number; controlBytes: number; maxPages: number; arenaBytes: number[] } {
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
  for (let left = maxPages * PAGE_BYTES; left > 0; left -= ARENA_MAX_BYTES)
    arenaBytes.push(Math.min(left, ARENA_MAX_BYTES));
  return { buckets, controlBytes, maxPages, arenaBytes };
}

/** Allocates and initializes the shared memory of a new store (SharedStore.create). */
export function createStoreParts(opts: {
  maxBytes: number;
  expectedEntries: number;
  maxEntries: number;
  lockTimeoutMs: number;
  secret: Uint8Array;
}): StoreParts {
  const plan = planStore(opts.maxBytes, opts.expectedEntries);
  const control = new SharedArrayBuffer(plan.controlBytes);
  const ctl = new Int32Array(control);
  ctl[H_MAGIC] = MAGIC;
  ctl[H_LAYOUT_VERSION] = LAYOUT_VERSION;
  new Uint8Array(control, H_SECRET * 4, SECRET_WORDS * 4).set(opts.secret);
  LockTable.init(ctl, LOCKS, STRIPES + 1);
  ctl.fill(NONE, BUCKETS, BUCKETS + plan.buckets);
  const arenas = plan.arenaBytes.map((max) => new SharedArrayBuffer(0, { maxByteLength: max }));
  return {
    control,
    arenas,
    buckets: plan.buckets,
    maxEntries: opts.maxEntries,
    maxPages: plan.maxPages,
    lockTimeoutMs: opts.lockTimeoutMs,
  };
}

/** Grows page p's arena to cover it (grow never shrinks; racing growers are fine). */
export function commitPage(arenas: readonly SharedArrayBuffer[], p: number): void {
  const arena = arenas[arenaOf(p)]!;
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

export class Arena {
  readonly ctl: Int32Array;
  /** The control buffer as 64-bit words, for the free-stack heads (C_FREE_HEAD). */
  readonly ctl64: BigUint64Array;
  /** Views per arena over its committed part (shared with SharedStore.probe()). */
  readonly i32: Int32Array[];
  readonly f32: Float32Array[];
  readonly f64: Float64Array[];
  /** Page layouts by class, cached per thread (a class's dimension never changes). */
  readonly layouts: (PageLayout | undefined)[] = [];
  readonly maxEntries: number;
  readonly maxPages: number;
  /** Where this thread's CLOCK hands start: threads start apart, so they sweep apart. */
  readonly startHand: number;
  /** Page CLOCK over other classes' pages (coldForeignPage), and the page it picked. */
  private pageHand = 0;
  private stealTarget = NONE;
  /** Where stealPage() looks next for a page of another class when none was found cold. */
  private stealHand: number;
  /** Called with the new page count after this thread added a page (the prefaulter's trigger). */
  onNewPage: ((pagesUsed: number) => void) | null = null;

  constructor(
    readonly parts: StoreParts,
    ctl: Int32Array,
    readonly token: number,
    readonly registry: ModelRegistry,
    readonly locks: LockTable,
  ) {
    this.ctl = ctl;
    this.ctl64 = new BigUint64Array(parts.control);
    this.i32 = parts.arenas.map((b) => new Int32Array(b, 0, b.byteLength >>> 2));
    this.f32 = parts.arenas.map((b) => new Float32Array(b, 0, b.byteLength >>> 2));
    this.f64 = parts.arenas.map((b) => new Float64Array(b, 0, b.byteLength >>> 3));
    this.maxEntries = parts.maxEntries;
    this.maxPages = parts.maxPages;
    this.startHand = this.stealHand = (token * 7919) % Math.max(1, parts.maxPages);
  }

  // ── Addressing ─────────────────────────────────────────────────────────────────────────────

  /** The Int32 view of page p's arena, covering page p (add pageBase(p) to index the page). */
  mem(page: number): Int32Array {
    const a = arenaOf(page);
    const m = this.i32[a]!;
    return pageBase(page) + PAGE_WORDS <= m.length ? m : this.refreshViews(a);
  }

  /** Rebuilds arena a's views to cover everything committed so far (another thread grew it). */
  refreshViews(a: number): Int32Array {
    const b = this.parts.arenas[a]!;
    const i32 = new Int32Array(b, 0, b.byteLength >>> 2);
    this.i32[a] = i32;
    this.f32[a] = new Float32Array(b, 0, b.byteLength >>> 2);
    this.f64[a] = new Float64Array(b, 0, b.byteLength >>> 3);
    return i32;
  }

  layout(cls: number): PageLayout {
    let l = this.layouts[cls];
    if (l === undefined) {
      l = pageLayout(this.registry.classDims(cls));
      this.layouts[cls] = l;
    }
    return l;
  }

  /** Layout of the page at mem[base…] (its class as of now), or undefined if unassigned. */
  layoutOfPage(mem: Int32Array, base: number): PageLayout | undefined {
    const c = mem[base + PG_CLASS]!;
    return c === 0 ? undefined : this.layout(c - 1);
  }

  /** Whether slot s of page p (at mem[base…]) is live, of its model's generation and unexpired. */
  isCurrent(mem: Int32Array, base: number, L: PageLayout, s: number, p: number, now: number): boolean {
    if (mem[base + L.state + s] !== STATE_LIVE || !this.ofCurrentGen(mem, base, L, s)) return false;
    const exp = this.f64[arenaOf(p)]![(base >>> 1) + L.expiryF64 + s]!;
    return exp === 0 || exp > now;
  }

  /** Whether slot s's entry is of its model's current generation (not invalidated since). */
  ofCurrentGen(mem: Int32Array, base: number, L: PageLayout, s: number): boolean {
    return mem[base + L.gen + s] === this.registry.generation(mem[base + L.model + s]!);
  }

  // ── Counts and locks ───────────────────────────────────────────────────────────────────────

  /** Reserves one unit of maxEntries; false when the cache holds maxEntries already. */
  reserve(): boolean {
    for (;;) {
      const n = Atomics.load(this.ctl, H_OCCUPIED);
      if (n >= this.maxEntries) return false;
      if (Atomics.compareExchange(this.ctl, H_OCCUPIED, n, n + 1) === n) return true;
    }
  }

  /** Gives back a unit of maxEntries (a reservation not used, or an entry's count). */
  unreserve(): void {
    Atomics.sub(this.ctl, H_OCCUPIED, 1);
  }

  /** Every stripe lock, in order (no deadlock: no one holds a stripe while waiting for another). */
  acquireAll(): void {
    for (let i = 0; i < STRIPES; i++) this.locks.acquire(i);
    // A take-over during this loop set needsFsck; the caller's operation runs first, then the
    // next write runs the pass (fsck itself comes through here and clears the flag first).
  }

  releaseAll(): void {
    for (let i = STRIPES - 1; i >= 0; i--) this.locks.release(i);
  }

  // ── New pages ──────────────────────────────────────────────────────────────────────────────

  /** A never-used slot of class cls (bumping its current page, or a new page), or NONE. */
  freshSlot(cls: number, L: PageLayout): number {
    const cw = classAt(cls);
    for (;;) {
      const p = Atomics.load(this.ctl, cw + C_CUR_PAGE);
      if (p >= 0) {
        const mem = this.mem(p),
          base = pageBase(p);
        if (mem[base + PG_CLASS] === cls + 1) {
          const s = Atomics.add(mem, base + PG_BUMP, 1);
          if (s < L.slots) {
            if (Atomics.compareExchange(mem, base + L.state + s, STATE_FREE, -this.token) === STATE_FREE)
              return entryId(p, s);
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
      commitPage(this.parts.arenas, p);
      if (Atomics.compareExchange(this.ctl, H_PAGES_USED, p, p + 1) === p) break;
    }
    this.format(this.mem(p), pageBase(p), cls, L);
    // The prefaulter (prefault.ts) sleeps on H_PAGES_USED between runs ahead of it.
    Atomics.notify(this.ctl, H_PAGES_USED);
    this.onNewPage?.(p + 1);
    return p;
  }

  /** Sets up a page (body zeroed) for class cls; its class word is written last. */
  private format(mem: Int32Array, base: number, cls: number, L: PageLayout): void {
    mem[base + PG_SLOTS] = L.slots;
    mem[base + PG_DIMS] = L.dims;
    mem[base + PG_BUMP] = 0;
    mem[base + PG_HOT] = 1; // a pass of grace before the page hand may take it (back)
    Atomics.store(mem, base + PG_CLASS, cls + 1);
    Atomics.add(this.ctl, classAt(cls) + C_PAGES, 1);
  }

  // ── Page stealing ──────────────────────────────────────────────────────────────────────────

  /**
   * Page CLOCK: looks at the next two pages of other classes; one with no hit since the hand
   * last passed is chosen (the next stealPage() takes it), one with hits gets its flag cleared.
   * A single model never gets here with a foreign page; with several, memory follows the traffic
   * (and an invalidated model's pages, which no longer get hits, go first).
   */
  coldForeignPage(cls: number): boolean {
    const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
    for (let looked = 0, i = 0; looked < 2 && i < pagesUsed; i++) {
      const p = this.pageHand % pagesUsed;
      this.pageHand = p + 1;
      const mem = this.mem(p),
        base = pageBase(p);
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

  /**
   * Moves one page from another class to class cls — the one coldForeignPage() picked if any —
   * with every stripe lock held (so no writer is anywhere in the store and no slot is
   * half-claimed). Readers are kept out by the page epoch; the page's entries leave through
   * `owners` (eviction). Returns false if no page could be taken (or room appeared meanwhile).
   */
  stealPage(cls: number, owners: PageOwners): boolean {
    const target = this.stealTarget;
    this.stealTarget = NONE;
    this.acquireAll();
    try {
      if (Atomics.load(this.ctl, H_PAGES_USED) < this.maxPages) return true; // room appeared
      const pagesUsed = Atomics.load(this.ctl, H_PAGES_USED);
      let victim = NONE;
      if (target !== NONE) {
        // A page the page hand found cold: take it if it still belongs to another class, else
        // let the caller look again (its allocation may well succeed now).
        const c = target < pagesUsed ? this.mem(target)[pageBase(target) + PG_CLASS]! : 0;
        if (c === 0 || c === cls + 1) return true;
        victim = target;
      }
      for (let i = 0; victim === NONE && i < pagesUsed; i++) {
        const p = (this.stealHand + i) % pagesUsed;
        const c = this.mem(p)[pageBase(p) + PG_CLASS]!;
        if (c !== 0 && c !== cls + 1) {
          victim = p;
          break;
        }
      }
      if (victim === NONE) return false;
      this.stealHand = (victim + 1) % pagesUsed;
      const p = victim;
      const mem = this.mem(p),
        base = pageBase(p);
      const oldCls = mem[base + PG_CLASS]! - 1;
      const now = Date.now();
      Atomics.add(mem, base + PG_EPOCH, 1); // odd: readers of this page retry
      owners.emptyPage(p, mem, base, this.layout(oldCls), now);
      mem.fill(0, base + PAGE_HEADER_WORDS, base + PAGE_WORDS);
      this.format(mem, base, cls, this.layout(cls));
      // The old class's free stack may hold slots of this page: drop the stack (its other slots
      // are still FREE and the sweep finds them).
      owners.resetFree(oldCls);
      Atomics.sub(this.ctl, classAt(oldCls) + C_PAGES, 1);
      Atomics.compareExchange(this.ctl, classAt(oldCls) + C_CUR_PAGE, p, -1);
      Atomics.store(this.ctl, classAt(cls) + C_CUR_PAGE, p);
      Atomics.add(mem, base + PG_EPOCH, 1); // even again
      return true;
    } finally {
      this.releaseAll();
    }
  }

  // ── Sizes ──────────────────────────────────────────────────────────────────────────────────

  /** Every byte of shared memory allocated: control buffer plus committed arena pages. */
  memoryBytes(): number {
    let n = this.parts.control.byteLength;
    for (const a of this.parts.arenas) n += a.byteLength;
    return n;
  }

  maxBytes(): number {
    return this.parts.control.byteLength + this.maxPages * PAGE_BYTES;
  }
}
