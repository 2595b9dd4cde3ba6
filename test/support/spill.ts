/**
 * Helpers for the spill tier's tests: temp folders that clean themselves up, deterministic
 * keys and vectors, a bit-exact comparison, and opening a tier with test defaults.
 * test/stress/fixtures/spill-vectors.mjs carries a JS copy of key() and vector() for child
 * processes (keep them in step).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { EmbeddingCacheError } from '../../src/errors.js';
import { SpillTier, type SpillTierOptions } from '../../src/spill/tier.js';

const dirs: string[] = [];
const tiers: SpillTier[] = [];

afterEach(async () => {
  for (const tier of tiers.splice(0)) await tier.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder under the OS temp dir, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'embedcache-spill-test-'));
  dirs.push(dir);
  return dir;
}

export const SEED = new Uint8Array(32).map((_, i) => i * 7 + 1);

/** Opens a tier (closed after the test) with xxhash and SEED unless overridden. */
export function openTier(path: string, options: Partial<SpillTierOptions> = {}): SpillTier {
  const tier = SpillTier.open({ path, keyHash: 'xxhash', seed: SEED, ...options });
  tiers.push(tier);
  return tier;
}

/** The 16-byte content key of entry `i` (any bijection works; this one spreads the bytes). */
export function key(i: number): Uint8Array {
  const k = new Uint8Array(16);
  const v = new DataView(k.buffer);
  v.setUint32(0, i);
  v.setUint32(4, Math.imul(i, 0x9e3779b1));
  v.setUint32(8, Math.imul(i ^ 0x5bd1e995, 0x85ebca6b));
  v.setUint32(12, ~i);
  return k;
}

/**
 * The vector of entry `i`: distinct per (i, j) and non-integer (every mantissa bit in use), so
 * any byte out of place shows. Only integer arithmetic and one IEEE division: the same bits in
 * every process.
 */
export function vector(i: number, dims = 768): Float32Array {
  const v = new Float32Array(dims);
  for (let j = 0; j < dims; j++) v[j] = ((((i * 7919 + j * 31) % 65521) - 32760) / 7) * (j % 2 === 0 ? 1 : -1);
  return v;
}

/** Bit-exact equality of two float arrays (NaN payloads and -0 included). */
export function expectBitExact(actual: Float32Array | undefined, expected: Float32Array): void {
  expect(actual).toBeInstanceOf(Float32Array);
  const a = actual as Float32Array;
  expect(a.length).toBe(expected.length);
  const ab = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const eb = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  let mismatches = 0;
  for (let j = 0; j < eb.length; j++) if (ab[j] !== eb[j]) mismatches++;
  expect(mismatches).toBe(0);
}

/** Runs `fn`, expects an EmbeddingCacheError with `code`, returns it. */
export function expectCode(fn: () => unknown, code: string): EmbeddingCacheError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(EmbeddingCacheError);
  const err = thrown as EmbeddingCacheError;
  expect(err.code).toBe(code);
  return err;
}

export function enqueueRange(tier: SpillTier, from: number, to: number, opts: { model?: string; dims?: number; expiresMs?: number } = {}): void {
  const now = Date.now();
  for (let i = from; i < to; i++) {
    tier.enqueue({ key: key(i), model: opts.model ?? 'm', vector: vector(i, opts.dims), createdMs: now, expiresMs: opts.expiresMs ?? 0 });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
