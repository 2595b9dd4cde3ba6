/**
 * The page prefaulter (memory/prefault.ts) beside real inserts: it starts once the cache passes
 * 64 MiB, commits ahead within its bound, never changes an entry, ends with the instance that
 * started it, and is replaced when the thread that started it dies without closing.
 */
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { H_PAGES_USED, H_PREFAULT_BEAT, PAGE_BYTES } from '../../src/memory/layout.js';
import { PREFAULT_AHEAD_PAGES, PREFAULT_STALE_S, PREFAULT_START_PAGES } from '../../src/memory/prefault.js';
import { beatAge } from '../../src/memory/prefault-steps.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { useCaches } from '../support/caches.js';
import { nextMessage, useWorkers, waitUntil } from '../support/workers.js';

const DIMS = 768;
/** Entries past the 64 MiB threshold (3 KiB of vector each, plus metadata): about 100 MiB. */
const ENTRIES = 32_000;
const loader = new URL('./fixtures/prefault-loader.mjs', import.meta.url);

const ctlOf = (c: EmbeddingCache) => new Int32Array(c.handle.parts.control);
const beat = (c: EmbeddingCache) => Atomics.load(ctlOf(c), H_PREFAULT_BEAT);
const usedPages = (c: EmbeddingCache) => Atomics.load(ctlOf(c), H_PAGES_USED);
const committedPages = (c: EmbeddingCache) =>
  c.handle.parts.arenas.reduce((n, a) => n + a.byteLength / PAGE_BYTES, 0);

function setRange(c: EmbeddingCache, from: number, to: number): void {
  for (let k = from; k < to; k++) c.set(textFor(k), vectorFor(k, 1, DIMS));
}

function expectRange(c: EmbeddingCache, from: number, to: number): void {
  const out = new Float32Array(DIMS);
  for (let k = from; k < to; k++) {
    if (!c.getInto(textFor(k), out)) expect.fail(`key ${k} missing`);
    const want = vectorFor(k, 1, DIMS);
    for (let i = 0; i < DIMS; i++)
      if (out[i] !== want[i]) expect.fail(`key ${k}: element ${i} is ${out[i]}, not ${want[i]}`);
  }
}

describe('prefault', () => {
  const open = useCaches();
  const start = useWorkers();

  it('starts past 64 MiB, commits ahead within its bound, changes no entry, and ends on close', async () => {
    const c = await open({ maxBytes: 512 * 1024 * 1024, expectedEntries: 2 * ENTRIES });
    setRange(c, 0, 1000);
    expect(usedPages(c)).toBeLessThan(PREFAULT_START_PAGES);
    expect(beat(c)).toBe(0);
    expect(committedPages(c)).toBe(usedPages(c));

    // In chunks with a turn of the event loop between: inserts meet pages the thread touched.
    for (let k = 1000; k < ENTRIES; k += 2000) {
      setRange(c, k, Math.min(ENTRIES, k + 2000));
      await new Promise((r) => setImmediate(r));
    }
    expect(usedPages(c)).toBeGreaterThan(PREFAULT_START_PAGES);
    expect(beat(c)).toBeGreaterThan(0);
    // The thread catches up with the last page added, and stays within its bound.
    const used = usedPages(c);
    const bound = used + Math.min(PREFAULT_AHEAD_PAGES, used >>> 2);
    await waitUntil(() => committedPages(c) === bound, 'the prefaulter to run ahead');
    expect(c.stats().memoryBytes).toBe(c.handle.parts.control.byteLength + bound * PAGE_BYTES);

    expectRange(c, 0, ENTRIES);
    expect(c.checkInvariants()).toEqual([]);
    const ctl = ctlOf(c);
    await c.close();
    expect(Atomics.load(ctl, H_PREFAULT_BEAT)).toBe(0);
  }, 60_000);

  it('prefault: false commits only the pages in use', async () => {
    const c = await open({ maxBytes: 512 * 1024 * 1024, expectedEntries: 2 * ENTRIES, prefault: false });
    setRange(c, 0, ENTRIES);
    expect(usedPages(c)).toBeGreaterThan(PREFAULT_START_PAGES);
    expect(beat(c)).toBe(0);
    expect(committedPages(c)).toBe(usedPages(c));
    expectRange(c, 0, ENTRIES);
  }, 60_000);

  it('two threads insert beside it; when the thread that started it dies, the next grower starts another', async () => {
    const c = await open({ maxBytes: 768 * 1024 * 1024, expectedEntries: 3 * ENTRIES });
    // Two workers load disjoint halves at once; one of them starts the prefaulter.
    const half = ENTRIES / 2;
    const workers = [0, 1].map((i) =>
      start(loader, { workerData: { handle: c.handle, from: i * half, to: (i + 1) * half, dims: DIMS } }),
    );
    await Promise.all(workers.map((w) => nextMessage(w, 'loaded', 60_000)));
    const started = beat(c);
    expect(started).toBeGreaterThan(0);
    expectRange(c, 0, ENTRIES);

    // Both workers end without closing: the prefaulter they started ends with its thread.
    await Promise.all(workers.map((w) => w.terminate()));
    await waitUntil(
      () => beatAge(beat(c)) >= PREFAULT_STALE_S,
      'the beat to go stale',
      3000 * PREFAULT_STALE_S,
    );
    expect(committedPages(c)).toBe(usedPages(c) + Math.min(PREFAULT_AHEAD_PAGES, usedPages(c) >>> 2));

    // This thread's next new page starts a prefaulter of its own: only a live one runs ahead of
    // the pages this thread adds.
    setRange(c, ENTRIES, ENTRIES + 4000);
    const used = usedPages(c);
    await waitUntil(
      () => committedPages(c) === used + Math.min(PREFAULT_AHEAD_PAGES, used >>> 2),
      'a new prefaulter to run ahead',
    );
    expectRange(c, 0, ENTRIES + 4000);
    expect(c.checkInvariants()).toEqual([]);
  }, 90_000);

  it('rejects a prefault option that is not a boolean', async () => {
    await expect(open({ prefault: 'yes' as unknown as boolean })).rejects.toThrow(
      /options\.prefault must be a boolean, got string/,
    );
  });
});
