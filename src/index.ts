/**
 * embedcache: a content-hash-keyed embedding cache whose vectors live in shared memory, so the
 * main thread and every worker thread use one cache.
 */
export { EmbeddingCache } from './cache.js';
export type { CacheHandle, CacheStats, KeyOptions, SetOptions } from './cache.js';
export { EmbeddingCacheError } from './errors.js';
export type { EmbeddingCacheErrorCode } from './errors.js';
export type { CacheOptions, SpillOptions } from './options.js';
export { getOrCompute } from './compute/get-or-compute.js';
export type { EmbedFunction, GetOrComputeOptions } from './compute/get-or-compute.js';
