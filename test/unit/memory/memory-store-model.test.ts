/**
 * SharedStore against a Map model: seeded random sequences of set/get/getInto/has/delete (and a
 * few invalidate/clear) over a small key space, checked after every step, with checkInvariants()
 * empty after every step.
 *
 * Keys are 128-bit words chosen so that several share a bucket (long chains, unlinks from the
 * middle) and several share a first word; two models of different dimensions (two classes)
 * hold disjoint keys (in the cache a key hashes its model in, so a key has one model).
 *
 * (a) maxEntries far above the key space: the store must behave exactly like the Map, counters
 *     included.
 * (b) small maxEntries: entries() <= maxEntries, and any hit is exactly the last vector set
 *     for that key; the entry just set is readable at once.
 * (c) maxBytes of a few pages and vectors of tens of thousands of floats: the two classes must
 *     take pages from each other; the same holds, and memory stays within maxBytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SharedStore } from '../../../src/memory/store.js';
import { vectorFor } from '../../support/data.mjs';
import {
  addModel,
  bytesForPages,
  createStore,
  keyOf,
  type ModelRef,
  sameVector,
} from '../../support/store.js';

/** Keys per model; key id = model * KEYS_PER_MODEL + index. */
const KEYS_PER_MODEL = 6;
const MODELS = 2;
/** Key id → first key word: three buckets for all keys, and ids 0/3/6/9 share a first word. */
const keyFor = (id: number): Int32Array => keyOf(id, (id % 3) + 1024 * Math.floor(id / 6));

type Op =
  | { op: 'set' | 'get' | 'getInto' | 'has' | 'delete'; id: number }
  | { op: 'invalidate'; m: number }
  | { op: 'clear' };

const idArb = fc.integer({ min: 0, max: KEYS_PER_MODEL * MODELS - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: idArb.map((id) => ({ op: 'set' as const, id })) },
  { weight: 5, arbitrary: idArb.map((id) => ({ op: 'get' as const, id })) },
  { weight: 3, arbitrary: idArb.map((id) => ({ op: 'getInto' as const, id })) },
  { weight: 3, arbitrary: idArb.map((id) => ({ op: 'has' as const, id })) },
  { weight: 4, arbitrary: idArb.map((id) => ({ op: 'delete' as const, id })) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: MODELS - 1 }).map((m) => ({ op: 'invalidate' as const, m })),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);
const opsArb = fc.array(opArb, { minLength: 1, maxLength: 60 });

/** Runs `ops` on `store`; exact: property (a), else (b)/(c). Returns the evictions counted. */
function run(store: SharedStore, dims: readonly number[], ops: Op[], exact: boolean): number {
  const models: ModelRef[] = dims.map((d, m) => addModel(store, `m${m}`, d));
  const modelOf = (id: number): ModelRef => models[Math.floor(id / KEYS_PER_MODEL)]!;
  const last = new Map<number, number>(); // key id -> version of its last set, while it should be there
  const count = { hits: 0, misses: 0, sets: 0, deletes: 0 };
  let version = 0;
  const expected = (id: number): Float32Array => vectorFor(id, last.get(id)!, modelOf(id).dims);

  const checkHit = (id: number, got: ArrayLike<number> | undefined, where: string): void => {
    if (got === undefined) {
      if (exact) expect(last.has(id), `${where}: miss on a key the model holds`).toBe(false);
      count.misses++;
      return;
    }
    count.hits++;
    expect(last.has(id), `${where}: hit on a key never set, or deleted, invalidated or cleared`).toBe(true);
    expect(sameVector(got, expected(id)), `${where}: not the last vector set`).toBe(true);
  };

  for (const [step, o] of ops.entries()) {
    const where = `step ${step} ${JSON.stringify(o)}`;
    switch (o.op) {
      case 'set': {
        const m = modelOf(o.id);
        version++;
        store.set(keyFor(o.id), 0, m.id, m.cls, vectorFor(o.id, version, m.dims), 0);
        last.set(o.id, version);
        count.sets++;
        if (!exact) {
          const got = store.get(keyFor(o.id), 0, m.id, store.clock());
          expect(got, `${where}: the entry just set is missing`).toBeDefined();
          checkHit(o.id, got, where);
        }
        break;
      }
      case 'get':
        checkHit(o.id, store.get(keyFor(o.id), 0, modelOf(o.id).id, store.clock()), where);
        break;
      case 'getInto': {
        // Into the middle of a larger array: the rest must stay untouched, hit or miss.
        const d = modelOf(o.id).dims;
        const out = new Float32Array(d + 3).fill(-0.5);
        const hit = store.getInto(keyFor(o.id), 0, modelOf(o.id).id, store.clock(), out, 2);
        checkHit(o.id, hit ? out.subarray(2, 2 + d) : undefined, where);
        expect([out[0], out[1], out[d + 2]], `${where}: getInto wrote outside its range`).toEqual([
          -0.5, -0.5, -0.5,
        ]);
        if (!hit)
          expect(
            out.every((x) => x === -0.5),
            `${where}: a miss wrote into out`,
          ).toBe(true);
        break;
      }
      case 'has': {
        const has = store.has(keyFor(o.id), 0, modelOf(o.id).id, store.clock());
        if (exact) expect(has, where).toBe(last.has(o.id));
        else if (has) expect(last.has(o.id), `${where}: has() true for a dropped key`).toBe(true);
        break;
      }
      case 'delete': {
        const removed = store.delete(keyFor(o.id), 0, modelOf(o.id).id, store.clock());
        if (exact) expect(removed, where).toBe(last.has(o.id));
        else if (removed) expect(last.has(o.id), `${where}: delete() true for a dropped key`).toBe(true);
        if (removed) count.deletes++;
        last.delete(o.id);
        break;
      }
      case 'invalidate': {
        const gen = store.registry.generation(models[o.m]!.id);
        store.invalidate(models[o.m]!.id);
        expect(store.registry.generation(models[o.m]!.id)).toBe(gen + 1);
        for (const id of [...last.keys()]) if (modelOf(id) === models[o.m]) last.delete(id);
        break;
      }
      case 'clear':
        store.clear();
        last.clear();
        break;
    }

    expect(store.checkInvariants(), `${where}: invariants`).toEqual([]);
    expect(store.memoryBytes(), `${where}: memoryBytes`).toBeLessThanOrEqual(store.maxBytes());
    expect(store.entries(), `${where}: entries() above maxEntries`).toBeLessThanOrEqual(
      store.parts.maxEntries,
    );
    const totals = store.counters.totals();
    if (exact) {
      expect(store.entries(), `${where}: entries()`).toBe(last.size);
      expect(
        { hits: totals.hits, misses: totals.misses, sets: totals.sets, deletes: totals.deletes },
        `${where}: counters`,
      ).toEqual(count);
      expect(totals.evictions, `${where}: evictions`).toBe(0);
    } else {
      expect(store.entries(), `${where}: entries() above the keys the model holds`).toBeLessThanOrEqual(
        last.size,
      );
      expect(totals.sets, `${where}: sets`).toBe(count.sets);
    }
  }
  return store.counters.totals().evictions;
}

describe('SharedStore vs a Map model', () => {
  it('(a) without eviction, matches the Map exactly after every step', () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        run(createStore({ maxEntries: 4096 }), [4, 12], ops, true);
      }),
      { seed: 20240501, numRuns: 200 },
    );
  });

  it('(b) with a small maxEntries, entries() <= maxEntries and every hit is the last vector set', () => {
    let evictions = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), opsArb, (maxEntries, ops) => {
        evictions += run(createStore({ maxEntries }), [4, 12], ops, false);
      }),
      { seed: 20240502, numRuns: 200 },
    );
    expect(evictions, 'the runs never evicted: the test did not exercise eviction').toBeGreaterThan(0);
  });

  it('(c) with pages scarce and two classes competing for them, the same holds', () => {
    // 20,000 floats: 3 entries a page; 30,000: 2. Two or three pages in all.
    let evictions = 0;
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3 }), opsArb, (pages, ops) => {
        evictions += run(createStore({ maxBytes: bytesForPages(pages) }), [20_000, 30_000], ops, false);
      }),
      { seed: 20240503, numRuns: 100 },
    );
    expect(evictions, 'the runs never evicted: the test did not exercise eviction').toBeGreaterThan(0);
  });
});
