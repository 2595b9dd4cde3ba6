/**
 * The busy-writer race shared by the ordering tests: a worker (fixtures/ordering-busy-writer.mjs)
 * stores `sets` and then keeps its thread busy, so the disk writes it queued cannot go out; the
 * main thread runs `mainStep` (a delete or a later set) and flushes in that window; then the
 * worker's turn ends and its queued writes land — after the main thread's. The helper checks the
 * interleaving really happened and returns a `close` for the worker.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { expect } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { nextMessage, signal, waitFlag } from '../support/workers.js';

const fixture = new URL('./fixtures/ordering-busy-writer.mjs', import.meta.url);
const SET_DONE = 0;
const MAIN_DONE = 1;
export const BUSY_MS = 200;

interface Flushed {
  type: 'flushed';
  busyFor: number;
  mainDoneInTime: boolean;
}

/** Runs the race; resolves once the worker's queued writes have landed. */
export async function raceBusyWriter(
  start: (file: URL, options?: WorkerOptions) => Worker,
  cache: EmbeddingCache,
  sets: [string, Float32Array][],
  mainStep: () => void,
  what: string,
): Promise<{ close: () => Promise<void> }> {
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const worker = start(fixture, {
    workerData: { handle: cache.handle, ctl: ctl.buffer, busyMs: BUSY_MS, sets },
  });
  const flushed = nextMessage<Flushed>(worker, 'flushed');

  await waitFlag(ctl, SET_DONE, 1, `worker ${what}`);
  mainStep();
  await cache.flush();
  signal(ctl, MAIN_DONE, 1);

  const f = await flushed;
  expect(
    f.mainDoneInTime,
    'the main step and flush ran while the worker was busy (its write still queued)',
  ).toBe(true);
  expect(f.busyFor).toBeGreaterThanOrEqual(BUSY_MS);
  return {
    close: async () => {
      worker.postMessage({ type: 'close' });
      await nextMessage(worker, 'closed');
    },
  };
}
