/** Assertions shared by the tests: whole-vector comparisons and the cache's error codes. */
import { expect } from 'vitest';
import { EmbeddingCacheError } from '../../src/index.js';

/** Asserts `actual` is a Float32Array with exactly the values of `expected`. */
export function expectVector(actual: Float32Array | undefined, expected: ArrayLike<number>): void {
  expect(actual).toBeInstanceOf(Float32Array);
  expect(Array.from(actual!)).toEqual(Array.from(Float32Array.from(expected)));
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

/** Checks that `thrown` is an EmbeddingCacheError with `code` and a message that says something. */
function checkCacheError(thrown: unknown, code: string): EmbeddingCacheError {
  expect(thrown, `expected ${code} to be thrown`).toBeInstanceOf(EmbeddingCacheError);
  expect(thrown).toBeInstanceOf(Error);
  const err = thrown as EmbeddingCacheError;
  expect(err.code).toBe(code);
  expect(typeof err.message).toBe('string');
  expect(err.message.length).toBeGreaterThan(20);
  return err;
}

/** Runs `fn`, expects an EmbeddingCacheError with `code`, and returns it for further checks. */
export function expectCacheError(fn: () => unknown, code: string): EmbeddingCacheError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  return checkCacheError(thrown, code);
}

/** Like expectCacheError for an async function. */
export async function expectCacheErrorAsync(
  fn: () => Promise<unknown>,
  code: string,
): Promise<EmbeddingCacheError> {
  let thrown: unknown;
  try {
    await fn();
  } catch (e) {
    thrown = e;
  }
  return checkCacheError(thrown, code);
}
