/**
 * The real cache as a policy: an EmbeddingCache with maxEntries = the capacity; an access is a
 * `get` of the key's text, and on a miss a `set` of a small vector.
 */
import { EmbeddingCache } from '../../src/index.js';
import type { Policy } from './policy.js';

export async function embedcache(capacity: number): Promise<Policy & { close(): Promise<void> }> {
  const cache = await EmbeddingCache.open({
    maxEntries: capacity,
    maxBytes: 64 * 1024 * 1024,
    expectedEntries: capacity,
  });
  const v = new Float32Array(4);
  return {
    name: 'embedcache',
    access(key: number): boolean {
      const text = String(key);
      if (cache.get(text) !== undefined) return true;
      v[0] = key;
      cache.set(text, v);
      return false;
    },
    close: () => cache.close(),
  };
}
