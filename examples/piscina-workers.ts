/**
 * Your own Piscina pool of embedding workers, all sharing one cache: a text any worker has
 * embedded is a hit in every other worker and in this thread.
 *
 *   npx tsx examples/piscina-workers.ts
 *
 * The worker is TypeScript here, so Piscina starts it through a small tsx shim
 * (embed-worker-loader.mjs); with built JS, point Piscina at the .js worker itself. In your
 * project the import is 'embedcache'.
 */
import { Piscina } from 'piscina';
import { EmbeddingCache } from '../src/index.js';

const cache = await EmbeddingCache.open({ maxBytes: 64 * 1024 ** 2 });
const pool = new Piscina({
  filename: new URL('./embed-worker-loader.mjs', import.meta.url).href, // loads ./embed-worker.ts
  workerData: { cache: cache.handle }, // each worker attaches with cacheFromWorkerData(workerData)
  maxThreads: 2,
});

const docs = ['first chunk of text', 'second chunk', 'first chunk of text', 'a third one'];
// Batches of texts per task (one Piscina task per key would cost more than the lookup).
await Promise.all([pool.run(docs), pool.run(docs.slice().reverse())]);

console.log(cache.get('second chunk', { model: 'tiny-v1' })); // embedded by a worker, read here
console.log(cache.stats());
await pool.destroy();
await cache.close();
