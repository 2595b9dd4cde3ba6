/**
 * Support for the scale tests: realistic chunk texts and cheap deterministic vectors (from
 * bench/lib/texts.ts, so the tests and the benchmarks exercise the same data), and a whole-vector
 * comparison that reports the first differing element instead of diffing 768 numbers per entry.
 * Caches: useCaches('all') from caches.ts.
 */
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
