/**
 * Piscina entry of createCachePool(): attach to the cache once (from workerData), then run
 * batch tasks against the shared memory. Stays thin: the work is the cache's, the packing is
 * src/threads/worker.ts's. Results go back as one transferred ArrayBuffer (move()), never cloned.
 *
 * Loaded as built JS (dist/workers/cache-worker.js): worker threads do not get a TS loader.
 */
import { move } from 'piscina';
import { workerData } from 'node:worker_threads';
import type { KeyOptions, SetOptions } from '../src/options.js';
import { EmbeddingCacheError } from '../src/errors.js';
import { cacheFromWorkerData, packVectors, unpackVectors } from '../src/threads/worker.js';

/** A task of the pool; `texts` is a batch (hundreds), never one key. */
export type CacheTask =
  | { op: 'getMany'; texts: string[]; opts?: KeyOptions }
  | { op: 'setMany'; texts: string[]; vectors: ArrayBuffer; opts?: SetOptions }
  | { op: 'hashKeys'; texts: string[]; opts?: KeyOptions };

/** A cache error as it crosses the thread boundary (a cloned Error would lose its code). */
export interface RelayedError {
  relayedError: string;
  message: string;
}

const cache = await cacheFromWorkerData(workerData);

/**
 * Runs one task. Before the result goes back, the disk writes the task queued (sets with
 * persist, entries it evicted) are flushed: Piscina parks an idle worker in Atomics.wait, where
 * its event loop never turns and a write-behind queue would never drain, so a task is
 * acknowledged only once its writes are durable. Without a spill tier flush() costs nothing.
 */
export default async function run(task: CacheTask): Promise<unknown> {
  try {
    const result = dispatch(task);
    await cache.flush();
    return result;
  } catch (e) {
    if (e instanceof EmbeddingCacheError)
      return { relayedError: e.code, message: e.message } satisfies RelayedError;
    throw e;
  }
}

function dispatch(task: CacheTask): unknown {
  switch (task.op) {
    case 'getMany':
      return move(packVectors(cache.getMany(task.texts, task.opts)));
    case 'setMany': {
      const vectors = unpackVectors(task.vectors);
      cache.setMany(task.texts, vectors as Float32Array[], task.opts);
      return task.texts.length;
    }
    case 'hashKeys': {
      const keys = new Int32Array(task.texts.length * 4);
      for (let i = 0; i < task.texts.length; i++) cache.keyWords(task.texts[i]!, task.opts, keys, i * 4);
      return move(keys.buffer);
    }
    default:
      throw new TypeError(`cache worker: unknown op ${JSON.stringify((task as { op?: unknown }).op)}`);
  }
}
