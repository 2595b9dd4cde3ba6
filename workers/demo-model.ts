/**
 * The demo's stand-in embedding model: deterministic, 384-d, unit length, and costing real CPU
 * in proportion to the text (about 0.3 ms per KB of text on a 2020s core), like a small local model.
 * Not an embedding of meaning — only a stand-in that makes "embedded twice" cost something.
 */
export const STAND_IN_DIMS = 384;
export const STAND_IN_MODEL = 'stand-in-384';
/** Passes over the text; sets the cost per byte. */
const PASSES = 64;

export function standInEmbed(text: string): Float32Array {
  const v = new Float32Array(STAND_IN_DIMS);
  let h = 0x811c9dc5 ^ text.length;
  for (let pass = 0; pass < PASSES; pass++) {
    h = Math.imul(h ^ pass, 0x01000193);
    for (let i = 0; i < text.length; i++) {
      h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
      h ^= h >>> 15;
      if ((i & 15) === 0) v[(h >>> 0) % STAND_IN_DIMS]! += ((h >>> 8) & 0xffff) / 32768 - 1;
    }
  }
  let norm = 0;
  for (let i = 0; i < STAND_IN_DIMS; i++) norm += v[i]! * v[i]!;
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < STAND_IN_DIMS; i++) v[i]! /= norm;
  return v;
}
