/**
 * The prefaulter's thread itself (memory/prefault.ts starting dist/src/memory/prefault-worker.js),
 * driven through its page counter with small thresholds: it runs ahead within its bound, ends
 * for good at maxPages, steps down when idle, gives way when another claim replaces its beat,
 * and leaves the memory of another layout version alone.
 */
import { describe, expect, it } from 'vitest';
import { H_LAYOUT_VERSION, H_PAGES_USED, H_PREFAULT_BEAT } from '../../src/memory/layout.js';
import { Prefaulter } from '../../src/memory/prefault.js';
import { nowSeconds, PREFAULT_OFF } from '../../src/memory/prefault-steps.js';
import { committedPages, storeParts } from '../support/store.js';
import { requireBuild, waitUntil } from '../support/workers.js';

/** As the arena does after a new page: count it, wake the thread, call the hook. */
function addPages(ctl: Int32Array, pf: Prefaulter, n: number): void {
  const used = Atomics.add(ctl, H_PAGES_USED, n) + n;
  Atomics.notify(ctl, H_PAGES_USED);
  pf.grew(used);
}

describe('prefault thread', () => {
  requireBuild();

  it('runs ahead of the pages in use, then ends for good once every page is committed', async () => {
    const p = storeParts(64);
    const ctl = new Int32Array(p.control);
    const pf = new Prefaulter(p, 8, 60_000);
    try {
      addPages(ctl, pf, 4);
      expect(Atomics.load(ctl, H_PREFAULT_BEAT)).toBe(0); // below its threshold: no thread
      addPages(ctl, pf, 16);
      expect(Atomics.load(ctl, H_PREFAULT_BEAT)).toBeGreaterThan(0);
      await waitUntil(() => committedPages(p.arenas) === 25, 'the thread to commit 20 + 20/4 pages');
      // One page short of the end: the thread commits the last page (the arena grows over the
      // pages in use below it too), then finds nothing left and ends for good.
      addPages(ctl, pf, p.maxPages - 21);
      await waitUntil(
        () => Atomics.load(ctl, H_PREFAULT_BEAT) === PREFAULT_OFF,
        'the thread to end at maxPages',
      );
      expect(committedPages(p.arenas)).toBe(p.maxPages);
    } finally {
      await pf.stop();
    }
    expect(Atomics.load(ctl, H_PREFAULT_BEAT)).toBe(PREFAULT_OFF); // and nobody starts another
  });

  it('steps down after idleMs without a new page, and the next growth starts a new thread', async () => {
    const p = storeParts(64);
    const ctl = new Int32Array(p.control);
    const pf = new Prefaulter(p, 8, 200);
    try {
      addPages(ctl, pf, 8);
      expect(Atomics.load(ctl, H_PREFAULT_BEAT)).toBeGreaterThan(0);
      // Idle: it times out its 1 s wait, sees 200 ms without growth, clears its beat.
      await waitUntil(() => Atomics.load(ctl, H_PREFAULT_BEAT) === 0, 'the idle thread to step down');
      addPages(ctl, pf, 8);
      await waitUntil(() => committedPages(p.arenas) === 20, 'a new thread to run ahead of 16 pages');
    } finally {
      await pf.stop();
    }
  });

  it('gives way when another claim replaces its beat', async () => {
    const p = storeParts(64);
    const ctl = new Int32Array(p.control);
    const pf = new Prefaulter(p, 8, 60_000);
    try {
      addPages(ctl, pf, 8);
      await waitUntil(() => committedPages(p.arenas) === 10, 'the thread to run ahead');
      // Another instance judged it gone and claimed the place: a beat this thread never wrote
      // (and, being fresh, one no instance replaces).
      const claim = nowSeconds() + 1000;
      Atomics.store(ctl, H_PREFAULT_BEAT, claim);
      // Its next beat (at most a second on) fails its compare-exchange and it ends: new pages are
      // no longer followed.
      await new Promise((r) => setTimeout(r, 1500));
      addPages(ctl, pf, 8);
      await new Promise((r) => setTimeout(r, 300));
      expect(committedPages(p.arenas)).toBe(10);
      expect(Atomics.load(ctl, H_PREFAULT_BEAT)).toBe(claim);
    } finally {
      await pf.stop();
    }
  });

  it('leaves memory of another layout version alone', async () => {
    const p = storeParts(64);
    const ctl = new Int32Array(p.control);
    ctl[H_LAYOUT_VERSION] = -7;
    const pf = new Prefaulter(p, 8, 60_000);
    try {
      addPages(ctl, pf, 8);
      await new Promise((r) => setTimeout(r, 500));
      expect(committedPages(p.arenas)).toBe(0);
    } finally {
      await pf.stop();
    }
  });
});
