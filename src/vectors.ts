/**
 * The one vector validator. Every path that takes a vector from a caller (set, setMany, the
 * pool, getOrCompute's embed results) goes through parseVector(), so one rule holds
 * everywhere: a non-empty array (or typed array) of numbers, every one finite as a float32.
 */
import { describe, EmbeddingCacheError } from './errors.js';

/**
 * `v` as a Float32Array, or the reason it is not a valid vector (a phrase such as "is empty").
 * A Float32Array input is returned as it is, or as a copy with `copy`.
 */
export function parseVector(v: unknown, copy: boolean): Float32Array | string {
  let out: Float32Array;
  if (v instanceof Float32Array) {
    out = copy ? v.slice() : v;
  } else if (isNumberList(v)) {
    const src = v as ArrayLike<unknown>;
    out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const x = src[i];
      if (typeof x !== 'number') return `has a non-number at index ${i} (${describe(x)})`;
      out[i] = x;
    }
  } else {
    return `is ${describe(v)}, not an array of numbers`;
  }
  if (out.length === 0) return 'is empty';
  if (!allFinite(out)) {
    const bad = out.findIndex((x) => !Number.isFinite(x));
    return `has a non-finite value (${out[bad]}) at index ${bad}`;
  }
  return out;
}

/** parseVector() that throws ERR_INVALID_VECTOR, naming `where` (e.g. "set()", "setMany() vectors[3]"). */
export function toVector(v: unknown, where: string): Float32Array {
  const r = parseVector(v, false);
  if (typeof r === 'string') throw invalidVector(where, r);
  return r;
}

export function invalidVector(where: string, why: string): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_INVALID_VECTOR',
    `${where}: the vector ${why}. Pass a non-empty Float32Array (or array of numbers) of finite values.`,
  );
}

/** Arrays, typed arrays other than BigInt ones, and array-likes with a numeric length. */
function isNumberList(v: unknown): boolean {
  if (Array.isArray(v)) return true;
  if (ArrayBuffer.isView(v))
    return !(v instanceof DataView || v instanceof BigInt64Array || v instanceof BigUint64Array);
  return typeof v === 'object' && v !== null && typeof (v as ArrayLike<unknown>).length === 'number';
}

/**
 * True if no element is NaN or ±Infinity. The elements are float32, so their sum in double
 * precision cannot overflow (768 × 3.4e38 ≪ 1.8e308): it is finite exactly when every element
 * is (NaN and ±Infinity propagate; Infinity - Infinity is NaN). Four independent sums keep the
 * adds from waiting on each other — a compare per element or one running sum is 3-4× slower —
 * and each takes two elements a step (i and i + 4, 8 a step in all): 10-18 % less than one
 * element a step per sum, and eight sums are slower again (measured on 768-d vectors).
 */
export function allFinite(v: Float32Array): boolean {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n = v.length - (v.length & 7);
  for (let i = 0; i < n; i += 8) {
    s0 += v[i]! + v[i + 4]!;
    s1 += v[i + 1]! + v[i + 5]!;
    s2 += v[i + 2]! + v[i + 6]!;
    s3 += v[i + 3]! + v[i + 7]!;
  }
  for (let i = n; i < v.length; i++) s0 += v[i]!;
  return Number.isFinite(s0 + s1 + s2 + s3);
}
