/**
 * Ordering: the last set wins, in memory and on disk, even against a disk write another thread
 * queued before it.
 *
 * With persist: true a worker sets doc-1 = v1 and keeps its thread busy synchronously, so the
 * write-behind of v1 cannot go out. Meanwhile the main thread sets doc-1 = v2 and flushes (v2 is
 * on disk). When the worker's busy turn ends, its queued v1 lands — after v2. Memory says v2;
 * after a restart on the same file, the disk must say v2 too, not the older v1.
 *
 * The interleaving is forced (ctl words, see the fixture): the worker stays busy for at least
 * 200 ms *and* until the main thread has set and flushed; the test checks it did.
 */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../support/caches.js';
import { vectorFor } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';
import { nextMessage, signal, useWorkers, waitFlag } from '../support/workers.js';

const fixture = new URL('./fixtures/ordering-busy-writer.mjs', import.meta.url);
const SET_DONE = 0;
const MAIN_DONE = 1;
const DIMS = 8;
const BUSY_MS = 200;

interface Flushed {
  type: 'flushed';
  busyFor: number;
  mainDoneInTime: boolean;
}

describe('ordering: last set wins over a disk write queued before it', () => {
  const open = useCaches();
  const start = useWorkers();

  it('persist: true — worker sets v1 (write queued), main sets v2 and flushes, v1 lands after: memory and disk say v2', async () => {
    const path = tempDir();
    const v1 = vectorFor(1, 1, DIMS);
    const v2 = vectorFor(1, 2, DIMS);
    const cache = await open({ spill: { path, persist: true } });
    const ctl = new Int32Array(new SharedArrayBuffer(8));
    const worker = start(fixture, {
      workerData: { handle: cache.handle, ctl: ctl.buffer, busyMs: BUSY_MS, sets: [['doc-1', v1]] },
    });
    const flushed = nextMessage<{ type: 'flushed'; busyFor: number; mainDoneInTime: boolean }>(
      worker,
      'flushed',
    );

    await waitFlag(ctl, SET_DONE, 1, 'worker set doc-1 = v1');
    expect(Array.from(cache.get('doc-1')!)).toEqual(Array.from(v1)); // shared memory: v1 is there
    cache.set('doc-1', v2);
    await cache.flush();
    signal(ctl, MAIN_DONE, 1);

    const f: Flushed = await flushed;
    expect(
      f.mainDoneInTime,
      'the set and flush ran while the worker was busy (its v1 write still queued)',
    ).toBe(true);
    expect(f.busyFor).toBeGreaterThanOrEqual(BUSY_MS);

    expect(Array.from(cache.get('doc-1')!), 'memory after the worker settled').toEqual(Array.from(v2));

    worker.postMessage({ type: 'close' });
    await nextMessage(worker, 'closed');
    await cache.close();

    const again = await open({ spill: { path, persist: true } });
    const onDisk = again.get('doc-1');
    expect(onDisk, 'doc-1 after a restart').toBeDefined();
    expect(Array.from(onDisk!), 'disk after a restart: v2 (v1 = [1, 1, …], v2 = [1, 2, …])').toEqual(
      Array.from(v2),
    );
  });
});
