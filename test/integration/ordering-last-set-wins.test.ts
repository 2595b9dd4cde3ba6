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
import { useWorkers } from '../support/workers.js';
import { raceBusyWriter } from './ordering-busy-writer.js';

const DIMS = 8;

describe('ordering: last set wins over a disk write queued before it', () => {
  const open = useCaches();
  const start = useWorkers();

  it('persist: true — worker sets v1 (write queued), main sets v2 and flushes, v1 lands after: memory and disk say v2', async () => {
    const path = tempDir();
    const v1 = vectorFor(1, 1, DIMS);
    const v2 = vectorFor(1, 2, DIMS);
    const cache = await open({ spill: { path, persist: true } });
    const worker = await raceBusyWriter(
      start,
      cache,
      [['doc-1', v1]],
      () => {
        expect(Array.from(cache.get('doc-1')!)).toEqual(Array.from(v1)); // shared memory: v1 is there
        cache.set('doc-1', v2);
      },
      'set doc-1 = v1',
    );

    expect(Array.from(cache.get('doc-1')!), 'memory after the worker settled').toEqual(Array.from(v2));

    await worker.close();
    await cache.close();

    const again = await open({ spill: { path, persist: true } });
    const onDisk = again.get('doc-1');
    expect(onDisk, 'doc-1 after a restart').toBeDefined();
    expect(Array.from(onDisk!), 'disk after a restart: v2 (v1 = [1, 1, …], v2 = [1, 2, …])').toEqual(
      Array.from(v2),
    );
  });
});
