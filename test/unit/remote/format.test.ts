/**
 * The remote tier's bytes and names (src/remote/format.ts): what every machine of a fleet must
 * agree on. encodeValue/decodeValue round-trip every float bit for bit, and decodeValue refuses
 * (as 'invalid', never a throw, never a vector) anything that is not a whole value of the asked
 * model and dimension. KeyNames builds value and lease keys that parse back to their model tag,
 * epoch and generation, and spreads keys over hash-tag buckets by their first word.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUCKET_TAGS,
  bucketOf,
  decodeValue,
  encodeValue,
  HEADER_FIXED,
  keyHex,
  KeyNames,
  modelTag,
  stampBytes,
  VALUE_VERSION,
} from '../../../src/remote/format.js';

const NOW = 1_700_000_000_000;

/** Bit-level equality of two float arrays (-0, subnormals and every mantissa bit). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Finite float32 values, with the edge cases drawn often: ±0, subnormals, the extremes. */
const EDGES = [
  0,
  -0,
  1.4e-45, // smallest subnormal
  -1.4e-45,
  Math.fround(1.1754942e-38), // largest subnormal
  -Math.fround(1.1754942e-38),
  Math.fround(1.17549435e-38), // smallest normal
  Math.fround(3.4028235e38), // largest finite
  -Math.fround(3.4028235e38),
  1,
  -1,
].map(Math.fround);
const finiteFloat = fc.oneof(
  { weight: 3, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.constantFrom(...EDGES) },
);
const vectorArb = fc.array(finiteFloat, { minLength: 1, maxLength: 96 }).map((xs) => Float32Array.from(xs));
/** Model names: ASCII, any Unicode code point (astral included), and a few fixed odd ones. */
const modelArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => s.isWellFormed()),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
  fc.constantFrom('text-embedding-3-small', 'é', '模型', '🧠🧠', 'a'.repeat(300), 'x\u0000y'),
);
/** Stamps as the cache makes them: ms with 1/1024 steps. */
const stampArb = fc.integer({ min: 0, max: 2 ** 52 }).map((n) => n / 1024);
const keyWordsArb = fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), {
  minLength: 4,
  maxLength: 4,
});

function vec(...xs: number[]): Float32Array {
  return Float32Array.from(xs);
}

describe('remote value format', () => {
  it('round-trips every vector bit for bit (-0, subnormals, extremes), under any model name', () => {
    fc.assert(
      fc.property(vectorArb, modelArb, stampArb, fc.boolean(), (v, model, stamp, expiring) => {
        const expiresMs = expiring ? NOW + 60_000 : 0;
        const buf = encodeValue(model, v, stamp, expiresMs);
        // Header: magic, version, flags, dims, stamp (big-endian, as the Lua script compares it).
        expect(buf.subarray(0, 2).toString('latin1')).toBe('EV');
        expect(buf[2]).toBe(VALUE_VERSION);
        expect(buf[3]).toBe(0);
        expect(buf.readUInt32LE(4)).toBe(v.length);
        expect(buf.subarray(8, 16).equals(stampBytes(stamp))).toBe(true);
        expect(buf.length % 4).toBe(0); // floats start on a 4-byte boundary
        const d = decodeValue(buf, model, v.length, NOW);
        expect(d.kind).toBe('vector');
        if (d.kind !== 'vector') return;
        expect(d.expiresMs).toBe(expiresMs);
        expect(sameBits(d.vector, v)).toBe(true);
        // A copy with a buffer of its own, not a view into the reply.
        expect(d.vector.buffer).not.toBe(buf.buffer);
        expect(d.vector.byteOffset).toBe(0);
        expect(d.vector.buffer.byteLength).toBe(v.length * 4);
        // dims 0 ("not known yet") accepts any dimension.
        const any = decodeValue(buf, model, 0, NOW);
        expect(any.kind === 'vector' && sameBits(any.vector, v)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a vector that is a view into a larger buffer (byteOffset) correctly', () => {
    const backing = new Float32Array([9, 9, -0, 1.4e-45, 3.5, 9]);
    const view = backing.subarray(2, 5);
    const d = decodeValue(encodeValue('m', view, 1, 0), 'm', 3, NOW);
    expect(d.kind === 'vector' && sameBits(d.vector, vec(-0, 1.4e-45, 3.5))).toBe(true);
  });

  it('stamp bytes compare as byte strings in the order of the stamps (what the Lua script relies on)', () => {
    fc.assert(
      fc.property(stampArb, stampArb, (a, b) => {
        const c = Buffer.compare(stampBytes(a), stampBytes(b));
        expect(Math.sign(c)).toBe(Math.sign(a - b));
        // Inside a value, bytes 8..16 (Lua's 9..16) are the stamp.
        const va = encodeValue('m', vec(1), a, 0).subarray(8, 16);
        const vb = encodeValue('m', null, b, 0).subarray(8, 16);
        expect(Math.sign(Buffer.compare(va, vb))).toBe(Math.sign(a - b));
      }),
    );
  });

  it('a tombstone decodes as a tombstone, for its own model only', () => {
    fc.assert(
      fc.property(modelArb, stampArb, (model, stamp) => {
        const buf = encodeValue(model, null, stamp, 0);
        expect(buf[3]! & 1).toBe(1);
        expect(buf.readUInt32LE(4)).toBe(0);
        expect(decodeValue(buf, model, 0, NOW)).toEqual({ kind: 'tombstone' });
        expect(decodeValue(buf, model, 8, NOW)).toEqual({ kind: 'tombstone' });
        expect(decodeValue(buf, `${model}-other`, 0, NOW).kind).toBe('invalid');
      }),
    );
  });

  it('an expired value is "expired"; one expiring later is a vector', () => {
    const v = vec(1, 2, 3);
    expect(decodeValue(encodeValue('m', v, 1, NOW - 1), 'm', 3, NOW)).toEqual({ kind: 'expired' });
    expect(decodeValue(encodeValue('m', v, 1, NOW), 'm', 3, NOW)).toEqual({ kind: 'expired' });
    const later = decodeValue(encodeValue('m', v, 1, NOW + 1), 'm', 3, NOW);
    expect(later.kind).toBe('vector');
    expect(later.kind === 'vector' && later.expiresMs).toBe(NOW + 1);
    // 0 never expires.
    expect(decodeValue(encodeValue('m', v, 1, 0), 'm', 3, Number.MAX_SAFE_INTEGER).kind).toBe('vector');
  });

  it('another model is invalid (names compared exactly, Unicode included)', () => {
    fc.assert(
      fc.property(vectorArb, modelArb, modelArb, (v, a, b) => {
        fc.pre(a !== b);
        const d = decodeValue(encodeValue(a, v, 1, 0), b, 0, NOW);
        expect(d.kind).toBe('invalid');
      }),
    );
    const v = vec(1, 2);
    // Same bytes up to a prefix, case, normalization: all other models.
    for (const [a, b] of [
      ['m', 'mm'],
      ['mm', 'm'],
      ['Model', 'model'],
      ['\u00e9', 'e\u0301'],
    ] as const)
      expect(decodeValue(encodeValue(a, v, 1, 0), b, 0, NOW)).toEqual({
        kind: 'invalid',
        why: 'another model',
      });
  });

  it('another dimension than the model has is invalid', () => {
    fc.assert(
      fc.property(vectorArb, fc.integer({ min: 1, max: 4096 }), (v, dims) => {
        fc.pre(dims !== v.length);
        expect(decodeValue(encodeValue('m', v, 1, 0), 'm', dims, NOW).kind).toBe('invalid');
      }),
    );
  });

  it('every truncation (and any trailing byte) of a value is invalid', () => {
    fc.assert(
      fc.property(vectorArb, modelArb, (v, model) => {
        const buf = encodeValue(model, v, 1, 0);
        for (let len = 0; len < buf.length; len++) {
          const d = decodeValue(Buffer.from(buf.subarray(0, len)), model, 0, NOW);
          if (d.kind !== 'invalid')
            throw new Error(`a copy cut to ${len} of ${buf.length} bytes was ${d.kind}`);
        }
        expect(decodeValue(Buffer.concat([buf, Buffer.alloc(1)]), model, 0, NOW).kind).toBe('invalid');
        expect(decodeValue(Buffer.concat([buf, Buffer.alloc(4)]), model, 0, NOW).kind).toBe('invalid');
      }),
      { numRuns: 50 },
    );
  });

  it('foreign bytes are invalid and never throw', () => {
    for (const s of ['', 'garbage', 'EV', 'hello world, this is not a value at all', '{"v":[1,2,3]}'])
      expect(decodeValue(Buffer.from(s), 'm', 0, NOW).kind).toBe('invalid');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), modelArb, (bytes, model) => {
        const buf = Buffer.from(bytes);
        const d = decodeValue(buf, model, 0, NOW);
        if (buf[0] !== 0x45 || buf[1] !== 0x56) expect(d.kind).toBe('invalid');
      }),
    );
    // A valid header followed by random bytes: never a throw, and never a vector unless the
    // floats are whole and finite.
    const header = encodeValue('m', vec(1, 2, 3, 4), 1, 0).subarray(0, 28);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        const buf = Buffer.concat([header, tail]);
        const d = decodeValue(buf, 'm', 0, NOW);
        if (d.kind === 'vector') {
          expect(buf.length).toBe(28 + 16);
          for (const x of d.vector) expect(Number.isFinite(x)).toBe(true);
        } else {
          expect(d.kind).toBe('invalid');
        }
      }),
    );
  });

  it('another format version byte is invalid', () => {
    const buf = encodeValue('m', vec(1, 2, 3), 1, 0);
    for (const version of [0, VALUE_VERSION + 1, 0x7f, 0xff]) {
      const other = Buffer.from(buf);
      other[2] = version;
      expect(decodeValue(other, 'm', 3, NOW)).toEqual({ kind: 'invalid', why: `value format ${version}` });
    }
    // The unchanged copy is still good (the checks above only moved the version byte).
    expect(decodeValue(buf, 'm', 3, NOW).kind).toBe('vector');
  });

  it('a bad magic, a NaN/Infinity float, a NaN or negative expiry, a bad UTF-8 name are invalid', () => {
    const buf = encodeValue('m', vec(1, 2, 3), 1, 0);
    const magic = Buffer.from(buf);
    magic[1] = 0x57;
    expect(decodeValue(magic, 'm', 3, NOW).kind).toBe('invalid');
    for (const x of [NaN, Infinity, -Infinity])
      expect(decodeValue(encodeValue('m', vec(1, x, 3), 1, 0), 'm', 3, NOW).kind).toBe('invalid');
    for (const e of [NaN, -1]) {
      const bad = Buffer.from(buf);
      bad.writeDoubleLE(e, 16);
      expect(decodeValue(bad, 'm', 3, NOW).kind).toBe('invalid');
    }
    const name = Buffer.from(buf);
    name[HEADER_FIXED] = 0xff; // 'm' → a byte that starts no UTF-8 sequence
    expect(decodeValue(name, 'm', 3, NOW).kind).toBe('invalid');
    // A dimension of 0 on a value that is not a tombstone.
    expect(decodeValue(encodeValue('m', new Float32Array(0), 1, 0), 'm', 0, NOW).kind).toBe('invalid');
  });
});

describe('remote key names', () => {
  it('value and lease keys parse back to their model tag, epoch and generation', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('embedcache', 'P', 'a:b.c-d_e', 'x'.repeat(64)),
        keyWordsArb,
        modelArb,
        fc.nat(),
        fc.nat(),
        (prefix, words, model, epoch, gen) => {
          const names = new KeyNames(prefix);
          const k = Int32Array.from([7, ...words]); // at offset 1: ko is honoured
          const tag = names.tagOf(model);
          expect(tag).toMatch(/^[0-9a-f]{8}$/);
          expect(tag).toBe(modelTag(model));
          const key = names.value(k, 1, tag, epoch, gen);
          const hex = keyHex(k, 1);
          expect(hex).toMatch(/^[0-9a-f]{32}$/);
          expect(key).toBe(`${prefix}:{${bucketOf(k, 1)}}:${tag}:${epoch}.${gen}:${hex}`);
          expect(names.parse(key)).toEqual({ tag, epoch, gen });
          const lease = names.lease(key);
          expect(lease).toBe(`${prefix}:{${bucketOf(k, 1)}}:lease:${tag}:${epoch}.${gen}:${hex}`);
          expect(names.parse(lease)).toEqual({ tag, epoch, gen });
          // Another prefix's keys are not this prefix's.
          expect(new KeyNames(`${prefix}2`).parse(key)).toBeUndefined();
          // Keys differ by every input.
          expect(names.value(k, 1, tag, epoch + 1, gen)).not.toBe(key);
          expect(names.value(k, 1, tag, epoch, gen + 1)).not.toBe(key);
        },
      ),
    );
  });

  it('keyHex is the key bytes little-endian per word, and distinct keys give distinct hex', () => {
    const k = Int32Array.from([0x04030201, 0x08070605, -1, 0]);
    expect(keyHex(k, 0)).toBe('0102030405060708ffffffff00000000');
    fc.assert(
      fc.property(keyWordsArb, keyWordsArb, (a, b) => {
        fc.pre(a.some((x, i) => x !== b[i]));
        expect(keyHex(Int32Array.from(a), 0)).not.toBe(keyHex(Int32Array.from(b), 0));
      }),
    );
  });

  it('parse refuses names that are not value or lease keys of the prefix', () => {
    const names = new KeyNames('P');
    for (const key of [
      'P:gens',
      'P:epoch',
      'P:secret',
      'P:bump',
      'Q:{1}:abcdef01:0.0:00',
      'P:{1}',
      'P:{1}:abcdef01',
      'P:{1}:abcdef01:0:00',
      'P:{1}:abcdef01:x.0:00',
      'P:{1}:abcdef01:0.y:00',
      'P:{1}:abcdef01:0.0:00:extra',
    ])
      expect(names.parse(key), key).toBeUndefined();
  });

  it('keys of different buckets carry different hash tags; the bucket is the low bits of the first word', () => {
    const names = new KeyNames('embedcache');
    const tag = names.tagOf('m');
    const hashTag = (key: string): string => /\{([^}]*)\}/.exec(key)![1]!;
    const byBucket = new Map<number, Set<string>>();
    for (let i = 0; i < 4096; i++) {
      const k = Int32Array.from([Math.imul(i, 0x9e3779b1), i, ~i, i * 3]);
      const b = bucketOf(k, 0);
      expect(b).toBe((k[0]! >>> 0) % BUCKET_TAGS);
      const key = names.value(k, 0, tag, 0, 0);
      const lease = names.lease(key);
      expect(hashTag(lease)).toBe(hashTag(key)); // a value and its lease share a slot
      let tags = byBucket.get(b);
      if (tags === undefined) byBucket.set(b, (tags = new Set()));
      tags.add(hashTag(key));
    }
    expect(byBucket.size).toBe(BUCKET_TAGS);
    // One tag per bucket, and no two buckets share one.
    const all = [...byBucket.values()];
    for (const tags of all) expect(tags.size).toBe(1);
    expect(new Set(all.map((t) => [...t][0])).size).toBe(BUCKET_TAGS);
  });

  it('the scan pattern covers the value and lease keys of the prefix', () => {
    expect(new KeyNames('embedcache').scanPattern()).toBe('embedcache:{*}:*');
    expect(new KeyNames('a.b-c:d').scanPattern()).toBe('a.b-c:d:{*}:*');
    // What the sweep's SCAN MATCH selects, checked with an equivalent regular expression.
    const names = new KeyNames('P');
    const glob = new RegExp(`^${names.scanPattern().replace(/[.{}]/g, '\\$&').replace(/\*/g, '.*')}$`);
    const k = Int32Array.from([1, 2, 3, 4]);
    const key = names.value(k, 0, names.tagOf('m'), 0, 0);
    expect(glob.test(key)).toBe(true);
    expect(glob.test(names.lease(key))).toBe(true);
    for (const other of ['P:gens', 'P:epoch', 'P:secret', 'Q:{1}:x']) expect(glob.test(other)).toBe(false);
  });
});
