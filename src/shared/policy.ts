/**
 * Eviction policy: CLOCK (second chance) over each dimension class's slots.
 *
 * Why CLOCK: a hit must stay lock-free and cheap on every thread. Under CLOCK a hit only sets a
 * reference bit — and only when it is not set yet, so a hot entry read by many threads costs one
 * shared read, not a cache-line write per read. The sweep (run by a writer that needs a slot)
 * clears set bits and takes the first entry whose bit was clear; entries that are expired or of
 * an invalidated model generation are taken at once, whatever their bit. The hit ratio against
 * LRU is measured by scripts/simulate.ts on public traces (see README, Design: eviction).
 *
 * The bits live in the page header at a fixed place (layout.ts, PG_REF), one per slot.
 */
import { PG_REF } from './layout.js';

/** Marks a slot referenced (a hit). No lock; a lost race only loses a hint. */
export function markReferenced(page: Int32Array, base: number, slot: number): void {
  const w = base + PG_REF + (slot >>> 5);
  const bit = 1 << (slot & 31);
  if ((page[w]! & bit) === 0) Atomics.or(page, w, bit);
}

/** Clears a slot's bit and says whether it was set (the sweep's second chance). */
export function testAndClearReferenced(page: Int32Array, base: number, slot: number): boolean {
  const w = base + PG_REF + (slot >>> 5);
  const bit = 1 << (slot & 31);
  if ((page[w]! & bit) === 0) return false;
  Atomics.and(page, w, ~bit);
  return true;
}

/** A new entry starts unreferenced: one that is never read again is the first to go. */
export function clearReferenced(page: Int32Array, base: number, slot: number): void {
  const w = base + PG_REF + (slot >>> 5);
  const bit = 1 << (slot & 31);
  if ((page[w]! & bit) !== 0) Atomics.and(page, w, ~bit);
}
