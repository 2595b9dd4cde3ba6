/**
 * Page prefaulting: overlap the kernel's zero-filling of new memory with the inserts.
 *
 * Why. The arenas are committed lazily (arena.ts), and the first write to each 4 KiB of newly
 * committed memory traps into the kernel, which finds a page and zero-fills it. A bulk load of
 * 768-d vectors writes 3 KiB per entry, so it takes about one such fault per insert; on the
 * 1M-entry load of bench:scale the kernel's share was about half of the inserting thread's time.
 * A helper thread that commits and touches pages a little ahead of the inserts (prefault-worker.ts)
 * moves that work onto another core, where it runs beside the inserts instead of inside them.
 * (prefault-steps.ts has the thread's loop; prefault-worker.ts is its entry file.)
 *
 * When. Small caches never pay for a thread: the first instance (in any thread) whose insert
 * takes the cache past PREFAULT_START_PAGES (64 MiB) starts one, if none is running; which one
 * runs is settled by a compare-exchange on H_PREFAULT_BEAT, which the thread renews every
 * second (prefault-steps.ts: a thread whose beat another claim replaced ends, so one survives).
 * Its starter ends it on close(); if the starter's thread ends without closing, the beat goes
 * stale and the next instance to add a page starts another. The thread ends by itself after
 * PREFAULT_IDLE_MS without growth, and for good once every page of maxBytes is committed.
 *
 * Cost. At most min(16 MiB, a quarter of the pages in use) is committed ahead of need, counted
 * in stats().memoryBytes and never past maxBytes; plus the thread itself while it runs (its own
 * small V8 heap, outside memoryBytes). `prefault: false` turns it off. Where the thread's file
 * cannot be found (a bundle that did not copy dist/src/memory/prefault-worker.js), it stays
 * off: inserts then fault their own pages, as with `prefault: false`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { H_PREFAULT_BEAT, LAYOUT_VERSION, PAGE_BYTES } from './layout.js';
import { beatAge, nowSeconds, PREFAULT_DATA_KEY, PREFAULT_OFF, type PrefaultData } from './prefault-steps.js';
import type { StoreParts } from './types.js';

/** Pages in use (of PAGE_BYTES each) before a prefaulter starts: 64 MiB. */
export const PREFAULT_START_PAGES = (64 * 1024 * 1024) / PAGE_BYTES;
/**
 * Most pages committed ahead of those in use: 16 MiB. Measured on 400k 768-d inserts (2 cores):
 * 4 MiB ahead left the inserting thread 1.4–1.75 s of kernel time (2.7 s without a prefaulter),
 * 16 MiB 0.95 s, 64 MiB 0.6–0.94 s; 16 MiB takes most of the gain for a quarter of the memory.
 */
export const PREFAULT_AHEAD_PAGES = (16 * 1024 * 1024) / PAGE_BYTES;
/** The thread ends after this long with no new page. */
export const PREFAULT_IDLE_MS = 10_000;
/** A beat this many seconds old means its thread is gone (it beats at least once a second). */
export const PREFAULT_STALE_S = 5;

/** The built thread file: next to this module (dist), or in the repository's dist/ (sources under tsx). */
const WORKER_CANDIDATES = ['./prefault-worker.js', '../../dist/src/memory/prefault-worker.js'];

function workerFile(): URL | null {
  for (const rel of WORKER_CANDIDATES) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return null;
}

/** What the prefaulter hooks into: the store's new-page hook (SharedStore.onNewPage). */
export interface NewPageHook {
  onNewPage: ((pagesUsed: number) => void) | null;
}

/** One instance's side of the prefaulter: starts it when due, ends the one it started. */
export class Prefaulter {
  private hooked: NewPageHook | null = null;

  /** The threads this instance started that have not exited (one, but for a hand-over). */
  private readonly workers = new Set<Worker>();
  private readonly ctl: Int32Array;

  constructor(
    private readonly parts: StoreParts,
    private readonly startPages = PREFAULT_START_PAGES,
    private readonly idleMs = PREFAULT_IDLE_MS,
  ) {
    this.ctl = new Int32Array(parts.control);
  }

  /** A prefaulter for `store`'s instance, called after each page it adds until stop(). */
  static attach(store: NewPageHook, parts: StoreParts): Prefaulter {
    const pf = new Prefaulter(parts);
    store.onNewPage = pf.grew;
    pf.hooked = store;
    return pf;
  }

  /** The arena's new-page hook: starts a thread if the cache is past the threshold and none runs. */
  readonly grew = (pagesUsed: number): void => {
    if (pagesUsed < this.startPages) return;
    const beat = Atomics.load(this.ctl, H_PREFAULT_BEAT);
    if (beat === PREFAULT_OFF) return;
    const now = nowSeconds();
    if (beat !== 0 && beatAge(beat, now) < PREFAULT_STALE_S) return;
    if (Atomics.compareExchange(this.ctl, H_PREFAULT_BEAT, beat, now) !== beat) return;
    this.start(now);
  };

  private start(beat: number): void {
    const file = workerFile();
    if (file === null) {
      // Not built (sources run without `npm run build`): inserts fault their own pages.
      Atomics.store(this.ctl, H_PREFAULT_BEAT, PREFAULT_OFF);
      return;
    }
    const prefault: PrefaultData = {
      layoutVersion: LAYOUT_VERSION,
      beat,
      control: this.parts.control,
      arenas: this.parts.arenas,
      maxPages: this.parts.maxPages,
      aheadPages: PREFAULT_AHEAD_PAGES,
      idleMs: this.idleMs,
    };
    let worker: Worker;
    try {
      // No execArgv (a loader or agent of the parent's has no business there) and a small heap:
      // the loop allocates next to nothing.
      worker = new Worker(file, {
        workerData: { [PREFAULT_DATA_KEY]: prefault },
        execArgv: [],
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
      });
    } catch {
      Atomics.store(this.ctl, H_PREFAULT_BEAT, PREFAULT_OFF);
      return;
    }
    worker.unref();
    worker.on('error', (err: unknown) => {
      // Only an optimisation: inserts fault their own pages from now on.
      Atomics.store(this.ctl, H_PREFAULT_BEAT, PREFAULT_OFF);
      process.emitWarning(`embedcache: the page prefaulter stopped: ${String(err)}`);
    });
    worker.on('exit', () => this.workers.delete(worker));
    this.workers.add(worker);
  }

  /** Unhooks, and ends the threads this instance started, if any (close()). */
  async stop(): Promise<void> {
    if (this.hooked !== null) this.hooked.onNewPage = null;
    this.hooked = null;
    if (this.workers.size === 0) return;
    const workers = [...this.workers];
    this.workers.clear();
    const beat = Atomics.load(this.ctl, H_PREFAULT_BEAT);
    await Promise.all(workers.map((w) => w.terminate()));
    // Its beat would go stale in PREFAULT_STALE_S anyway; clearing it lets another instance
    // start one at once. A compare-exchange on the value seen before the end: a newer claim
    // stays (and were it cleared, the two threads' beats would settle it: one ends).
    if (beat !== PREFAULT_OFF && beat !== 0) Atomics.compareExchange(this.ctl, H_PREFAULT_BEAT, beat, 0);
  }
}
