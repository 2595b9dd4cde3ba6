/**
 * 10k entries of 768-d with ~1 KB chunk texts: everything inserted stays, spread-out reads all
 * hit with the right vector, misses stay misses, memory stays inside maxBytes, and stats()
 * counts every operation exactly. Correctness only; no timing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { DIMS, mismatch, texts, vectors } from '../support/scale.js';

const N = 10_000;
const GETS = 1_000;
const MISSES = 100;
const MAX_BYTES = 64 * 1024 * 1024;

describe('10k entries of 768-d', () => {
  const open = useCaches('all');
  let cache: EmbeddingCache;

  beforeAll(async () => {
    cache = await open({ maxBytes: MAX_BYTES, expectedEntries: N });
    for (let i = 0; i < N; i++) cache.set(texts.text(i), vectors.at(i));
  });

  it('holds every inserted entry, within maxBytes', () => {
    const s = cache.stats();
    expect(s.entries).toBe(N);
    expect(s.sets).toBe(N);
    expect(s.evictions).toBe(0);
    expect(s.maxBytes).toBe(MAX_BYTES);
    expect(s.memoryBytes).toBeLessThanOrEqual(MAX_BYTES);
    // The vectors alone are N × 3072 bytes: an estimate below that would be a lie.
    expect(s.memoryBytes).toBeGreaterThanOrEqual(N * DIMS * 4);
  });

  it('serves 1k gets spread over the whole key range, each with its own vector', () => {
    const wrong: number[] = [];
    for (let k = 0; k < GETS; k++) {
      // Every tenth key, shifted by k % 10, so the reads cover the range and every residue.
      const i = k * (N / GETS) + (k % 10);
      if (mismatch(cache.get(texts.text(i)), i) !== -1) wrong.push(i);
    }
    expect(wrong).toEqual([]);
  });

  it('answers keys never inserted with a miss', () => {
    let hits = 0;
    for (let m = 0; m < MISSES; m++) if (cache.get(texts.text(N + 1 + m * 7)) !== undefined) hits++;
    expect(hits).toBe(0);
  });

  it('counts every operation exactly, and the shared structures are consistent', () => {
    const s = cache.stats();
    expect(s).toMatchObject({
      entries: N,
      sets: N,
      hits: GETS,
      misses: MISSES,
      evictions: 0,
      expirations: 0,
      invalidations: 0,
      deletes: 0,
      lockTakeovers: 0,
    });
    expect(s.hitRate).toBeCloseTo(GETS / (GETS + MISSES), 12);
    expect(s.hitRate).toBeGreaterThan(0.9);
    expect(cache.checkInvariants()).toEqual([]);
  });
});
