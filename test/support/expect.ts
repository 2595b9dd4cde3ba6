/**
 * Shared test helpers: deterministic vectors and texts, and an assertion for the cache's error
 * codes. Vectors are derived from (key index, version) so any read can be checked whole; the
 * worker fixtures in test/stress/fixtures carry a JS copy of `vectorFor` (keep them in step).
 */
import { afterEach, expect } from 'vitest';
import { EmbeddingCache, EmbeddingCacheError, type CacheOptions } from '../src/index.js';

/**
 * The vector for version `version` of key `key`: v[0] = key, v[1] = version, the rest a
 * pseudo-random function of (key, version, i). Every value is an integer below 2^24, so it
 * survives the float32 round trip exactly.
 */
export function vectorFor(key: number, version: number, dims: number): Float32Array {
  const v = new Float32Array(dims);
  v[0] = key;
  if (dims > 1) v[1] = version;
  for (let i = 2; i < dims; i++) v[i] = ((key * 7919 + version * 104729 + i * 31) % 65521) - 32760;
  return v;
}

/** A plain number[] copy of vectorFor(), for the ArrayLike input path. */
export function arrayFor(key: number, version: number, dims: number): number[] {
  return Array.from(vectorFor(key, version, dims));
}

/** Text for key index `i`, optionally padded to about `bytes` characters. */
export function textFor(i: number, bytes = 0): string {
  const base = `chunk #${i}: the quick brown fox jumps over the lazy dog`;
  return bytes <= base.length ? base : base + ' lorem ipsum'.repeat(Math.ceil((bytes - base.length) / 12)).slice(0, bytes - base.length);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn`, expects an EmbeddingCacheError with `code`, and returns it for further checks. */
export function expectCacheError(fn: () => unknown, code: string): EmbeddingCacheError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code} to be thrown`).toBeInstanceOf(EmbeddingCacheError);
  expect(thrown).toBeInstanceOf(Error);
  const err = thrown as EmbeddingCacheError;
  expect(err.code).toBe(code);
  expect(typeof err.message).toBe('string');
  expect(err.message.length).toBeGreaterThan(20);
  return err;
}

/** Like expectCacheError for an async function. */
export async function expectCacheErrorAsync(fn: () => Promise<unknown>, code: string): Promise<EmbeddingCacheError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code} to be thrown`).toBeInstanceOf(EmbeddingCacheError);
  const err = thrown as EmbeddingCacheError;
  expect(err.code).toBe(code);
  expect(err.message.length).toBeGreaterThan(20);
  return err;
}

/** Asserts `actual` is a Float32Array with exactly the values of `expected`. */
export function expectVector(actual: Float32Array | undefined, expected: ArrayLike<number>): void {
  expect(actual).toBeInstanceOf(Float32Array);
  expect(Array.from(actual!)).toEqual(Array.from(Float32Array.from(expected)));
}

/**
 * Opens caches for one test file and closes every one after each test (close() of an already
 * closed cache is tolerated: some tests close on purpose).
 */
export function useCaches(): (options?: CacheOptions) => Promise<EmbeddingCache> {
  const opened: EmbeddingCache[] = [];
  afterEach(async () => {
    for (const c of opened.splice(0)) {
      try {
        await c.close();
      } catch {
        // already closed by the test
      }
    }
  });
  return async (options?: CacheOptions) => {
    const c = await EmbeddingCache.open(options);
    opened.push(c);
    return c;
  };
}
