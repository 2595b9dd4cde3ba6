/**
 * The text path of the XXH3 module (key/xxh3.ts) and the keys built on it (key/hasher.ts):
 * prefix ‖ UTF-16LE text hashed as one input, whatever the prefix length, the order of calls or
 * the size of the text; and keys that keep framing, chunk-id presence and lone surrogates apart.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeyHasher, SECRET_BYTES } from '../../../src/key/hasher.js';
import { instantiateXXH3, loadXXH3, type XXH3 } from '../../../src/key/xxh3.js';
import { xxh3Reference } from '../../support/xxh3-reference.js';

let x3: XXH3;
beforeAll(async () => {
  x3 = await loadXXH3();
});

function units(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf16le'));
}

async function check(prefix: Uint8Array, text: string, seedLo = 3, seedHi = -4): Promise<void> {
  const out = new Int32Array(6);
  x3.hashUtf16(prefix, text, seedLo, seedHi, out, 2);
  const want = await xxh3Reference([prefix, units(text)], seedLo, seedHi);
  expect(Array.from(out.subarray(2)), `prefix ${prefix.length} B, text ${text.length} units`).toEqual(
    Array.from(want),
  );
}

describe('XXH3 text path', () => {
  it('prefix ‖ text = one input, for prefixes of 0 to 600 bytes (past the room before the text)', async () => {
    const text = 'a text of some length, with one non-Latin-1 character: \u2014';
    for (const n of [0, 1, 9, 16, 100, 511, 512, 513, 600]) await check(new Uint8Array(randomBytes(n)), text);
  });

  it('alternating prefixes, short and long, are each rewritten when they change', async () => {
    const a = new Uint8Array(randomBytes(20));
    const b = new Uint8Array(randomBytes(700));
    const c = new Uint8Array(a); // equal bytes, another array
    for (const p of [a, a, b, a, b, b, c, a]) await check(p, 'same text');
    x3.hashBytes(new Uint8Array(2000).fill(0xee), 0, 0, new Int32Array(4)); // covers the prefix area
    await check(a, 'after raw bytes');
  });

  it('grows the module memory for a long text, and a short one after it still hashes right', async () => {
    await check(new Uint8Array([1, 2, 3]), '\u4e2d'.repeat(300_000));
    await check(new Uint8Array([1, 2, 3]), 'x'.repeat(40_000));
    await check(new Uint8Array([1, 2, 3]), 'short');
    await check(new Uint8Array(0), '');
  });
});

describe('XXH3 module file', () => {
  it('missing: the error names the file and says to run npm run build (no silent fallback)', async () => {
    const url = new URL('./no-such-dir/xxh3.wasm', import.meta.url);
    await expect(instantiateXXH3(url)).rejects.toThrow(/no-such-dir.*xxh3\.wasm.*`npm run build`/s);
  });
});

describe('keys on XXH3', () => {
  const keyOf = (h: KeyHasher, model: string, chunkId: string | undefined, text: string): string => {
    const k = new Int32Array(4);
    h.hash(model, chunkId, text, k);
    return Array.from(k).join(',');
  };

  it("framing: ('ab','c') and ('a','bc') differ as (model, text), (chunkId, text) and (model, chunkId)", async () => {
    const h = await KeyHasher.create('xxhash', new Uint8Array(randomBytes(SECRET_BYTES)));
    expect(keyOf(h, 'ab', undefined, 'c')).not.toBe(keyOf(h, 'a', undefined, 'bc'));
    expect(keyOf(h, 'm', 'ab', 'c')).not.toBe(keyOf(h, 'm', 'a', 'bc'));
    expect(keyOf(h, 'ab', 'c', 't')).not.toBe(keyOf(h, 'a', 'bc', 't'));
  });

  it("a chunk id of '' is not the absent one", async () => {
    const h = await KeyHasher.create('xxhash', new Uint8Array(randomBytes(SECRET_BYTES)));
    expect(keyOf(h, 'm', '', 't')).not.toBe(keyOf(h, 'm', undefined, 't'));
    expect(keyOf(h, 'm', '', '')).not.toBe(keyOf(h, 'm', undefined, ''));
  });

  it('lone surrogates stay distinct, in the text and in the chunk id', async () => {
    const h = await KeyHasher.create('xxhash', new Uint8Array(randomBytes(SECRET_BYTES)));
    const texts = ['x\uD800', 'x\uDBFF', 'x\uDC00', 'x\uFFFD', '\uD800x', 'x'];
    expect(new Set(texts.map((t) => keyOf(h, 'm', undefined, t))).size).toBe(texts.length);
    expect(new Set(texts.map((c) => keyOf(h, 'm', c, 't'))).size).toBe(texts.length);
  });

  it('two caches (secrets) give different keys; the same secret the same key', async () => {
    const s = new Uint8Array(randomBytes(SECRET_BYTES));
    const [a, b, c] = await Promise.all([
      KeyHasher.create('xxhash', s),
      KeyHasher.create('xxhash', s.slice()),
      KeyHasher.create('xxhash', new Uint8Array(randomBytes(SECRET_BYTES))),
    ]);
    const long = 'long enough for the seed-derived secret: '.repeat(20);
    for (const t of ['', 'short', long]) {
      expect(keyOf(a, 'm', 'c', t)).toBe(keyOf(b, 'm', 'c', t));
      expect(keyOf(a, 'm', 'c', t)).not.toBe(keyOf(c, 'm', 'c', t));
    }
  });
});
