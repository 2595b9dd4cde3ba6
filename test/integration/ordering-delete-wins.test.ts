/**
 * Ordering: a delete is final, even against a disk write another thread queued before it.
 *
 * A worker stores 'doc-1' and then keeps its thread busy synchronously, so the spill write it
 * queued for that entry cannot go out. Meanwhile the main thread deletes 'doc-1' and flushes.
 * When the worker's busy turn ends its queued write lands — after the delete. The delete must
 * still win: no later get (from memory, from disk, or after a restart on the same file) may
 * bring 'doc-1' back.
 *
 *   persist: true   the write queued is the write-behind of the set itself
 *   persist: false  the set is evicted at once (maxEntries 4, more sets after it): the write
 *                   queued is the eviction's
 *
 * The interleaving is forced (ctl words, see the fixture): the worker stays busy for at least
 * 200 ms *and* until the main thread has deleted and flushed; the test checks it did.
 */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../support/caches.js';
import { vectorFor } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';
import { useWorkers } from '../support/workers.js';
import { raceBusyWriter } from './ordering-busy-writer.js';

const DIMS = 8;

describe('ordering: delete wins over a disk write queued before it', () => {
  const open = useCaches();
  const start = useWorkers();

  it("persist: true — the worker's write-behind of doc-1 lands after the delete: doc-1 stays deleted, in memory and after a restart", async () => {
    const path = tempDir();
    const cache = await open({ spill: { path, persist: true } });
    // doc-2 is the control: nobody deletes it, so it must be on disk after the restart.
    const sets: [string, Float32Array][] = [
      ['doc-1', vectorFor(1, 1, DIMS)],
      ['doc-2', vectorFor(2, 1, DIMS)],
    ];
    const worker = await raceBusyWriter(
      start,
      cache,
      sets,
      () => {
        expect(cache.delete('doc-1')).toBe(true);
        expect(cache.has('doc-1')).toBe(false);
      },
      'set doc-1',
    );

    expect(cache.get('doc-1')).toBeUndefined();
    expect(cache.has('doc-1')).toBe(false);
    expect(Array.from(cache.get('doc-2')!)).toEqual(Array.from(vectorFor(2, 1, DIMS)));

    await worker.close();
    await cache.close();

    const again = await open({ spill: { path, persist: true } });
    expect(again.get('doc-1')).toBeUndefined();
    expect(again.has('doc-1')).toBe(false);
    expect(Array.from(again.get('doc-2')!)).toEqual(Array.from(vectorFor(2, 1, DIMS)));
  });

  it("persist: false, maxEntries 4 — doc-1 evicted into the worker's queue, deleted before that write lands: stays deleted, in memory and after a restart", async () => {
    const path = tempDir();
    const cache = await open({ maxEntries: 4, spill: { path, persist: false } });
    const fillers = Array.from({ length: 16 }, (_, i) => `filler-${i}`);
    const sets: [string, Float32Array][] = [
      ['doc-1', vectorFor(1, 1, DIMS)],
      ...fillers.map((t, i): [string, Float32Array] => [t, vectorFor(100 + i, 1, DIMS)]),
    ];
    const worker = await raceBusyWriter(
      start,
      cache,
      sets,
      () => {
        // doc-1 was pushed out of memory by 16 later sets into room for 4: it is only in the
        // worker's write queue now (so this thread may not see it; the return value is not checked).
        expect(cache.stats().entries).toBeLessThanOrEqual(4);
        cache.delete('doc-1');
        expect(cache.has('doc-1')).toBe(false);
      },
      'set doc-1 and the fillers',
    );

    expect(cache.get('doc-1')).toBeUndefined();
    expect(cache.has('doc-1')).toBe(false);

    await worker.close();
    await cache.close();

    const again = await open({ maxEntries: 4, spill: { path, persist: false } });
    expect(again.get('doc-1')).toBeUndefined();
    // Control: the worker's queued evictions did reach the disk (the fillers it evicted).
    const fillersOnDisk = fillers.filter((t) => again.get(t) !== undefined).length;
    expect(fillersOnDisk).toBeGreaterThan(0);
  });
});
