/**
 * The ghost directory (src/memory/ghosts.ts) against a model: two lists (B1, B2) as arrays in
 * eviction order, with holes where a ghost hit took a key out. Random pushes, lookups (take) and
 * trims must agree with the model on every answer, count and list. Keys are chosen so that no
 * two share a set (the one place the directory may forget a ghost by design).
 *
 * Then the directory is handed garbage — every word of its header, table and rings random, as a
 * thread terminated in the middle of any number of updates could at worst leave it — and every
 * operation must still return, stay in bounds and keep sizes within [0, capacity].
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { B1, B2, fingerprint, GhostDirectory } from '../../src/memory/ghosts.js';
import { controlWords, ghostTableAt, H_GHOSTS, GH_WORDS } from '../../src/memory/layout.js';

const BUCKETS = 32; // rings of 32 ghosts; 8 sets of 8 ways

function directory(): { ctl: Int32Array; g: GhostDirectory } {
  const ctl = new Int32Array(new SharedArrayBuffer(controlWords(BUCKETS) * 4));
  return { ctl, g: new GhostDirectory(ctl, BUCKETS) };
}

/** Key i: word 1 picks set i (distinct over i < 8), word 2 is the fingerprint. */
const key = (i: number): [number, number] => [i, 0x1000 + i * 7919];

type Op =
  | { kind: 'push'; list: number; key: number }
  | { kind: 'take'; key: number }
  | { kind: 'trim'; list: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), list: fc.constantFrom(B1, B2), key: fc.nat(7) }),
  fc.record({ kind: fc.constant('take' as const), key: fc.nat(7) }),
  fc.record({ kind: fc.constant('trim' as const), list: fc.constantFrom(B1, B2) }),
);

describe('property: ghost directory', () => {
  it('agrees with two ordered lists on every take, size and listing', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const { g } = directory();
        // The model: per list, the ring window (key or null for a hole), oldest first.
        const lists: (number | null)[][] = [[], []];
        const where = (k: number): number => lists.findIndex((l) => l.includes(k));
        for (const o of ops) {
          if (o.kind === 'push') {
            if (where(o.key) >= 0) continue; // a resident key is never a ghost
            const l = lists[o.list]!;
            if (l.length >= g.capacity) modelTrim(l);
            l.push(o.key);
            g.push(o.list, ...key(o.key));
          } else if (o.kind === 'take') {
            const l = where(o.key);
            if (l >= 0) lists[l]![lists[l]!.indexOf(o.key)] = null;
            expect(g.take(...key(o.key))).toBe(l);
          } else {
            modelTrim(lists[o.list]!);
            g.trim(o.list);
          }
          for (const l of [B1, B2]) {
            const live = lists[l]!.filter((k): k is number => k !== null);
            expect(g.size(l)).toBe(live.length);
            expect(g.list(l)).toEqual(live.map((k) => fingerprint(key(k)[1])));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('garbage in every word: operations return, stay in bounds, sizes within [0, capacity]', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: 8, maxLength: 8 }),
        fc.integer(),
        fc.array(op, { maxLength: 100 }),
        (header, seed, ops) => {
          const { ctl, g } = directory();
          for (let i = 0; i < 2 * GH_WORDS; i++) ctl[H_GHOSTS + i] = header[i]!;
          let r = seed;
          for (let i = ghostTableAt(BUCKETS); i < ctl.length; i++) {
            r = (Math.imul(r, 1103515245) + 12345) | 0;
            ctl[i] = r % 5 === 0 ? 0 : r;
          }
          const before = ctl.length;
          for (const o of ops) {
            if (o.kind === 'push') g.push(o.list, ...key(o.key));
            else if (o.kind === 'take') expect([-1, B1, B2]).toContain(g.take(...key(o.key)));
            else g.trim(o.list);
            for (const l of [B1, B2]) {
              expect(g.size(l)).toBeGreaterThanOrEqual(0);
              expect(g.size(l)).toBeLessThanOrEqual(g.capacity);
              expect(g.list(l).length).toBeLessThanOrEqual(g.capacity);
            }
          }
          expect(ctl.length).toBe(before);
          // A new ghost is found again (the directory works on from whatever it was left as).
          g.push(B2, ...key(12));
          expect(g.take(...key(12))).toBe(B2);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** The model's trim: the oldest key goes, holes before it with it. */
function modelTrim(l: (number | null)[]): void {
  while (l.length > 0 && l[0] === null) l.shift();
  l.shift();
}
