/**
 * A SharedStore used directly (no EmbeddingCache around it), for the tests of src/memory: a
 * store of given bounds, models registered the way the facade does it, 128-bit keys with a
 * chosen bucket, and read-only looks at the shared words (pages used, page bump, free stack).
 */
import { createStoreParts } from '../../src/memory/arena.js';
import { planStore, SharedStore } from '../../src/memory/store.js';
import type { StoreParts } from '../../src/memory/types.js';
import {
  C_FREE_HEAD,
  classAt,
  entryId,
  H_PAGES_USED,
  NONE,
  PAGE_BYTES,
  pageBase,
  pageLayout,
  pageOf,
  PG_BUMP,
  PG_CLASS,
  slotOf,
  STATE_FREE,
  STATE_LIVE,
} from '../../src/memory/layout.js';

export interface StoreBounds {
  maxBytes?: number;
  expectedEntries?: number;
  maxEntries?: number;
  lockTimeoutMs?: number;
}

const SECRET = new Uint8Array(32).map((_, i) => i * 7 + 1);

/** A new store (its shared memory fresh); attach more instances with `new SharedStore(store.parts)`. */
export function createStore(bounds: StoreBounds = {}): SharedStore {
  const expectedEntries = bounds.expectedEntries ?? 1000;
  const parts = SharedStore.create({
    maxBytes: bounds.maxBytes ?? 16 * 1024 * 1024,
    expectedEntries,
    maxEntries: bounds.maxEntries ?? 1_000_000,
    lockTimeoutMs: bounds.lockTimeoutMs ?? 1000,
    secret: SECRET,
  });
  return new SharedStore(parts);
}

/** maxBytes that leaves room for exactly `pages` arena pages (the index of `expectedEntries` aside). */
export function bytesForPages(pages: number, expectedEntries = 1000): number {
  return planStore(1024 * PAGE_BYTES, expectedEntries).controlBytes + pages * PAGE_BYTES;
}

export interface ModelRef {
  id: number;
  cls: number;
  dims: number;
}

/** Registers model `name` with dimension `dims`, as the facade does on a first set. */
export function addModel(store: SharedStore, name: string, dims: number): ModelRef {
  const id = store.registry.ensure(name);
  return { id, cls: store.registry.bindDims(id, dims, name), dims };
}

/**
 * The 128-bit key of key index `i`. Its bucket is `bucketWord` masked (default: i), so tests can
 * put keys in one chain; the other words make keys that share a bucket (or a first word) differ.
 */
export function keyOf(i: number, bucketWord = i): Int32Array {
  return Int32Array.of(bucketWord, i, 0x5eed_1234, ~i);
}

/** Arena pages handed out so far. */
export function pagesUsed(store: SharedStore): number {
  return Atomics.load(new Int32Array(store.parts.control), H_PAGES_USED);
}

/** The Int32 view of the arena holding page p (tests use one arena) and the page's base word. */
function page(store: SharedStore, p: number): { mem: Int32Array; base: number } {
  return { mem: new Int32Array(store.parts.arenas[0]!), base: pageBase(p) };
}

/** Slots of page p that were ever handed out (its bump pointer, capped at the page's slots). */
export function bumpOf(store: SharedStore, p: number, dims: number): number {
  const { mem, base } = page(store, p);
  return Math.min(pageLayout(dims).slots, mem[base + PG_BUMP]!);
}

/** Entry id (page << 13 | slot) of the live entry of key k among pages of class cls, or NONE. */
export function entryOfKey(store: SharedStore, cls: number, dims: number, k: Int32Array): number {
  const L = pageLayout(dims);
  for (let p = 0; p < pagesUsed(store); p++) {
    const { mem, base } = page(store, p);
    if (mem[base + PG_CLASS] !== cls + 1) continue;
    for (let s = 0; s < bumpOf(store, p, dims); s++) {
      const ki = base + L.key + 4 * s;
      if (
        mem[base + L.state + s] === STATE_LIVE &&
        mem[ki] === k[0] &&
        mem[ki + 1] === k[1] &&
        mem[ki + 2] === k[2] &&
        mem[ki + 3] === k[3]
      )
        return entryId(p, s);
    }
  }
  return NONE;
}

/**
 * Class cls's free stack, top first, walked through the entries' free links; throws on a cycle
 * or a link out of range. `states` holds each listed entry's state word.
 */
export function freeStack(
  store: SharedStore,
  cls: number,
  dims: number,
): { ids: number[]; states: number[] } {
  const ctl = new Int32Array(store.parts.control);
  const L = pageLayout(dims);
  const ids: number[] = [];
  const states: number[] = [];
  const seen = new Set<number>();
  for (let e = ctl[classAt(cls) + C_FREE_HEAD]!; e !== NONE;) {
    if (seen.has(e)) throw new Error(`free stack of class ${cls}: cycle at entry ${e}`);
    const p = pageOf(e),
      s = slotOf(e);
    if (p >= pagesUsed(store) || s >= L.slots) throw new Error(`free stack of class ${cls}: bad entry ${e}`);
    seen.add(e);
    ids.push(e);
    const { mem, base } = page(store, p);
    states.push(mem[base + L.state + s]!);
    e = mem[base + L.free + s]!;
  }
  return { ids, states };
}

/** Slots of class cls that were handed out and are FREE now. */
export function freeSlotCount(store: SharedStore, cls: number, dims: number): number {
  const L = pageLayout(dims);
  let n = 0;
  for (let p = 0; p < pagesUsed(store); p++) {
    const { mem, base } = page(store, p);
    if (mem[base + PG_CLASS] !== cls + 1) continue;
    for (let s = 0; s < bumpOf(store, p, dims); s++) if (mem[base + L.state + s] === STATE_FREE) n++;
  }
  return n;
}

/** Whether `got` holds exactly the floats of `expected` (a loop: fast for vectors of 30,000 floats). */
export function sameVector(got: ArrayLike<number> | undefined, expected: Float32Array): boolean {
  if (got === undefined || got.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (!Object.is(got[i], expected[i])) return false;
  return true;
}

/** Bare shared memory (no store instance) with room for `pages` arena pages, none committed. */
export function storeParts(pages: number): StoreParts {
  return createStoreParts({
    maxBytes: pages * PAGE_BYTES + 4 * 1024 * 1024,
    expectedEntries: 1024,
    maxEntries: 1024,
    lockTimeoutMs: 1000,
    secret: SECRET,
  });
}

/** Arena pages committed so far (the arenas' byte lengths, in pages). */
export function committedPages(arenas: readonly SharedArrayBuffer[]): number {
  return arenas.reduce((n, a) => n + a.byteLength / PAGE_BYTES, 0);
}
