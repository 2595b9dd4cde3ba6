/**
 * Types the memory modules share, in a module of their own so that no two of them import each
 * other (store.ts composes arena, free slots, eviction and recovery; they only see these).
 */
import type { PageLayout } from './layout.js';

/** What a thread needs to attach: the buffers and the sizes fixed at creation. */
export interface StoreParts {
  control: SharedArrayBuffer;
  arenas: SharedArrayBuffer[];
  buckets: number;
  maxEntries: number;
  maxPages: number;
  lockTimeoutMs: number;
}

/** The chain edits that eviction and recovery make; the caller holds the chain's stripe lock. */
export interface Chains {
  /** Removes e from bucket b's chain if it is there. */
  unlink(e: number, b: number): boolean;
  /** Points entry e's chain link at `next`. */
  setNext(e: number, next: number): void;
}

/** What a page steal (arena.ts) needs from the owners of slots: empty a page, drop a class's free stack. */
export interface PageOwners {
  /** Evicts (or drops) every entry of page p, whose layout is L; every stripe lock is held. */
  emptyPage(p: number, mem: Int32Array, base: number, L: PageLayout, now: number): void;
  /** Forgets class cls's free-slot stack (its slots stay free; the sweep finds them). */
  resetFree(cls: number): void;
}
