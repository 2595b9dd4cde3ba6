/**
 * What a worker thread needs to use the cache: attach from workerData once, getOrCompute
 * around its model, and pack vectors into one transferable buffer.
 *
 * A pool of embedding workers sharing one cache (main thread):
 *
 *   const cache = await EmbeddingCache.open()
 *   const pool = new Piscina({ filename: './embed-worker.js', workerData: { cache: cache.handle } })
 *
 * and the worker (embed-worker.js):
 *
 *   import { workerData } from 'node:worker_threads'
 *   import { cacheFromWorkerData, getOrCompute } from 'embedcache/worker'
 *   const cache = await cacheFromWorkerData(workerData)
 *   export default (texts) => getOrCompute(cache, texts, (missing) => model.embed(missing))
 *
 * Every worker then sees the vectors every other worker stored, and a text two workers ask for
 * at once is embedded once (getOrCompute's single-flight spans threads).
 *
 * Why pack: a Piscina result is structured-cloned unless it is marked for transfer, and only a
 * top-level transferable is moved. packVectors() puts any number of vectors in one ArrayBuffer
 * (return `move(packVectors(vs))` from a Piscina task); unpackVectors() gives views into it, no
 * copy:
 *
 *   word 0        count n
 *   words 1..n    length of vector i, or -1 for "none" (a miss)
 *   then          the floats of every present vector, back to back
 */
import { type CacheHandle, EmbeddingCache, HANDLE_TAG } from '../cache.js';
import { describe, EmbeddingCacheError } from '../errors.js';

export { getOrCompute } from '../cache.js';
export type { EmbedFunction } from '../compute/get-or-compute.js';
export type { GetOrComputeOptions } from '../options.js';

/** One attach per handle per thread: workers call cacheFromWorkerData() freely. */
const attached = new WeakMap<object, Promise<EmbeddingCache>>();

function looksLikeHandle(v: unknown): v is CacheHandle {
  return typeof v === 'object' && v !== null && (v as { tag?: unknown }).tag === HANDLE_TAG;
}

/**
 * The cache whose handle is `workerData[key]` (or `workerData` itself when it is a handle),
 * attached once per thread: later calls return the same instance.
 */
export function cacheFromWorkerData(workerData: unknown, key = 'cache'): Promise<EmbeddingCache> {
  let handle: unknown = workerData;
  if (!looksLikeHandle(workerData)) {
    if (
      typeof workerData !== 'object' ||
      workerData === null ||
      !looksLikeHandle((workerData as Record<string, unknown>)[key])
    ) {
      return Promise.reject(
        new EmbeddingCacheError(
          'ERR_INVALID_HANDLE',
          `cacheFromWorkerData(): workerData.${key} is not a cache handle (got ${describe(workerData)}). ` +
            `Start the worker (or Piscina pool) with workerData: { ${key}: cache.handle }.`,
        ),
      );
    }
    handle = (workerData as Record<string, unknown>)[key];
  }
  const h = handle as CacheHandle;
  let p = attached.get(h);
  if (p === undefined) {
    p = EmbeddingCache.attach(h);
    attached.set(h, p);
  }
  return p;
}

/** Packs vectors (undefined = none) into one ArrayBuffer; see the format above. */
export function packVectors(vectors: readonly (ArrayLike<number> | undefined)[]): ArrayBuffer {
  const n = vectors.length;
  let floats = 0;
  for (let i = 0; i < n; i++) floats += vectors[i]?.length ?? 0;
  const buffer = new ArrayBuffer(4 * (1 + n + floats));
  const head = new Int32Array(buffer, 0, 1 + n);
  const body = new Float32Array(buffer, 4 * (1 + n), floats);
  head[0] = n;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    if (v === undefined) {
      head[1 + i] = -1;
      continue;
    }
    head[1 + i] = v.length;
    body.set(v, at);
    at += v.length;
  }
  return buffer;
}

/** Views into a packVectors() buffer, in order; undefined where none was packed. */
export function unpackVectors(buffer: ArrayBuffer): (Float32Array | undefined)[] {
  const n = new Int32Array(buffer, 0, 1)[0]!;
  const head = new Int32Array(buffer, 4, n);
  const out = new Array<Float32Array | undefined>(n);
  let at = 4 * (1 + n);
  for (let i = 0; i < n; i++) {
    const len = head[i]!;
    if (len < 0) {
      out[i] = undefined;
      continue;
    }
    out[i] = new Float32Array(buffer, at, len);
    at += 4 * len;
  }
  return out;
}
