/**
 * Model-based property test: random sequences of set/get/has/delete/getMany/invalidateModel/
 * clear over a small key space, checked after every step against a plain Map.
 *
 * (a) Capacity far above the key space: the cache must behave exactly like the Map, counters
 *     included.
 * (b) Eviction on (few entries, or few bytes with large vectors so pages are scarce and models
 *     compete for them): entries <= maxEntries, memoryBytes <= maxBytes, and a hit is always
 *     exactly the last vector set for that key — never another key's, never a deleted or
 *     invalidated one. The entry just set is readable right away.
 *
 * Vectors come from a counter (vectorFor(keyIndex, version)), so any wrong answer shows which
 * key and which write it came from.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EmbeddingCache, type CacheOptions } from '../../src/index.js';
import { vectorFor } from '../support/data.mjs';

const TEXTS = ['alpha', 'beta', 'gamma', 'alphabeta', ''] as const;
const MODELS = ['m1', 'm2', 'm3'] as const;
const CHUNKS = [undefined, 'c1', 'c2'] as const;

interface Key {
  t: number;
  m: number;
  c: number;
}
type Op =
  | { op: 'set'; k: Key }
  | { op: 'get'; k: Key }
  | { op: 'has'; k: Key }
  | { op: 'delete'; k: Key }
  | { op: 'getMany'; m: number; c: number; ts: number[] }
  | { op: 'setMany'; m: number; c: number; ts: number[] }
  | { op: 'invalidate'; m: number }
  | { op: 'clear' };

const keyArb = fc.record({
  t: fc.integer({ min: 0, max: TEXTS.length - 1 }),
  m: fc.integer({ min: 0, max: MODELS.length - 1 }),
  c: fc.integer({ min: 0, max: CHUNKS.length - 1 }),
});
const textsArb = fc.array(fc.integer({ min: 0, max: TEXTS.length - 1 }), { maxLength: 6 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: keyArb.map((k) => ({ op: 'set' as const, k })) },
  { weight: 5, arbitrary: keyArb.map((k) => ({ op: 'get' as const, k })) },
  { weight: 2, arbitrary: keyArb.map((k) => ({ op: 'has' as const, k })) },
  { weight: 2, arbitrary: keyArb.map((k) => ({ op: 'delete' as const, k })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ m: keyArb.map((k) => k.m), c: keyArb.map((k) => k.c), ts: textsArb })
      .map((r) => ({ op: 'getMany' as const, ...r })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ m: keyArb.map((k) => k.m), c: keyArb.map((k) => k.c), ts: textsArb })
      .map((r) => ({ op: 'setMany' as const, ...r })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: MODELS.length - 1 }).map((m) => ({ op: 'invalidate' as const, m })),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);
const opsArb = fc.array(opArb, { minLength: 1, maxLength: 80 });

const keyId = (t: number, m: number, c: number): number => (m * CHUNKS.length + c) * TEXTS.length + t;
const opts = (m: number, c: number) => ({
  model: MODELS[m]!,
  ...(CHUNKS[c] === undefined ? {} : { chunkId: CHUNKS[c] }),
});

/** Runs `ops` against a fresh cache; `exact` selects property (a), otherwise (b). */
async function run(
  ops: Op[],
  options: CacheOptions,
  dims: readonly number[],
  exact: boolean,
): Promise<number> {
  const cache = await EmbeddingCache.open(options);
  const model = new Map<number, number>(); // key id -> version of the last set
  const count = { hits: 0, misses: 0, sets: 0, deletes: 0 };
  let version = 0;
  const expected = (id: number, m: number) => vectorFor(id, model.get(id)!, dims[m]!);

  const checkRead = (id: number, m: number, got: Float32Array | undefined, where: string): void => {
    if (got === undefined) {
      if (exact) expect(model.has(id), `${where}: miss on a key the model holds`).toBe(false);
      count.misses++;
      return;
    }
    count.hits++;
    expect(model.has(id), `${where}: hit on a key that was never set, deleted or invalidated`).toBe(true);
    expect(Array.from(got), `${where}: wrong vector`).toEqual(Array.from(expected(id, m)));
  };

  try {
    for (const [step, o] of ops.entries()) {
      const where = `step ${step} ${JSON.stringify(o)}`;
      switch (o.op) {
        case 'set': {
          const id = keyId(o.k.t, o.k.m, o.k.c);
          version++;
          cache.set(TEXTS[o.k.t]!, vectorFor(id, version, dims[o.k.m]!), opts(o.k.m, o.k.c));
          model.set(id, version);
          count.sets++;
          if (!exact) {
            // The entry just written must be readable at once.
            const got = cache.get(TEXTS[o.k.t]!, opts(o.k.m, o.k.c));
            expect(got, `${where}: the entry just set is missing`).toBeDefined();
            checkRead(id, o.k.m, got, where);
          }
          break;
        }
        case 'setMany': {
          const vs = o.ts.map((t) => vectorFor(keyId(t, o.m, o.c), version + 1, dims[o.m]!));
          cache.setMany(
            o.ts.map((t) => TEXTS[t]!),
            vs,
            opts(o.m, o.c),
          );
          if (o.ts.length > 0) {
            version++;
            for (const t of o.ts) model.set(keyId(t, o.m, o.c), version);
            count.sets += o.ts.length;
          }
          break;
        }
        case 'get': {
          const id = keyId(o.k.t, o.k.m, o.k.c);
          checkRead(id, o.k.m, cache.get(TEXTS[o.k.t]!, opts(o.k.m, o.k.c)), where);
          break;
        }
        case 'has': {
          const id = keyId(o.k.t, o.k.m, o.k.c);
          const has = cache.has(TEXTS[o.k.t]!, opts(o.k.m, o.k.c));
          if (exact) expect(has, where).toBe(model.has(id));
          else if (has) expect(model.has(id), `${where}: has() true for a dropped key`).toBe(true);
          break;
        }
        case 'getMany': {
          const got = cache.getMany(
            o.ts.map((t) => TEXTS[t]!),
            opts(o.m, o.c),
          );
          expect(got.length).toBe(o.ts.length);
          o.ts.forEach((t, i) => checkRead(keyId(t, o.m, o.c), o.m, got[i], `${where}[${i}]`));
          break;
        }
        case 'delete': {
          const id = keyId(o.k.t, o.k.m, o.k.c);
          const removed = cache.delete(TEXTS[o.k.t]!, opts(o.k.m, o.k.c));
          if (exact) expect(removed, where).toBe(model.has(id));
          else if (removed) expect(model.has(id), `${where}: delete() true for a dropped key`).toBe(true);
          if (removed) count.deletes++;
          model.delete(id);
          break;
        }
        case 'invalidate': {
          cache.invalidateModel(MODELS[o.m]!);
          for (const id of [...model.keys()])
            if (Math.floor(id / (CHUNKS.length * TEXTS.length)) === o.m) model.delete(id);
          break;
        }
        case 'clear':
          cache.clear();
          model.clear();
          break;
      }

      const s = cache.stats();
      expect(s.memoryBytes, `${where}: memoryBytes`).toBeLessThanOrEqual(s.maxBytes);
      if (options.maxBytes !== undefined) expect(s.maxBytes).toBe(options.maxBytes);
      if (options.maxEntries !== undefined)
        expect(s.entries, `${where}: entries`).toBeLessThanOrEqual(options.maxEntries);
      if (exact) {
        expect(s.entries, `${where}: entries`).toBe(model.size);
        expect(
          { hits: s.hits, misses: s.misses, sets: s.sets, deletes: s.deletes },
          `${where}: counters`,
        ).toEqual(count);
        expect(s.evictions).toBe(0);
      } else {
        expect(s.entries, `${where}: entries above the keys alive in the model`).toBeLessThanOrEqual(
          model.size,
        );
        expect(s.sets).toBe(count.sets);
      }
      const problems = (cache as unknown as { checkInvariants?: () => string[] }).checkInvariants?.() ?? [];
      expect(problems, `${where}: internal invariants`).toEqual([]);
    }
    return cache.stats().evictions;
  } finally {
    await cache.close();
  }
}

describe('cache vs a Map model', () => {
  it('(a) without eviction, matches the Map exactly after every step', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
        await run(ops, { maxEntries: 4096 }, [4, 8, 3], true);
      }),
      { numRuns: 300 },
    );
  });

  it('(b1) with maxEntries eviction, bounds hold and hits are always the last vector set', async () => {
    let evictions = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), opsArb, async (maxEntries, ops) => {
        evictions += await run(ops, { maxEntries }, [4, 8, 3], false);
      }),
      { numRuns: 300 },
    );
    expect(evictions, 'the runs never evicted: the test did not exercise eviction').toBeGreaterThan(0);
  });

  it('(b2) with maxBytes eviction and models competing for pages, the same holds', async () => {
    // Vectors of 16k-40k floats: a 256 KiB page holds only a few, and a cache of ~1 MB has
    // room for a handful of pages, so models of different dimensions must take pages from
    // each other.
    let evictions = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 700_000, max: 1_400_000 }), opsArb, async (maxBytes, ops) => {
        evictions += await run(ops, { maxBytes }, [16_384, 40_000, 24_000], false);
      }),
      { numRuns: 150 },
    );
    expect(evictions, 'the runs never evicted: the test did not exercise eviction').toBeGreaterThan(0);
  });
});
