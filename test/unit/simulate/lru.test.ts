/** The simulator's LRU: hand-checked traces, and hit for hit the same as an array-based LRU. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lru } from '../../../scripts/simulate/lru.js';
import { replay } from '../../../scripts/simulate/policy.js';
import { naiveLru } from './reference.js';

const run = (capacity: number, keys: number[]): boolean[] => {
  const p = lru(capacity);
  return keys.map((k) => p.access(k));
};

describe('simulate: LRU', () => {
  it('hand-checked: capacity 2 over 1 2 1 3 2 1', () => {
    // 1 M {1}; 2 M {1,2}; 1 H {2,1}; 3 M evicts 2 {1,3}; 2 M evicts 1 {3,2}; 1 M evicts 3 {2,1}
    expect(run(2, [1, 2, 1, 3, 2, 1])).toEqual([false, false, true, false, false, false]);
  });

  it('hand-checked: the textbook reference string with 3 frames has 12 faults', () => {
    const s = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1];
    expect(replay(lru(3), Int32Array.from(s))).toBe(s.length - 12);
  });

  it('capacity 0 never hits', () => {
    expect(run(0, [1, 1, 1])).toEqual([false, false, false]);
  });

  it('matches an array-based LRU access by access', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.array(fc.integer({ min: -3, max: 20 }), { maxLength: 300, size: 'max' }),
        (capacity, keys) => {
          expect(run(capacity, keys)).toEqual(naiveLru(capacity, keys));
        },
      ),
      { numRuns: 300 },
    );
  });
});
