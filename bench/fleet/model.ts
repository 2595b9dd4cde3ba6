/**
 * The fleet bench's stand-in embedding model and corpora, shared by the parent, the machine
 * processes and the peers section.
 *
 * The model: a pure function of the text (FNV-1a of its UTF-16 code units seeds a PRNG), giving a
 * unit-length vector whose components look like a real model's (roughly normal, ~1/√dims in
 * size), so the JSON a LangChain store writes is as long as it would be for real vectors. Any
 * machine recomputes any text's vector, which is how the bench checks that every vector the
 * fleet hands back is the right one. Its cost is not CPU but a fixed wait per call (an embedding
 * API's round trip): on a 2-core box, four machines burning CPU would measure the box instead.
 *
 * Corpora: `unique` texts (bench/lib/texts.ts chunkText, 200 B – 2 KB of prose); machine m asks
 * for `perMachine` of them, a seeded draw without repeats, in a seeded order. Machines overlap by
 * chance, as fleets ingesting overlapping document sets do.
 */
import { chunkText, mix32, prng } from '../lib/texts.js';

export const FLEET_MODEL = 'fleet-bench-model';
/** chunkText seed of the fleet corpora (other seeds: other texts). */
export const CORPUS_SEED = 0xf1ee7;

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The stand-in model's vector for `text`: unit length, components roughly N(0, 1/dims). */
export function fakeVector(text: string, dims: number, out = new Float32Array(dims)): Float32Array {
  const rand = prng(mix32(fnv1a(text) ^ dims));
  let norm = 0;
  for (let d = 0; d < dims; d++) {
    // Sum of three uniforms: bell-shaped, cheap.
    const x = rand() + rand() + rand() - 1.5;
    out[d] = x;
    norm += x * x;
  }
  const k = 1 / Math.sqrt(norm);
  for (let d = 0; d < dims; d++) out[d] = out[d]! * k;
  return out;
}

/**
 * The vector as an embedding API's JSON gives it: each float32 as a decimal of 9 significant
 * digits (enough to round-trip a float32 exactly, and about what APIs print). A store that keeps
 * JSON (LangChain's) then holds ~12-13 characters per component rather than the 17-19 of a
 * float32 widened to a double: the smaller, fairer figure for it.
 */
export function apiFloats(v: Float32Array): number[] {
  const out = new Array<number>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Number(v[i]!.toPrecision(9));
  return out;
}

/** Whether `got` is exactly `text`'s vector. */
export function sameVector(got: ArrayLike<number>, want: Float32Array): boolean {
  if (got.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (Math.fround(got[i]!) !== want[i]) return false;
  return true;
}

/** Text i of the fleet corpora. */
export function corpusText(i: number, seed = CORPUS_SEED): string {
  return chunkText(i, { seed });
}

/**
 * Machine m's corpus: `perMachine` distinct indexes of [0, unique), in the order the machine
 * asks for them. A partial Fisher-Yates shuffle seeded by (seed, m).
 */
export function machineCorpus(m: number, unique: number, perMachine: number, seed = CORPUS_SEED): number[] {
  const rand = prng(mix32(seed + Math.imul(m + 1, 0x9e3779b1)));
  const idx = Array.from({ length: unique }, (_, i) => i);
  const n = Math.min(perMachine, unique);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rand() * (unique - i));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, n);
}

/** Distinct indexes over every machine's corpus. */
export function unionSize(corpora: readonly (readonly number[])[]): number {
  const seen = new Set<number>();
  for (const c of corpora) for (const i of c) seen.add(i);
  return seen.size;
}
