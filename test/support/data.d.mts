// Types for data.mjs (plain JS so that worker threads and child processes can load it).

/** Text for key index `i`, optionally padded to about `bytes` characters. */
export function textFor(i: number, bytes?: number): string;
/** The vector for version `version` of key `key`: integers below 2^24, exact in float32. */
export function vectorFor(key: number, version: number, dims: number): Float32Array;
/** A plain number[] copy of vectorFor(), for the ArrayLike input path. */
export function arrayFor(key: number, version: number, dims: number): number[];
/** Classifies a vector read for key `key`. */
export function classify(
  v: ArrayLike<number>,
  key: number,
  dims: number,
): 'ok' | 'foreign' | 'torn' | 'length';
/** Small deterministic PRNG (xorshift32): numbers in [0, 1). */
export function rng(seed: number): () => number;
/** The 16-byte content key of spill record `i`. */
export function key(i: number): Uint8Array;
/** The vector of spill record `i`: non-integer, every mantissa bit in use. */
export function vector(i: number, dims?: number): Float32Array;
/** The spill key seed the tests open tiers with. */
export const SEED: Uint8Array;
