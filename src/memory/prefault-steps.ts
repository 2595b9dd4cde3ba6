/**
 * The prefaulter's steps and loop (prefault.ts starts the thread; prefault-worker.ts is its entry
 * file): commits arena pages ahead of the inserts and touches every 4 KiB of them, so the kernel
 * zero-fills them there instead of inside a `set`. No side effects on import.
 *
 * Touching is an atomic OR of 0 into one word per 4 KiB: a write, so the kernel must back the
 * page with memory, and the identity on the word's value, so a touch that races a writer who
 * just took that page in use changes nothing. Only pages at or past H_PAGES_USED are touched
 * (pages below it were touched by the thread that took them), and never more than `aheadPages`
 * past it: the memory committed ahead shows in stats().memoryBytes like any other.
 *
 * The loop sleeps on H_PAGES_USED (arena.ts notifies it after each new page) and reports itself
 * alive in H_PREFAULT_BEAT whenever the second changes (it wakes at least once a second). Each
 * beat is a compare-exchange from its own last value: if another thread's claim replaced it (an
 * instance judged this thread gone), this one ends, so at most one keeps running. It ends too
 * when every page is committed (setting the beat to PREFAULT_OFF: nobody starts another) or
 * after `idleMs` with no new page (setting it to 0: the next growth past the threshold starts a
 * new one).
 */
import { commitPage } from './arena.js';
import {
  arenaOf,
  H_LAYOUT_VERSION,
  H_PAGES_USED,
  H_PREFAULT_BEAT,
  LAYOUT_VERSION,
  PAGE_BYTES,
  PAGES_PER_ARENA,
} from './layout.js';

/** The workerData key the thread's data travels under (prefault-worker.ts checks it). */
export const PREFAULT_DATA_KEY = '__embedcachePrefault';

/** The beat value that stops every thread from starting a prefaulter again. */
export const PREFAULT_OFF = -1;

/** Words between two touches: one per 4 KiB OS page. */
const TOUCH_STRIDE = 1024;

export interface PrefaultData {
  /** The starter's build's LAYOUT_VERSION: a thread of another build leaves the memory alone. */
  layoutVersion: number;
  /** The beat value the starter claimed the thread's place with. */
  beat: number;
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

/** Seconds from beat to now, wrap-safe (the int32 second count wraps in 2038). */
export function beatAge(beat: number, now = nowSeconds()): number {
  return (now - beat) | 0;
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
  // A thread of another build (a stale dist/ beside sources run under tsx) could address other
  // words: it touches nothing.
  if (d.layoutVersion !== LAYOUT_VERSION || ctl[H_LAYOUT_VERSION] !== LAYOUT_VERSION) return;
  let mine = d.beat;
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
      Atomics.compareExchange(ctl, H_PREFAULT_BEAT, mine, PREFAULT_OFF);
      return;
    }
    const now = nowSeconds();
    if (now !== mine) {
      if (Atomics.compareExchange(ctl, H_PREFAULT_BEAT, mine, now) !== mine) return; // replaced
      mine = now;
    }
    if (Atomics.wait(ctl, H_PAGES_USED, used, 1000) === 'timed-out' && Date.now() - lastGrowth >= d.idleMs) {
      Atomics.compareExchange(ctl, H_PREFAULT_BEAT, mine, 0);
      return;
    }
  }
}
