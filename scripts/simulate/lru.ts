/**
 * Exact LRU over a Map used as an ordered set (insertion order = recency order, the first key is
 * the least recently used). Reproduces the published LRU figures of the traces' README exactly.
 */
import type { Policy } from './policy.js';

export function lru(capacity: number): Policy {
  const m = new Map<number, true>();
  return {
    name: 'LRU',
    access(key: number): boolean {
      if (m.delete(key)) {
        m.set(key, true);
        return true;
      }
      if (capacity <= 0) return false;
      if (m.size >= capacity) m.delete(m.keys().next().value!);
      m.set(key, true);
      return false;
    },
  };
}
