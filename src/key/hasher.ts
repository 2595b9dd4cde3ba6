/**
 * 128-bit content keys over (model, chunkId, text).
 *
 * Framing: the hashed bytes are
 *
 *   u32 modelLen | model UTF-8 | u8 hasChunk | u32 chunkLen | chunkId UTF-8 | text UTF-16LE
 *
 * (model and chunk id as UTF-8 via utf8.ts, which keeps lone surrogates apart instead of mapping
 * them to U+FFFD; the text as its UTF-16 code units, little-endian.)
 *
 * Why the text is hashed as UTF-16 code units, not UTF-8: a JS string *is* a sequence of code
 * units, so they are its lossless form by definition (a lone surrogate is just another unit: no
 * well-formedness scan, no escape form) and Buffer.write(…, 'utf16le') produces them at memcpy
 * speed — V8 stores any string with a character above U+00FF as two-byte units already, and
 * widens a Latin-1 one in a tight native loop. UTF-8 needs TextEncoder's per-character
 * transcoding plus an isWellFormed() scan: for a 1 KB chunk with a single non-Latin-1
 * character (an em dash, a curly quote, a CJK word) that was ~1 µs of a ~2 µs lookup, against
 * ~0.05 µs now. The price: twice the bytes to hash.
 *
 * Model and chunk id carry their lengths and the text runs to the end, so two different triples
 * never frame to the same bytes: ('ab', 'c') and ('a', 'bc') differ in the length word.
 *
 * 'xxhash': XXH3-128 (XXH3_128bits_withSeed) of the whole framed input, seeded with the first 8
 * bytes of a per-cache random secret (stored in the cache's shared header, and in the spill
 * file, so every thread and a warm restart agree). Our own SIMD wasm module (xxh3.ts) hashes it
 * in one call: the prefix bytes are cached per (model, chunkId) and placed right before the
 * text in the module's memory. XXH3's long-input loop is data-parallel where XXH64's is a serial
 * multiply chain: for a 1 KB two-byte text the hash takes ~0.10 µs against ~0.26 µs for the
 * XXH64 × 2 seeds keys used before, and a whole key (with writing the text into the module)
 * ~0.17 µs against ~0.33 µs. Changing the hash changes every key: spill/format.ts's FORMAT_VERSION and the
 * export format's version moved with it (a file of older keys is refused, not misread).
 * 'sha256': HMAC-SHA-256 under the whole 32-byte secret, first 16 bytes; for untrusted text
 * (XXH3 is fast and well distributed, not a keyed hash an adversary cannot collide).
 *
 * A key is four int32 words. The hasher writes them into `out` (no allocation per key on the
 * xxhash path) and returns nothing.
 */
import { createHmac } from 'node:crypto';
import { encodeLossless } from './utf8.js';
import { loadXXH3, type XXH3 } from './xxh3.js';

export type KeyHash = 'xxhash' | 'sha256';

/** Bytes of secret a cache carries: the xxhash seed is its first 8, the HMAC key all 32. */
export const SECRET_BYTES = 32;

export class KeyHasher {
  /** Per (model, chunkId): the framed prefix. */
  private prefixCache = new Map<string, Uint8Array>();
  /** The xxhash seed as two int32 words (low, high): the secret's first 8 bytes, little-endian. */
  private readonly seedLo: number;
  private readonly seedHi: number;
  /** sha256 only: UTF-16LE code units of the text being hashed. */
  private buf = Buffer.allocUnsafeSlow(0);
  private lastModel = '';
  private lastChunk: string | undefined = undefined;
  private lastPrefix: Uint8Array | undefined;

  private constructor(
    private readonly secret: Uint8Array,
    private readonly x3: XXH3 | null,
  ) {
    const seed = new DataView(secret.buffer, secret.byteOffset, 8);
    this.seedLo = seed.getInt32(0, true);
    this.seedHi = seed.getInt32(4, true);
  }

  /** Throws if kind is 'xxhash' and the hash module (xxh3.wasm) was not built. */
  static async create(kind: KeyHash, secret: Uint8Array): Promise<KeyHasher> {
    if (secret.byteLength !== SECRET_BYTES) throw new Error(`key secret must be ${SECRET_BYTES} bytes`);
    return new KeyHasher(secret, kind === 'xxhash' ? await loadXXH3() : null);
  }

  /** The framed (model, chunkId) prefix, built once per pair (see the top comment). */
  private prefix(model: string, chunkId: string | undefined): Uint8Array {
    // Batches repeat one (model, chunkId): skip building the map key for them.
    if (model === this.lastModel && chunkId === this.lastChunk && this.lastPrefix !== undefined)
      return this.lastPrefix;
    this.lastPrefix = this.lookupPrefix(model, chunkId);
    this.lastModel = model;
    this.lastChunk = chunkId;
    return this.lastPrefix;
  }

  private lookupPrefix(model: string, chunkId: string | undefined): Uint8Array {
    // Unambiguous map key: the model's length is spelled out and the chunk id runs to the end.
    const id = `${chunkId === undefined ? '-' : '+'}${model.length}:${model}${chunkId ?? ''}`;
    let bytes = this.prefixCache.get(id);
    if (bytes !== undefined) return bytes;
    const m = encodeLossless(model);
    const c = chunkId === undefined ? new Uint8Array(0) : encodeLossless(chunkId);
    bytes = new Uint8Array(4 + m.length + 1 + 4 + c.length);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(0, m.length, true);
    bytes.set(m, 4);
    dv.setUint8(4 + m.length, chunkId === undefined ? 0 : 1);
    dv.setUint32(5 + m.length, c.length, true);
    bytes.set(c, 9 + m.length);
    // Chunk ids are usually unique per text: do not let the prefix cache grow without bound.
    if (this.prefixCache.size >= 4096) this.prefixCache.clear();
    this.prefixCache.set(id, bytes);
    return bytes;
  }

  /** Writes the 128-bit key of (model, chunkId, text) into out[at..at+3]. */
  hash(model: string, chunkId: string | undefined, text: string, out: Int32Array, at = 0): void {
    const p = this.prefix(model, chunkId);
    if (this.x3 !== null) {
      this.x3.hashUtf16(p, text, this.seedLo, this.seedHi, out, at);
      return;
    }
    if (text.length * 2 > this.buf.length)
      this.buf = Buffer.allocUnsafeSlow(Math.max(32 * 1024, text.length * 2));
    // A Uint8Array view, not Buffer.subarray (slower, and the hash only reads bytes).
    const bytes = new Uint8Array(this.buf.buffer, 0, this.buf.write(text, 0, 'utf16le'));
    const d = createHmac('sha256', this.secret).update(p).update(bytes).digest();
    out[at] = d.readInt32LE(0);
    out[at + 1] = d.readInt32LE(4);
    out[at + 2] = d.readInt32LE(8);
    out[at + 3] = d.readInt32LE(12);
  }
}

/** The 16 bytes of a key (little-endian words), as the spill tier stores it. */
export function keyBytes(words: Int32Array, at = 0): Uint8Array {
  const b = new Uint8Array(16);
  keyBytesInto(words, at, new Int32Array(b.buffer));
  return b;
}

/** keyBytes() into a caller's buffer, seen as its four int32 words (no allocation). */
export function keyBytesInto(words: Int32Array, at: number, out: Int32Array): void {
  out[0] = words[at]!;
  out[1] = words[at + 1]!;
  out[2] = words[at + 2]!;
  out[3] = words[at + 3]!;
}
