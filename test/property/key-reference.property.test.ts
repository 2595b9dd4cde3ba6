/**
 * The key path (key/hasher.ts) against a plain reference written from the documented framing:
 *
 *   prefix u32 modelLen | model UTF-8 | u8 hasChunk | u32 chunkLen | chunkId UTF-8
 *   key    XXH3-128(prefix ‖ text, seed = the secret's first u64), text as UTF-16LE code units
 *          built by charCodeAt; words = low u64 then high u64, little-endian
 *
 * The XXH3-128 here is hash-wasm's (test/support/xxh3-reference.ts), not ours.
 *
 * The reference builds the text bytes one code unit at a time, so a fast path that loses a lone
 * surrogate, a NUL or the end of a long text, or reuses a stale buffer, shows up as a mismatch.
 * Strings are drawn as raw code units (fast-check's 'binary' unit), so lone and swapped
 * surrogates are common, not rare; lengths run past the wasm module's first memory page.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyHasher, SECRET_BYTES } from '../../src/key/hasher.js';
import { xxh3Reference } from '../support/xxh3-reference.js';

function utf8Prefix(model: string, chunkId: string | undefined): Uint8Array {
  const m = Buffer.from(model, 'utf8');
  const c = chunkId === undefined ? Buffer.alloc(0) : Buffer.from(chunkId, 'utf8');
  const out = Buffer.alloc(4 + m.length + 1 + 4 + c.length);
  out.writeUInt32LE(m.length, 0);
  m.copy(out, 4);
  out[4 + m.length] = chunkId === undefined ? 0 : 1;
  out.writeUInt32LE(c.length, 5 + m.length);
  c.copy(out, 9 + m.length);
  return out;
}

function codeUnits(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const u = text.charCodeAt(i);
    out[2 * i] = u & 0xff;
    out[2 * i + 1] = u >>> 8;
  }
  return out;
}

async function referenceKey(
  kind: 'xxhash' | 'sha256',
  secret: Uint8Array,
  model: string,
  chunkId: string | undefined,
  text: string,
): Promise<Int32Array> {
  const prefix = utf8Prefix(model, chunkId);
  const out = new Int32Array(4);
  if (kind === 'sha256') {
    const d = createHmac('sha256', secret).update(prefix).update(codeUnits(text)).digest();
    out.set(new Int32Array(d.buffer.slice(d.byteOffset, d.byteOffset + 16)));
    return out;
  }
  const seed = new DataView(secret.buffer, secret.byteOffset, 8);
  return xxh3Reference([prefix, codeUnits(text)], seed.getInt32(0, true), seed.getInt32(4, true));
}

/** Raw UTF-16 code units (lone surrogates included), sometimes long. */
const texts = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'binary', minLength: 1000, maxLength: 20_000 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.constantFrom('', '\uD800', '\uDC00', '\uDC00\uD800', 'a\uD83D', '\uFFFD', 'caf\u00e9', '\u0000'),
);
/** Model names are well-formed (the facade refuses others); chunk ids may be anything. */
const models = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
const chunkIds = fc.option(fc.string({ unit: 'binary', maxLength: 20 }), { nil: undefined });

describe('key path = reference framing', () => {
  for (const kind of ['xxhash', 'sha256'] as const) {
    it(`${kind}: random (model, chunkId, text), in any order on one hasher`, async () => {
      const secret = new Uint8Array(randomBytes(SECRET_BYTES));
      const hasher = await KeyHasher.create(kind, secret);
      const out = new Int32Array(8);
      await fc.assert(
        fc.asyncProperty(models, chunkIds, texts, fc.nat(1), async (model, chunkId, text, at) => {
          hasher.hash(model, chunkId, text, out, at * 4);
          expect(Array.from(out.subarray(at * 4, at * 4 + 4))).toEqual(
            Array.from(await referenceKey(kind, secret, model, chunkId, text)),
          );
        }),
        { numRuns: kind === 'xxhash' ? 500 : 150 },
      );
    });
  }

  it('xxhash: every length from 0 to 300 code units, and a text that grows the module memory', async () => {
    const secret = new Uint8Array(randomBytes(SECRET_BYTES));
    const hasher = await KeyHasher.create('xxhash', secret);
    const out = new Int32Array(4);
    const texts = Array.from({ length: 301 }, (_, n) =>
      String.fromCharCode(...Array.from({ length: n }, (_, i) => (i * 7919 + n) & 0xffff)),
    );
    texts.push('\u00e9'.repeat(300_000), 'x'.repeat(1 << 20), 'short after long');
    for (const t of texts) {
      hasher.hash('m', 'c', t, out);
      expect(Array.from(out)).toEqual(Array.from(await referenceKey('xxhash', secret, 'm', 'c', t)));
    }
  });

  it('texts that differ in one code unit, or only in surrogate order, get different keys', async () => {
    const hasher = await KeyHasher.create('xxhash', new Uint8Array(randomBytes(SECRET_BYTES)));
    const keyOf = (t: string) => {
      const k = new Int32Array(4);
      hasher.hash('m', undefined, t, k);
      return Array.from(k).join(',');
    };
    const seen = new Set(
      ['a\uD800', 'a\uDC00', 'a\uFFFD', '\uD800\uDC00', '\uDC00\uD800', 'a', 'a\u0000'].map(keyOf),
    );
    expect(seen.size).toBe(7);
  });
});
