/**
 * The prefaulter's thread (started by prefault.ts): commits arena pages ahead of the inserts and
 * touches every 4 KiB of them, so the kernel zero-fills them here instead of inside a `set`.
 *
 * Touching is an atomic OR of 0 into one word per 4 KiB: a write, so the kernel must back the
 * page with memory, and the identity on the word's value, so a touch that races a writer who
 * just took that page in use changes nothing. Only pages at or past H_PAGES_USED are touched
 * (pages below it were touched by the thread that took them), and never more than `aheadPages`
 * past it: the memory committed ahead shows in stats().memoryBytes like any other.
 *
 * The loop sleeps on H_PAGES_USED (arena.ts notifies it after each new page), reports itself
 * alive in H_PREFAULT_BEAT at least once a second, and ends when every page is committed
 * (setting the beat to PREFAULT_OFF: nobody starts another) or after `idleMs` with no new page
 * (setting it to 0: the next growth past the threshold starts a new one).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { commitPage } from './arena.js';
import { arenaOf, H_PAGES_USED, H_PREFAULT_BEAT, PAGE_BYTES, PAGES_PER_ARENA } from './layout.js';

/** The beat value that stops every thread from starting a prefaulter again. */
export const PREFAULT_OFF = -1;

/** Words between two touches: one per 4 KiB OS page. */
const TOUCH_STRIDE = 1024;

export interface PrefaultData {
  control: SharedArrayBuffer;
  arenas: SharedArrayBuffer[];
  maxPages: number;
  /** Most pages committed past H_PAGES_USED (also at most a quarter of the pages in use). */
  aheadPages: number;
  /** Ends after this long with no new page. */
  idleMs: number;
}

/** Seconds since the epoch, wrapped to int32 (never 0 or -1 in practice). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000) | 0;
}

/** Where a prefaulter stops running ahead when `used` pages are in use. */
export function aheadTarget(used: number, maxPages: number, aheadPages: number): number {
  return Math.min(maxPages, used + Math.min(aheadPages, used >>> 2));
}

/** Commits page p and makes the kernel back each of its 4 KiB pages (a no-op on their values). */
export function touchPage(arenas: readonly SharedArrayBuffer[], p: number): void {
  commitPage(arenas, p);
  const words = new Int32Array(
    arenas[arenaOf(p)]!,
    (p & (PAGES_PER_ARENA - 1)) * PAGE_BYTES,
    PAGE_BYTES >>> 2,
  );
  for (let i = 0; i < words.length; i += TOUCH_STRIDE) Atomics.or(words, i, 0);
}

/**
 * Commits and touches pages from max(from, used) up to aheadTarget(); returns the next page to
 * touch. One step of the loop, exported for tests.
 */
export function runAhead(ctl: Int32Array, d: PrefaultData, from: number): number {
  const used = Atomics.load(ctl, H_PAGES_USED);
  const target = aheadTarget(used, d.maxPages, d.aheadPages);
  let p = Math.max(from, used);
  for (; p < target; p++) touchPage(d.arenas, p);
  return p;
}

/** The thread's loop (see the top of the file). */
export function prefaultLoop(d: PrefaultData): void {
  const ctl = new Int32Array(d.control);
  let next = 0;
  let lastGrowth = Date.now();
  let seen = -1;
  for (;;) {
    const used = Atomics.load(ctl, H_PAGES_USED);
    if (used !== seen) {
      seen = used;
      lastGrowth = Date.now();
    }
    next = runAhead(ctl, d, next);
    if (next >= d.maxPages) {
      Atomics.store(ctl, H_PREFAULT_BEAT, PREFAULT_OFF);
      return;
    }
    const beat = nowSeconds();
    Atomics.store(ctl, H_PREFAULT_BEAT, beat);
    if (Atomics.wait(ctl, H_PAGES_USED, used, 1000) === 'timed-out' && Date.now() - lastGrowth >= d.idleMs) {
      // Idle: step down, unless a starter already judged this thread gone and replaced it.
      Atomics.compareExchange(ctl, H_PREFAULT_BEAT, beat, 0);
      return;
    }
  }
}

if (parentPort !== null && (workerData as { prefault?: PrefaultData } | null)?.prefault !== undefined) {
  prefaultLoop((workerData as { prefault: PrefaultData }).prefault);
}
