/**
 * The cache handle: what another thread needs to attach to a cache (the shared buffers and the
 * resolved options), structured-cloneable so it passes through workerData or postMessage.
 */
import type { StoreParts } from './memory/store.js';
import type { ResolvedOptions } from './options.js';

export const HANDLE_TAG = 'embedcache.handle';
export const HANDLE_VERSION = 2;

/**
 * What `cache.handle` holds: the shared buffers and the options, nothing else. It is
 * structured-cloneable: pass it in `workerData` or `postMessage`, then `EmbeddingCache.attach()`.
 */
export interface CacheHandle {
  readonly tag: typeof HANDLE_TAG;
  readonly version: number;
  readonly parts: StoreParts;
  readonly options: ResolvedOptions;
  /** Shared table of keys being computed right now (getOrCompute's single-flight). */
  readonly inflight: SharedArrayBuffer;
  /** With a spill tier: the ring every thread posts its disk writes to (spill/handoff.ts). */
  readonly handoff: SharedArrayBuffer | null;
}

/** Bytes of the single-flight table (see src/compute/inflight.ts). */
export const INFLIGHT_BYTES = 256 * 1024;

/** Whether `h` is a cache handle of this version (as cache.handle returns it). */
export function isCacheHandle(h: unknown): h is CacheHandle {
  if (typeof h !== 'object' || h === null) return false;
  const c = h as Partial<CacheHandle>;
  return (
    c.tag === HANDLE_TAG &&
    c.version === HANDLE_VERSION &&
    typeof c.parts === 'object' &&
    c.parts !== null &&
    c.parts.control instanceof SharedArrayBuffer &&
    Array.isArray(c.parts.arenas) &&
    c.parts.arenas.every((a) => a instanceof SharedArrayBuffer) &&
    c.inflight instanceof SharedArrayBuffer &&
    (c.handoff === null || c.handoff instanceof SharedArrayBuffer) &&
    typeof c.options === 'object' &&
    c.options !== null
  );
}
