/**
 * An entry promoted from the spill tier and evicted again unchanged is not written to disk a
 * second time (its disk copy is still there); one rewritten in memory is.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';

const dirs: string[] = [];
const caches: EmbeddingCache[] = [];
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(): Promise<EmbeddingCache> {
  const path = mkdtempSync(join(tmpdir(), 'embedcache-norewrite-'));
  dirs.push(path);
  const cache = await EmbeddingCache.open({ maxEntries: 64, maxBytes: 8 * 1024 * 1024, spill: { path } });
  caches.push(cache);
  return cache;
}

const N = 400;
const vec = (i: number, version = 0) => new Float32Array(32).fill(i + version * 1000);

describe('spill: promoted entries are not written back', () => {
  it('a second pass over disk-resident keys writes nothing, and every read is exact', async () => {
    const cache = await open();
    for (let i = 0; i < N; i++) cache.set(`t${i}`, vec(i));
    for (let pass = 0; pass < 2; pass++) {
      await cache.flush();
      const before = cache.stats().spill!.writes;
      for (let i = 0; i < N; i++) expect(cache.get(`t${i}`)?.[0]).toBe(i);
      await cache.flush();
      const written = cache.stats().spill!.writes - before;
      // First pass: only the entries that had never left memory (at most maxEntries) are new on disk.
      if (pass === 0) expect(written).toBeLessThanOrEqual(64);
      else expect(written).toBe(0);
    }
  });

  it('an entry rewritten after its promotion is written again when evicted', async () => {
    const cache = await open();
    for (let i = 0; i < N; i++) cache.set(`t${i}`, vec(i));
    await cache.flush();
    expect(cache.get('t0')?.[0]).toBe(0); // promoted from disk
    cache.set('t0', vec(0, 1)); // rewritten in memory
    for (let i = N; i < N + 200; i++) cache.set(`t${i}`, vec(i)); // push t0 out again
    await cache.flush();
    expect(cache.get('t0')?.[0]).toBe(1000); // the new value came back from disk
  });
});
