/**
 * ModelRegistry (registry.ts): models and dimension classes in the shared control buffer. Two
 * SharedStores over the same parts stand for two threads: each has its own registry instance
 * (and its own per-thread name cache), and they must agree on every id, dimension, class and
 * generation.
 */
import { describe, expect, it } from 'vitest';
import { SharedStore } from '../../../src/memory/store.js';
import {
  H_MODEL_COUNT,
  L_OWNER,
  LOCK_WORDS,
  LOCKS,
  MAX_CLASSES,
  MAX_DIMS,
  MAX_MODEL_NAME_BYTES,
  MAX_MODELS,
  REGISTRY_LOCK,
} from '../../../src/memory/layout.js';
import { vectorFor } from '../../support/data.mjs';
import { expectCacheError } from '../../support/expect.js';
import { createStore, keyOf } from '../../support/store.js';

function twoThreads(): [SharedStore, SharedStore] {
  const s1 = createStore();
  return [s1, new SharedStore(s1.parts)];
}

const modelCount = (s: SharedStore) => Atomics.load(new Int32Array(s.parts.control), H_MODEL_COUNT);
/** Owner token of the registry lock (0: free). */
const registryLockOwner = (s: SharedStore) =>
  Atomics.load(new Int32Array(s.parts.control), LOCKS + REGISTRY_LOCK * LOCK_WORDS + L_OWNER);

describe('memory: model registry', () => {
  it('ensure() is idempotent, within one instance and across two over the same buffer', () => {
    const [s1, s2] = twoThreads();
    const a = s1.registry.ensure('a');
    expect(a).toBe(0);
    expect(s1.registry.ensure('a')).toBe(a);
    expect(s2.registry.ensure('a'), 'the other instance registered a second "a"').toBe(a);
    const b = s2.registry.ensure('b');
    expect(b).toBe(1);
    expect(s1.registry.find('b')).toBe(b);
    expect(s1.registry.ensure('b')).toBe(b);
    expect(modelCount(s1)).toBe(2);
    expect(s1.registry.find('nope')).toBe(-1);
    expect(s2.registry.find('nope')).toBe(-1);
    // A model registered after a miss is found: misses are not cached.
    expect(s1.registry.ensure('nope')).toBe(2);
    expect(s2.registry.find('nope')).toBe(2);
    // A new model has no dimension and no class until its first vector.
    expect(s2.registry.dims(2)).toBe(0);
    expect(s2.registry.classOf(2)).toBe(-1);
  });

  it('bindDims() fixes the dimension; another dimension then throws ERR_DIMENSION_MISMATCH, in either instance', () => {
    const [s1, s2] = twoThreads();
    const a = s1.registry.ensure('a');
    const cls = s1.registry.bindDims(a, 8, 'a');
    expect(s2.registry.dims(a)).toBe(8);
    expect(s2.registry.classOf(a)).toBe(cls);
    expect(s2.registry.bindDims(a, 8, 'a')).toBe(cls);
    expect(s1.registry.classDims(cls)).toBe(8);
    const err = expectCacheError(() => s2.registry.bindDims(a, 16, 'a'), 'ERR_DIMENSION_MISMATCH');
    expect(err.message).toContain('"a"');
    expect(err.message).toContain('8');
    expect(err.message).toContain('16');
    expectCacheError(() => s1.registry.bindDims(a, 7, 'a'), 'ERR_DIMENSION_MISMATCH');
    expect(s1.registry.dims(a)).toBe(8);

    // Models of one dimension share a class; another dimension gets a class of its own.
    const b = s2.registry.ensure('b');
    const c = s2.registry.ensure('c');
    expect(s2.registry.bindDims(b, 8, 'b')).toBe(cls);
    const other = s1.registry.bindDims(c, 16, 'c');
    expect(other).not.toBe(cls);
    expect(s2.registry.classOf(c)).toBe(other);
    expect(s2.registry.classDims(other)).toBe(16);

    expectCacheError(
      () => s1.registry.bindDims(s1.registry.ensure('huge'), MAX_DIMS + 1, 'huge'),
      'ERR_VECTOR_TOO_LARGE',
    );
    expect(s1.registry.dims(s1.registry.find('huge'))).toBe(0);
  });

  it(`at most ${MAX_CLASSES} dimensions: the next one is a clear ERR_CAPACITY`, () => {
    const [s1] = twoThreads();
    for (let d = 1; d <= MAX_CLASSES; d++)
      expect(s1.registry.bindDims(s1.registry.ensure(`d${d}`), d, `d${d}`)).toBe(d - 1);
    const id = s1.registry.ensure('one-too-many');
    const err = expectCacheError(
      () => s1.registry.bindDims(id, MAX_CLASSES + 1, 'one-too-many'),
      'ERR_CAPACITY',
    );
    expect(err.message).toContain(String(MAX_CLASSES));
    expect(s1.registry.dims(id)).toBe(0);
    expect(registryLockOwner(s1), 'the registry lock is still held after the error').toBe(0);
    // A known dimension still binds.
    expect(s1.registry.bindDims(id, 3, 'one-too-many')).toBe(2);
  });

  it("invalidate bumps the generation (seen by both instances) and turns the model's entries into misses", () => {
    const [s1, s2] = twoThreads();
    const a = s1.registry.ensure('a');
    const b = s1.registry.ensure('b');
    const clsA = s1.registry.bindDims(a, 4, 'a');
    const clsB = s1.registry.bindDims(b, 4, 'b');
    s1.set(keyOf(1), 0, a, clsA, vectorFor(1, 1, 4), 0);
    s1.set(keyOf(2), 0, b, clsB, vectorFor(2, 1, 4), 0);
    expect(s2.registry.generation(a)).toBe(0);

    s2.invalidate(a);
    expect(s1.registry.generation(a)).toBe(1);
    expect(s2.registry.generation(a)).toBe(1);
    expect(s1.registry.generation(b), 'another model was invalidated too').toBe(0);
    expect(s1.get(keyOf(1), 0, a, 0)).toBeUndefined();
    expect(s1.get(keyOf(2), 0, b, 0)).toBeDefined();
    // The model stays registered with its dimension; new entries are of the new generation.
    expect(s1.registry.find('a')).toBe(a);
    expect(s1.registry.dims(a)).toBe(4);
    s1.set(keyOf(3), 0, a, clsA, vectorFor(3, 1, 4), 0);
    expect(s2.get(keyOf(3), 0, a, 0)).toBeDefined();
    s1.invalidate(a);
    expect(s2.registry.generation(a)).toBe(2);
    expect(s1.checkInvariants()).toEqual([]);
  });

  it('well-formed names of any script round-trip, up to MAX_MODEL_NAME_BYTES bytes of UTF-8', () => {
    const [s1, s2] = twoThreads();
    const names = [
      'text-embedding-3-small',
      'modèle/ünïcode',
      '日本語のモデル',
      'emoji 🙂🚀',
      'a',
      'x'.repeat(MAX_MODEL_NAME_BYTES),
      'é'.repeat(MAX_MODEL_NAME_BYTES / 2),
    ];
    const ids = names.map((n) => s1.registry.ensure(n));
    expect(new Set(ids).size).toBe(names.length);
    for (const [i, n] of names.entries()) {
      expect(s2.registry.name(ids[i]!)).toBe(n);
      expect(s2.registry.find(n)).toBe(ids[i]);
    }
    // Names that differ only in case or normalization are different models.
    expect(s2.registry.find('Text-embedding-3-small')).toBe(-1);
    expect(s2.registry.find('mode\u0300le/ünïcode')).toBe(-1);

    const long = expectCacheError(
      () => s1.registry.ensure('x'.repeat(MAX_MODEL_NAME_BYTES + 1)),
      'ERR_INVALID_ARGUMENT',
    );
    expect(long.message).toContain(String(MAX_MODEL_NAME_BYTES));
    expectCacheError(
      () => s1.registry.ensure('é'.repeat(MAX_MODEL_NAME_BYTES / 2) + 'x'),
      'ERR_INVALID_ARGUMENT',
    );
    expect(modelCount(s1)).toBe(names.length);
  });

  it(`at most ${MAX_MODELS} models: the next one is a clear ERR_CAPACITY, and nothing changes`, () => {
    const [s1, s2] = twoThreads();
    for (let i = 0; i < MAX_MODELS; i++) expect(s1.registry.ensure(`model-${i}`)).toBe(i);
    const err = expectCacheError(() => s2.registry.ensure('one-too-many'), 'ERR_CAPACITY');
    expect(err.message).toContain(String(MAX_MODELS));
    expect(err.message).toContain('one-too-many');
    expect(modelCount(s1)).toBe(MAX_MODELS);
    expect(s1.registry.find('one-too-many')).toBe(-1);
    expect(registryLockOwner(s1), 'the registry lock is still held after the error').toBe(0);
    // Known models are still found and can bind.
    expect(s2.registry.ensure(`model-${MAX_MODELS - 1}`)).toBe(MAX_MODELS - 1);
    expect(s2.registry.bindDims(MAX_MODELS - 1, 4, `model-${MAX_MODELS - 1}`)).toBe(0);
    expectCacheError(() => s1.registry.ensure('another'), 'ERR_CAPACITY');
  });
});
