/**
 * Recovery from a writer that died inside clear() (or a page steal): it held every stripe lock
 * and left a page with an odd epoch, half-erased, which would shut every reader of that page
 * out for ever. The next writer takes the dead thread's locks over — the first after
 * lockTimeoutMs, the rest at once through the dead-token ring — and the integrity pass drops
 * the page's entries and reopens it, so reads and writes work again and invariants hold.
 *
 * The dead thread is simulated in place: its token written into every stripe lock's owner word
 * and an odd epoch on page 0, exactly what a worker terminated mid-clear leaves behind.
 */
import { describe, expect, it } from 'vitest';
import { L_OWNER, LOCK_WORDS, LOCKS, PG_EPOCH, STRIPES, pageBase } from '../../../src/memory/layout.js';
import { SharedStore } from '../../../src/memory/store.js';
import { addModel, createStore, keyOf, sameVector } from '../../support/store.js';

const DIMS = 8;
const DEAD_TOKEN = 9_999;

function vec(i: number): Float32Array {
  return Float32Array.from({ length: DIMS }, (_, j) => i * 100 + j);
}

describe('memory recovery: a writer dead inside clear()', () => {
  it('one lock timeout, then the half-cleared page is dropped and reopened; reads and writes work', () => {
    const store = createStore({ lockTimeoutMs: 40 });
    const m = addModel(store, 'm', DIMS);
    for (let i = 0; i < 20; i++) store.set(keyOf(i), 0, m.id, m.cls, vec(i), 0);

    // The dead clear(): every stripe lock held by a token that no longer runs, page 0 mid-erase.
    const ctl = new Int32Array(store.parts.control);
    for (let l = 0; l < STRIPES; l++) ctl[LOCKS + l * LOCK_WORDS + L_OWNER] = DEAD_TOKEN;
    const page0 = new Int32Array(store.parts.arenas[0]!);
    Atomics.add(page0, pageBase(0) + PG_EPOCH, 1);
    expect(store.checkInvariants()).toContain('page 0: odd epoch');

    const t = performance.now();
    store.set(keyOf(100), 0, m.id, m.cls, vec(100), 0); // takes its stripe over, then fsck takes the rest
    const elapsed = performance.now() - t;
    expect(elapsed).toBeLessThan(40 * 20); // about one timeout, not one per lock (1,024 × 40 ms)

    // The page was dropped after that set had written into it: the set's entry may be gone too
    // (a miss is always safe); what matters is that the store is whole and works again.
    expect(store.checkInvariants()).toEqual([]);
    const out = new Float32Array(DIMS);
    // Entries of the dropped page are misses (a miss is always safe); new writes land and read back.
    for (let i = 0; i < 20; i++) store.set(keyOf(i), 0, m.id, m.cls, vec(i + 1), 0);
    for (let i = 0; i < 20; i++) {
      expect(store.getInto(keyOf(i), 0, m.id, 0, out, 0)).toBe(true);
      expect(sameVector(out, vec(i + 1))).toBe(true);
    }
    expect(store.checkInvariants()).toEqual([]);
    // Another thread attached to the same memory sees the same.
    const other = new SharedStore(store.parts);
    expect(other.getInto(keyOf(7), 0, m.id, 0, out, 0)).toBe(true);
    expect(store.counters.totals().lockTakeovers).toBeGreaterThan(0);
  });
});
