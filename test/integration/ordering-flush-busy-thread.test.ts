/**
 * Ordering: flush() on one thread waits for the disk writes another thread queued, even while
 * that thread stays busy — they are on disk when flush() returns, for another process to read.
 *
 * A worker stores 40 entries and then keeps its thread busy synchronously (its event loop cannot
 * turn); the main thread flushes in that window and, before the worker's turn ends, a child
 * process opens the same spill folder and reads every entry back.
 *
 *   persist: true         every set is a disk write
 *   persist: false        maxEntries 4: the sets push each other out, and the evictions are the writes
 *   the worker stalls     the worker lets its own drain claim the writes (spill/handoff.ts) and
 *   holding its claim     then stalls: the main thread's flush takes the claim over after the
 *                         lease and commits the writes itself
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { vectorFor } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';
import { nextMessage, signal, useWorkers, waitFlag } from '../support/workers.js';

const run = promisify(execFile);
const worker = new URL('./fixtures/ordering-busy-writer.mjs', import.meta.url);
const reader = fileURLToPath(new URL('./fixtures/spill-reader.mjs', import.meta.url));
const DIMS = 8;
const N = 40;
const SET_DONE = 0;
const MAIN_DONE = 1;

/** Each text's vector as another process reads it from the spill folder (null: not there). */
async function readFromAnotherProcess(
  path: string,
  texts: string[],
): Promise<Record<string, number[] | null>> {
  const { stdout } = await run(process.execPath, [reader, path, JSON.stringify(texts)], { timeout: 30_000 });
  return JSON.parse(stdout) as Record<string, number[] | null>;
}

describe("ordering: flush() waits for a busy thread's disk writes", () => {
  const open = useCaches();
  const start = useWorkers();

  async function race(
    cache: EmbeddingCache,
    path: string,
    claimFirst: boolean,
  ): Promise<{ found: Record<string, number[] | null>; texts: string[] }> {
    const texts = Array.from({ length: N }, (_, i) => `doc-${i}`);
    const sets = texts.map((t, i) => [t, vectorFor(i, 1, DIMS)]);
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const w = start(worker, {
      workerData: { handle: cache.handle, ctl: ctl.buffer, busyMs: 200, sets, claimFirst },
    });
    const flushed = nextMessage<{ busyFor: number; mainDoneInTime: boolean }>(w, 'flushed');
    await waitFlag(ctl, SET_DONE, 1, 'worker sets');

    await cache.flush();
    const found = await readFromAnotherProcess(path, texts);
    signal(ctl, MAIN_DONE, 1);

    const f = await flushed;
    expect(f.mainDoneInTime, 'the flush and the read ran while the worker was still busy').toBe(true);
    w.postMessage({ type: 'close' });
    await nextMessage(w, 'closed');
    return { found, texts };
  }

  it('persist: true — all 40 sets are on disk when flush() returns, while the worker is still busy', async () => {
    const path = tempDir();
    const cache = await open({ spill: { path, persist: true } });
    const { found, texts } = await race(cache, path, false);
    texts.forEach((t, i) => expect(found[t], t).toEqual(Array.from(vectorFor(i, 1, DIMS))));
    expect(cache.stats().spill!.writes).toBeGreaterThanOrEqual(N);
  });

  it('persist: false, maxEntries 4 — every entry the worker evicted is on disk when flush() returns', async () => {
    const path = tempDir();
    const cache = await open({ spill: { path }, maxEntries: 4 });
    const { found, texts } = await race(cache, path, false);
    let onDisk = 0;
    texts.forEach((t, i) => {
      if (found[t] === null) {
        expect(cache.has(t), `${t} is in neither memory nor the disk`).toBe(true);
      } else {
        expect(found[t], t).toEqual(Array.from(vectorFor(i, 1, DIMS)));
        onDisk++;
      }
    });
    expect(onDisk).toBeGreaterThanOrEqual(N - 4);
  });

  it('the worker claims its writes and stalls: flush() takes the claim over and commits them', async () => {
    const path = tempDir();
    const cache = await open({ spill: { path, persist: true } });
    const { found, texts } = await race(cache, path, true);
    texts.forEach((t, i) => expect(found[t], t).toEqual(Array.from(vectorFor(i, 1, DIMS))));
    const handoff = cache.stats().spill!.handoff!;
    expect(handoff.overflows).toBe(0);
  });
});
