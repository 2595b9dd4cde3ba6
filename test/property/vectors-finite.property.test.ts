/**
 * allFinite (src/vectors.ts), the check every vector from a caller passes, against the obvious
 * model (every element Number.isFinite): at any length, with one NaN or ±Infinity at any index
 * (the unrolled body and the tail alike), and with the largest float32 magnitudes, whose sum in
 * double precision must stay finite.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allFinite } from '../../src/vectors.js';

const FLOAT32_MAX = 3.4028234663852886e38;
const finite = fc.oneof(
  fc.float({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(FLOAT32_MAX, -FLOAT32_MAX, 0, -0),
);

describe('property: allFinite', () => {
  it('agrees with Number.isFinite on every element, at any length and any position of a bad value', () => {
    fc.assert(
      fc.property(
        fc.array(finite, { minLength: 1, maxLength: 2100 }),
        fc.nat(),
        fc.constantFrom(NaN, Infinity, -Infinity, null),
        (xs, at, bad) => {
          const v = Float32Array.from(xs);
          if (bad !== null) v[at % v.length] = bad;
          expect(allFinite(v)).toBe(v.every((x) => Number.isFinite(x)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('stays true for 2,100 elements all at ±FLOAT32_MAX (the sums cannot overflow)', () => {
    expect(allFinite(new Float32Array(2100).fill(FLOAT32_MAX))).toBe(true);
    expect(allFinite(new Float32Array(2100).fill(-FLOAT32_MAX))).toBe(true);
  });
});
