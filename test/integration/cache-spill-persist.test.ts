/**
 * Warm restarts through the public API. With persist: true every set is written behind, so a
 * cache opened later on the same path serves every entry, bit for bit, under the same keys:
 * the key seed lives in the file and the new cache adopts it. Without persist only evicted
 * entries reach the disk. The file pins the key hash and each model's dimension; a cache that
 * disagrees is refused with an error that names the path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { expectCacheError, expectCacheErrorAsync, textFor, useCaches } from '../helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'embedcache-cache-persist-'));
  dirs.push(dir);
  return dir;
}

const DIMS = 64;

/** Non-integer values with every mantissa bit in use, so any byte out of place shows. */
function vector(i: number, dims = DIMS): Float32Array {
  const v = new Float32Array(dims);
  for (let j = 0; j < dims; j++) v[j] = ((((i * 7919 + j * 31) % 65521) - 32760) / 7) * (j % 2 === 0 ? 1 : -1);
  return v;
}

function expectBitExact(actual: Float32Array | undefined, expected: Float32Array): void {
  expect(actual).toBeInstanceOf(Float32Array);
  expect(actual!.length).toBe(expected.length);
  const a = new Uint32Array(actual!.buffer, actual!.byteOffset, actual!.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  let mismatches = 0;
  for (let j = 0; j < e.length; j++) if (a[j] !== e[j]) mismatches++;
  expect(mismatches).toBe(0);
}

describe('cache spill tier: persist and warm restart', () => {
  const open = useCaches();

  it('persist: true — a new cache on the same path serves every entry bit-exact', async () => {
    const path = tempDir();
    const n = 300;
    const first = await open({ spill: { path, persist: true } });
    for (let i = 0; i < n; i++) first.set(textFor(i), vector(i));
    first.setMany([textFor(n), textFor(n + 1)], [vector(n), vector(n + 1)], { model: 'other' });
    await first.close();

    const second = await open({ spill: { path, persist: true } });
    expect(second.stats().entries).toBe(0); // memory starts empty: nothing was loaded eagerly
    expect(second.stats().spill!.entries).toBe(n + 2);
    for (let i = 0; i < n; i++) expectBitExact(second.get(textFor(i)), vector(i));
    expectBitExact(second.get(textFor(n), { model: 'other' }), vector(n));
    expectBitExact(second.get(textFor(n + 1), { model: 'other' }), vector(n + 1));
    expect(second.get(textFor(n))).toBeUndefined(); // other model, same text
    const s = second.stats();
    expect(s.hits).toBe(n + 2);
    expect(s.spill!.hits).toBe(n + 2);
    expect(s.misses).toBe(1);
  });

  it('keys are stable across restarts with keyHash sha256 too (the seed comes from the file)', async () => {
    const path = tempDir();
    const first = await open({ keyHash: 'sha256', spill: { path, persist: true } });
    for (let i = 0; i < 20; i++) first.set(textFor(i), vector(i), { chunkId: `c${i}` });
    await first.close();
    for (let round = 0; round < 2; round++) {
      const again = await open({ keyHash: 'sha256', spill: { path, persist: true } });
      for (let i = 0; i < 20; i++) {
        expectBitExact(again.get(textFor(i), { chunkId: `c${i}` }), vector(i));
        expect(again.get(textFor(i), { chunkId: `c${i + 1}` })).toBeUndefined();
      }
      await again.close();
    }
  });

  it('a restarted cache keeps writing behind, and a third one sees both generations of writes', async () => {
    const path = tempDir();
    const a = await open({ maxEntries: 16, spill: { path, persist: true } });
    for (let i = 0; i < 100; i++) a.set(textFor(i), vector(i));
    await a.close();
    const b = await open({ maxEntries: 16, spill: { path, persist: true } });
    for (let i = 100; i < 200; i++) b.set(textFor(i), vector(i));
    b.set(textFor(0), vector(1000)); // an overwrite of a persisted entry
    await b.close();
    const c = await open({ spill: { path, persist: true } });
    expectBitExact(c.get(textFor(0)), vector(1000));
    for (let i = 1; i < 200; i++) expectBitExact(c.get(textFor(i)), vector(i));
  });

  it('flush() resolves and makes every set so far durable; stats count the writes', async () => {
    const path = tempDir();
    const cache = await open({ spill: { path, persist: true } });
    for (let i = 0; i < 50; i++) cache.set(textFor(i), vector(i));
    await expect(cache.flush()).resolves.toBeUndefined();
    const s = cache.stats();
    expect(s.spill).toMatchObject({ writes: 50, entries: 50, errors: 0 });
    expect(s.spill!.bytes).toBeGreaterThan(50 * DIMS * 4);
    // Flushing again with nothing queued resolves too, and writes nothing more.
    await cache.flush();
    expect(cache.stats().spill!.writes).toBe(50);
    // A cache without a spill tier has a flush() that resolves and no spill stats.
    const plain = await open();
    await expect(plain.flush()).resolves.toBeUndefined();
    expect(plain.stats().spill).toBeUndefined();
  });

  it('without persist only evicted entries reach the disk; entries still in memory at close are gone', async () => {
    // Observed behaviour: close() flushes what was already handed to the spill tier (the
    // evictions); it does not write the memory tier out. So a restart finds exactly the
    // evicted entries.
    const path = tempDir();
    const first = await open({ maxEntries: 10, spill: { path } });
    for (let i = 0; i < 40; i++) first.set(textFor(i), vector(i));
    const evictions = first.stats().evictions;
    expect(evictions).toBeGreaterThanOrEqual(30);
    await first.close();

    const second = await open({ spill: { path } });
    expect(second.stats().spill!.entries).toBe(evictions);
    let found = 0;
    for (let i = 0; i < 40; i++) {
      const v = second.get(textFor(i));
      if (v !== undefined) {
        expectBitExact(v, vector(i));
        found++;
      }
    }
    expect(found).toBe(evictions);
    expect(found).toBeLessThan(40);

    // Nothing evicted, nothing on disk.
    const other = tempDir();
    const big = await open({ spill: { path: other } });
    for (let i = 0; i < 40; i++) big.set(textFor(i), vector(i));
    await big.close();
    const reopened = await open({ spill: { path: other } });
    expect(reopened.stats().spill!.entries).toBe(0);
    for (let i = 0; i < 40; i++) expect(reopened.get(textFor(i))).toBeUndefined();
  });

  it('reopening with another keyHash is refused with ERR_SPILL_FORMAT naming the path', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1));
    await first.close();
    const err = await expectCacheErrorAsync(() => EmbeddingCache.open({ keyHash: 'sha256', spill: { path } }), 'ERR_SPILL_FORMAT');
    expect(err.message).toContain(path);
    expect(err.message).toContain('sha256');
    // The refusal left the file usable by a matching cache.
    const again = await open({ spill: { path, persist: true } });
    expectBitExact(again.get('x'), vector(1));
  });

  it('a model\'s dims are checked against the file after a restart', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, 8), { model: 'm' });
    await first.close();

    const second = await open({ spill: { path, persist: true } });
    const err = expectCacheError(() => second.set('y', vector(2, 16), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
    expect(err.message).toContain(path);
    // Another model is free to use another size.
    second.set('y', vector(2, 16), { model: 'n' });
    expectBitExact(second.get('y', { model: 'n' }), vector(2, 16));
  });

  it('a refused set of the wrong size leaves the model usable at its file size', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, 8), { model: 'm' });
    await first.close();

    const second = await open({ spill: { path, persist: true } });
    expectCacheError(() => second.set('y', vector(2, 16), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
    // The refused vector must not have fixed the model's size in memory: the persisted entry
    // still reads back (a get never throws for it) and vectors of the file's size still store.
    expectBitExact(second.get('x', { model: 'm' }), vector(1, 8));
    second.set('z', vector(3, 8), { model: 'm' });
    expectBitExact(second.get('z', { model: 'm' }), vector(3, 8));
  });

  it('after a restart the first vector of a model read from disk fixes its size in memory', async () => {
    const path = tempDir();
    const first = await open({ spill: { path, persist: true } });
    first.set('x', vector(1, 8), { model: 'm' });
    await first.close();
    const second = await open({ spill: { path, persist: true } });
    expectBitExact(second.get('x', { model: 'm' }), vector(1, 8)); // promotes: memory learns 8
    expectCacheError(() => second.set('y', vector(2, 16), { model: 'm' }), 'ERR_DIMENSION_MISMATCH');
    second.set('y', vector(2, 8), { model: 'm' });
    expectBitExact(second.get('y', { model: 'm' }), vector(2, 8));
  });
});
