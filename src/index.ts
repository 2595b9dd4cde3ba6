/**
 * embedcache: a content-hash-keyed embedding cache whose vectors live in shared memory, so the
 * main thread and every worker thread use one cache.
 */
export { EmbeddingCache, getOrCompute } from './cache.js';
export type { CacheHandle, CacheStats, RemoteStats } from './cache.js';
export { EmbeddingCacheError } from './errors.js';
export type { EmbeddingCacheErrorCode } from './errors.js';
export type {
  CacheOptions,
  GetOrComputeOptions,
  KeyOptions,
  RemoteClient,
  RemoteOptions,
  SetOptions,
  SpillOptions,
} from './options.js';
export type { EmbedFunction } from './compute/get-or-compute.js';
