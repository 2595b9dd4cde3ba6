/**
 * Ordering: single-flight holds for large calls. Two concurrent getOrCompute() calls over the
 * same 20,000 texts embed each text exactly once between them (20,000 in all), however their
 * batches interleave, and both return every vector, in order.
 *
 * embed is async (it yields once per batch, then answers), so the two calls alternate batch by
 * batch; 20,000 texts are more than the single-flight claim table is sized for at a time.
 */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../support/caches.js';
import { vectorFor } from '../support/data.mjs';

const N = 20_000;
const DIMS = 8;

describe('ordering: single-flight over 20,000 texts', () => {
  const open = useCaches();

  it('two concurrent getOrCompute calls over the same 20,000 texts embed 20,000 texts in all', async () => {
    const cache = await open();
    const texts = Array.from({ length: N }, (_, i) => `single-flight text ${i}`);
    const indexOf = new Map(texts.map((t, i) => [t, i]));
    let embedded = 0;
    let calls = 0;
    const embedCount = new Uint8Array(N);
    const embed = async (missing: string[]): Promise<Float32Array[]> => {
      calls++;
      embedded += missing.length;
      await new Promise<void>((resolve) => setImmediate(resolve));
      return missing.map((t) => {
        const i = indexOf.get(t)!;
        embedCount[i] = Math.min(255, embedCount[i]! + 1);
        return vectorFor(i, 1, DIMS);
      });
    };

    const [a, b] = await Promise.all([cache.getOrCompute(texts, embed), cache.getOrCompute(texts, embed)]);

    expect(a).toHaveLength(N);
    expect(b).toHaveLength(N);
    let wrong = 0;
    for (let i = 0; i < N; i++) {
      for (const v of [a[i], b[i]])
        if (v === undefined || v.length !== DIMS || v[0] !== i || v[1] !== 1) wrong++;
    }
    expect(wrong).toBe(0);
    let twice = 0;
    for (let i = 0; i < N; i++) if (embedCount[i]! > 1) twice++;
    expect(embedded, `texts embedded in ${calls} embed calls; ${twice} texts embedded more than once`).toBe(
      N,
    );
  }, 60_000);
});
