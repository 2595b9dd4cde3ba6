/**
 * Support for the scale tests: realistic chunk texts and cheap deterministic vectors (from
 * bench/lib/texts.ts, so the tests and the benchmarks exercise the same data), and a whole-vector
 * comparison that reports the first differing element instead of diffing 768 numbers per entry.
 */
import { EmbeddingCache, type CacheOptions } from '../../src/index.js';
import { TextSource, VectorSource } from '../../bench/lib/texts.js';

export const DIMS = 768;
export const texts = new TextSource(1024);
export const vectors = new VectorSource(DIMS);

/** Index of the first element where `actual` differs from vector i, -1 if equal, -2 if absent. */
export function mismatch(actual: Float32Array | undefined, i: number): number {
  if (actual === undefined) return -2;
  const expected = vectors.at(i);
  if (actual.length !== expected.length) return actual.length;
  for (let d = 0; d < expected.length; d++) if (actual[d] !== expected[d]) return d;
  return -1;
}

/** Opens caches and closes them all at the end of a test file. */
export function cacheOpener(): { open(o: CacheOptions): Promise<EmbeddingCache>; closeAll(): Promise<void> } {
  const opened: EmbeddingCache[] = [];
  return {
    async open(o) {
      const c = await EmbeddingCache.open(o);
      opened.push(c);
      return c;
    },
    async closeAll() {
      for (const c of opened.splice(0)) await c.close();
    },
  };
}
