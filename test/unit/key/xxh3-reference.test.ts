/**
 * Our XXH3-128 module (key/xxh3.wat) against an independent implementation (hash-wasm), on raw
 * bytes: every length up to 2100 (all six length paths, the first block boundaries), each path's
 * boundaries ±1 under several seeds, random lengths, contents and seeds, a 1 MB input, and the
 * same bytes at every offset of a 64-byte stripe.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadXXH3, type XXH3 } from '../../../src/key/xxh3.js';
import { EMPTY_XXH128, xxh3Reference } from '../../support/xxh3-reference.js';

let x3: XXH3;
beforeAll(async () => {
  x3 = await loadXXH3();
});

/** Our hash of `data`, placed `offset` bytes into the module's free memory. */
function ours(data: Uint8Array, seedLo: number, seedHi: number, offset = 0): number[] {
  const out = new Int32Array(4);
  x3.hashBytes(data, seedLo, seedHi, out, offset);
  return Array.from(out);
}

async function reference(data: Uint8Array, seedLo: number, seedHi: number): Promise<number[]> {
  return Array.from(await xxh3Reference([data], seedLo, seedHi));
}

const SEEDS: readonly (readonly [number, number])[] = [
  [0, 0],
  [1, 0],
  [0, 1],
  [-1, -1],
  [0x12345678, -0x6543210f],
];

describe('XXH3-128 module = reference', () => {
  it('the reference is XXH3-128 (the published hash of the empty input)', async () => {
    const w = await reference(new Uint8Array(0), 0, 0);
    const hex = [w[3]!, w[2]!, w[1]!, w[0]!].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
    expect(hex).toBe(EMPTY_XXH128);
  });

  it('every length from 0 to 2100, seed 0 and a seed with every bit set', async () => {
    const data = new Uint8Array(randomBytes(2100));
    for (const [lo, hi] of [SEEDS[0]!, SEEDS[3]!]) {
      for (let n = 0; n <= 2100; n++) {
        const d = data.subarray(0, n);
        expect(ours(d, lo, hi), `length ${n}`).toEqual(await reference(d, lo, hi));
      }
    }
  });

  it('each length path boundary ±1, block and stripe boundaries, under several seeds', async () => {
    // 0 | 1–3 | 4–8 | 9–16 | 17–128 (32, 64, 96: extra rounds) | 129–240 | > 240 (1024-byte
    // blocks, 64-byte stripes, the last stripe overlapping)
    const edges = [
      0, 1, 3, 4, 8, 9, 16, 17, 32, 64, 96, 128, 129, 160, 240, 241, 256, 1024, 2048, 4096, 65536,
    ];
    const lengths = [...new Set(edges.flatMap((e) => [e - 1, e, e + 1]).filter((n) => n >= 0))];
    const data = new Uint8Array(randomBytes(65537));
    for (const [lo, hi] of SEEDS) {
      for (const n of lengths) {
        const d = data.subarray(0, n);
        expect(ours(d, lo, hi), `length ${n}, seed ${lo}:${hi}`).toEqual(await reference(d, lo, hi));
      }
    }
  });

  it('random lengths, contents and seeds', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 200, maxLength: 5000 })),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        async (data, lo, hi) => {
          expect(ours(data, lo, hi)).toEqual(await reference(data, lo, hi));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a 1 MB input (grows the module memory)', async () => {
    const data = new Uint8Array(randomBytes(1 << 20));
    expect(ours(data, 0x0badf00d, 7)).toEqual(await reference(data, 0x0badf00d, 7));
  });

  it('the input offset does not matter (every offset in a stripe)', async () => {
    const data = new Uint8Array(randomBytes(1500));
    for (const n of [7, 15, 100, 200, 1500]) {
      const want = await reference(data.subarray(0, n), 5, 6);
      for (let off = 0; off < 64; off++) expect(ours(data.subarray(0, n), 5, 6, off)).toEqual(want);
    }
  });

  it('a seed change between long inputs re-derives the secret (and back)', async () => {
    const data = new Uint8Array(randomBytes(3000));
    for (const [lo, hi] of [...SEEDS, SEEDS[1]!, SEEDS[0]!]) {
      expect(ours(data, lo, hi)).toEqual(await reference(data, lo, hi));
    }
  });
});
