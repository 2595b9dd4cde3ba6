/**
 * Eviction policy: CLOCK with a 2-bit use counter per slot (a generalized CLOCK).
 *
 * Why CLOCK: a hit must stay lock-free and cheap on every thread. A hit only raises the slot's
 * counter — and writes nothing once it is saturated, so a hot entry read by many threads costs
 * shared reads, not a cache-line write per read. The sweep (run by a writer that needs a slot)
 * lowers counters and takes the first entry found at zero; expired entries and entries of an
 * invalidated model generation are taken at once. A new entry starts at zero: one that is never
 * read again is the first to go (scan resistance), while an entry read a few times survives a
 * few sweeps (frequency). scripts/simulate.ts measures the hit ratio against LRU on public
 * traces (README, Design: eviction).
 *
 * The counters live in the page header at a fixed place (layout.ts, PG_REF): two bit planes, one
 * bit of each per slot. Updates from different threads can race (read-modify-write of two
 * bits); a lost update only changes a hint.
 */
import { PG_REF, PG_REF_HIGH } from './layout.js';

const MAX_USE = 3;

function useCount(page: Int32Array, w: number, bit: number): number {
  return ((page[w]! & bit) !== 0 ? 1 : 0) + ((page[w + PG_REF_HIGH]! & bit) !== 0 ? 2 : 0);
}

function setUseCount(page: Int32Array, w: number, bit: number, c: number): void {
  if ((c & 1) !== 0) Atomics.or(page, w, bit);
  else Atomics.and(page, w, ~bit);
  if ((c & 2) !== 0) Atomics.or(page, w + PG_REF_HIGH, bit);
  else Atomics.and(page, w + PG_REF_HIGH, ~bit);
}

/** A hit: raises the slot's use counter unless it is saturated. No lock. */
export function markReferenced(page: Int32Array, base: number, slot: number): void {
  const w = base + PG_REF + (slot >>> 5);
  const bit = 1 << (slot & 31);
  const c = useCount(page, w, bit);
  if (c < MAX_USE) setUseCount(page, w, bit, c + 1);
}

/** The sweep's question: true (and the counter lowered) if the slot was used since last time. */
export function testAndClearReferenced(page: Int32Array, base: number, slot: number): boolean {
  const w = base + PG_REF + (slot >>> 5);
  const bit = 1 << (slot & 31);
  const c = useCount(page, w, bit);
  if (c === 0) return false;
  setUseCount(page, w, bit, c - 1);
  return true;
}

/** A new entry starts unused: one that is never read again is the sweep's first pick. */
export function clearReferenced(page: Int32Array, base: number, slot: number): void {
  const w = base + PG_REF + (slot >>> 5);
  const bit = 1 << (slot & 31);
  if (useCount(page, w, bit) !== 0) setUseCount(page, w, bit, 0);
}
