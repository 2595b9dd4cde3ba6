/**
 * A Piscina embedding worker sharing the cache (see piscina-workers.ts). In your project the
 * import is 'embedcache/worker'.
 */
import { workerData } from 'node:worker_threads';
import { cacheFromWorkerData, getOrCompute } from '../src/threads/worker.js';

const cache = await cacheFromWorkerData(workerData);

/** Your model goes here; this one maps a text to a tiny vector. */
async function model(texts: string[]): Promise<number[][]> {
  return texts.map((t) => [t.length, t.split(' ').length, t.charCodeAt(0)]);
}

export default async function embed(texts: string[]): Promise<number> {
  const vectors = await getOrCompute(cache, texts, model, { model: 'tiny-v1' });
  return vectors.length; // the vectors stay in the shared cache for every thread
}
