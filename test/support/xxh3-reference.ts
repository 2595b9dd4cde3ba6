/**
 * XXH3-128 from an independent implementation (hash-wasm), as the four int32 words a key is:
 * low u64 then high u64, little-endian. hash-wasm returns the canonical form (high u64 ‖ low
 * u64, big-endian), checked here against the published hash of the empty input.
 */
import { createXXHash128, type IHasher } from 'hash-wasm';

const hashers = new Map<string, IHasher>();

export async function xxh3Reference(
  parts: readonly Uint8Array[],
  seedLo: number,
  seedHi: number,
): Promise<Int32Array> {
  const id = `${seedLo >>> 0}:${seedHi >>> 0}`;
  let h = hashers.get(id);
  if (h === undefined) {
    h = await createXXHash128(seedLo >>> 0, seedHi >>> 0);
    if (hashers.size > 64) hashers.clear();
    hashers.set(id, h);
  }
  h.init();
  for (const p of parts) h.update(p);
  const c = h.digest('binary');
  const dv = new DataView(c.buffer, c.byteOffset, 16);
  return new Int32Array([dv.getInt32(12), dv.getInt32(8), dv.getInt32(4), dv.getInt32(0)]);
}

/** XXH3-128 of the empty input with seed 0 (xxHash's own test vector), canonical hex. */
export const EMPTY_XXH128 = '99aa06d3014798d86001c324468d497f';
