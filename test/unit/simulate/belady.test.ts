/**
 * The simulator's OPT (Belady with bypass): hand-checked traces, the exact optimum of an
 * exhaustive search on short traces, and never fewer hits than LRU or ARC.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arc } from '../../../scripts/simulate/arc.js';
import { belady, nextUses } from '../../../scripts/simulate/belady.js';
import { lru } from '../../../scripts/simulate/lru.js';
import { replay } from '../../../scripts/simulate/policy.js';
import { bruteForceOpt } from './reference.js';

const hitsOf = (capacity: number, keys: number[]): boolean[] => {
  const trace = Int32Array.from(keys);
  const p = belady(capacity, trace);
  return keys.map((k) => p.access(k));
};

describe('simulate: OPT (Belady)', () => {
  it('next uses: the next position of the same key, else n + i', () => {
    expect([...nextUses(Int32Array.from([5, 6, 5, 7, 6, 5]))]).toEqual([2, 4, 5, 9, 10, 11]);
  });

  it('hand-checked: the textbook reference string with 3 frames, bypassing keys needed last', () => {
    const s = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];
    // 7 0 1 M; 2 M evicts 7 (next at 17); 0 H; 3 M evicts 1 (next at 13); 0 H;
    // 4 M, never used again: bypassed; 2 3 0 3 2 H; 1 M evicts 3 (never used again); 2 0 1 H;
    // 7 M, never used again: bypassed; 0 1 H. 8 misses (demand paging, admitting 4, has 9).
    const misses = [0, 1, 2, 3, 5, 7, 13, 17];
    expect(hitsOf(3, s)).toEqual(s.map((_, i) => !misses.includes(i)));
  });

  it('hand-checked: a one-off key in a loop is bypassed, not admitted', () => {
    // capacity 2: 1 2 M; 3 M (needed after 1 and 2's next uses): bypassed; 1 2 H; 3 M.
    expect(hitsOf(2, [1, 2, 3, 1, 2, 3])).toEqual([false, false, false, true, true, false]);
  });

  it('capacity 0 never hits; accesses out of the trace order throw', () => {
    expect(hitsOf(0, [1, 1])).toEqual([false, false]);
    const p = belady(2, Int32Array.from([1, 2]));
    expect(() => p.access(2)).toThrow(/not the trace's/);
  });

  it('gets exactly the optimum of an exhaustive search', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 16, size: 'max' }),
        (capacity, keys) => {
          expect(hitsOf(capacity, keys).filter(Boolean).length).toBe(bruteForceOpt(capacity, keys));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never gets fewer hits than LRU or ARC; everything fits → only compulsory misses', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 800, size: 'max' }),
        (capacity, keys) => {
          const trace = Int32Array.from(keys);
          const opt = replay(belady(capacity, trace), trace);
          expect(opt).toBeGreaterThanOrEqual(replay(lru(capacity), trace));
          expect(opt).toBeGreaterThanOrEqual(replay(arc(capacity), trace));
          const unique = new Set(keys).size;
          if (capacity >= unique) expect(opt).toBe(keys.length - unique);
        },
      ),
      { numRuns: 300 },
    );
  });
});
