/**
 * Eviction (eviction.ts): the CLOCK sweep keeps entries read since the hand last passed over
 * entries never read; every live entry pushed out reaches the evict hook exactly once, with its
 * key, model and vector; expired entries go without a second chance and count as expirations.
 *
 * The CLOCK and expiry tests run under both bounds that make a writer sweep: maxEntries (the
 * victim's count passes to the writer) and maxBytes (a page full, no page left to commit); the
 * hook test also with two classes at maxEntries and with pages moving between classes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SharedStore } from '../../../src/memory/store.js';
import { NONE, pageLayout } from '../../../src/memory/layout.js';
import { rng, vectorFor } from '../../support/data.mjs';
import { expectVector } from '../../support/expect.js';
import {
  addModel,
  bytesForPages,
  createStore,
  entryOfKey,
  keyOf,
  type ModelRef,
  sameVector,
} from '../../support/store.js';

/** A store bounded to `n` entries one way or the other, with model 'm' of `dims` floats. */
interface Bounded {
  name: string;
  open(): { store: SharedStore; m: ModelRef; n: number };
}

const BY_ENTRIES: Bounded = {
  name: 'maxEntries',
  open() {
    const store = createStore({ maxEntries: 64 });
    return { store, m: addModel(store, 'm', 16), n: 64 };
  },
};
const BY_BYTES: Bounded = {
  name: 'maxBytes',
  open() {
    // One page of 1,024-float entries: 62 of them.
    const store = createStore({ maxBytes: bytesForPages(1) });
    return { store, m: addModel(store, 'm', 1024), n: pageLayout(1024).slots };
  },
};

interface Evicted {
  id: number;
  model: number;
  vector: Float32Array;
  expiresAt: number;
}

/** Collects what the evict hook receives (copied: the key and vector are only valid during the call). */
function collectEvictions(store: SharedStore): Evicted[] {
  const out: Evicted[] = [];
  store.evictHook = (key, model, vector, expiresAt) => {
    out.push({ id: key[1]!, model, vector: vector.slice(), expiresAt });
  };
  return out;
}

describe('memory: eviction', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const bound of [BY_ENTRIES, BY_BYTES]) {
    it(`(${bound.name}) CLOCK: entries read since they were set survive a sweep over unread ones`, () => {
      const { store, m, n } = bound.open();
      for (let i = 0; i < n; i++) store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, 1, m.dims), 0);
      expect(store.entries()).toBe(n);
      expect(store.counters.totals().evictions).toBe(0);

      const read = [...Array(n).keys()].filter((i) => i % 2 === 0);
      for (const i of read) expectVector(store.get(keyOf(i), 0, m.id, 0), vectorFor(i, 1, m.dims));

      const half = Math.floor(n / 2);
      for (let j = 0; j < half; j++) store.set(keyOf(n + j), 0, m.id, m.cls, vectorFor(n + j, 1, m.dims), 0);
      expect(store.entries()).toBe(n);
      expect(store.counters.totals().evictions).toBe(half);
      expect(store.checkInvariants()).toEqual([]);

      const alive = (i: number) => entryOfKey(store, m.cls, m.dims, keyOf(i)) !== NONE;
      const survivors = read.filter(alive).length;
      console.log(`${bound.name}: ${survivors} of ${read.length} read entries survived ${half} new sets`);
      expect(survivors, 'read entries evicted in favour of unread ones').toBeGreaterThanOrEqual(
        Math.ceil(0.8 * read.length),
      );
      for (const i of read.filter(alive))
        expectVector(store.get(keyOf(i), 0, m.id, 0), vectorFor(i, 1, m.dims));
    });
  }

  const hookCases: { name: string; keys: number; open: () => { store: SharedStore; models: ModelRef[] } }[] =
    [
      {
        // Two classes under one maxEntries.
        name: 'maxEntries, two models',
        keys: 20,
        open: () => {
          const store = createStore({ maxEntries: 12 });
          return { store, models: [addModel(store, 'a', 8), addModel(store, 'b', 24)] };
        },
      },
      // 62 entries a page, 100 keys.
      { name: 'maxBytes, one page', keys: 100, open: () => ({ store: BY_BYTES.open().store, models: [] }) },
      {
        // Two pages, two classes of large vectors: pages move between classes (a page's entries
        // leave through the hook when it is taken).
        name: 'maxBytes, two classes competing for two pages',
        keys: 8,
        open: () => {
          const store = createStore({ maxBytes: bytesForPages(2) });
          return { store, models: [addModel(store, 'a', 20_000), addModel(store, 'b', 30_000)] };
        },
      },
    ];

  for (const c of hookCases) {
    it(`(${c.name}) the evict hook gets every evicted live entry exactly once, with its key and vector`, () => {
      const opened = c.open();
      const store = opened.store;
      const models = opened.models.length > 0 ? opened.models : [addModel(store, 'm', 1024)];
      const KEYS = c.keys; // per model
      const modelOf = (id: number) => models[Math.floor(id / KEYS)]!;
      const evicted = collectEvictions(store);
      const last = new Map<number, number>(); // id -> version, for what memory should hold
      let hooked = 0;
      let version = 0;
      const r = rng(11);

      for (let step = 0; step < 1500; step++) {
        const id = Math.floor(r() * KEYS * models.length);
        const m = modelOf(id);
        const x = r();
        if (x < 0.7) {
          version++;
          store.set(keyOf(id), 0, m.id, m.cls, vectorFor(id, version, m.dims), 0);
          last.set(id, version);
        } else if (x < 0.85) {
          const v = store.get(keyOf(id), 0, m.id, 0);
          if (v !== undefined)
            expect(sameVector(v, vectorFor(id, last.get(id)!, m.dims)), `step ${step}: get ${id}`).toBe(true);
        } else {
          store.delete(keyOf(id), 0, m.id, 0);
          last.delete(id);
        }

        const where = `step ${step} (id ${id})`;
        for (const e of evicted.splice(0)) {
          hooked++;
          // Live at the time (a second report of one entry finds it gone from the model).
          expect(last.has(e.id), `${where}: hook got id ${e.id}, not live (or reported twice)`).toBe(true);
          expect(e.model, `${where}: model of id ${e.id}`).toBe(modelOf(e.id).id);
          expect(e.expiresAt).toBe(0);
          const want = vectorFor(e.id, last.get(e.id)!, modelOf(e.id).dims);
          expect(sameVector(e.vector, want), `${where}: vector of id ${e.id}`).toBe(true);
          last.delete(e.id);
        }
        // Memory holds exactly what was set and neither deleted nor reported to the hook.
        if (step % 5 === 0) {
          for (let k = 0; k < KEYS * models.length; k++) {
            const km = modelOf(k);
            const present = entryOfKey(store, km.cls, km.dims, keyOf(k)) !== NONE;
            expect(present, `${where}: id ${k} present in memory vs the model`).toBe(last.has(k));
          }
        }
        expect(store.entries(), where).toBe(last.size);
      }
      expect(store.checkInvariants()).toEqual([]);
      const totals = store.counters.totals();
      expect(hooked, 'nothing was evicted: the test did not exercise eviction').toBeGreaterThan(100);
      expect(totals.evictions).toBe(hooked);
      expect(totals.expirations).toBe(0);
    });
  }

  it("(maxEntries) a model with no entry to give up evicts another model's unread entry, through the hook", () => {
    const store = createStore({ maxEntries: 12 });
    const a = addModel(store, 'a', 8);
    const b = addModel(store, 'b', 24);
    const evicted = collectEvictions(store);
    for (let i = 0; i < 12; i++) store.set(keyOf(i), 0, a.id, a.cls, vectorFor(i, 1, 8), 0);
    for (let i = 0; i < 6; i++) store.get(keyOf(i), 0, a.id, 0);

    store.set(keyOf(100), 0, b.id, b.cls, vectorFor(100, 1, 24), 0);
    expectVector(store.get(keyOf(100), 0, b.id, 0), vectorFor(100, 1, 24));
    expect(evicted.length).toBe(1);
    const e = evicted[0]!;
    expect(e.model).toBe(a.id);
    expect(e.id, 'a read entry was evicted while unread ones were there').toBeGreaterThanOrEqual(6);
    expectVector(e.vector, vectorFor(e.id, 1, 8));
    expect(store.has(keyOf(e.id), 0, a.id, 0)).toBe(false);
    expect(store.entries()).toBe(12);
    expect(store.counters.totals().evictions).toBe(1);
    expect(store.checkInvariants()).toEqual([]);
  });

  for (const bound of [BY_ENTRIES, BY_BYTES]) {
    it(`(${bound.name}) expired entries are reclaimed before live ones, even read ones, as expirations`, () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const t0 = 1_700_000_000_000;
      vi.setSystemTime(t0);
      const { store, m, n } = bound.open();
      const evicted = collectEvictions(store);
      // Every other entry expires at t0 + 1 s; all are read once (so all are referenced).
      const expiring = (i: number) => i % 2 === 1;
      for (let i = 0; i < n; i++)
        store.set(keyOf(i), 0, m.id, m.cls, vectorFor(i, 1, m.dims), expiring(i) ? t0 + 1000 : 0);
      for (let i = 0; i < n; i++)
        expectVector(store.get(keyOf(i), 0, m.id, store.clock()), vectorFor(i, 1, m.dims));

      vi.setSystemTime(t0 + 2000);
      const expired = [...Array(n).keys()].filter(expiring);
      for (let j = 0; j < expired.length; j++)
        store.set(keyOf(n + j), 0, m.id, m.cls, vectorFor(n + j, 1, m.dims), 0);

      const present = (i: number) => entryOfKey(store, m.cls, m.dims, keyOf(i)) !== NONE;
      expect(expired.filter(present), 'expired entries still held').toEqual([]);
      const live = [...Array(n).keys()].filter((i) => !expiring(i));
      expect(
        live.filter((i) => !present(i)),
        'live entries evicted while expired ones were there',
      ).toEqual([]);
      const totals = store.counters.totals();
      expect(totals.expirations).toBe(expired.length);
      expect(totals.evictions).toBe(0);
      expect(evicted, 'expired entries went to the evict hook').toEqual([]);
      expect(store.entries()).toBe(n);
      expect(store.checkInvariants()).toEqual([]);
    });
  }

  it('an expired entry a reader finds is reclaimed at once, counted as an expiration', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const t0 = 1_700_000_000_000;
    vi.setSystemTime(t0);
    const store = createStore();
    const m = addModel(store, 'm', 8);
    store.set(keyOf(1), 0, m.id, m.cls, vectorFor(1, 1, 8), t0 + 100);
    store.set(keyOf(2), 0, m.id, m.cls, vectorFor(2, 1, 8), 0);
    expect(store.has(keyOf(1), 0, m.id, store.clock())).toBe(true);
    vi.setSystemTime(t0 + 100); // expiresAt is exclusive: expired at that very ms
    expect(store.get(keyOf(1), 0, m.id, store.clock())).toBeUndefined();
    expect(entryOfKey(store, m.cls, 8, keyOf(1))).toBe(NONE);
    expect(store.entries()).toBe(1);
    expect(store.counters.totals().expirations).toBe(1);
    expect(store.counters.totals().evictions).toBe(0);
    expect(store.checkInvariants()).toEqual([]);
  });
});
